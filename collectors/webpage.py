"""The captured page's wiring and small steps: route guard, event listeners (dialogs, popups, downloads),
scrolling for lazy media, facts, the capped screenshot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Route
from playwright.async_api import Error as PlaywrightError

from collectors.guard import Policy
from collectors.recorder import Recorder

__all__ = ["Targets", "listen", "page_facts", "route_guard", "scroll_page", "screenshot"]

MAX_TEXT = 5_000_000

_SCROLL = """async ([steps, settle]) => {
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  // Two rendering frames: lazy-loading's intersection checks run then, so its requests have started.
  const frames = () => Promise.race([pause(100), new Promise((r) =>
    requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 10))))]);
  let done = 0;
  if (document.documentElement.scrollHeight > window.innerHeight) {
    for (; done < steps; done++) {
      const before = window.scrollY;
      window.scrollBy(0, window.innerHeight);
      await frames();
      if (window.scrollY === before) break;
    }
    window.scrollTo(0, 0);
  }
  // Wait (bounded) for images and media still loading, instead of a fixed network-idle pause.
  const pending = [...document.images].filter((i) => !i.complete && i.src).map(
    (i) => new Promise((r) => { i.addEventListener("load", r); i.addEventListener("error", r); }));
  await Promise.race([Promise.all(pending), pause(settle)]);
  return done;
}"""

_FACTS = """(limit) => ({
  title: document.title || "",
  user_agent: navigator.userAgent,
  text: document.body ? document.body.innerText.slice(0, limit) : "",
  height: Math.max(document.documentElement ? document.documentElement.scrollHeight : 0,
                   document.body ? document.body.scrollHeight : 0),
  width: document.documentElement ? document.documentElement.scrollWidth : 0,
  videos: [...document.querySelectorAll("video")].slice(0, 100).map((v) => v.currentSrc || v.src || ""),
})"""


async def scroll_page(page: Page, steps: int, settle_ms: int = 2000) -> int:
    """Scroll a screen at a time (at most ``steps``) so lazy media load, then back to the top; wait at
    most ``settle_ms`` for images still loading."""
    return int(await page.evaluate(_SCROLL, [steps, settle_ms]))


async def page_facts(page: Page) -> dict[str, Any]:
    """Title, user agent, visible text and document size, as the page reports them."""
    facts = await page.evaluate(_FACTS, MAX_TEXT)
    return dict(facts) if isinstance(facts, dict) else {}


async def screenshot(page: Page, max_height: int) -> tuple[bytes, dict[str, Any]]:
    """A full-page PNG, cut at ``max_height`` CSS pixels; the record says whether it was cut."""
    size = await page.evaluate(
        "() => [document.documentElement.scrollWidth, Math.max(document.documentElement.scrollHeight,"
        " document.body ? document.body.scrollHeight : 0)]"
    )
    width, height = int(size[0]), int(size[1])
    viewport = page.viewport_size or {"width": 1366, "height": 900}
    info: dict[str, Any] = {"page_height": height, "max_height": max_height, "cut": height > max_height}
    if height > max_height:
        clip = {"x": 0, "y": 0, "width": max(viewport["width"], min(width, 4096)), "height": max_height}
        png = await page.screenshot(full_page=True, clip=clip, type="png", animations="disabled")  # type: ignore[arg-type]
    else:
        png = await page.screenshot(full_page=True, type="png", animations="disabled")
    return png, info


def route_guard(policy: Policy, log: list[dict[str, str]]) -> Callable[[Route], Awaitable[None]]:
    """The second layer: refuse bad schemes and inside IP literals before Chromium sends anything."""

    async def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")):
            await route.continue_()
            return
        decision = policy.check_url(url)
        if decision.allowed:
            await route.continue_()
        else:
            if len(log) < 200:
                log.append(
                    {"target": url[:500], "reason": (decision.reason or "refused")[:300], "kind": "guard"}
                )
            await route.abort("blockedbyclient")

    return guard


def listen(
    context: BrowserContext,
    page: Page,
    recorder: Recorder,
    events: dict[str, list[dict[str, str]]],
    on_download: Callable[[Any], None],
) -> None:
    page.on("requestfinished", recorder.on_finished)
    page.on("requestfailed", recorder.on_failed)

    def dialog(d: Any) -> None:
        events["dialogs"].append({"type": d.type, "message": d.message[:500]})
        asyncio.ensure_future(_quietly(d.dismiss()))

    def popup(p: Page) -> None:
        if p is page:
            return
        events["popups"].append({"url": p.url[:2000]})
        asyncio.ensure_future(_quietly(p.close()))

    page.on("dialog", dialog)
    page.on("download", on_download)
    context.on("page", popup)


async def _quietly(work: Awaitable[Any]) -> None:
    with contextlib.suppress(PlaywrightError):
        await work


class Targets:
    """Pages Chromium opens, as it announces them (CDP ``Target.targetCreated``).

    Playwright emits a popup only once its first response has started loading, so a capture that
    ends sooner never heard of it (the popup count raced the page's own end). Chromium announces a
    page the moment ``window.open`` runs; this keeps those announcements per browser context."""

    def __init__(self) -> None:
        self.opened: dict[str, dict[str, dict[str, str]]] = {}
        self._cdp: CDPSession | None = None

    async def start(self, browser: Browser) -> None:
        """Listen on a browser-level session (one per collector, shared by its captures)."""
        self._cdp = await browser.new_browser_cdp_session()
        self._cdp.on("Target.targetCreated", self._created)
        self._cdp.on("Target.targetInfoChanged", self._changed)
        await self._cdp.send("Target.setDiscoverTargets", {"discover": True})

    def _created(self, params: dict[str, Any]) -> None:
        info = params.get("targetInfo") or {}
        if info.get("type") == "page" and info.get("targetId"):
            pages = self.opened.setdefault(str(info.get("browserContextId", "")), {})
            if len(pages) < 500:
                pages[str(info["targetId"])] = {"url": str(info.get("url", ""))[:2000]}

    def _changed(self, params: dict[str, Any]) -> None:
        info = params.get("targetInfo") or {}
        entry = self.opened.get(str(info.get("browserContextId", "")), {}).get(str(info.get("targetId", "")))
        if entry is not None and info.get("url"):
            entry["url"] = str(info["url"])[:2000]

    def popups(self, context_id: str, main_target: str) -> list[dict[str, str]]:
        """Every page the context opened besides the captured one, and forget the context."""
        pages = self.opened.pop(context_id, {})
        found = [dict(v) for k, v in pages.items() if k != main_target][:200]
        for popup in found:
            if popup["url"] in ("", "about:blank"):
                popup["note"] = "the popup had not loaded an address when the capture ended"
        return found
