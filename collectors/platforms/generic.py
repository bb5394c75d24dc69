"""The fallback extractor for any page: OpenGraph, Twitter cards, JSON-LD, oEmbed links, canonical URL,
author, publishing time and language, from ``extruct`` and ``trafilatura`` with a few lines of our own.

It never raises on a page: whatever a library cannot read is left out and named in ``problems``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

__all__ = ["MAX_HTML", "generic_post", "link_tags"]

MAX_HTML = 5 << 20  # larger documents are cut before parsing (time budget)
MAX_FIELD = 20_000


class _Links(HTMLParser):
    """<link> and <meta> tags and <html lang>, gathered without building a tree."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.metas: list[dict[str, str]] = []
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "link" and len(self.links) < 500:
            self.links.append(values)
        elif tag == "meta" and len(self.metas) < 1000:
            self.metas.append(values)
        elif tag == "html" and not self.lang:
            self.lang = values.get("lang", "")


def link_tags(html: str) -> _Links:
    """Parse the <link>/<meta> tags of a page (cut to MAX_HTML)."""
    parser = _Links()
    try:
        parser.feed(html[:MAX_HTML])
        parser.close()
    except (ValueError, AssertionError):
        pass
    return parser


def _metas(tags: _Links) -> dict[str, str]:
    found: dict[str, str] = {}
    for m in tags.metas:
        key = (m.get("property") or m.get("name") or m.get("itemprop") or "").strip().lower()
        if key and "content" in m and key not in found:
            found[key] = m["content"][:MAX_FIELD]
    return found


def _oembed(tags: _Links) -> list[dict[str, str]]:
    return [
        {"type": t.get("type", ""), "href": t.get("href", "")[:2000]}
        for t in tags.links
        if "alternate" in t.get("rel", "").lower() and "oembed" in t.get("type", "").lower()
    ]


def _canonical(tags: _Links) -> str | None:
    for t in tags.links:
        if "canonical" in t.get("rel", "").lower().split() and t.get("href"):
            return t["href"][:2000]
    return None


def _jsonld(html: str, url: str, problems: list[str]) -> list[Any]:
    try:
        import extruct

        data = extruct.extract(html[:MAX_HTML], base_url=url, syntaxes=["json-ld"], errors="ignore")
        return list(data.get("json-ld") or [])[:50]
    except Exception as exc:  # third-party parser on hostile input: record, never crash
        problems.append(f"json-ld: {type(exc).__name__}")
        return []


def _trafilatura(html: str, url: str, problems: list[str]) -> dict[str, Any]:
    try:
        import trafilatura

        doc = trafilatura.extract_metadata(html[:MAX_HTML], default_url=url)
        if doc is None:
            return {}
        return {k: v for k, v in doc.as_dict().items() if k in ("title", "author", "date", "sitename") and v}
    except Exception as exc:  # third-party parser on hostile input: record, never crash
        problems.append(f"trafilatura: {type(exc).__name__}")
        return {}


def _from_jsonld(items: list[Any]) -> dict[str, Any]:
    """Author, date and text from the first JSON-LD object that looks like a post or article."""
    for item in items:
        for obj in item.get("@graph", [item]) if isinstance(item, dict) else []:
            if not isinstance(obj, dict):
                continue
            kind = str(obj.get("@type", ""))
            if not re.search(r"Posting|Article|VideoObject|ImageObject|CreativeWork|Comment", kind):
                continue
            author = obj.get("author") or obj.get("creator")
            if isinstance(author, list):
                author = author[0] if author else None
            return {
                "author": (author.get("name") if isinstance(author, dict) else author) or None,
                "author_url": author.get("url") if isinstance(author, dict) else None,
                "published": obj.get("datePublished") or obj.get("uploadDate") or obj.get("dateCreated"),
                "text": obj.get("articleBody") or obj.get("text") or obj.get("description"),
            }
    return {}


def generic_post(url: str, html: str) -> dict[str, Any]:
    """Post context any page can give; every value is as the page states it."""
    problems: list[str] = []
    tags = link_tags(html)
    meta = _metas(tags)
    jsonld = _jsonld(html, url, problems)
    traf = _trafilatura(html, url, problems)
    ld = _from_jsonld(jsonld)
    opengraph = {k: v for k, v in meta.items() if k.startswith(("og:", "article:", "video:"))}
    twitter = {k: v for k, v in meta.items() if k.startswith("twitter:")}
    media = [v for k, v in meta.items() if k in ("og:image", "og:video", "twitter:image", "og:video:url")]
    return {
        "platform": "web",
        "canonical_url": _canonical(tags) or opengraph.get("og:url"),
        "title": opengraph.get("og:title") or traf.get("title"),
        "author": ld.get("author") or meta.get("author") or traf.get("author"),
        "profile_url": ld.get("author_url"),
        "posted_at": ld.get("published") or meta.get("article:published_time") or traf.get("date"),
        "caption": ld.get("text") or opengraph.get("og:description") or meta.get("description"),
        "language": tags.lang or meta.get("og:locale") or None,
        "site_name": opengraph.get("og:site_name") or traf.get("sitename"),
        "media_urls": media,
        "opengraph": opengraph,
        "twitter_card": twitter,
        "json_ld": jsonld,
        "oembed": _oembed(tags),
        "problems": problems,
    }
