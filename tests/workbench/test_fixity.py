"""Scheduled fixity (PRE-02): runs, marks, resumption, the schedule and who may run it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from archive.blobs import LocalBlobStore
from archive.custody import CustodyLog
from archive.export.gather import gather_item
from archive.home import Home
from tests.archive.test_report import pdf_text
from tests.conftest import PASSWORD as CLI_PASSWORD
from tests.conftest import clean_env, init_home, json_lines, run_wb
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world, store
from workbench import TOOL_VERSION
from workbench.services import access, fixity
from workbench.services.auth import AccessDenied
from workbench.services.export import reports
from workbench.services.maintenance import Maintenance

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("fixity")
    saved = {k: os.environ.get(k) for k in ("WB_HOME", "WB_KEY", "WB_JOBS_WORKER")}
    os.environ.update(WB_HOME=str(folder / "home"), WB_KEY=str(folder / "key"), WB_JOBS_WORKER="0")
    home = Home.init(folder / "home", folder / "key", TOOL_VERSION)
    try:
        yield make_world(home, reviews=1, n_items=3)
    finally:
        home.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _blob(home: Home, sha: str) -> Path:
    assert isinstance(home.blobs, LocalBlobStore)
    return home.blobs.path(sha)


def _flip(path: Path) -> bytes:
    original = path.read_bytes()
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])
    return original


def _restore(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(stat.S_IRUSR)


def _events(home: Home, action: str) -> list[dict[str, object]]:
    with home.reading() as conn:
        return [
            {"via": e.via, "actor": e.actor, **e.details}
            for e in CustodyLog.events(conn)
            if e.action == action
        ]


def test_fixity_marks_a_changed_blobs_items_and_logs_the_run(world: World) -> None:
    home, damaged = world.home, world.items[0]
    sha = gather_item_sha(home, damaged)
    original = _flip(_blob(home, sha))
    try:
        run = fixity.run_fixity(home, world.admin)
        assert run.finished and [f["sha256"] for f in run.failed] == [sha]
        assert run.failed[0]["state"] == "changed"
        logged = _events(home, "fixity.completed")[-1]
        assert logged["run_id"] == run.run_id and logged["failed"] == [sha] and logged["changed"] == 1
        assert logged["checked"] == run.checked == run.total
        marks = fixity.item_integrity(home, world.analyst, damaged)
        assert [m.sha256 for m in marks] == [sha] and marks[0].state == "changed"
        assert fixity.item_integrity(home, world.analyst, world.items[1]) == []
        with pytest.raises(AccessDenied):  # a non-member learns nothing of the item or its mark
            fixity.item_integrity(home, world.outsider, damaged)
        with home.reading() as conn:
            assert (gather_item(conn, damaged).integrity_failed or [{}])[0][
                "sha256"
            ] == sha  # reports, packages
            assert "integrity_failed" not in gather_item(conn, world.items[1]).as_json()
        _app_banner_shows(damaged, sha)
        pdf = world.home.root.parent / "damaged.pdf"
        reports.write_report(home, world.analyst, pdf, item_id=damaged)
        assert "INTEGRITY FAILED" in pdf_text(pdf) and sha in pdf_text(pdf)
    finally:
        _restore(_blob(home, sha), original)
    fixity.run_fixity(home, world.admin)
    assert fixity.item_integrity(home, world.analyst, damaged) == []  # intact again: the mark goes


def gather_item_sha(home: Home, item_id: str) -> str:
    with home.reading() as conn:
        return gather_item(conn, item_id).sha256


def _app_banner_shows(item_id: str, sha: str) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("analyst")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    at.button(key=f"open_{item_id}").click().run()
    assert not at.exception, at.exception
    banners = [str(e.value) for e in at.error]
    assert any("Integrity failed" in b and sha in b for b in banners), banners


def test_an_unassigned_member_sees_no_mark_of_a_survivor_identifying_item(world: World) -> None:
    hidden = store(world.home, world.case, make_png(77), "hidden.png")
    access.classify(world.home, world.admin, hidden, "survivor_identifying")
    sha = gather_item_sha(world.home, hidden)
    original = _flip(_blob(world.home, sha))
    try:
        fixity.run_fixity(world.home, world.admin)
        assert fixity.item_integrity(world.home, world.admin, hidden)  # assigned (marked it)
        with pytest.raises(AccessDenied):
            fixity.item_integrity(world.home, world.analyst, hidden)
    finally:
        _restore(_blob(world.home, sha), original)
    fixity.run_fixity(world.home, world.admin)


def test_a_partial_run_resumes_where_it_stopped(world: World) -> None:
    first = fixity.run_fixity(world.home, world.admin, limit=2)
    assert not first.finished and first.checked == 2
    rest = fixity.run_fixity(world.home, world.admin)
    assert rest.resumed and rest.finished and rest.run_id == first.run_id
    assert rest.checked == rest.total and rest.total > 2
    started = [e for e in _events(world.home, "fixity.started") if e["run_id"] == first.run_id]
    completed = [e for e in _events(world.home, "fixity.completed") if e["run_id"] == first.run_id]
    assert len(started) == 1 and len(completed) == 1 and completed[0]["checked"] == rest.total


@pytest.mark.parametrize("who", ["analyst", "reviewer", "legal", "outsider"])
def test_only_admins_run_fixity_or_set_its_schedule(world: World, who: str) -> None:
    account = world.account(who)
    before = len(_events(world.home, "access.denied"))
    with pytest.raises(AccessDenied):
        fixity.run_fixity(world.home, account)
    with pytest.raises(AccessDenied):
        fixity.set_schedule(world.home, account, 1)
    denied = _events(world.home, "access.denied")[before:]
    assert [d["permission"] for d in denied] == ["maintain", "maintain"]


def test_the_schedule_runs_fixity_in_the_background_work(world: World) -> None:
    home = world.home
    fixity.set_schedule(home, world.admin, 7)
    fixity.run_fixity(home, world.admin)
    assert not fixity.fixity_due(home)  # just ran
    fixity.run_fixity(home, world.admin, limit=1)
    assert fixity.fixity_due(home)  # an unfinished run is resumed at once ...
    assert fixity.run_scheduled(home) is None  # ... unless it progressed just now (another instance)
    with home.transaction("admin") as tx:  # that instance stopped ten minutes ago
        tx.conn.exec_driver_sql("UPDATE blob_fixity SET checked_at = '2000-01-01T00:00:00.000000Z'")
        tx.conn.exec_driver_sql(
            "UPDATE fixity_runs SET started_at = '2000-01-01T00:00:00.000000Z' WHERE finished_at IS NULL"
        )
    Maintenance(home).round()
    assert not fixity.fixity_due(home)
    last = _events(home, "fixity.completed")[-1]
    assert last["via"] == "job" and last["actor"] == "admin"
    fixity.set_schedule(home, world.admin, 0)
    with home.transaction("admin") as tx:  # make the last run look old: a week later
        tx.conn.exec_driver_sql("UPDATE fixity_runs SET finished_at = '2000-01-01T00:00:00.000000Z'")
    assert not fixity.fixity_due(home)  # 0: never
    fixity.set_schedule(home, world.admin, 7)
    assert fixity.fixity_due(home)


def test_wb_fixity_json_fits_the_verify_format(tmp_path: Path) -> None:
    env = clean_env()
    env.update(WB_HOME=str(tmp_path / "home"), WB_KEY=str(tmp_path / "key"), WB_SESSION=str(tmp_path / "s"))
    init_home(env)
    run_wb(env, "case", "create", "demo", "--purpose", "test")
    note = tmp_path / "note.txt"
    note.write_bytes(b"evidence kept\n" * 30)
    sha = json_lines(run_wb(env, "ingest", "--case", "demo", str(note), "--json").stdout)[0]["sha256"]
    blob = tmp_path / "home" / "blobs" / sha[:2] / sha[2:4] / sha
    _flip(blob)
    lines = json_lines(run_wb(env, "fixity", "--json", check=1).stdout)
    assert lines[0] == {
        "kind": "blob",
        "ref": sha,
        "position": None,
        "problem": lines[0]["problem"],
    } and lines[0]["problem"].startswith("content changed")
    summary = lines[-1]["summary"]
    assert {"blobs", "events", "problems"} <= set(summary) and summary["problems"] == 1
    run_wb(env, "user", "add", "legal-l", "--role", "legal", "--password-stdin", input=CLI_PASSWORD)
    legal = dict(env, WB_SESSION=str(tmp_path / "legal"))
    run_wb(legal, "login", "legal-l", "--password-stdin", input=CLI_PASSWORD)
    assert "not permitted" in run_wb(legal, "fixity", check=1).stderr
