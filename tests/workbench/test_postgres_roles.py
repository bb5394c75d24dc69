"""On PostgreSQL the services can run as a role that does not own the tables (docs/deploy.md): it works,
and it can neither edit the custody log nor take its triggers off, whatever SQL it sends."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import FIRST_ADMIN, RunWb, json_lines
from tests.rawdb import RawDb
from tests.services import PostgresServer

# What docs/deploy.md tells an operator to grant the services' role.
GRANTS = """
CREATE ROLE wb_app LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO wb_app;
REVOKE UPDATE, DELETE, TRUNCATE ON custody_events, checkpoints FROM wb_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO wb_app;
"""


def test_the_services_role_works_but_cannot_touch_the_log(
    wb: RunWb, wb_env: dict[str, str], postgres_server: PostgresServer, tmp_path
) -> None:
    owner_url = postgres_server.new_database()
    owner_env = dict(wb_env, WB_DATABASE_URL=owner_url)
    wb("init", env=owner_env)  # the owner makes the schema (migrations)
    owner = RawDb(owner_url)
    for statement in GRANTS.strip().split(";\n"):
        owner.execute(statement.rstrip(";"))
    app_url = make_url(owner_url).set(username="wb_app").render_as_string(hide_password=False)
    app_env = dict(wb_env, WB_DATABASE_URL=app_url)

    wb("case", "create", "alpha", "--purpose", "roles", env=app_env)
    (tmp_path / "a.txt").write_text("a statement\n")
    (line,) = json_lines(
        wb("ingest", "--case", "alpha", str(tmp_path / "a.txt"), "--json", env=app_env).stdout
    )
    assert line["status"] == "stored"
    assert wb("whoami", env=app_env).stdout.strip() == FIRST_ADMIN
    wb("verify", env=app_env)

    app = RawDb(app_url)
    for statement in (
        "UPDATE custody_events SET actor = 'x' WHERE seq = 1",
        "DELETE FROM checkpoints",
        "TRUNCATE custody_events",
        "DROP TRIGGER custody_events_append_only ON custody_events",
        "ALTER TABLE custody_events DISABLE TRIGGER ALL",
    ):
        with pytest.raises(app.error, match="permission denied|must be owner"):
            app.execute(statement)
    assert app.one("SELECT count(*) FROM custody_events") == owner.one("SELECT count(*) FROM custody_events")
    app.close()
    owner.close()
    wb("verify", env=app_env)
