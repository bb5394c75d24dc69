"""A real `streamlit run` of the workbench on 127.0.0.1 for browser journeys, a canary HTTP server that
records every request made to it, and small Playwright helpers for Streamlit widgets."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from workbench.app.serve import streamlit_args

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"

__all__ = ["ARTIFACTS", "CHROMIUM", "Canary", "LocalSite", "app_server", "free_port", "login", "shot"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalSite:
    """A tiny web page with one photo, served on 127.0.0.1, to be captured through the app."""

    def __init__(self, page: bytes, photo: bytes) -> None:
        files = {"/post.html": (page, "text/html; charset=utf-8"), "/photo.png": (photo, "image/png")}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = files.get(self.path.split("?")[0], (b"not found", "text/plain"))
                self.send_response(200 if self.path.split("?")[0] in files else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Canary:
    """An HTTP server on 127.0.0.1 that only records who called it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def app_server(home: Path, key: Path) -> Iterator[str]:
    """`streamlit run` on the ASGI launcher, as `wb serve` starts it, with its job worker; yields the
    base URL. Captures reach a local test site only as an admin's capture target
    (``workbench.services.capture.network.allow_target``): jobs take no run targets."""
    port = free_port()
    env = dict(os.environ, WB_HOME=str(home), WB_KEY=str(key), WB_JOBS_WORKER="1")
    env.pop("WB_CAPTURE_ALLOW", None)
    log = (home.parent / "streamlit.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", *streamlit_args(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not start: {(home.parent / 'streamlit.log').read_text()[-2000:]}"
                )
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Page, base: str, name: str, password: str, query: str = "") -> None:
    page.goto(f"{base}/{query}")
    page.locator(".st-key-login_name input").fill(name)
    page.locator(".st-key-login_password input").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in: {name}")).to_be_visible(timeout=30_000)


def wait_idle(page: Page) -> None:
    """Wait until Streamlit has finished rerunning the script."""
    page.wait_for_timeout(300)
    expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=30_000)
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=30_000)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
