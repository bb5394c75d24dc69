"""Review of the byte budget: only a page whose own document is cut is aborted; a page whose
document arrived whole is kept, marked incomplete, when one of its resources breaks the budget."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.webfixtures import QuietHandler, serving

pytestmark = [pytest.mark.browser]

# The image's error handler holds the page's main thread for 1.5 s, so "load" comes well after
# the budget broke: the capture must not mistake that wait for a cut document.
PAGE = (
    b"<!doctype html><title>small</title><p>the document itself is small</p>"
    b"<img src='/huge.png' onerror='const t=Date.now();while(Date.now()<t+1500){}'>"
)


class _Huge(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.startswith("/r"):
            self.send_response(302)
            self.send_header("Location", "/hugedoc")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/huge"):
            total = 8 << 20
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if "doc" in self.path else "image/png")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            try:
                for _ in range(total // 65536):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                return
            return
        self.send_html(PAGE)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from serving(_Huge)


def _capture(port: int, path: str, tmp_path: Path) -> StagedCapture:
    """One capture of ``path`` under a 2 MiB byte budget and a 30 s time budget."""
    policy = Policy(parse_allow([f"127.0.0.1:{port}"]))
    settings = CaptureSettings(
        policy=policy, capture_timeout=30, page_timeout=10, scroll_steps=1, max_bytes=2 << 20
    )

    async def go() -> StagedCapture:
        async with WebCollector(settings) as collector:
            return await collector.capture(
                f"http://127.0.0.1:{port}{path}", tmp_path / "cap", "analyst-a", "demo", "wb/t"
            )

    return asyncio.run(go())


def test_a_resource_over_the_budget_leaves_the_page_captured_and_marked_incomplete(
    port: int, tmp_path: Path
) -> None:
    cap = _capture(port, "/page", tmp_path)
    assert cap.record["byte_budget_exceeded"] is True
    assert cap.status == "captured", cap.reason
    assert "incomplete" in str(cap.reason)
    assert {f.role for f in cap.files} >= {"screenshot", "html", "warc"}


def test_a_document_cut_after_a_redirect_is_still_aborted_at_the_budget(port: int, tmp_path: Path) -> None:
    # The redirect's own exchange finishes whole: it must not pass for the page's document.
    cap = _capture(port, "/r", tmp_path)
    assert cap.status == "failed"
    assert "capture aborted" in str(cap.reason) and "Timeout" not in str(cap.reason), cap.reason
