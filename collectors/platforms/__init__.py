"""Post context from captured pages: a generic extractor, then small per-platform adapters.

``extract_post(url, html)`` always returns a dict: the generic fields (``generic.py``), overlaid
with what the platform adapter for the URL found; when the host is no platform's (a saved copy, a
mirror), the adapter the page's own markup names (``markup.py``), and ``platform_chosen_by`` says
so. An adapter that raises leaves the generic result and a note in ``problems``: platforms change
their markup, and a changed page must never stop a capture. ``canonical_url(url)`` gives one
spelling per post, so two spellings are one sighting.
"""

from __future__ import annotations

from typing import Any

from collectors.platforms.base import Adapter, Page, parse_page
from collectors.platforms.canonical import basic_canonical
from collectors.platforms.fediverse import Bluesky, Mastodon
from collectors.platforms.generic import generic_post
from collectors.platforms.markup import claimed_urls, site_claim
from collectors.platforms.meta import Facebook, Instagram
from collectors.platforms.reddit import Reddit
from collectors.platforms.telegram import Telegram
from collectors.platforms.tiktok import TikTok
from collectors.platforms.twitter import Twitter
from collectors.platforms.vk import VK
from collectors.platforms.youtube import YouTube

__all__ = ["ADAPTERS", "adapter_for", "canonical_url", "choose_adapter", "extract_post"]

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


def choose_adapter(url: str, page: Page) -> tuple[Adapter, str, dict[str, str]] | None:
    """The adapter for a page, the URL it reads the post from, and how it was chosen.

    By the served URL's host first; else by what the page says it is (``markup.py``), reading the
    post from a platform URL the page names as its own when it names one, else from the served URL."""
    adapter = adapter_for(url)
    if adapter is not None and not (isinstance(adapter, Mastodon) and not adapter.is_mastodon(page)):
        return adapter, url, {"platform_chosen_by": "url"}
    claims = claimed_urls(page)
    for claimed, where in claims:
        named = adapter_for(claimed)
        if named is not None and not isinstance(named, Mastodon):
            return named, claimed, _by_markup(f"{where} is on {named.name}'s host", claimed)
    claim = site_claim(page)
    if claim is not None:
        named = next((a for a in ADAPTERS if a.name == claim.platform), None)
        if named is not None:
            own = next((u for u, _ in claims if adapter_for(u) is named), None)
            return named, own or url, _by_markup(claim.evidence, own)
    if adapter is None and Mastodon.is_mastodon(page):
        return ADAPTERS[-1], url, _by_markup("the page says it is a Mastodon server's", None)
    return None


def _by_markup(evidence: str, claimed: str | None) -> dict[str, str]:
    found = {"platform_chosen_by": "markup", "platform_evidence": evidence[:300]}
    if claimed:
        found["platform_url_claimed"] = claimed[:2000]
    return found


def extract_post(url: str, html: str) -> dict[str, Any]:
    """Post context for a captured page; never raises on page content."""
    post = generic_post(url, html)
    post.update({k: post.get(k) for k in POST_FIELDS})
    post["availability"] = "available"
    post["media_urls"] = list(post.get("media_urls") or [])
    post["canonical_url"] = canonical_url(url)
    page = parse_page(html)
    chosen = choose_adapter(url, page)
    if chosen is None:
        return post
    adapter, source, how = chosen
    try:
        found = adapter.extract(source, page)
    except Exception as exc:  # stage boundary: a changed page falls back to the generic result
        post["problems"] = [
            *post.get("problems", []),
            f"{adapter.name} adapter: {type(exc).__name__}: {exc}"[:300],
        ]
        return post
    post["platform"] = adapter.name
    post.update(how)
    for key, value in found.items():
        if value not in (None, "", []):
            post[key] = value
        elif key in ("availability", "availability_reason"):
            post[key] = value
    if found.get("display_name") or found.get("handle"):
        # The adapter read the post's author from the platform's own markup: the generic guess
        # (a byline, a meta author) is not the post's author.
        post["author"] = found.get("display_name") or found.get("handle")
    if not found.get("post_id") and post.get("availability") == "available":
        post["problems"] = [*post.get("problems", []), f"{adapter.name} adapter: no post found on the page"]
    return post
