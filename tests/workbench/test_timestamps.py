"""Trusted timestamps (CAP-06) through `wb`, against a TSA of the tests' own on 127.0.0.1."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, init_home, json_lines, run_wb
from tests.tsa import TsaServer, make_authority

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")


@dataclass
class World:
    env: dict[str, str]
    tsa: TsaServer
    folder: Path
    item_id: str
    package: Path

    def as_user(self, name: str, role: str) -> dict[str, str]:
        run_wb(self.env, "user", "add", name, "--role", role, "--password-stdin", input=PASSWORD)
        env = dict(self.env, WB_SESSION=str(self.folder / "sessions" / name))
        run_wb(env, "login", name, "--password-stdin", input=PASSWORD)
        return env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("tsa")
    authority = make_authority(folder / "authority")
    with TsaServer(authority) as tsa:
        env = clean_env()
        env.update(
            WB_HOME=str(folder / "home"),
            WB_KEY=str(folder / "keys" / "signing.key"),
            WB_SESSION=str(folder / "sessions" / "admin"),
            WB_TSA_URL=tsa.url,
            WB_TSA_CA=str(authority.ca_pem),
        )
        init_home(env)
        run_wb(env, "case", "create", "demo", "--purpose", "test")
        photo = folder / "note.txt"
        photo.write_bytes(b"a statement kept as evidence\n" * 20)
        item_id = json_lines(run_wb(env, "ingest", "--case", "demo", str(photo), "--json").stdout)[0][
            "item_id"
        ]
        package = folder / "pkg"
        run_wb(
            env, "export", "--case", "demo", "--profile", "internal", "--recipient", "Court",
            "--recipient-type", "court", "--purpose", "trial", "--out", str(package),
        )  # fmt: skip
        yield World(env, tsa, folder, item_id, package)


def _stamp_folders(package: Path) -> list[Path]:
    return sorted(p for p in (package / "data/custody/timestamps").iterdir() if p.is_dir())


def test_every_checkpoint_gets_a_token_shown_in_wb_timestamps_and_wb_log(world: World) -> None:
    tokens = json_lines(run_wb(world.env, "timestamps", "--json").stdout)[:-1]
    assert tokens and all(t["status"] == "stamped" and t["gen_time"] for t in tokens)
    events = json_lines(run_wb(world.env, "log", world.item_id, "--json").stdout)
    ingested = next(e for e in events if e["action"] == "item.ingested")
    assert ingested["tsa_time"] is not None
    assert "[TSA " in run_wb(world.env, "log", world.item_id).stdout


def test_a_token_in_the_package_verifies_with_openssl_alone(world: World) -> None:
    folders = _stamp_folders(world.package)
    assert folders, "the package carries no trusted timestamp"
    for folder in folders:
        proc = subprocess.run(
            ["openssl", "ts", "-verify", "-data", "checkpoint.data", "-in", "checkpoint.tsr",
             "-CAfile", "tsa-chain.pem"],
            cwd=folder, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0 and "Verification: OK" in proc.stdout, proc.stderr
    readme = (world.package / "README.txt").read_text()
    assert "openssl ts -verify -data checkpoint.data -in checkpoint.tsr -CAfile tsa-chain.pem" in readme
    summary = json_lines(run_wb(world.env, "verify-package", str(world.package), "--json").stdout)
    assert summary[-1]["summary"]["problems"] == 0 and summary[-1]["summary"]["timestamps"] >= 1


def test_a_flipped_byte_in_a_token_is_named_by_verify_package(world: World, tmp_path: Path) -> None:
    copy = tmp_path / "pkg"
    shutil.copytree(world.package, copy)
    token = _stamp_folders(copy)[0] / "checkpoint.tsr"
    data = bytearray(token.read_bytes())
    data[len(data) // 2] ^= 0x01
    token.write_bytes(bytes(data))
    rel = token.relative_to(copy).as_posix()
    found = json_lines(run_wb(world.env, "verify-package", str(copy), "--json", check=1).stdout)
    problems = [(p["kind"], p["ref"]) for p in found if "kind" in p]
    assert ("timestamp", rel) in problems
    assert ("file", rel) in problems  # the bag's manifest names it too


def test_a_token_over_other_bytes_is_reported_and_not_kept(world: World) -> None:
    world.tsa.mode = "other"
    try:
        run_wb(world.env, "case", "create", "other", "--purpose", "test")
        proc = run_wb(world.env, "timestamps", "--retry", check=1)
        assert "does not verify" in proc.stderr
        tokens = json_lines(run_wb(world.env, "timestamps", "--json").stdout)[:-1]
        assert tokens[-1]["status"] == "pending" and "does not verify" in tokens[-1]["last_error"]
    finally:
        world.tsa.mode = "ok"
    run_wb(world.env, "timestamps", "--retry")
    tokens = json_lines(run_wb(world.env, "timestamps", "--json").stdout)[:-1]
    assert all(t["status"] == "stamped" for t in tokens)


def test_a_tsa_that_is_down_delays_the_token_and_never_blocks_ingest(world: World) -> None:
    world.tsa.mode = "down"
    try:
        extra = world.folder / "late.txt"
        extra.write_bytes(b"another statement\n" * 20)
        proc = run_wb(world.env, "ingest", "--case", "demo", str(extra), "--json")
        assert json_lines(proc.stdout)[0]["status"] == "stored"
        assert "delayed" in proc.stderr and "retried later" in proc.stderr
        tokens = json_lines(run_wb(world.env, "timestamps", "--json").stdout)[:-1]
        assert tokens[-1]["status"] == "pending" and "HTTP 503" in tokens[-1]["last_error"]
    finally:
        world.tsa.mode = "ok"
    run_wb(world.env, "timestamps", "--retry")
    tokens = json_lines(run_wb(world.env, "timestamps", "--json").stdout)[:-1]
    assert all(t["status"] == "stamped" for t in tokens)


def test_no_network_without_a_configured_authority(world: World, tmp_path: Path) -> None:
    env = {k: v for k, v in world.env.items() if not k.startswith("WB_TSA_")}
    env.update(WB_HOME=str(tmp_path / "home"), WB_SESSION=str(tmp_path / "session"))
    before = world.tsa.queries
    init_home(env)
    run_wb(env, "case", "create", "quiet", "--purpose", "test")
    assert world.tsa.queries == before
    assert json_lines(run_wb(env, "timestamps", "--json").stdout)[-1]["summary"]["tsa_url"] is None


def test_only_an_admin_sets_the_authority(world: World) -> None:
    env = world.as_user("tsa-legal", "legal")  # the role closest to it: legal staff change no setting
    proc = run_wb(env, "timestamps", "--set-url", world.tsa.url, "--ca", world.env["WB_TSA_CA"], check=1)
    assert "not permitted" in proc.stderr
    run_wb(env, "timestamps", "--clear", check=1)


def test_wb_verify_reports_a_kept_token_changed_in_the_database(world: World) -> None:
    db = sqlite3.connect(Path(world.env["WB_HOME"]) / "archive.sqlite3")
    try:
        checkpoint_id, token = db.execute("SELECT checkpoint_id, token FROM timestamps LIMIT 1").fetchone()
        bad = bytearray(token)
        bad[len(bad) // 2] ^= 0x01
        with db:
            db.execute("UPDATE timestamps SET token = ? WHERE checkpoint_id = ?", (bytes(bad), checkpoint_id))
        found = json_lines(run_wb(world.env, "verify", "--json", check=1).stdout)
        assert [p["ref"] for p in found if p.get("kind") == "checkpoint"] == [f"timestamp:{checkpoint_id}"]
    finally:
        with db:
            db.execute("UPDATE timestamps SET token = ? WHERE checkpoint_id = ?", (token, checkpoint_id))
        db.close()
    run_wb(world.env, "verify")


def test_the_custody_tab_shows_each_events_trusted_timestamp(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("WB_HOME", "WB_KEY", "WB_TSA_URL", "WB_TSA_CA"):
        monkeypatch.setenv(key, world.env[key])
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(FIRST_ADMIN)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    at.query_params["item"] = world.item_id
    at.run()
    assert not at.exception, at.exception
    custody = next(d.value for d in at.dataframe if "trusted timestamp" in d.value.columns)
    ingested = custody[custody["action"] == "item.ingested"]
    assert list(ingested["trusted timestamp"])[0].startswith("20")
