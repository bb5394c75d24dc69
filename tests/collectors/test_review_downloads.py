"""Review of downloads in quarantine against a download that never finishes: the page is still
captured within its time budget, and the download says why it was not kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.webfixtures import QuietHandler, serving

pytestmark = [pytest.mark.browser]

PAGE = b"<!doctype html><title>t</title><a id=a href='/endless' download>x</a><script>a.click()</script>"


class _Endless(QuietHandler):
    """A page that starts a download which sends 64 kB, then one byte a second, never ending."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.startswith("/endless"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", "attachment; filename=endless.bin")
            self.end_headers()
            try:
                self.wfile.write(b"y" * 65536)
                for _ in range(300):
                    self.wfile.write(b"y")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                return
            return
        self.send_html(PAGE)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from serving(_Endless)


def test_a_download_that_never_finishes_does_not_cost_the_page_its_capture(port: int, tmp_path: Path) -> None:
    # The wait for downloads used to be a fixed 60 s, past this capture's 20 s budget: the whole
    # page was then lost as "capture exceeded".
    policy = Policy(parse_allow([f"127.0.0.1:{port}"]))
    settings = CaptureSettings(policy=policy, capture_timeout=20, page_timeout=10, scroll_steps=1)

    async def go() -> StagedCapture:
        async with WebCollector(settings) as collector:
            return await collector.capture(
                f"http://127.0.0.1:{port}/page", tmp_path / "cap", "analyst-a", "demo", "wb/t"
            )

    cap = asyncio.run(go())
    assert cap.status == "captured", cap.reason
    assert {f.role for f in cap.files} >= {"screenshot", "warc"}
    assert "download" not in {f.role for f in cap.files}
    [entry] = cap.record["downloads"]
    assert entry["status"] == "failed" and "not finished" in entry["reason"]
    assert not list((tmp_path / "cap").glob("download-*"))
