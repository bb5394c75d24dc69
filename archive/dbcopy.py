"""Copy a home's database to another engine (SQLite to PostgreSQL, or back) and prove the copy equal.

The target is brought to the newest schema by the migrations (so it has its engine's own triggers and
functions), then every table is copied row for row in one target transaction, parents before children.
Equality is checked by a digest per table over rows in primary-key order, each value in one canonical
text form, read back from both databases after the copy: the same digest on both sides means the same
rows, whatever each engine's storage types.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy.engine import Connection

from archive.db import Database, metadata, utc_text
from archive.errors import IntegrityError, StorageError
from archive.migrate import upgrade

__all__ = ["CopyError", "CopyMismatch", "TableDigest", "TargetNotEmpty", "copy_database", "table_digests"]

BATCH = 2000


class CopyError(StorageError):
    """The database could not be copied."""


class TargetNotEmpty(CopyError):
    """The target already holds tables (nothing was written)."""


class CopyMismatch(IntegrityError, CopyError):
    """The copy was written but does not match its source."""


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


@dataclass
class CopyReport:
    tables: dict[str, TableDigest] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.tables.values())


def _tables() -> list[Table]:
    return list(metadata.sorted_tables)


def _ensure_empty(target: Database) -> None:
    names = set(inspect(target.engine).get_table_names())
    if "alembic_version" in names or names & {t.name for t in _tables()}:
        where = target.engine.url.render_as_string()
        raise TargetNotEmpty(f"{where} already holds tables: give an empty database")


def _source_tables_known(source: Database) -> None:
    names = set(inspect(source.engine).get_table_names()) - {"alembic_version", "sqlite_sequence"}
    unknown = names - {t.name for t in _tables()}
    if unknown:
        raise TargetNotEmpty(
            f"the source has tables this version does not know: {', '.join(sorted(unknown))}"
        )


def copy_database(source: Database, target: Database) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``; raise CopyError unless the digests agree."""
    _source_tables_known(source)
    _ensure_empty(target)
    upgrade(target)
    # The source's write transaction: no writer commits to it while its rows are read.
    with source.begin() as src, target.begin() as dst:
        for table in _tables():
            for batch in _batches(src, table):
                dst.execute(table.insert(), batch)
        if dst.dialect.name == "postgresql":
            _advance_sequences(dst)
    want, got = table_digests(source), table_digests(target)
    if want != got:
        differ = sorted(name for name in want if want[name] != got.get(name))
        raise CopyMismatch(f"the copy differs from its source in: {', '.join(differ)}")
    return CopyReport(tables=got)


def _batches(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    result = conn.execute(select(table).order_by(*_key_order(conn, table)))
    while rows := result.mappings().fetchmany(BATCH):
        yield [dict(r) for r in rows]


def _key_order(conn: Connection, table: Table) -> list[Any]:
    """Primary-key order by code point on both engines (SQLite compares bytes; PostgreSQL would use the
    database's collation for text)."""
    if conn.dialect.name != "postgresql":
        return list(table.primary_key.columns)
    return [c.collate("C") if c.type.python_type is str else c for c in table.primary_key.columns]


def _advance_sequences(conn: Connection) -> None:
    """Rows came with their ids: move each serial column's sequence past the largest one."""
    for table in _tables():
        for col in table.primary_key.columns:
            if not col.autoincrement or col.type.python_type is not int:
                continue
            seq = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col.name}
            )
            name = seq.scalar()
            if name is None:
                continue
            top = conn.execute(select(func.max(col))).scalar()
            if top is not None:
                conn.execute(text("SELECT setval(:s, :v)"), {"s": name, "v": int(top)})


def table_digests(db: Database) -> dict[str, TableDigest]:
    """Per table: the number of rows and a SHA-256 over them in primary-key order, canonical form."""
    out: dict[str, TableDigest] = {}
    with db.connect() as conn:
        for table in _tables():
            h = hashlib.sha256()
            count = 0
            for batch in _batches(conn, table):
                for row in batch:
                    h.update(_canonical(row).encode("utf-8") + b"\n")
                    count += 1
            out[table.name] = TableDigest(count, h.hexdigest())
    return out


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps({k: _value(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False)


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, float):
        return repr(value)
    return value
