"""Bring a database to the newest schema with Alembic (``archive/migrations``).

Every command opens the home, and importing and running Alembic costs a large share of a short
command's time: when the database already stands at the newest revision (read from the revision
files, checked against Alembic's own answer by a test), Alembic is not loaded at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from archive.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["head_revision", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r'^revision = "([^"]+)"', re.M)
_DOWN = re.compile(r'^down_revision = "([^"]+)"', re.M)


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", str(db.url).replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision named by the migration files, or None when they do not form one line."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        text = path.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(text))
        parents.update(_DOWN.findall(text))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current(db: Database) -> str | None:
    try:
        with db.connect() as conn:
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    except SQLAlchemyError:
        return None  # a new database: no version table yet
    return None if row is None else str(row[0])


def upgrade(db: Database) -> None:
    """Migrate to the newest revision (nothing to do, and no Alembic import, when already there)."""
    head = head_revision()
    if head is not None and _current(db) == head:
        return
    from alembic import command

    config = alembic_config(db)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
