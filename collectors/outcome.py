"""How one capture ended and what it kept: settings, the staged result, per-step status, and the
verdict (captured, refused or failed) drawn from the navigation, the guard and the budgets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from playwright.async_api import Error as PlaywrightError

from collectors.downloads import Quarantine
from collectors.guard import Decision, Policy
from collectors.proxy import GuardProxy
from collectors.recorder import Recorder, StagedFile
from collectors.upstream import Upstream

__all__ = [
    "CaptureSettings",
    "StagedCapture",
    "Steps",
    "document_cut",
    "download_verdict",
    "network_facts",
    "server_ip",
    "verdict",
    "within_budget",
]

T = TypeVar("T")
_REFUSED_BY_BROWSER = {
    "ERR_TOO_MANY_REDIRECTS": "more than 20 redirects (redirect budget)",
    "ERR_UNSAFE_REDIRECT": "redirect to a scheme other than http(s)",
    "ERR_BLOCKED_BY_CLIENT": "refused by the capture guard",
    "Download is starting": "the URL starts a download, which did not arrive",
}


@dataclass(frozen=True)
class CaptureSettings:
    """Budgets and browser settings for captures; every value lands in the record."""

    policy: Policy = field(default_factory=Policy)
    page_timeout: float = 30.0
    capture_timeout: float = 120.0
    max_bytes: int = 300 << 20
    max_response_bytes: int = 100 << 20
    max_redirects: int = 20
    scroll_steps: int = 12
    screenshot_max_height: int = 16_384
    viewport: tuple[int, int] = (1366, 900)
    storage_state: str | None = None
    # What the record may say about the profile (hash, cookie domains): never a cookie's value.
    storage_state_facts: dict[str, Any] | None = None
    # yt-dlp as a second path for platform video: off unless a setting turns it on.
    ytdlp: bool = False
    ytdlp_timeout: float = 90.0
    network_profile: str = "direct, through the local guard proxy; no upstream proxy"
    # The case's upstream proxy (SEC-03), behind the guard proxy; None: connect directly.
    upstream: Upstream | None = None

    def profile(self) -> str:
        """The network profile as the record says it."""
        return self.upstream.profile() if self.upstream is not None else self.network_profile

    def resolver(self) -> Callable[[str, int], Decision]:
        """How the guard resolves and checks a host for these captures."""
        return self.upstream.resolver(self.policy) if self.upstream else self.policy.resolve_and_check

    def as_record(self) -> dict[str, Any]:
        return {
            "page_timeout_s": self.page_timeout,
            "capture_timeout_s": self.capture_timeout,
            "max_bytes": self.max_bytes,
            "max_response_bytes": self.max_response_bytes,
            "max_redirects": self.max_redirects,
            "scroll_steps": self.scroll_steps,
            "screenshot_max_height": self.screenshot_max_height,
            "ytdlp": self.ytdlp,
            "allow_list": sorted(f"{h}:{p}" for h, p in self.policy.allow),
            "upstream_proxy": self.upstream.as_record() if self.upstream is not None else None,
            "storage_state": (dict(self.storage_state_facts or {}, kind="case profile"))
            if self.storage_state
            else None,
        }


@dataclass
class StagedCapture:
    """Everything one capture produced, waiting in its folder to be stored."""

    url: str
    status: str  # captured | refused | failed
    reason: str | None
    folder: Path
    record: dict[str, Any]
    files: list[StagedFile] = field(default_factory=list)
    post: dict[str, Any] = field(default_factory=dict)

    @property
    def final_url(self) -> str | None:
        value = self.record.get("final_url")
        return str(value) if value else None


class Steps:
    """Per-step status: a failed step is recorded in the capture record, not only logged."""

    def __init__(self) -> None:
        self.done: list[dict[str, Any]] = []

    async def run(self, name: str, work: Awaitable[T], timeout: float) -> T | None:
        start = time.monotonic()
        try:
            result = await asyncio.wait_for(work, timeout)
        except (PlaywrightError, TimeoutError, OSError, ValueError, RuntimeError, KeyError) as exc:
            self.add(
                name,
                "failed",
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                start,
            )
            return None
        self.add(name, "ok", None, start)
        return result

    def add(self, name: str, status: str, reason: str | None, start: float | None = None) -> None:
        seconds = round(time.monotonic() - start, 3) if start is not None else 0.0
        self.done.append({"step": name, "status": status, "reason": reason, "seconds": seconds})

    def failed(self, name: str) -> bool:
        return any(s["step"] == name and s["status"] != "ok" for s in self.done)


def verdict(staged: StagedCapture, steps: Steps, proxy: GuardProxy, loaded: bool, guard: str | None) -> None:
    """Captured, refused (the guard stopped the page itself) or failed (network, budget, time)."""
    logged = proxy.stats.refused
    main = [r for r in logged if r["kind"] == "guard"]
    nav = next((x["reason"] for x in steps.done if x["step"] == "navigate" and x["reason"]), None)
    if guard == "403" or (
        not loaded and main and _is_main(main, str(staged.record["final_url"]), staged.url)
    ):
        staged.status = "refused"
        staged.reason = main[-1]["reason"] if main else "refused by the capture guard"
    elif nav and any(code in nav for code in _REFUSED_BY_BROWSER):
        staged.status = "refused"
        staged.reason = next(text for code, text in _REFUSED_BY_BROWSER.items() if code in nav)
    elif guard is not None or not loaded:
        staged.status = "failed"
        staged.reason = logged[-1]["reason"] if logged else nav or "navigation failed"
    else:
        staged.status = "captured"


async def within_budget(
    work: Awaitable[T], proxy: GuardProxy, document_done: Callable[[], bool] = lambda: False
) -> T:
    """Run ``work`` but give up as soon as the proxy cuts the capture at its byte budget while the
    page's own document is still arriving (a cut document never fires ``load``; without this it
    would wait out the time budget). When the document arrived whole and only its resources broke
    the budget, the page loads and is kept, marked incomplete."""
    task = asyncio.ensure_future(work)
    while not task.done():
        await asyncio.wait({task}, timeout=0.2)
        if proxy.stats.budget_exceeded and not task.done() and not document_done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, PlaywrightError):
                await task
            raise RuntimeError(f"byte budget of {proxy.max_bytes} bytes exceeded while loading the page")
    return task.result()


def document_cut(staged: StagedCapture, recorder: Recorder) -> bool:
    """Whether the page's own document failed to arrive whole (cut by the byte budget)."""
    final = str(staged.record.get("final_url") or staged.url)
    return any(f["url"] in (final, staged.url) for f in recorder.failed)


def download_verdict(staged: StagedCapture, quarantine: Quarantine) -> None:
    """A URL that is itself a download is captured when its file was kept in quarantine."""
    if staged.status != "download":
        return
    if quarantine.files:
        staged.status = "captured"
        staged.reason = (
            "the URL starts a download: the file is kept in quarantine (role download), never opened"
        )
    else:
        staged.status = "failed"
        reasons = [str(e.get("reason")) for e in quarantine.entries if e.get("reason")]
        staged.reason = f"the URL starts a download that was not kept: {'; '.join(reasons) or 'unknown'}"


def network_facts(
    staged: StagedCapture,
    events: dict[str, list[dict[str, str]]],
    proxy: GuardProxy,
    recorder: Recorder,
    quarantine: Quarantine,
) -> None:
    """What the network saw, recorded even when the capture ran out of time."""
    staged.record.update(
        dialogs=events["dialogs"],
        popups=events["popups"],
        downloads=quarantine.close(),
        refused_requests=events["refused"] + proxy.stats.refused,
        failed_requests=recorder.failed,
        resolved_addresses=proxy.stats.addresses,
        bytes_received=proxy.stats.bytes_in,
        byte_budget_exceeded=proxy.stats.budget_exceeded,
    )


def server_ip(addr: Any) -> str | None:
    return str(addr["ipAddress"]) if addr else None


def _is_main(refusals: list[dict[str, str]], page_url: str, url: str) -> bool:
    return bool(refusals) and (
        page_url in ("about:blank", "chrome-error://chromewebdata/") or page_url == url
    )
