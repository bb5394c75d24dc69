"""An item's custody timeline as an account may see it (``wb log``, the app's custody tab)."""

from __future__ import annotations

from archive.custody import CustodyLog
from archive.home import Home
from archive.model import CustodyEvent
from workbench import access
from workbench.auth import Account, Perm

__all__ = ["item_timeline"]


def item_timeline(home: Home, by: Account, item_id: str, via: str = "cli") -> list[CustodyEvent]:
    """The custody events of an item the account may see; a hidden or absent item is a logged refusal."""
    row = access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        return list(CustodyLog.events(conn, item_id=row.id))
