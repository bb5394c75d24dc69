"""Review of the yt-dlp path against a video that never finishes: the child never outlives a
cancelled capture, and a slow video costs the page nothing but its yt-dlp step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors import ytdlp
from collectors.guard import Policy, parse_allow
from collectors.proxy import GuardProxy
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.webfixtures import QuietHandler, serving

pytestmark = [pytest.mark.browser]

PAGE = b"<!doctype html><title>w</title><video preload='none' src='/slow.webm'></video>"


class _Slow(QuietHandler):
    """A page whose video announces 100 kB and then sends one byte every half second."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.startswith("/slow.webm"):
            self.send_response(200)
            self.send_header("Content-Type", "video/webm")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(400):
                try:
                    self.wfile.write(b"\x1a")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.5)
            return
        self.send_html(PAGE)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from serving(_Slow)


def _ytdlp_processes(folder: Path) -> list[int]:
    """Live processes whose command line names ``folder`` (zombies have an empty command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"yt_dlp" in cmdline and str(folder).encode() in cmdline:
                found.append(int(proc.name))
    return found


def test_a_cancelled_ytdlp_run_leaves_no_process_behind(port: int, tmp_path: Path) -> None:
    policy = Policy(parse_allow([f"127.0.0.1:{port}"]))

    async def go() -> list[int]:
        proxy = GuardProxy(policy, max_bytes=10 << 20)
        await proxy.start()
        try:
            task = asyncio.ensure_future(
                ytdlp.fetch(f"http://127.0.0.1:{port}/watch", tmp_path, proxy.url, 1 << 20, 120)
            )
            for _ in range(200):  # wait (bounded) until yt-dlp has started
                if _ytdlp_processes(tmp_path):
                    break
                await asyncio.sleep(0.05)
            assert _ytdlp_processes(tmp_path), "yt-dlp never started"
            await asyncio.sleep(1.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):  # SIGKILL is delivered at once; give the kernel a moment to reap
                if not _ytdlp_processes(tmp_path):
                    break
                await asyncio.sleep(0.05)
            return _ytdlp_processes(tmp_path)
        finally:
            await proxy.close()

    assert asyncio.run(go()) == []


def test_a_video_that_never_finishes_does_not_cost_the_page_its_capture(port: int, tmp_path: Path) -> None:
    policy = Policy(parse_allow([f"127.0.0.1:{port}"]))
    settings = CaptureSettings(
        policy=policy, capture_timeout=25, page_timeout=10, scroll_steps=1, ytdlp=True, ytdlp_timeout=90
    )

    async def go() -> StagedCapture:
        async with WebCollector(settings) as collector:
            return await collector.capture(
                f"http://127.0.0.1:{port}/watch", tmp_path / "cap", "analyst-a", "demo", "wb/t"
            )

    cap = asyncio.run(go())
    assert cap.status == "captured", cap.reason
    assert cap.record["ytdlp"]["status"] == "failed"
    assert {f.role for f in cap.files} >= {"screenshot", "warc"}
    assert _ytdlp_processes(tmp_path / "cap") == []
