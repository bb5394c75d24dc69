"""Red team, team mode: a database password given to `wb migrate --to` stays out of home.json and of
everything `wb` prints (the home folder is not encrypted: home.json is readable in any copy of it)."""

from __future__ import annotations

import json
from pathlib import Path

from archive.home import url_without_password
from tests.conftest import RunWb
from tests.services import PostgresServer

SECRET = "zqdbsecret-pw"


def test_a_url_without_password_has_no_password() -> None:
    for url in (
        f"postgresql+psycopg://wb:{SECRET}@127.0.0.1:5432/db",
        f"postgresql://wb:{SECRET}@db.example/db?sslmode=require",
    ):
        cleaned = url_without_password(url)
        assert SECRET not in cleaned and "***" not in cleaned, cleaned
        assert cleaned.startswith("postgresql") and "wb@" in cleaned and "/db" in cleaned


def test_migrate_keeps_the_database_password_out_of_home_json_and_output(
    wb: RunWb, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    wb("init")
    home = tmp_path / "home"
    # A wrong target: the refusal names the address without its password.
    bad = wb("migrate", "--to", f"postgresql+psycopg://wb:{SECRET}@127.0.0.1:1/none", check=2)
    assert SECRET not in bad.stdout + bad.stderr and "127.0.0.1:1" in bad.stderr
    # The harness's server trusts loopback, so the password is accepted and ignored: the move succeeds.
    target = postgres_server.new_database().replace("wb@", f"wb:{SECRET}@", 1)
    moved = wb("migrate", "--to", target)
    assert SECRET not in moved.stdout + moved.stderr
    info = (home / "home.json").read_text()
    assert SECRET not in info and json.loads(info)["database"].startswith("postgresql+psycopg://wb@")
    wb("verify")  # the home still opens (the password, when needed, comes from the environment)


def test_an_unreachable_database_is_a_clear_error_exit_2(wb: RunWb, wb_env: dict[str, str]) -> None:
    """The database server is down (or the address wrong): one line naming it, no traceback."""
    wb("init")
    down = dict(wb_env, WB_DATABASE_URL=f"postgresql+psycopg://wb:{SECRET}@127.0.0.1:1/wb")
    for args in (("case", "list"), ("verify",), ("init",)):
        proc = wb(*args, env=down, check=2)
        assert "Traceback" not in proc.stderr and SECRET not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("wb: ") and "127.0.0.1:1" in proc.stderr, proc.stderr
    wb("case", "list")  # the home itself is untouched


def test_an_object_store_address_with_credentials_is_refused_without_repeating_them(
    wb: RunWb, wb_env: dict[str, str]
) -> None:
    """Keys belong in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; one pasted into WB_BLOB_URL must not be
    printed back (to a terminal, a worker's journal, a CI log)."""
    wb("init")
    pasted = dict(wb_env, WB_BLOB_URL=f"s3://AKIAZQEXAMPLE:{SECRET}@evidence-bucket/wb")
    proc = wb("case", "list", env=pasted, check=2)
    assert SECRET not in proc.stderr and "AKIAZQEXAMPLE" not in proc.stderr, proc.stderr
    assert "s3://BUCKET/PREFIX" in proc.stderr
