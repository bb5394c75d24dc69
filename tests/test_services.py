"""The service harness itself: real servers start on loopback, answer, stop at the end of the session,
and a missing one fails the test that needs it (never a skip)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

INNER = """
import json, os, urllib.request

def test_all(postgres_server, postgres_url, redis_server, redis_url, s3_endpoint, s3_env):
    import psycopg
    from tests.services import _redis_command
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as conn:
        conn.execute("CREATE TABLE t (name text)")
        conn.execute("INSERT INTO t VALUES ('Харків')")
        assert conn.execute("SELECT name FROM t").fetchone()[0] == "Харків"
    assert _redis_command(redis_server, "SET", "k", "v").startswith(b"+OK")
    urllib.request.urlopen(s3_endpoint + "/moto-api/", timeout=5).close()
    assert s3_env["AWS_ENDPOINT_URL"] == s3_endpoint
    with open(os.environ["PIDS_OUT"], "w") as out:
        port = int(s3_endpoint.rsplit(":", 1)[1])
        json.dump({"pid": postgres_server.proc.pid, "ports": [postgres_server.port, redis_server, port]}, out)
"""


def _inner(tmp_path: Path, source: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_inner.py"
    test.write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.services",
            "-q",
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "pyproject.toml"),
            str(test),
        ],  # fmt: skip
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_services_start_answer_and_stop(tmp_path: Path) -> None:
    env = dict(os.environ, PIDS_OUT=str(tmp_path / "pids.json"), PYTHONPATH=str(REPO))
    proc = _inner(tmp_path, INNER, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    started = json.loads((tmp_path / "pids.json").read_text())
    # Other sessions on the machine may run servers of their own: check the ones this session started.
    assert not _alive(started["pid"])
    assert [port for port in started["ports"] if _listening(port)] == []


def test_a_missing_service_fails_never_skips(tmp_path: Path) -> None:
    source = "def test_needs_redis(redis_url):\n    pass\n"
    # Only the venv on PATH: no redis-server to be found.
    env = dict(os.environ, PATH=str(Path(sys.executable).parent), PYTHONPATH=str(REPO))
    proc = _inner(tmp_path, source, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 error" in proc.stdout or "1 failed" in proc.stdout, proc.stdout
    assert "skipped" not in proc.stdout
    assert "service not available: redis-server" in proc.stdout
