"""A captured WACZ replays in pywb (BP-12). pywb lives in its own venv, never the app's (it pins an older
cryptography): set WB_PYWB_VENV to it; the test is skipped only when that venv is absent."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, WebCollector
from tests.collectors.webfixtures import UKRAINIAN, Site, gps_jpeg, serve

__all__ = ["serve"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _pywb() -> Path:
    # scripts/setup.sh makes .venv-pywb beside the app's venv; pywb must never enter the app's own.
    default = Path(__file__).resolve().parents[2] / ".venv-pywb"
    root = Path(os.environ.get("WB_PYWB_VENV", str(default)))
    if not (root / "bin" / "wayback").is_file() or not (root / "bin" / "wb-manager").is_file():
        message = f"no pywb venv at {root} (set WB_PYWB_VENV): replay not checked"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing tool fails, never skips
        pytest.skip(message)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_captured_wacz_replays_in_pywb(serve: Callable[..., Site], tmp_path: Path) -> None:
    venv = _pywb()
    site = serve(Site())
    site.add(
        "/page.html", f"<!doctype html><meta charset=utf-8><title>t</title><p>{UKRAINIAN}</p><img src=/p.jpg>"
    )
    site.add("/p.jpg", gps_jpeg(), "image/jpeg")
    settings = CaptureSettings(policy=Policy(parse_allow([f"127.0.0.1:{site.port}"])), scroll_steps=1)

    async def go() -> Path:
        async with WebCollector(settings) as collector:
            staged = await collector.capture(site.url("/page.html"), tmp_path / "cap", "a", "demo", "wb/test")
        return next(f.path for f in staged.files if f.role == "wacz")

    wacz = asyncio.run(go())
    work = tmp_path / "pywb"
    work.mkdir()
    subprocess.run(
        [str(venv / "bin" / "wb-manager"), "init", "coll"], cwd=work, check=True, capture_output=True
    )
    subprocess.run(
        [str(venv / "bin" / "wb-manager"), "add", "--unpack-wacz", "coll", str(wacz)],
        cwd=work,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [str(venv / "bin" / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/coll/mp_/{site.url('/page.html')}"
        body = b""
        for _ in range(60):
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback only)
                    body = resp.read()
                break
            except OSError:
                time.sleep(0.5)
        assert UKRAINIAN.encode() in body and b"<title>t</title>" in body  # the page, not the JSON record
    finally:
        server.terminate()
        server.wait(10)
