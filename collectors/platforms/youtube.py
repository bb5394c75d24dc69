"""YouTube videos: ``watch?v=``, ``youtu.be/``, ``/shorts/``, ``/embed/``, ``/live/`` on any YouTube host.

Reads ``ytInitialPlayerResponse`` (videoDetails, microformat, playabilityStatus) and the
``itemprop`` microdata the watch page carries.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collectors.platforms.base import Page, availability, dig, embedded_json, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["YouTube"]

HOSTS = {"youtube.com", "youtu.be", "youtube-nocookie.com", "music.youtube.com"}
_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_PATH = re.compile(r"^/(?:shorts|embed|live|v|e)/(?P<id>[A-Za-z0-9_-]{11})")


def video_id(url: str) -> str | None:
    parts = urlsplit(url)
    host = host_of(url)
    if host == "youtu.be":
        candidate = parts.path.strip("/").split("/")[0]
        return candidate if _ID.match(candidate) else None
    m = _PATH.match(parts.path)
    if m:
        return m.group("id")
    if parts.path.rstrip("/") in ("/watch", ""):
        v = parse_qs(parts.query).get("v", [""])[0]
        return v if _ID.match(v) else None
    return None


class YouTube:
    name = "youtube"

    def matches(self, url: str) -> bool:
        return host_of(url) in HOSTS

    def canonical(self, url: str) -> str | None:
        vid = video_id(url)
        return f"https://www.youtube.com/watch?v={vid}" if vid else None

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        player = embedded_json(page.html, "ytInitialPlayerResponse") or {}
        details = dig(player, "videoDetails") or {}
        micro = dig(player, "microformat", "playerMicroformatRenderer") or {}
        status = str(dig(player, "playabilityStatus", "status") or "")
        published = micro.get("publishDate") or page.meta("datePublished") or page.meta("uploadDate")
        state, reason = availability(
            visible_text(page),
            login=(
                "Sign in to confirm your age",
                "Sign in to confirm you’re not a bot",
                "Sign in to confirm you're not a bot",
            ),
            unavailable=("Video unavailable", "This video is private", "This video is unavailable"),
            deleted=("This video has been removed", "account associated with this video has been terminated"),
        )
        if status in ("LOGIN_REQUIRED",):
            state, reason = "login_wall", str(dig(player, "playabilityStatus", "reason") or status)
        elif status in ("ERROR", "UNPLAYABLE") and state == "available":
            state, reason = "unavailable", str(dig(player, "playabilityStatus", "reason") or status)
        owner = micro.get("ownerProfileUrl") or page.first_text(
            '//span[@itemprop="author"]/link[@itemprop="url"]/@href'
        )
        handle = (
            owner.rstrip("/").rsplit("/", 1)[-1].lstrip("@")
            if isinstance(owner, str) and "/@" in owner
            else None
        )
        return {
            "post_id": details.get("videoId") or video_id(url),
            "handle": handle or details.get("channelId"),
            "display_name": details.get("author")
            or page.first_text('//span[@itemprop="author"]/link[@itemprop="name"]/@content'),
            "profile_url": owner,
            "posted_at": machine_time(published),
            "posted_at_shown": published,
            "caption": details.get("shortDescription") or page.meta("description"),
            "title": details.get("title") or page.meta("og:title"),
            "media_urls": [u for u in [page.meta("og:image")] if u],
            "availability": state,
            "availability_reason": reason,
        }
