"""Who is assigned to a sensitive item, and whom it may still be assigned to (CON-04), for the app.

Survivor-identifying and sexual-violence items are seen only by accounts assigned to them
(``workbench.services.access``). ``access.assign`` records an assignment; this module answers the questions a
form needs first, through the same checks: the account must see the item, and only a role that may
assign learns which case members are not yet assigned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import tags, users
from archive.home import Home
from archive.model import Classification, Role
from workbench.services import access
from workbench.services.access import ASSIGN_PREFIX, SENSITIVE_TAG, ItemRow
from workbench.services.auth import Account, Perm, account_from_row, can, list_members

__all__ = ["Assignment", "assignment", "is_sensitive"]


@dataclass(frozen=True)
class Assignment:
    """The accounts assigned to an item and, for those who may assign, the members who are not."""

    assigned: list[str]
    candidates: list[str]  # empty unless the account may assign


def is_sensitive(row: ItemRow) -> bool:
    """Whether only assigned accounts see the item (survivor-identifying, or tagged sexual violence)."""
    return row.classification == Classification.SURVIVOR_IDENTIFYING.value or SENSITIVE_TAG in row.tags


def assignment(home: Home, account: Account, item_id: str, via: str = "app") -> Assignment:
    """The item's assignees (names) for an account that sees it; a hidden or absent item is one
    logged refusal. Candidates: active case members (admins count as members) not yet assigned,
    listed only when the account's role may assign."""
    row = access.authorise(home, account, item_id, Perm.READ, via)
    with home.reading() as conn:
        ids = {
            int(str(t)[len(ASSIGN_PREFIX) :])
            for t in conn.execute(
                select(tags.c.tag).where(tags.c.item_id == row.id, tags.c.tag.like(f"{ASSIGN_PREFIX}%"))
            ).scalars()
        }
        q = select(users.c.id, users.c.name).where(users.c.id.in_(ids))
        named = {int(r.id): str(r.name) for r in conn.execute(q)}
        may = can(account, Perm.ASSIGN)
        members = {a.id: a for a in [*list_members(conn, row.case_id), *_admins(conn)]} if may else {}
    assigned = sorted(named[i] for i in ids if i in named)
    candidates = sorted(a.name for a in members.values() if a.active and a.id not in ids)
    return Assignment(assigned, candidates)


def _admins(conn: Connection) -> list[Account]:
    q = select(users).where(users.c.role == Role.ADMIN.value).order_by(users.c.name)
    return [account_from_row(r) for r in conn.execute(q).mappings()]
