"""Real servers for team-mode tests, on 127.0.0.1 and free ports, started on first use.

Fixtures (registered for every test by tests/conftest.py):

- ``postgres_url`` (module scope): ``postgresql+psycopg://wb@127.0.0.1:PORT/DB``, a fresh, empty database
  made for the test module and dropped after it. The server is Debian's PostgreSQL, initdb'd into a
  temporary folder and run as the unprivileged ``postgres`` user when the tests run as root.
  ``postgres_server`` (session) is the server itself, ``new_database()`` makes more databases on it.
- ``redis_url`` (module scope): ``redis://127.0.0.1:PORT/0`` on a ``redis-server`` without persistence,
  emptied (FLUSHALL) before each module that asks for it.
- ``s3_endpoint`` (session scope): ``http://127.0.0.1:PORT``, moto in server mode (S3 with versioning and
  Object Lock). ``S3_CREDENTIALS`` holds the dummy credentials it accepts; ``s3_env`` is
  ``S3_CREDENTIALS`` plus ``AWS_ENDPOINT_URL``, ready to merge into a `wb` subprocess's environment.
  Each test makes its own bucket (uuid name), so tests never see each other's objects.

A service that cannot start FAILS the test that asked for it (never a skip): CI must not pass without
the services team mode needs. Every server is stopped when the session ends; none outlives pytest.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = [
    "S3_CREDENTIALS",
    "PostgresServer",
    "postgres_server",
    "postgres_url",
    "redis_url",
    "s3_endpoint",
    "s3_env",
]

HOST = "127.0.0.1"
START_TIMEOUT = 60.0

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# Processes started here, stopped by their fixtures; atexit is the net for an interrupted session.
_RUNNING: list[subprocess.Popen[bytes]] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _missing(what: str) -> None:
    pytest.fail(f"service not available: {what} (run scripts/setup.sh as root)", pytrace=False)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when pytest dies, even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _start(argv: list[str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **kwargs,
        )
    _RUNNING.append(proc)
    return proc  # type: ignore[no-any-return]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and everything it forked (its own process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    if proc in _RUNNING:
        _RUNNING.remove(proc)


@atexit.register
def _stop_all() -> None:
    for proc in list(_RUNNING):
        _stop(proc)


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            _stop(proc)
            pytest.fail(f"{name} did not start:\n{tail}", pytrace=False)
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


# --- PostgreSQL ---------------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    """The newest Debian PostgreSQL server's bin folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        _missing("PostgreSQL (Debian package postgresql)")
    return Path(found[-1]).parent


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's unprivileged ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        _missing("the unprivileged 'postgres' user (Debian package postgresql makes it)")
    if runuser is None:
        _missing("runuser (Debian package util-linux)")
    return [str(runuser), "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """A running PostgreSQL server; its superuser ``wb`` connects over TCP without a password."""

    port: int
    data: Path
    proc: subprocess.Popen[bytes]
    made: list[str] = field(default_factory=list)
    # Databases that tests copy from (CREATE DATABASE ... TEMPLATE), kept for the whole session.
    templates: set[str] = field(default_factory=set)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one of its databases."""
        return f"postgresql+psycopg://wb@{HOST}:{self.port}/{database}"

    def _admin(self) -> object:
        import psycopg

        return psycopg.connect(host=HOST, port=self.port, user="wb", dbname="postgres", autocommit=True)

    def new_database(self, name: str | None = None, template: str | None = None) -> str:
        """A fresh database (empty, or a copy of ``template``); its URL."""
        name = name or f"wb_{uuid.uuid4().hex[:16]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with self._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        self.made.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by new_database, closing whatever still connects to it."""
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster): open sessions are not waited for and no final
        checkpoint is written, as the data folder is thrown away next."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
            self.proc.wait(timeout=30)
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            pass
        _stop(self.proc)

    def ready(self) -> bool:
        try:
            with self._admin():  # type: ignore[attr-defined]
                return True
        except Exception:
            return False


def start_postgres(base: Path) -> PostgresServer:
    """initdb into ``base`` and start a server on a free loopback port (fast and unsafe: fsync off)."""
    bindir = _postgres_bin()
    prefix = _as_server_user()
    data, sockets, log = base / "data", base / "sock", base / "postgres.log"
    sockets.mkdir(parents=True)
    if prefix:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
        os.chmod(base, 0o700)
    init = subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "wb",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        cwd=base,
    )
    if init.returncode != 0:
        pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
    port = _free_port()
    settings = {
        "listen_addresses": HOST,
        "port": str(port),
        "unix_socket_directories": str(sockets),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
    }
    argv = [*prefix, str(bindir / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    proc = _start(argv, log, cwd=base)
    server = PostgresServer(port=port, data=data, proc=proc)
    _wait_until(server.ready, proc, "PostgreSQL", log)
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (started on first use)."""
    if importlib.util.find_spec("psycopg") is None:
        _missing("psycopg (pip: psycopg[binary], pinned in constraints.txt)")
    base = Path(tempfile.mkdtemp(prefix="wb-postgres-"))
    server = start_postgres(base)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database for this test module, dropped after it."""
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url)


# --- Redis --------------------------------------------------------------------------------------------


def _redis_command(port: int, *words: str) -> bytes:
    """One command in Redis's wire protocol (RESP), without a client library."""
    payload = f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(1024)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[int]:
    """A ``redis-server`` without persistence for the whole session; its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server (Debian package redis-server)")
    base = Path(tempfile.mkdtemp(prefix="wb-redis-"))
    port = _free_port()
    log = base / "redis.log"
    argv = [str(binary), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", str(base)]  # fmt: skip
    proc = _start(argv, log, cwd=base)

    def ready() -> bool:
        try:
            return _redis_command(port, "PING").startswith(b"+PONG")
        except OSError:
            return False

    _wait_until(ready, proc, "redis-server", log)
    try:
        yield port
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_url(redis_server: int) -> str:
    """The Redis URL for this test module, emptied first."""
    assert _redis_command(redis_server, "FLUSHALL").startswith(b"+OK")
    return f"redis://{HOST}:{redis_server}/0"


# --- S3 (moto in server mode) ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a loopback port for the whole session; its endpoint URL."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        _missing("moto_server (pip: moto[server], pinned in constraints.txt)")
    base = Path(tempfile.mkdtemp(prefix="wb-moto-"))
    port = _free_port()
    log = base / "moto.log"
    proc = _start([str(binary), "-H", HOST, "-p", str(port)], log, cwd=base)
    endpoint = f"http://{HOST}:{port}"

    def ready() -> bool:
        if not _port_open(port):
            return False
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()  # noqa: S310 (loopback)
            return True
        except OSError:
            return False

    _wait_until(ready, proc, "moto_server", log)
    try:
        yield endpoint
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_env(s3_endpoint: str) -> dict[str, str]:
    """Environment variables that point boto3 (and `wb`) at the test S3 server."""
    return dict(S3_CREDENTIALS, AWS_ENDPOINT_URL=s3_endpoint)
