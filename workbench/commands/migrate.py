"""`wb migrate --to URL`: move the home's database to another engine, verified (admins).

wb migrate --to postgresql://USER@HOST:PORT/DB     SQLite to PostgreSQL (an empty database)
wb migrate --to ... --keep-source                  keep the old SQLite file (erasure will not reach it)

The password, if any, comes from the URL, PGPASSWORD or ~/.pgpass; home.json keeps the URL without it.
"""

from __future__ import annotations

import argparse

from workbench import dbmove
from workbench.clitools import Output, Registrar, acting, open_home

__all__ = ["register"]


def cmd_migrate(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        try:
            moved = dbmove.move_database(home, by, args.to, keep_source=args.keep_source)
        except dbmove.CopyMismatch as exc:
            out.error(f"wb migrate: {exc}; the home still uses its old database")
            return 1
    out.record(
        {
            "status": "migrated",
            "target": moved.target,
            "tables": len(moved.tables),
            "rows": moved.rows,
            "events": moved.events,
            "blobs": moved.blobs,
            "source_removed": moved.source_removed,
        },
        f"database moved to {moved.target}: {moved.rows} rows in {len(moved.tables)} tables, "
        f"{moved.events} custody events and {moved.blobs} files verified"
        + (f"; removed {', '.join(moved.source_removed)}" if moved.source_removed else ""),
    )
    return 0


def register(r: Registrar) -> None:
    """Add `wb migrate`."""
    p = r.add("migrate", cmd_migrate, "move the home's database to another engine (PostgreSQL), verified")
    p.add_argument(
        "--to", required=True, metavar="URL", help="an empty database: postgresql://USER@HOST:PORT/DB"
    )
    p.add_argument("--keep-source", action="store_true", help="keep the old SQLite file")
