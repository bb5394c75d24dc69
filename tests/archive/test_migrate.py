"""The shortcut that skips Alembic on an up-to-date database agrees with Alembic itself."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from archive.db import Database
from archive.migrate import MIGRATIONS, alembic_config, head_revision, upgrade


def test_head_read_from_the_files_is_alembics_head(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    script = ScriptDirectory.from_config(alembic_config(db))
    assert script.dir == str(MIGRATIONS)
    assert head_revision() == script.get_current_head()
    db.dispose()


def test_an_older_database_is_still_brought_to_the_head(tmp_path: Path) -> None:
    from alembic import command

    db = Database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    config = alembic_config(db)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    upgrade(db)
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()
        assert conn.exec_driver_sql("SELECT count(*) FROM sessions").scalar() == 0
    db.dispose()
