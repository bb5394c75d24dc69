"""Scheduled fixity as accounts run and see it (``wb fixity``, the app's background work, item pages).

Who may run it: admins only (``Perm.MAINTAIN``). A run re-hashes every file of the whole home, across
cases the runner may not be a member of, and writes the integrity marks everyone sees; its report and
custody event name only hashes and counts. Everyone who may see an item sees its integrity mark.

The schedule (default every 7 days, the setting ``fixity_every_days``; 0 turns it off) runs in the
app's background work as the admin who last set it (``wb fixity --every DAYS``), else the home's first
active admin, with the channel ``job``; an unfinished run is resumed at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from archive import fixity as engine
from archive.db import settings, users, utcnow
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Role
from workbench.services import access
from workbench.services.auth import Account, Perm, account_by_name, can, refuse, require

__all__ = [
    "DEFAULT_EVERY_DAYS",
    "IntegrityMark",
    "fixity_due",
    "item_integrity",
    "run_fixity",
    "run_scheduled",
    "set_schedule",
]

DEFAULT_EVERY_DAYS = 7
SCHEDULE_KEY = "fixity_every_days"
SCHEDULED_BY_KEY = "fixity_scheduled_by"
BUSY_FOR = timedelta(minutes=10)


def run_fixity(
    home: Home,
    by: Account,
    via: str = "cli",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> engine.FixityRun:
    """Re-hash every live file (resuming an unfinished run), walk the chain, log it (admins)."""
    if not can(by, Perm.MAINTAIN):
        raise refuse(home, by, Perm.MAINTAIN, via)
    return engine.run_fixity(home, by.name, via, limit=limit, progress=progress)


@dataclass(frozen=True)
class IntegrityMark:
    """One file of an item whose latest fixity result failed: changed (``found_sha256`` is what it
    hashes to now), missing or unreadable, and the run that found it."""

    sha256: str
    state: str
    found_sha256: str | None
    run_id: str
    checked_at: datetime


def item_integrity(home: Home, by: Account, item_id: str, via: str = "app") -> list[IntegrityMark]:
    """The failed fixity results of an item's files, for an account that may see the item."""
    row = access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        failed = engine.failures_of_items(conn, [row.id]).get(row.id, [])
    return [
        IntegrityMark(f["sha256"], f["state"], f["found_sha256"], f["run_id"], f["checked_at"])
        for f in failed
    ]


def set_schedule(home: Home, by: Account, every_days: int, via: str = "cli") -> None:
    """How often the app's background work runs fixity (0: never); it will act as ``by`` (admins)."""
    if every_days < 0:
        raise InvalidRequest("the interval is a number of days, 0 or more")
    with home.transaction(by.name, via) as tx:
        require(by, Perm.MAINTAIN, tx=tx)
        for key, value in ((SCHEDULE_KEY, every_days), (SCHEDULED_BY_KEY, by.name)):
            tx.conn.execute(settings.delete().where(settings.c.key == key))
            tx.conn.execute(settings.insert().values(key=key, value=value))
        tx.event("settings.changed", details={"scope": "fixity_schedule", "every_days": every_days})


def _setting(home: Home, key: str) -> Any:
    with home.reading() as conn:
        row = conn.execute(select(settings.c.value).where(settings.c.key == key)).first()
    return None if row is None else row[0]


def _scheduled_account(home: Home) -> Account | None:
    name = _setting(home, SCHEDULED_BY_KEY)
    with home.reading() as conn:
        found = account_by_name(conn, str(name)) if isinstance(name, str) else None
        if found is None or not found.active or found.role is not Role.ADMIN:
            row = conn.execute(
                select(users.c.name)
                .where(users.c.role == Role.ADMIN.value, users.c.active.is_(True))
                .order_by(users.c.id)
                .limit(1)
            ).first()
            found = None if row is None else account_by_name(conn, row[0])
    return found


def fixity_due(home: Home) -> bool:
    """Whether the schedule asks for a run now (an unfinished run is always due)."""
    every = _setting(home, SCHEDULE_KEY)
    days = DEFAULT_EVERY_DAYS if every is None else int(every)
    with home.reading() as conn:
        unfinished = engine.open_run(conn)
        finished = engine.last_finished(conn)
    if unfinished is not None:
        return True
    if days <= 0:
        return False
    return finished is None or utcnow() - finished >= timedelta(days=days)


def _someone_on_it(home: Home) -> bool:
    """An unfinished run that made progress in the last minutes: another app instance is running it."""
    with home.reading() as conn:
        unfinished = engine.open_run(conn)
        return unfinished is not None and utcnow() - engine.last_activity(conn, unfinished) < BUSY_FOR


def run_scheduled(home: Home) -> engine.FixityRun | None:
    """Run fixity when the schedule says so, as the scheduling admin, in the ``job`` channel.

    Several app instances (team mode) each run the schedule: an unfinished run that progressed in
    the last ten minutes belongs to one of them, and the others leave it alone.
    """
    if not fixity_due(home) or _someone_on_it(home):
        return None
    by = _scheduled_account(home)
    if by is None:
        return None
    return run_fixity(home, by, via="job")
