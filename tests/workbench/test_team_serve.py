"""Several app instances (`wb serve --address`) on separate homes that share only the database: a login
code made by one instance is redeemed by another, once, and the session it opens holds on both."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive.home import Home
from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, init_home, run_wb
from tests.workbench.browser_server import REPO, free_port
from workbench import login_codes, sessions, webauth


@dataclass
class Instance:
    address: str
    port: int
    proc: subprocess.Popen[bytes]

    def get(self, path: str, cookie: str = "", host: str = "") -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=30)
        headers = {"Host": host or f"{self.address}:{self.port}"}
        if cookie:
            headers["Cookie"] = f"{webauth.COOKIE}={cookie}"
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response


def _start(env: dict[str, str], log: Path, address: str, *extra: str) -> Instance:
    port = free_port()
    cmd = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port), "--address", address, *extra]
    out = log.open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(REPO))
    out.close()
    instance = Instance(address, port, proc)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if instance.get("/_stcore/health").status == 200:
                return instance
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"wb serve did not start: {log.read_text()[-2000:]}")


@dataclass
class Team:
    home: Home
    a: Instance
    b: Instance


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("team")
    shared = os.environ.get("WB_TEST_DATABASE_URL") or f"sqlite:///{root / 'shared.sqlite3'}"
    base = dict(clean_env(), WB_KEY=str(root / "keys" / "signing.key"), WB_DATABASE_URL=shared,
                WB_JOBS_WORKER="0")  # fmt: skip
    env_a = dict(base, WB_HOME=str(root / "a"), WB_SESSION=str(root / "session-a"))
    env_b = dict(base, WB_HOME=str(root / "b"), WB_SESSION=str(root / "session-b"))
    init_home(env_a)
    run_wb(env_b, "init")
    a = _start(env_a, root / "a.log", "127.0.0.1")
    b = _start(env_b, root / "b.log", "127.0.0.2", "--public-host", "wb.test")
    home = Home.open(root / "a", root / "keys" / "signing.key", "test", shared)
    try:
        yield Team(home, a, b)
    finally:
        home.close()
        for instance in (a, b):
            instance.proc.terminate()
            instance.proc.wait(timeout=30)


def test_a_login_code_made_by_one_instance_is_redeemed_by_another_once(team: Team) -> None:
    token, _ = sessions.open_session(team.home, FIRST_ADMIN, PASSWORD, "app")
    code = login_codes.handoff(team.home, token, "item=abc")  # what instance A's login page does
    redeemed = team.b.get(f"/wb/session?code={code}")
    assert redeemed.status == 303
    assert redeemed.getheader("Location") == "/?item=abc"
    assert f"{webauth.COOKIE}={token};" in (redeemed.getheader("Set-Cookie") or "")
    again = team.a.get(f"/wb/session?code={code}")
    assert again.status == 303 and again.getheader("Set-Cookie") is None


def test_the_session_holds_on_every_instance(team: Team) -> None:
    token, _ = sessions.open_session(team.home, FIRST_ADMIN, PASSWORD, "app")
    for instance in (team.a, team.b):
        assert instance.get("/media/none.png").status == 403  # no cookie: the gate refuses
        assert instance.get("/media/none.png", cookie=token).status == 404  # past the gate
    sessions.end_session(team.home, token)
    assert team.b.get("/media/none.png", cookie=token).status == 403


def test_an_instance_answers_its_address_and_public_name_only(team: Team) -> None:
    assert team.b.get("/_stcore/health", host="wb.test").status == 200
    assert team.b.get("/_stcore/health", host="evil.example").status == 400
    assert team.a.get("/_stcore/health", host="wb.test").status == 400
