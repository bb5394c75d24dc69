"""Facebook and Instagram posts, reels and videos.

Logged out, both mostly show a log-in wall with OpenGraph tags; the adapters read ids from the URL,
the caption and author from OpenGraph and Instagram's ``og:description`` form
(``N likes, M comments - handle on March 3, 2024: "caption"``), and recognise walls and removals.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collectors.platforms.base import Page, availability, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["Facebook", "Instagram"]

_FB_PATHS = (
    re.compile(r"^/(?P<page>[^/]+)/(?:posts|videos|photos/[^/]+)/(?P<id>[A-Za-z0-9._-]+)"),
    re.compile(r"^/reel/(?P<id>\d+)"),
    re.compile(r"^/watch/?$"),
)
_IG_PATH = re.compile(r"^/(?:[A-Za-z0-9_.]{1,30}/)?(?P<kind>p|reel|reels|tv)/(?P<code>[A-Za-z0-9_-]{5,40})")
_IG_DESC = re.compile(
    r"^(?:(?P<stats>[^-]*?) - )?(?P<handle>[A-Za-z0-9_.]{1,30}) on (?P<when>[A-Z][a-z]+ \d{1,2}, \d{4}): "
    r"[\"“](?P<caption>.*)[\"”]\.?$",
    re.S,
)
_IG_TITLE = re.compile(r"^(?P<name>.*?) on Instagram: [\"“]", re.S)


def _fb_id(url: str) -> tuple[str | None, str | None]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for key in ("story_fbid", "fbid", "v"):
        if query.get(key):
            owner = query.get("id")
            return query[key][0], owner[0] if owner else None
    for pattern in _FB_PATHS:
        m = pattern.match(parts.path)
        if m and "id" in m.groupdict():
            return m.group("id"), m.groupdict().get("page")
    return None, None


class Facebook:
    name = "facebook"

    def matches(self, url: str) -> bool:
        return host_of(url) in ("facebook.com", "fb.com", "fb.watch")

    def canonical(self, url: str) -> str | None:
        post, page = _fb_id(url)
        path = urlsplit(url).path
        if post and page and "/posts/" in path:
            return f"https://www.facebook.com/{page}/posts/{post}"
        if post and ("/videos/" in path or path.startswith(("/watch", "/reel/"))):
            return f"https://www.facebook.com/watch/?v={post}"
        if post and page:
            return f"https://www.facebook.com/permalink.php?story_fbid={post}&id={page}"
        if post:
            return f"https://www.facebook.com/photo.php?fbid={post}"
        return None

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        post, owner = _fb_id(url)
        state, reason = availability(
            visible_text(page),
            login=(
                "You must log in to continue",
                "Log into Facebook",
                "Log in to Facebook",
                "See more on Facebook",
            ),
            unavailable=(
                "This content isn't available right now",
                "This content isn't available at the moment",
            ),
            deleted=(
                "This post has been deleted",
                "The link you followed may be broken, or the page may have been removed",
            ),
        )
        caption = page.meta("og:description")
        if state == "login_wall" and caption:
            state, reason = "available", None  # OpenGraph carries the post beside the wall
        return {
            "post_id": post,
            "handle": owner,
            "display_name": page.meta("og:title"),
            "posted_at": machine_time(page.meta("article:published_time")),
            "posted_at_shown": page.first_text("//abbr[@data-utime]") or page.first_text("//abbr"),
            "caption": caption,
            "media_urls": [u for u in (page.meta("og:image"), page.meta("og:video")) if u],
            "availability": state,
            "availability_reason": reason,
        }


class Instagram:
    name = "instagram"

    def matches(self, url: str) -> bool:
        return host_of(url) in ("instagram.com", "instagr.am")

    def canonical(self, url: str) -> str | None:
        m = _IG_PATH.match(urlsplit(url).path)
        if not m:
            return None
        kind = "reel" if m.group("kind") in ("reel", "reels") else m.group("kind")
        return f"https://www.instagram.com/{kind}/{m.group('code')}/"

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        m = _IG_PATH.match(urlsplit(url).path)
        desc = page.meta("og:description") or page.meta("description") or ""
        parsed = _IG_DESC.match(desc)
        title = _IG_TITLE.match(page.meta("og:title") or "")
        state, reason = availability(
            visible_text(page),
            login=("Login • Instagram", "Log in to see photos and videos", "Log into Instagram"),
            unavailable=("Sorry, this page isn't available", "This account is private"),
            deleted=("The link you followed may be broken, or the page may have been removed",),
        )
        if state == "login_wall" and parsed:
            state, reason = "available", None
        return {
            "post_id": m.group("code") if m else None,
            "handle": parsed.group("handle") if parsed else None,
            "display_name": title.group("name") if title else None,
            "posted_at": machine_time(page.meta("article:published_time")),
            "posted_at_shown": parsed.group("when") if parsed else None,
            "caption": parsed.group("caption") if parsed else (desc or None),
            "stats_shown": parsed.group("stats") if parsed else None,
            "media_urls": [u for u in (page.meta("og:image"), page.meta("og:video")) if u],
            "availability": state,
            "availability_reason": reason,
        }
