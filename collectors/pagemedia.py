"""Media the page names (``<video src>``, ``<audio src>``, their ``<source>`` children), kept whole.

The browser fetches only what it means to play: a range of a long video, nothing for a codec it
cannot play or for ``preload="none"``. The page still shows that medium, so the capture fetches each
named URL once more, whole, through the capture's own guard proxy (the browser context's request
client, same budget), and says in the record which media came to it that way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from playwright.async_api import APIRequestContext, Page
from playwright.async_api import Error as PlaywrightError

from collectors.guard import Policy

__all__ = ["FETCH_TIMEOUT_MS", "MAX_NAMED", "Fetched", "fetch_whole", "named_media", "not_a_medium"]

MAX_NAMED = 50
FETCH_TIMEOUT_MS = 60_000

_NAMED = """(limit) => {
  const out = [];
  for (const el of document.querySelectorAll("video, audio, video > source, audio > source")) {
    const url = el.src || "";
    if (!url || out.some((x) => x.url === url)) continue;
    out.push({url: url, tag: el.tagName.toLowerCase(), type: el.getAttribute("type") || ""});
    if (out.length >= limit) break;
  }
  return out;
}"""


async def named_media(page: Page) -> list[dict[str, str]]:
    """The http(s) media URLs the page names (absolute, once each, at most ``MAX_NAMED``)."""
    found = await page.evaluate(_NAMED, MAX_NAMED)
    if not isinstance(found, list):
        return []
    return [
        {"url": str(x["url"])[:8192], "tag": str(x.get("tag", "")), "type": str(x.get("type", ""))[:200]}
        for x in found
        if isinstance(x, dict) and str(x.get("url", "")).lower().startswith(("http://", "https://"))
    ]


def not_a_medium(mime: str, body: bytes) -> str | None:
    """Why a fetched body is no medium to keep as one (a streaming playlist, an HTML error page), or
    None. Streams (HLS, DASH) are the yt-dlp path's to fetch, segment by segment."""
    head = body[:64].lstrip().lower()
    if "mpegurl" in mime or "dash+xml" in mime or head.startswith((b"#extm3u", b"<mpd")):
        return f"a streaming playlist ({mime or 'by its first bytes'}), not a media file"
    if mime.startswith("text/") or head.startswith((b"<!doctype html", b"<html")):
        return f"a {mime or 'text'} page, not a media file"
    return None


@dataclass(frozen=True)
class Fetched:
    """One whole fetch: the bytes (None when not kept), the declared type, and why not when not."""

    body: bytes | None
    mime: str
    reason: str | None = None


async def fetch_whole(
    api: APIRequestContext,
    url: str,
    max_body: int,
    policy: Policy | None = None,
    timeout_ms: int = FETCH_TIMEOUT_MS,
) -> Fetched:
    """GET ``url`` whole (no Range) through the context's guard proxy; at most ``max_body`` bytes.

    The URL's spelling is checked first as the route guard would (the proxy checks its addresses)."""
    if policy is not None:
        decision = policy.check_url(url)
        if not decision.allowed:
            return Fetched(None, "", f"refused by the capture guard: {decision.reason}")
    try:
        response = await api.get(url, max_redirects=5, timeout=timeout_ms)
    except PlaywrightError as exc:
        return Fetched(None, "", f"not fetched: {str(exc).splitlines()[0][:200] if str(exc) else 'error'}")
    try:
        headers: dict[str, Any] = response.headers
        mime = str(headers.get("content-type", "")).split(";")[0].strip().lower()
        if response.status != 200:
            return Fetched(None, mime, f"the server answered {response.status}")
        length = None
        with contextlib.suppress(ValueError):
            length = int(headers.get("content-length", ""))
        if length is not None and length > max_body:
            return Fetched(None, mime, f"{length} bytes, over the per-response budget of {max_body}")
        body = await response.body()
        if len(body) > max_body:
            return Fetched(None, mime, f"over the per-response budget of {max_body} bytes")
        return Fetched(body, mime)
    except PlaywrightError as exc:
        return Fetched(None, "", f"body not read: {str(exc).splitlines()[0][:200] if str(exc) else 'error'}")
    finally:
        with contextlib.suppress(PlaywrightError):
            await response.dispose()
