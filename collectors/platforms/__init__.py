"""Post context from captured pages: a generic extractor, then small per-platform adapters.

``extract_post(url, html)`` always returns a dict: the generic fields (``generic.py``), overlaid
with what the platform adapter for the URL found. An adapter that raises leaves the generic result
and a note in ``problems``: platforms change their markup, and a changed page must never stop a
capture. ``canonical_url(url)`` gives one spelling per post, so two spellings are one sighting.
"""

from __future__ import annotations

from typing import Any

from collectors.platforms.base import Adapter, parse_page
from collectors.platforms.canonical import basic_canonical
from collectors.platforms.fediverse import Bluesky, Mastodon
from collectors.platforms.generic import generic_post
from collectors.platforms.meta import Facebook, Instagram
from collectors.platforms.reddit import Reddit
from collectors.platforms.telegram import Telegram
from collectors.platforms.tiktok import TikTok
from collectors.platforms.twitter import Twitter
from collectors.platforms.vk import VK
from collectors.platforms.youtube import YouTube

__all__ = ["ADAPTERS", "adapter_for", "canonical_url", "extract_post"]

# Mastodon last: it matches by path shape on any host, so named platforms win first.
ADAPTERS: tuple[Adapter, ...] = (
    Twitter(),
    Telegram(),
    YouTube(),
    TikTok(),
    Facebook(),
    Instagram(),
    Reddit(),
    Bluesky(),
    VK(),
    Mastodon(),
)

POST_FIELDS = (
    "post_id",
    "handle",
    "display_name",
    "profile_url",
    "posted_at",
    "posted_at_shown",
    "caption",
    "media_urls",
    "availability",
    "availability_reason",
)


def adapter_for(url: str) -> Adapter | None:
    """The adapter whose URLs look like ``url``, if any."""
    for adapter in ADAPTERS:
        try:
            if adapter.matches(url):
                return adapter
        except ValueError:
            return None
    return None


def canonical_url(url: str) -> str:
    """One spelling for one post (or page): the platform's form when known, else the generic one."""
    adapter = adapter_for(url)
    if adapter is not None:
        try:
            special = adapter.canonical(url)
        except ValueError:
            special = None
        if special:
            return special
    return basic_canonical(url)


def extract_post(url: str, html: str) -> dict[str, Any]:
    """Post context for a captured page; never raises on page content."""
    post = generic_post(url, html)
    post.update({k: post.get(k) for k in POST_FIELDS})
    post["availability"] = "available"
    post["media_urls"] = list(post.get("media_urls") or [])
    post["canonical_url"] = canonical_url(url)
    adapter = adapter_for(url)
    if adapter is None:
        return post
    page = parse_page(html)
    if isinstance(adapter, Mastodon) and not adapter.is_mastodon(page):
        return post
    try:
        found = adapter.extract(url, page)
    except Exception as exc:  # stage boundary: a changed page falls back to the generic result
        post["problems"] = [
            *post.get("problems", []),
            f"{adapter.name} adapter: {type(exc).__name__}: {exc}"[:300],
        ]
        return post
    post["platform"] = adapter.name
    for key, value in found.items():
        if value not in (None, "", []):
            post[key] = value
        elif key in ("availability", "availability_reason"):
            post[key] = value
    if not found.get("post_id") and post.get("availability") == "available":
        post["problems"] = [*post.get("problems", []), f"{adapter.name} adapter: no post found on the page"]
    return post
