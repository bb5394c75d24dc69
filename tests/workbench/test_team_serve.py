"""Several app instances (`wb serve --address`) on separate homes that share only the database
(PostgreSQL): a login code made by one instance is redeemed by another, once, and the session it opens
holds on both; and the TLS reverse proxy of docs/deploy.md (Debian's nginx on 127.0.0.1) in front of
both, with the systemd units' commands checked against `wb`'s own parser."""

from __future__ import annotations

import base64
import configparser
import http.client
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archive.home import Home
from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, init_home, run_wb
from tests.workbench.browser_server import REPO, free_port
from workbench.app import webauth
from workbench.cli import root as cli
from workbench.services import login_codes, sessions

PUBLIC = "wb.example.org"  # the public name in docs/deploy/nginx.conf


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
def team(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("team")
    shared = postgres_url  # the one service the instances share
    base = dict(clean_env(), WB_KEY=str(root / "keys" / "signing.key"), WB_DATABASE_URL=shared,
                WB_JOBS_WORKER="0")  # fmt: skip
    env_a = dict(base, WB_HOME=str(root / "a"), WB_SESSION=str(root / "session-a"))
    env_b = dict(base, WB_HOME=str(root / "b"), WB_SESSION=str(root / "session-b"))
    init_home(env_a)
    run_wb(env_b, "init")
    a = _start(env_a, root / "a.log", "127.0.0.1", "--public-host", PUBLIC)
    b = _start(env_b, root / "b.log", "127.0.0.2", "--public-host", PUBLIC)
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
        assert instance.get("/api/export/none").status == 403  # no cookie: the gate refuses
        assert (
            instance.get("/api/export/none", cookie=token).status == 404
        )  # a live session: the route looks and finds nothing
    sessions.end_session(team.home, token)
    assert team.b.get("/api/export/none", cookie=token).status == 403


def test_an_instance_answers_its_address_and_public_name_only(team: Team) -> None:
    assert team.b.get("/_stcore/health", host=PUBLIC).status == 200
    assert team.b.get("/_stcore/health", host="evil.example").status == 400
    assert team.a.get("/_stcore/health", host=f"127.0.0.2:{team.b.port}").status == 400


# -- the reverse proxy of docs/deploy.md ----------------------------------------------------------------


@dataclass
class Proxy:
    port: int
    access_log: Path
    tls: ssl.SSLContext

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPSConnection(PUBLIC, self.port, timeout=30)
        # The public name for TLS (SNI and the certificate check), the proxy's loopback port for TCP.
        conn.sock = self.tls.wrap_socket(
            socket.create_connection(("127.0.0.1", self.port), timeout=30), server_hostname=PUBLIC
        )
        conn.request("GET", path, headers={"Host": PUBLIC, **(headers or {})})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the public name (the test's own CA, trusted by the test only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PUBLIC)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _site_config(team: Team, port: int, cert: Path, key: Path) -> str:
    """docs/deploy/nginx.conf as published, pointed at this machine's instances, ports and certificate."""
    text = (REPO / "docs" / "deploy" / "nginx.conf").read_text()
    swaps = {
        "server 10.0.0.11:8501;": f"server {team.a.address}:{team.a.port};",
        "server 10.0.0.12:8501;": f"server {team.b.address}:{team.b.port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{free_port()};",
        "/etc/ssl/wb/fullchain.pem": str(cert),
        "/etc/ssl/wb/privkey.pem": str(key),
    }
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def proxy(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: scripts/setup.sh installs Debian's nginx-light", pytrace=False)
    root = tmp_path_factory.mktemp("nginx")
    cert, key = _certificate(root)
    port = free_port()
    (root / "wb.conf").write_text(_site_config(team, port, cert, key))
    temps = "\n".join(
        f"    {k}_temp_path {root / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"};
{"user root;" if os.geteuid() == 0 else ""}
events {{}}
http {{
    log_format upstream '$upstream_addr $status $uri';
    access_log {root / "access.log"} upstream;
{temps}
    include {root / "wb.conf"};
}}
"""
    (root / "nginx.conf").write_text(main)
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(root / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=(root / "stderr.log").open("wb"))  # fmt: skip
    tls = ssl.create_default_context(cafile=str(cert))
    found = Proxy(port, root / "access.log", tls)
    deadline = time.monotonic() + 30
    while True:
        try:
            if found.get("/_stcore/health").status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"nginx did not start: {(root / 'error.log').read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield found
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_logins_through_the_tls_proxy_hold_whichever_instance_answers(team: Team, proxy: Proxy) -> None:
    tokens = [sessions.open_session(team.home, FIRST_ADMIN, PASSWORD, "app")[0] for _ in range(4)]
    cookies = []
    for token in tokens:  # one after another: round robin sends the redirects to both instances
        response = proxy.get(f"/wb/session?code={login_codes.handoff(team.home, token)}")
        assert response.status == 303
        cookies.append(response.getheader("Set-Cookie") or "")
    assert all("Secure" in c and "HttpOnly" in c for c in cookies)  # the proxy said https
    for token in tokens:
        assert proxy.get("/api/export/none", {"Cookie": f"{webauth.COOKIE}={token}"}).status == 404
    served = [line.split()[0] for line in proxy.access_log.read_text().splitlines() if "/wb/session" in line]
    assert {f"{i.address}:{i.port}" for i in (team.a, team.b)} == set(served)


def test_the_proxy_carries_the_pages_websocket(proxy: Proxy) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": key, "Origin": f"https://{PUBLIC}"}  # fmt: skip
    assert proxy.get("/_stcore/stream", headers).status == 101


@pytest.mark.parametrize("unit", ["wb-app@.service", "wb-worker@.service"])
def test_the_systemd_units_run_real_wb_commands(unit: str) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(REPO / "docs" / "deploy" / unit)
    command = shlex.split(parser["Service"]["ExecStart"].replace("%i", "8501"))
    assert command[0].endswith("/wb")
    args = cli._parser().parse_args(command[1:])
    assert args.command == command[1]
    if args.command == "serve":
        assert (args.address, args.port, args.public_host) == ("10.0.0.11", 8501, PUBLIC)
    env = dict(line.split("=", 1) for line in (REPO / "docs" / "deploy" / "team.env").read_text().splitlines()
               if line and not line.startswith("#"))  # fmt: skip
    assert {"WB_DATABASE_URL", "WB_QUEUE_URL", "WB_BLOB_URL", "WB_KEY"} <= set(env)
