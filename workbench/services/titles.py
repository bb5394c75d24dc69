"""What to call an item in lists and headings: its title (a page's title, an upload's file name), else
the start of a caption it was seen with, else a file name it was seen under; the id only when the item
has no words at all. Read as the account may see it: the caption of a sighting on a page hidden from
the account is withheld (``access.withhold_hidden_media``), as everywhere else."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import sightings
from workbench.services import access
from workbench.services.access import ItemRow
from workbench.services.auth import Account

__all__ = ["LENGTH", "display_title"]

LENGTH = 80


def _short(text: str, limit: int) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def display_title(conn: Connection, account: Account, row: ItemRow, limit: int = LENGTH) -> str:
    """A short human name for a visible item (see the module doc), at most ``limit`` characters."""
    if row.title and row.title.strip():
        return _short(row.title, limit)
    q = select(sightings.c.details, sightings.c.original_name).where(sightings.c.item_id == row.id)
    seen = [dict(r) for r in conn.execute(q.order_by(sightings.c.seen_at)).mappings()]
    seen = access.withhold_hidden_media(conn, account, row.id, seen)
    for s in seen:
        caption = (s.get("details") or {}).get("caption")
        if isinstance(caption, str) and caption.strip():
            return _short(caption, limit)
    for s in seen:
        if s.get("original_name"):
            return _short(str(s["original_name"]), limit)
    return f"{row.kind} {row.id}"
