"""Bluesky (``bsky.app/profile/HANDLE/post/RKEY``) and Mastodon (``INSTANCE/@USER/ID``) posts.

Bluesky's logged-out page carries the post in ``#bsky_post_text``, ``#bsky_display_name``,
``#bsky_handle``, ``#bsky_post_indexedat`` and an ``at://`` alternate link; Mastodon's carries
OpenGraph tags (``og:title`` "Name (@user@instance)", ``og:published_time``) and an
``application/activity+json`` alternate link. Mastodon runs on any host, so its adapter matches
by the path shape and the page's own Mastodon markers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from collectors.platforms.base import Page, availability, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["Bluesky", "Mastodon"]

_BSKY = re.compile(r"^/profile/(?P<handle>[A-Za-z0-9._:-]{3,253})/post/(?P<rkey>[a-z0-9]{5,20})")
_MASTO = re.compile(
    r"^/(?:@(?P<user>[A-Za-z0-9_]{1,30})(?:@[A-Za-z0-9.-]+)?|users/(?P<user2>[A-Za-z0-9_]{1,30})/statuses)/(?P<id>\d{6,25})/?$"
)
_MASTO_TITLE = re.compile(r"^(?P<name>.*?) \(@(?P<acct>[^)]+)\)$")


class Bluesky:
    name = "bluesky"

    def matches(self, url: str) -> bool:
        return host_of(url) in ("bsky.app", "staging.bsky.app")

    def canonical(self, url: str) -> str | None:
        m = _BSKY.match(urlsplit(url).path)
        return f"https://bsky.app/profile/{m.group('handle').lower()}/post/{m.group('rkey')}" if m else None

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        m = _BSKY.match(urlsplit(url).path)
        at_uri = page.first_text('//link[@rel="alternate" and starts-with(@href,"at://")]/@href')
        handle = page.first_text('//*[@id="bsky_handle"]') or (m.group("handle") if m else None)
        when = page.first_text('//*[@id="bsky_post_indexedat"]') or page.meta("article:published_time")
        state, reason = availability(
            visible_text(page),
            login=("This user has requested that their content only be shown to signed-in users",),
            unavailable=("Post not found", "Could not load post"),
            deleted=("The post may have been deleted",),
        )
        return {
            "post_id": at_uri or (m.group("rkey") if m else None),
            "handle": handle.lstrip("@") if handle else None,
            "display_name": page.first_text('//*[@id="bsky_display_name"]'),
            "profile_url": f"https://bsky.app/profile/{handle.lstrip('@')}" if handle else None,
            "posted_at": machine_time(when),
            "posted_at_shown": when,
            "caption": page.first_text('//*[@id="bsky_post_text"]') or page.meta("og:description"),
            "media_urls": [u for u in (page.meta("og:image"),) if u],
            "availability": state,
            "availability_reason": reason,
        }


class Mastodon:
    name = "mastodon"

    def matches(self, url: str) -> bool:
        return bool(_MASTO.match(urlsplit(url).path))

    @staticmethod
    def is_mastodon(page: Page) -> bool:
        site = (page.meta("og:site_name") or "") + " " + (page.meta("generator") or "")
        return "mastodon" in site.lower() or bool(page.xpath('//link[@type="application/activity+json"]'))

    def canonical(self, url: str) -> str | None:
        m = _MASTO.match(urlsplit(url).path)
        host = (urlsplit(url).hostname or "").lower()
        return (
            f"https://{host}/@{m.group('user') or m.group('user2')}/{m.group('id')}" if m and host else None
        )

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        m = _MASTO.match(urlsplit(url).path)
        title = _MASTO_TITLE.match(page.meta("og:title") or "")
        when = page.meta("og:published_time") or page.first_text("//time/@datetime")
        state, reason = availability(
            visible_text(page),
            login=("You need to sign in", "requires you to be logged in"),
            unavailable=("The page you are looking for isn't here", "This resource could not be found"),
            deleted=("This post has been deleted",),
        )
        return {
            "post_id": m.group("id") if m else None,
            "handle": title.group("acct") if title else (m.group("user") or m.group("user2") if m else None),
            "display_name": title.group("name") if title else None,
            "profile_url": page.meta("profile:username"),
            "posted_at": machine_time(when),
            "posted_at_shown": page.first_text("//time"),
            "caption": page.meta("og:description"),
            "media_urls": [u for u in (page.meta("og:image"),) if u],
            "availability": state,
            "availability_reason": reason,
        }
