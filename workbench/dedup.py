"""Near-duplicate detection wired to the archive (issue: near-duplicates and earliest-known provenance)."""

from __future__ import annotations

from archive.home import Home
from archive.model import Case

__all__ = ["on_stored"]


def on_stored(home: Home, case: Case, item_id: str, sha256: str, mime: str) -> None:
    """Called for every file stored or sighted again, before the command returns."""
