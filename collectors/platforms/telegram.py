"""Telegram public channel posts: ``t.me/CHANNEL/ID`` and the web preview ``t.me/s/CHANNEL/ID``.

The preview page lists several posts (``div.tgme_widget_message[data-post="channel/id"]``); the
adapter reads the one the URL names, else the last one on the page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from collectors.platforms.base import Page, availability, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["Telegram"]

HOSTS = {"t.me", "telegram.me", "telegram.dog"}
_POST = re.compile(r"^/(?:s/)?(?P<channel>[A-Za-z0-9_]{3,64})/(?P<id>\d{1,12})/?$")
_BG = re.compile(r"background-image:\s*url\(['\"]?(?P<url>[^'\")]+)")


class Telegram:
    name = "telegram"

    def matches(self, url: str) -> bool:
        return host_of(url) in HOSTS

    def canonical(self, url: str) -> str | None:
        m = _POST.match(urlsplit(url).path)
        return f"https://t.me/{m.group('channel').lower()}/{m.group('id')}" if m else None

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        m = _POST.match(urlsplit(url).path)
        key = f"{m.group('channel')}/{m.group('id')}" if m else None
        msg = f'//div[contains(@class,"tgme_widget_message ") and @data-post="{key}"]' if key else ""
        if not key or not page.xpath(msg):
            msg = '(//div[contains(@class,"tgme_widget_message ") and @data-post])[last()]'
        post = page.first_text(f"{msg}/@data-post")
        styles = page.xpath(f'{msg}//a[contains(@class,"tgme_widget_message_photo_wrap")]/@style')
        media = [b.group("url") for s in styles if (b := _BG.search(s))]
        media += page.xpath(f"{msg}//video/@src")
        state, reason = availability(
            visible_text(page),
            login=(),
            unavailable=("Post not found", "This channel is private", "Channel is unavailable"),
            deleted=("Message was deleted", "This message was deleted"),
        )
        error = page.first_text('//div[contains(@class,"tgme_widget_message_error")]')
        if error:
            state, reason = ("deleted" if "deleted" in error.lower() else "unavailable"), error[:200]
        channel = post.split("/")[0] if post else (m.group("channel") if m else None)
        return {
            "post_id": post or key,
            "handle": channel,
            "display_name": page.first_text(f'{msg}//a[contains(@class,"tgme_widget_message_owner_name")]'),
            "profile_url": f"https://t.me/{channel}" if channel else None,
            "posted_at": machine_time(
                page.first_text(f'{msg}//a[contains(@class,"tgme_widget_message_date")]//time/@datetime')
            ),
            "posted_at_shown": page.first_text(
                f'{msg}//a[contains(@class,"tgme_widget_message_date")]//time'
            ),
            "caption": page.first_text(f'{msg}//div[contains(@class,"tgme_widget_message_text")]'),
            "views_shown": page.first_text(f'{msg}//span[contains(@class,"tgme_widget_message_views")]'),
            "media_urls": media,
            "availability": state,
            "availability_reason": reason,
        }
