"""An item's custody timeline as an account may see it (``wb log``, the app's custody tab, reports).

Blind review (VER-04) holds here too: while the reader has not submitted their own review and the
review phase is not over, the events recorded by the reviewers whose reviews are hidden from them
(``review.hidden_reviewers``), and every status change, are left out of the view. The log itself is
unchanged and still verifies; the reader sees those events once their own review is in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from archive.custody import CustodyLog
from archive.home import Home
from archive.model import CustodyEvent
from workbench.services import access, review
from workbench.services.auth import Account, Perm

__all__ = ["BLIND_ACTIONS", "blind_filter", "item_timeline"]

# A status change shows where the reviews stand; a judgement event shows who reviewed, and when.
BLIND_ACTIONS = frozenset({"item.status_changed", "judgement.recorded", "judgement.adjudicated"})

E = TypeVar("E", CustodyEvent, Mapping[str, Any])


def _actor_action(event: CustodyEvent | Mapping[str, Any]) -> tuple[str, str]:
    if isinstance(event, CustodyEvent):
        return event.actor, event.action
    return str(event.get("actor", "")), str(event.get("action", ""))


def blind_filter(conn: Connection, account: Account, item_id: str, events: Iterable[E]) -> list[E]:
    """The events of one item the account may see now (custody rows or ``CustodyEvent``s)."""
    hidden = review.hidden_reviewers(conn, account, item_id)
    if not hidden:
        return list(events)
    out = []
    for event in events:
        actor, action = _actor_action(event)
        if actor in hidden or (action in BLIND_ACTIONS and actor != account.name):
            continue
        out.append(event)
    return out


def item_timeline(home: Home, by: Account, item_id: str, via: str = "cli") -> list[CustodyEvent]:
    """The custody events of an item the account may see; a hidden or absent item is a logged refusal."""
    row = access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        return blind_filter(conn, by, row.id, CustodyLog.events(conn, item_id=row.id))
