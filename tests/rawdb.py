"""Plain SQL on a home's database past the workbench, on SQLite or PostgreSQL alike: what a test (or an
attacker with the database's credentials) sees. ``?`` placeholders on both engines; JSON columns come
back as JSON text on both, as SQLite gives them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

__all__ = ["RawDb", "raw_db"]

# The append-only triggers of migration 0001 (and 0008's TRUNCATE guard on PostgreSQL).
SQLITE_TRIGGERS = (
    "custody_events_no_update",
    "custody_events_no_delete",
    "checkpoints_no_update",
    "checkpoints_no_delete",
)
POSTGRES_TRIGGERS = (
    ("custody_events", "custody_events_append_only"),
    ("checkpoints", "checkpoints_append_only"),
    ("custody_events", "custody_events_no_truncate"),
    ("checkpoints", "checkpoints_no_truncate"),
)


class RawDb:
    """A DB-API connection in autocommit mode; ``error`` is the engine's base error class."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.postgres = parsed.get_backend_name() == "postgresql"
        self.conn: Any
        if self.postgres:
            import psycopg

            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(conninfo, autocommit=True)
            self.error: type[Exception] = psycopg.Error
        else:
            self.conn = sqlite3.connect(str(parsed.database), isolation_level=None)
            self.error = sqlite3.Error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (empty for a statement without any)."""
        if self.postgres:
            sql = sql.replace("?", "%s")
        cur = self.conn.execute(sql, tuple(params))
        if cur.description is None:
            return []
        return [tuple(_as_text(v) for v in row) for row in cur.fetchall()]

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as column -> value."""
        if self.postgres:
            sql = sql.replace("?", "%s")
        cur = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, (_as_text(v) for v in row), strict=True)) for row in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the only row."""
        (row,) = self.execute(sql, params)
        return row[0]

    def drop_append_only(self) -> None:
        """Remove the custody log's append-only triggers, as an attacker with the database would."""
        if self.postgres:
            for table, name in POSTGRES_TRIGGERS:
                self.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            for name in SQLITE_TRIGGERS:
                self.execute(f"DROP TRIGGER IF EXISTS {name}")

    def close(self) -> None:
        self.conn.close()


def _as_text(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, Mapping | list) else value


def raw_db(where: Any) -> RawDb:
    """The database of a ``Home``, or of the home a `wb` environment (WB_HOME, WB_DATABASE_URL) names."""
    if isinstance(where, Mapping):
        url = where.get("WB_DATABASE_URL") or f"sqlite:///{Path(where['WB_HOME']) / 'archive.sqlite3'}"
        return RawDb(str(url))
    return RawDb(str(where.db.url))
