"""What every platform adapter shares: the adapter shape, a parsed page, times, and availability.

An adapter is small on purpose: platforms change their markup, so each reads only the few things
the generic extractor cannot (post id, handle, display name, machine and shown posting time,
caption verbatim, media URLs) and says when the page is a login wall, unavailable or deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import lxml.html
from lxml import etree

from collectors.platforms.generic import MAX_HTML

__all__ = [
    "Adapter",
    "Page",
    "availability",
    "dig",
    "element_text",
    "embedded_json",
    "machine_time",
    "parse_page",
    "script_json",
    "visible_text",
]

Availability = tuple[str, str | None]


class Adapter(Protocol):
    """One platform: recognise its URLs, canonicalise them, read its pages."""

    name: str

    def matches(self, url: str) -> bool: ...
    def canonical(self, url: str) -> str | None: ...
    def extract(self, url: str, page: Page) -> dict[str, Any]: ...


@dataclass
class Page:
    """The captured HTML, parsed once (lxml, cut to ``MAX_HTML``) for every adapter."""

    html: str
    tree: Any

    def xpath(self, query: str) -> list[Any]:
        if self.tree is None:
            return []
        try:
            return list(self.tree.xpath(query))
        except etree.XPathError:
            return []

    def first_text(self, query: str) -> str | None:
        """Text of the first match, verbatim (an element's full text, or an attribute's value)."""
        for hit in self.xpath(query):
            text = hit if isinstance(hit, str) else element_text(hit)
            if text and text.strip():
                return str(text).strip()
        return None

    def meta(self, key: str) -> str | None:
        return self.first_text(f'//meta[@property="{key}" or @name="{key}" or @itemprop="{key}"]/@content')


def element_text(el: Any) -> str:
    """An element's text with ``<br>`` as a line break, scripts and styles left out (captions verbatim)."""
    parts: list[str] = []
    hidden = 0
    for event, node in etree.iterwalk(el, events=("start", "end")):
        tag = node.tag if isinstance(node.tag, str) else ""
        if event == "start":
            if tag in ("script", "style"):
                hidden += 1
            elif tag == "br" and not hidden:
                parts.append("\n")
            elif node.text and not hidden and tag:
                parts.append(node.text)
        else:
            if tag in ("script", "style"):
                hidden -= 1
            if node is not el and node.tail and not hidden:
                parts.append(node.tail)
    return "".join(parts)


def parse_page(html: str) -> Page:
    """Parse hostile HTML without network access and without executing anything."""
    try:
        tree = lxml.html.fromstring(html[:MAX_HTML] or "<html></html>")
    except (etree.ParserError, ValueError):
        tree = None
    return Page(html[:MAX_HTML], tree)


def machine_time(value: Any) -> str | None:
    """An ISO 8601 or Unix time (s or ms) as UTC with a ``Z``; None when it is neither."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            number = float(value)
            moment = datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                return None  # a time without zone cannot be placed; the shown text is kept instead
    except (ValueError, OverflowError, OSError):
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def embedded_json(html: str, marker: str, limit: int = 4 << 20) -> Any:
    """The JSON object assigned to ``marker`` in a script (``var ytInitialData = {...}``)."""
    for m in re.finditer(re.escape(marker) + r"\s*=\s*\{", html):
        start = m.end() - 1
        try:
            value, _ = json.JSONDecoder().raw_decode(html[start : start + limit])
        except ValueError:
            continue
        return value
    return None


def script_json(page: Page, element_id: str) -> Any:
    """The JSON inside ``<script id=element_id>``."""
    text = "".join(page.xpath(f'//script[@id="{element_id}"][1]/text()'))
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def dig(data: Any, *path: str | int) -> Any:
    """``data[p0][p1]...`` or None, for JSON of unknown shape."""
    for key in path:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def availability(
    text: str, login: tuple[str, ...], unavailable: tuple[str, ...], deleted: tuple[str, ...]
) -> Availability:
    """Classify a page by the phrases a platform shows (case-insensitive)."""
    low = text.lower()
    for state, phrases in (("deleted", deleted), ("unavailable", unavailable), ("login_wall", login)):
        for phrase in phrases:
            if phrase.lower() in low:
                return state, phrase
    return "available", None


def visible_text(page: Page) -> str:
    """Title plus body text, for availability phrases (scripts and styles left out)."""
    if page.tree is None:
        return page.html[:200_000]
    title = page.first_text("//title") or ""
    body = " ".join(t for t in page.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"))
    return (title + " " + re.sub(r"\s+", " ", body))[:500_000]
