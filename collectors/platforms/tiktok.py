"""TikTok videos: ``tiktok.com/@handle/video/ID`` (and ``/photo/ID``).

Reads the ``__UNIVERSAL_DATA_FOR_REHYDRATION__`` script (``webapp.video-detail`` → ``itemInfo.itemStruct``)
and falls back to the older ``SIGI_STATE`` (``ItemModule``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from collectors.platforms.base import Page, availability, dig, machine_time, script_json, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["TikTok"]

HOSTS = {"tiktok.com"}
MEDIA_NOTE = "TikTok serves video from signed, expiring URLs; the captured bytes are what the browser loaded"
_PATH = re.compile(r"^/@(?P<handle>[A-Za-z0-9_.]{1,30})/(?P<kind>video|photo)/(?P<id>\d{5,25})")


class TikTok:
    name = "tiktok"

    def matches(self, url: str) -> bool:
        return host_of(url) in HOSTS

    def canonical(self, url: str) -> str | None:
        m = _PATH.match(urlsplit(url).path)
        return (
            f"https://www.tiktok.com/@{m.group('handle').lower()}/{m.group('kind')}/{m.group('id')}"
            if m
            else None
        )

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        m = _PATH.match(urlsplit(url).path)
        data = script_json(page, "__UNIVERSAL_DATA_FOR_REHYDRATION__")
        detail = dig(data, "__DEFAULT_SCOPE__", "webapp.video-detail") or {}
        item = dig(detail, "itemInfo", "itemStruct")
        if not isinstance(item, dict):
            sigi = script_json(page, "SIGI_STATE")
            module = dig(sigi, "ItemModule") or {}
            item = next(iter(module.values()), {}) if isinstance(module, dict) else {}
        item = item if isinstance(item, dict) else {}
        code = detail.get("statusCode")
        state, reason = availability(
            visible_text(page),
            login=("Log in to TikTok", "Log in to follow creators"),
            unavailable=(
                "Video currently unavailable",
                "This video is unavailable",
                "This account is private",
            ),
            deleted=("Couldn't find this account", "This video has been removed"),
        )
        if code not in (None, 0) and state == "available":
            state, reason = "unavailable", f"statusCode {code}: {str(detail.get('statusMsg') or '')[:100]}"
        author: dict[str, Any] = item["author"] if isinstance(item.get("author"), dict) else {}
        video: dict[str, Any] = item["video"] if isinstance(item.get("video"), dict) else {}
        return {
            "post_id": item.get("id") or (m.group("id") if m else None),
            "handle": author.get("uniqueId") or (m.group("handle") if m else None),
            "display_name": author.get("nickname"),
            "posted_at": machine_time(item.get("createTime")),
            "posted_at_shown": None,
            "caption": item.get("desc"),
            "media_urls": [
                u for u in (video.get("playAddr"), video.get("downloadAddr"), video.get("cover")) if u
            ],
            "media_note": MEDIA_NOTE,
            "availability": state,
            "availability_reason": reason,
        }
