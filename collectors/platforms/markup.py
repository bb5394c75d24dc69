"""Which platform a page says it is, when its host is not one we know: a saved copy, a mirror, an
archive's replay. The page's own claims are read, strongest first: a URL it names as its own (its
``og:url``, ``<link rel=canonical>``, or the ``<!-- saved from url=... -->`` line a browser writes
when saving) on a platform's host, then ``og:site_name``, ``twitter:site``, and platform-specific
markup. These are claims of the page, and the post context says so (``platform_chosen_by``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collectors.platforms.base import Page

__all__ = ["Claim", "claimed_urls", "site_claim"]

# og:site_name values as the platforms write them (lower case).
SITE_NAMES = {
    "x": "x",
    "x (formerly twitter)": "x",
    "twitter": "x",
    "youtube": "youtube",
    "tiktok": "tiktok",
    "instagram": "instagram",
    "facebook": "facebook",
    "reddit": "reddit",
    "telegram": "telegram",
    "vk": "vk",
    "вконтакте": "vk",
    "bluesky": "bluesky",
    "bluesky social": "bluesky",
}
# twitter:site is a site's own account: only the platforms' official ones say which platform it is.
TWITTER_SITES = {
    "@x": "x",
    "@twitter": "x",
    "@youtube": "youtube",
    "@tiktok_us": "tiktok",
    "@instagram": "instagram",
    "@facebook": "facebook",
    "@reddit": "reddit",
    "@telegram": "telegram",
}
# Markup only the platform's own pages carry.
MARKUP = (
    ('//article[@data-testid="tweet"]', "x", 'an <article data-testid="tweet">'),
    ('//div[contains(@class, "tgme_widget_message")][@data-post]', "telegram", "a Telegram post widget"),
)
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d{1,5}\)(https?://[^\s>]{1,2000})\s*-->", re.I)


@dataclass(frozen=True)
class Claim:
    """A platform the page claims, the evidence (for the record), and a URL it names, if any."""

    platform: str
    evidence: str
    url: str | None = None


def claimed_urls(page: Page) -> list[tuple[str, str]]:
    """URLs the page names as its own, with where each was found."""
    found: list[tuple[str, str]] = []
    m = _SAVED_FROM.search(page.html[:4096])
    if m:
        found.append((m.group(1), "the page's 'saved from url' line"))
    if og := page.meta("og:url"):
        found.append((og, "the page's og:url"))
    for href in page.xpath('//link[contains(concat(" ", normalize-space(@rel), " "), " canonical ")]/@href')[
        :3
    ]:
        found.append((str(href), "the page's canonical link"))
    return [(u.strip(), where) for u, where in found if u.strip().lower().startswith(("http://", "https://"))]


def site_claim(page: Page) -> Claim | None:
    """The platform the page's site name, card account or markup names, if any."""
    site = (page.meta("og:site_name") or "").strip()
    if site.lower() in SITE_NAMES:
        return Claim(SITE_NAMES[site.lower()], f"og:site_name is {site!r}")
    card = (page.meta("twitter:site") or "").strip()
    if card.lower() in TWITTER_SITES:
        return Claim(TWITTER_SITES[card.lower()], f"twitter:site is {card!r}")
    for query, platform, what in MARKUP:
        if page.xpath(query):
            return Claim(platform, f"the page carries {what}")
    if "ytInitialPlayerResponse" in page.html:
        return Claim("youtube", "the page carries YouTube's ytInitialPlayerResponse")
    return None
