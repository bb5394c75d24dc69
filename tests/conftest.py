"""Shared fixtures: a real archive home on disk, and the real `wb` command in a subprocess."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.db import Database
from archive.home import Home
from archive.migrate import upgrade

# Real PostgreSQL, Redis and S3 servers, started on first use (see tests/services.py).
from tests.services import (  # noqa: F401
    PostgresServer,
    postgres_server,
    postgres_url,
    redis_server,
    redis_url,
    s3_endpoint,
    s3_env,
)
from workbench import TOOL_VERSION
from workbench.services import auth, sessions

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


def require_shared(path: Path = SHARED) -> Path:
    """The shared corpus sits beside the checkout; skip with a clear message only where it is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: this test reads the shared corpus beside the checkout")
    return path


# Every test home's first admin (made by the `wb` fixture's `init`) and the password all test accounts use.
FIRST_ADMIN = "analyst-a"
PASSWORD = "correct horse battery staple"


def clean_env() -> dict[str, str]:
    """This process's environment without who-acts variables: a test's `wb` acts only through the
    session file it names itself."""
    return {k: v for k, v in os.environ.items() if k not in ("WB_USER", "WB_SESSION")}


# Contract tests that must hold on every database engine: ``pytestmark = BOTH_ENGINES`` runs each test of
# the module that opens a home (through ``wb_env``, ``wb`` or ``home``) on SQLite (in the home) and on
# PostgreSQL (a fresh database on the test server).
BOTH_ENGINES = pytest.mark.both_engines
ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("db_url", ENGINES, indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The home's database: None (SQLite in the home folder) unless parametrized to "postgresql"."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    # Not dropped after the test: DROP DATABASE waits for a checkpoint (seconds here); the whole
    # cluster goes when the session ends.
    yield server.new_database(template=_migrated_template(server))


def _migrated_template(server: PostgresServer) -> str:
    """A database at the newest schema to copy from, made once per server: a fresh home on PostgreSQL
    then costs a file copy, not a run of every migration (their own test runs them)."""
    name = "wb_template_head"
    if name not in server.templates:
        url = server.new_database(name=name)
        db = Database(url)
        upgrade(db)
        db.dispose()
        server.templates.add(name)
    return name


@pytest.fixture
def wb_env(tmp_path: Path, db_url: str | None) -> dict[str, str]:
    env = clean_env()
    env.update(
        WB_HOME=str(tmp_path / "home"),
        WB_KEY=str(tmp_path / "keys" / "signing.key"),
        WB_SESSION=str(tmp_path / "sessions" / FIRST_ADMIN),
    )
    env.pop("WB_DATABASE_URL", None)
    if db_url:
        env["WB_DATABASE_URL"] = db_url
    return env


RunWb = Callable[..., subprocess.CompletedProcess[str]]


def run_wb(
    env: dict[str, str], *args: str, check: int | None = 0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `wb` as a user would, in its own process."""
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"wb {' '.join(args)} exited {proc.returncode}, wanted {check}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def setup_wb(
    env: dict[str, str], *args: str, check: int | None = 0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a set-up command (`wb init`, `login`, `user add`, `member add`) through the CLI's own entry
    (``workbench.cli.main``) in this process: the same code, arguments, environment and standard input
    as `wb` in its own process, without a Python start-up (and import of the workbench) per command.
    Only for steps that prepare a test; what a test is about runs through ``run_wb``."""
    from workbench import cli

    saved_env, saved_stdin, saved_umask = dict(os.environ), sys.stdin, os.umask(0o077)
    os.umask(saved_umask)
    out, err = io.StringIO(), io.StringIO()
    _set_environ(env)
    sys.stdin = io.StringIO(input or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _exit_code(cli.main, list(args))
    finally:
        sys.stdin = saved_stdin
        _set_environ(saved_env)
        os.umask(saved_umask)  # opening a home narrows the umask of the process it runs in
    proc = subprocess.CompletedProcess(["wb", *args], code, out.getvalue(), err.getvalue())
    if check is not None and code != check:
        raise AssertionError(
            f"wb {' '.join(args)} exited {code}, wanted {check}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def _set_environ(wanted: dict[str, str]) -> None:
    """Make os.environ equal ``wanted`` key by key (never empty meanwhile, for other threads)."""
    for key in [k for k in os.environ if k not in wanted]:
        del os.environ[key]
    for key, value in wanted.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _exit_code(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """What the process would exit with: argparse's exits, and 1 with the traceback for a crash."""
    try:
        return main(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1


def admin_of(home: Home) -> auth.Account:
    """The home's first admin (made on first use), for tests that call the services directly."""
    with home.reading() as conn:
        found = auth.account_by_name(conn, FIRST_ADMIN)
    return found or sessions.create_first_admin(home, FIRST_ADMIN, PASSWORD, "cli")


def init_home(env: dict[str, str], admin: str = FIRST_ADMIN) -> None:
    """`wb init` with a first admin, logged in through ``env``'s WB_SESSION (for tests that build their
    own environment)."""
    setup_wb(env, "init", "--admin", admin, "--password-stdin", input=PASSWORD)
    setup_wb(env, "login", admin, "--password-stdin", input=PASSWORD)


@pytest.fixture
def wb(wb_env: dict[str, str]) -> RunWb:
    """`wb` in its own process. A plain `init` also makes the first admin (FIRST_ADMIN) and logs
    it in (WB_SESSION of ``wb_env``), so that the commands after it act as that admin."""

    def run(
        *args: str, check: int | None = 0, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        use = env or wb_env
        if args[:1] == ("init",) and "--admin" not in args and input is None:
            proc = setup_wb(
                use, *args, "--admin", FIRST_ADMIN, "--password-stdin", check=None, input=PASSWORD
            )
            if proc.returncode == 2 and "has accounts already" in proc.stderr:
                proc = run_wb(use, *args, check=check)
            elif check is not None and proc.returncode != check:
                raise AssertionError(f"wb init exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
            if proc.returncode == 0:
                setup_wb(use, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
            return proc
        return run_wb(use, *args, check=check, input=input)

    return run


Account = Callable[..., dict[str, str]]


@pytest.fixture
def account(wb: RunWb, wb_env: dict[str, str], tmp_path: Path) -> Account:
    """``account(name, role, case=None)``: add an account (as the first admin), make it a member of
    ``case`` when given, log it in, and return the environment whose `wb` acts as it."""

    def make(name: str, role: str, case: str | None = None) -> dict[str, str]:
        setup_wb(wb_env, "user", "add", name, "--role", role, "--password-stdin", input=PASSWORD)
        if case is not None:
            setup_wb(wb_env, "member", "add", "--case", case, name)
        env = dict(wb_env, WB_SESSION=str(tmp_path / "sessions" / name))
        setup_wb(env, "login", name, "--password-stdin", input=PASSWORD)
        return env

    return make


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def home(tmp_path: Path, db_url: str | None) -> Iterator[Home]:
    h = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", TOOL_VERSION, db_url)
    yield h
    h.close()
