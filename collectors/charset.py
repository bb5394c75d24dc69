"""Which character encoding a captured page was read in, and why.

A page that names no charset (no ``charset=`` in its Content-Type, no byte order mark, no ``<meta>``
in its first 1024 bytes) leaves the choice to the browser, and Chromium then often guesses
windows-1252: a UTF-8 page shows "cafÃ©" for "café" in its title, its text and its screenshot. The
capture keeps the bytes as received and, when they are valid UTF-8 and the browser guessed otherwise,
shows the page again from the same bytes with ``charset=utf-8`` added (``collectors.web``); the
record says which encoding was used, on what basis, and what the browser had guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Encoding", "decide", "header_charset", "meta_charset"]

PRESCAN = 1024  # the HTML standard's prescan window for <meta charset>
MAX_CHECK = 8 << 20

_BOMS = ((b"\xef\xbb\xbf", "UTF-8"), (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))
_HEADER = re.compile(r";\s*charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_META = re.compile(
    rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)",
    re.I,
)


@dataclass(frozen=True)
class Encoding:
    """The decision for one document: the encoding used, the browser's own choice, and why."""

    used: str
    browser: str
    basis: str
    rerender: bool = False

    def as_record(self) -> dict[str, Any]:
        data: dict[str, Any] = {"used": self.used, "browser_chose": self.browser, "basis": self.basis}
        if self.rerender:
            data["transformation"] = (
                f"the page names no charset and the browser read it as {self.browser}, but its bytes "
                f"are valid UTF-8: it was shown again from the same received bytes with charset=utf-8 "
                f"added to its Content-Type; the screenshot, HTML, MHTML, text and post context come "
                f"from that showing, the WARC keeps the response as received"
            )
        return data


def header_charset(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type value, if any."""
    m = _HEADER.search(content_type or "")
    return m.group(1) if m else None


def meta_charset(body: bytes) -> str | None:
    """A charset named by ``<meta charset>`` or ``<meta http-equiv content="...; charset=...">`` early
    in the document (the browser's prescan window)."""
    m = _META.search(body[:PRESCAN])
    return m.group(1).decode("ascii", "replace") if m else None


def _valid_utf8(body: bytes) -> bool:
    try:
        body[:MAX_CHECK].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the check window's end is not an error of the page.
        return len(body) > MAX_CHECK and exc.start >= MAX_CHECK - 4
    return True


def decide(content_type: str, body: bytes | None, browser: str) -> Encoding:
    """The encoding a document is to be read in: what it declares, else what its bytes show."""
    if named := header_charset(content_type):
        return Encoding(browser, browser, f"the Content-Type header names charset {named}")
    mime = content_type.split(";")[0].strip().lower()
    if mime and not (mime.startswith("text/") or mime.endswith(("+xml", "/xml", "html"))):
        return Encoding("not text", browser, f"a {mime} document: text encodings do not apply")
    if body is None:
        return Encoding(
            browser,
            browser,
            "no charset in the Content-Type header; the document's bytes "
            "were not available to check, so the browser's choice stands",
        )
    for bom, name in _BOMS:
        if body.startswith(bom):
            return Encoding(browser, browser, f"the document starts with a {name} byte order mark")
    if named := meta_charset(body):
        return Encoding(browser, browser, f"a <meta> element in the document names charset {named}")
    if body.isascii():
        return Encoding(
            browser,
            browser,
            "no charset declared; the bytes are plain ASCII, read the same in every candidate encoding",
        )
    if _valid_utf8(body):
        if browser.lower().replace("-", "") == "utf8":
            return Encoding(
                "UTF-8",
                browser,
                "no charset declared; the bytes are valid UTF-8 and the browser read them as UTF-8",
            )
        return Encoding(
            "UTF-8",
            browser,
            f"no charset declared; the browser guessed {browser}, but the bytes are valid UTF-8 "
            "(multi-byte sequences hardly ever valid by chance in another encoding)",
            rerender=True,
        )
    return Encoding(
        browser,
        browser,
        f"no charset declared and the bytes are not valid UTF-8: the "
        f"browser's own detection ({browser}) stands",
    )
