"""Background jobs: queued with a permission check, run in-process or by the worker's child process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import items
from archive.home import Home
from tests.workbench.app_fixtures import World, make_png, make_world
from workbench.services import jobs, sessions
from workbench.services.auth import AccessDenied


@pytest.fixture
def world(home: Home) -> World:
    return make_world(home, reviews=1, n_items=0)


def test_upload_job_stores_files_with_their_names_and_progress(world: World) -> None:
    w = world
    params = jobs.save_uploads(w.home, [("../../etc/passwd.png", make_png(1)), ("b.png", make_png(2))])
    job_id = jobs.submit(w.home, w.analyst, "upload", w.case.id, params)
    queued = jobs.get_job(w.home, job_id)
    assert queued is not None and queued.status == "queued"
    done = jobs.run_job(w.home)
    assert done is not None and done.status == "done" and done.progress == 1.0
    results = done.result["results"]
    assert [(r["name"], r["status"]) for r in results] == [
        ("../../etc/passwd.png", "stored"),
        ("b.png", "stored"),
    ]
    with w.home.reading() as conn:
        titles = sorted(str(t) for (t,) in conn.execute(select(items.c.title)))
    assert titles == ["../../etc/passwd.png", "b.png"]  # kept as text, never used as a path
    assert not (w.home.index_dir / "uploads" / params.folder).exists()


def test_jobs_need_the_role_and_the_case(world: World) -> None:
    with pytest.raises(AccessDenied):
        jobs.submit(world.home, world.legal, "capture", world.case.id, {"urls": ["https://example.org/"]})
    with pytest.raises(AccessDenied):
        jobs.submit(world.home, world.outsider, "upload", world.case.id, {"folder": "x", "files": []})
    with world.home.reading() as conn:
        denied = [e for e in CustodyLog.events(conn) if e.action == "access.denied"]
    assert [(e.actor, e.via, e.details["permission"]) for e in denied] == [
        (world.legal.name, "app", "capture"),
        (world.outsider.name, "app", "capture"),
    ]


def test_a_job_of_a_deactivated_account_does_not_run(world: World) -> None:
    params = jobs.save_uploads(world.home, [("a.png", make_png(5))])
    job_id = jobs.submit(world.home, world.analyst, "upload", world.case.id, params)
    sessions.deactivate_user(world.home, world.admin, world.analyst.name)
    done = jobs.run_job(world.home, job_id)
    assert done is not None and done.status == "failed" and "no longer active" in done.result["error"]
    assert not (world.home.index_dir / "uploads" / params.folder).exists()
    with world.home.reading() as conn:
        assert conn.execute(select(items.c.id)).first() is None


def test_a_failing_job_is_recorded_as_failed(world: World) -> None:
    job_id = jobs.submit(
        world.home,
        world.analyst,
        "upload",
        world.case.id,
        {"folder": "missing", "files": [{"n": 0, "name": "x"}]},
    )
    done = jobs.run_job(world.home, job_id)
    assert done is not None and done.status == "failed" and "FileNotFoundError" in done.result["error"]


def test_worker_runs_jobs_in_a_child_process(world: World, tmp_path: Path) -> None:
    params = jobs.save_uploads(world.home, [("c.png", make_png(3))])
    job_id = jobs.submit(world.home, world.analyst, "upload", world.case.id, params)
    worker = jobs.Worker(world.home, tmp_path / "keys" / "signing.key", poll_s=0.2).start()
    try:
        deadline = time.monotonic() + 120
        while (job := jobs.get_job(world.home, job_id)) and job.status in ("queued", "running"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.3)
    finally:
        worker.stop()
    assert job is not None and job.status == "done", job


def test_export_job_packages_only_the_named_items(home: Home) -> None:
    from tests.workbench.app_fixtures import make_world as world_with_items

    w = world_with_items(home, reviews=1, n_items=2)
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[0]]}  # fmt: skip
    with pytest.raises(AccessDenied):
        jobs.submit(home, w.analyst, "export", w.case.id, params)
    job_id = jobs.submit(home, w.legal, "export", w.case.id, params)
    done = jobs.run_job(home, job_id)
    assert done is not None and done.status == "done", done
    assert done.result["included"] == 1
    assert (home.root / "exports" / job_id).is_dir()


def test_stored_uploads_are_analysed_next_in_the_background(world: World) -> None:
    from archive.db import flags

    w = world
    params = jobs.save_uploads(
        w.home, [("a.png", make_png(3)), ("copy.png", make_png(3)), ("c.png", make_png(4))]
    )
    jobs.submit(w.home, w.analyst, "upload", w.case.id, params)
    upload = jobs.run_job(w.home)
    assert upload is not None and upload.status == "done"
    follow_up = upload.result["analysis_job"]
    queued = jobs.get_job(w.home, follow_up)
    assert queued is not None and queued.kind == "analyse" and queued.status == "queued"
    stored = [r["item_id"] for r in upload.result["results"] if r["status"] == "stored"]
    assert queued.params["item_ids"] == stored and len(stored) == 2  # the exact duplicate is a sighting
    analysed = jobs.run_job(w.home)
    assert analysed is not None and analysed.id == follow_up and analysed.status == "done"
    with w.home.reading() as conn:
        shas = {s for (s,) in conn.execute(select(items.c.sha256).where(items.c.id.in_(stored)))}
        flagged = {s for (s,) in conn.execute(select(flags.c.input_sha256).distinct())}
    assert shas <= flagged
