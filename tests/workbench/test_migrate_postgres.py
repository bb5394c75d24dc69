"""`wb migrate --to`: a SQLite home moves to PostgreSQL and back, verified each way; the home then works
on its new database without WB_DATABASE_URL, and a bad or non-empty target changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from archive.db import Database
from archive.dbcopy import table_digests
from archive.migrate import upgrade
from tests.conftest import FIRST_ADMIN, PASSWORD, RunWb, clean_env, json_lines, run_wb
from tests.services import PostgresServer

Account = Callable[..., dict[str, str]]


@pytest.fixture
def filled(wb: RunWb, tmp_path: Path) -> Path:
    wb("init")
    wb("case", "create", "kharkiv", "--purpose", "move test")
    for name, body in (("Харків обстріл.txt", "перший\n"), ("شهادة.txt", "second\n")):
        (tmp_path / name).write_text(body)
        wb("ingest", "--case", "kharkiv", str(tmp_path / name))
    return tmp_path / "home"


def test_a_sqlite_home_moves_to_postgresql_and_back_verified(
    wb: RunWb, wb_env: dict[str, str], filled: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    sqlite = filled / "archive.sqlite3"
    before = table_digests(Database(f"sqlite:///{sqlite}"))
    target = postgres_server.new_database().replace("postgresql+psycopg://", "postgresql://")

    (out,) = json_lines(wb("migrate", "--to", target, "--json").stdout)
    assert out["status"] == "migrated" and out["rows"] > 0 and out["blobs"] >= 4
    assert not sqlite.exists() and str(sqlite) in out["source_removed"]
    assert json.loads((filled / "home.json").read_text())["database"].startswith("postgresql+psycopg://wb@")

    # No WB_DATABASE_URL: the home names its database; the session, the chain and search carry over.
    assert "WB_DATABASE_URL" not in wb_env
    wb("verify")
    assert wb("whoami").stdout.strip() == "analyst-a"
    moved = table_digests(Database(target))
    for table in ("items", "sightings", "artifacts", "users", "sessions", "cases"):
        assert moved[table] == before[table], table
    # New rows on PostgreSQL take ids after the copied ones (its sequences moved past them).
    wb("case", "create", "second", "--purpose", "after the move")
    (tmp_path / "after.txt").write_text("after\n")
    assert (
        json_lines(wb("ingest", "--case", "second", str(tmp_path / "after.txt"), "--json").stdout)[0][
            "status"
        ]
        == "stored"
    )
    assert not sqlite.exists()

    back = tmp_path / "back.sqlite3"
    wb("migrate", "--to", f"sqlite:///{back}")
    assert json.loads((filled / "home.json").read_text())["database"] == f"sqlite:///{back}"
    lines = json_lines(wb("verify", "--json").stdout)
    assert lines[-1]["summary"]["problems"] == 0
    assert table_digests(Database(f"sqlite:///{back}"))["items"].rows == before["items"].rows + 1


def test_a_bad_or_used_target_or_a_non_admin_changes_nothing(
    wb: RunWb, filled: Path, account: Account, postgres_server: PostgresServer
) -> None:
    used = postgres_server.new_database()
    db = Database(used)
    upgrade(db)
    db.dispose()
    proc = wb("migrate", "--to", used, check=2)
    assert "already holds tables" in proc.stderr
    proc = wb("migrate", "--to", "nonsense", check=2)
    assert "not a database URL" in proc.stderr
    analyst = account("analyst-b", "analyst", "kharkiv")
    proc = wb("migrate", "--to", postgres_server.new_database(), check=1, env=analyst)
    assert "refused" in proc.stderr
    assert (filled / "archive.sqlite3").exists()
    assert "database" not in json.loads((filled / "home.json").read_text())
    wb("verify")


def test_an_encrypted_home_does_not_move_its_database(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    env = clean_env()
    env.update(
        WB_HOME=str(tmp_path / "enc"), WB_KEY=str(tmp_path / "cfg" / "signing.key"),
        WB_SESSION=str(tmp_path / "cfg" / "session"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
    )  # fmt: skip
    run_wb(env, "init", "--encrypt", "--admin", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    proc = run_wb(env, "migrate", "--to", postgres_server.new_database(), check=2)
    assert "this home is encrypted" in proc.stderr
    assert "database" not in json.loads((tmp_path / "enc" / "home.json").read_text())
