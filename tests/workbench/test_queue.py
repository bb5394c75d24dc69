"""The background queue: one contract for the embedded runner and the distributed one (Dramatiq on a
real Redis, `wb worker` processes on their own homes that share only the services: PostgreSQL, an S3
store (moto) and Redis), a worker killed with SIGKILL mid-job, and a batch shared by two workers.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archive.blobs import BlobStore
from archive.custody import CustodyLog
from archive.db import captures, job_steps, upload_chunks
from archive.db import jobs as jobs_table
from archive.home import Home
from archive.s3blobs import S3BlobStore
from tests.s3server import new_bucket
from tests.workbench.app_fixtures import World, make_png, make_world
from tests.workbench.browser_server import REPO, free_port
from workbench.services import jobs, sessions
from workbench.services.auth import AccessDenied
from workbench.services.capture import network as capture_network
from workbench.services.export import files as package_files

PAGE = b"<!doctype html><html><head><title>%s</title></head><body><p>%s</p></body></html>"


class Site:
    """Pages on 127.0.0.1; ``/slow-N`` answers only once ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/").split("?")[0].encode()
                if name.startswith(b"slow"):
                    release.wait(120)
                body = PAGE % (name, name)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Team:
    """An app home (this test process, as the app's pages call the services) and worker homes."""

    root: Path
    world: World
    env: dict[str, str]
    site: Site
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def home_for(self, name: str) -> Path:
        """A worker's own home: its folder, the shared database and blob store."""
        path = self.root / name
        if not (path / "home.json").exists():
            Home.init(
                path, Path(self.env["WB_KEY"]), "test", self.env["WB_DATABASE_URL"], self.blobs()
            ).close()
        return path

    def blobs(self) -> BlobStore:
        """The shared object store, as every home here opens it."""
        return S3BlobStore.from_url(self.env["WB_BLOB_URL"], self.env)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        env = dict(self.env, WB_HOME=str(self.home_for(name)))
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=str(REPO), start_new_session=True)  # fmt: skip
        log.close()
        self.workers[name] = proc
        _until(lambda: b"taking jobs" in (self.root / f"{name}.log").read_bytes(), 60, f"{name} started")
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL to the worker and everything it started (its browser): a machine lost mid-job."""
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.workers.values():
            proc.terminate()
        for proc in self.workers.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.workers.clear()


def _until(ready: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.2)


def _wait_done(home: Home, job_id: str, seconds: float = 180) -> jobs.Job:
    def finished() -> bool:
        job = jobs.get_job(home, job_id)
        return job is not None and job.status in ("done", "failed")

    _until(finished, seconds, f"job {job_id}")
    found = jobs.get_job(home, job_id)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def team(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    postgres_url: str,
    s3_endpoint: str,
    s3_env: dict[str, str],
) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("queue")
    site = Site()
    env = dict(
        os.environ,
        **s3_env,
        WB_BLOB_URL=f"s3://{new_bucket(s3_endpoint)}/queue",
        WB_KEY=str(root / "keys" / "signing.key"),
        WB_DATABASE_URL=postgres_url,
        WB_QUEUE_URL=redis_url,
        WB_QUEUE_HEARTBEAT_S="5",
    )
    env.pop("WB_CAPTURE_ALLOW", None)
    team = Team(root, None, env, site)  # type: ignore[arg-type]
    app = Home.open(team.home_for("app"), Path(env["WB_KEY"]), "test", env["WB_DATABASE_URL"], team.blobs())
    team.world = make_world(app, reviews=1, n_items=6)
    capture_network.allow_target(app, team.world.admin, f"127.0.0.1:{site.port}")  # jobs take no run targets
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WB_QUEUE_URL", redis_url)  # the app side sends what it queues
        try:
            yield team
        finally:
            team.stop_all()
            app.close()
            site.close()


# -- the contract: the same answers from the embedded runner and the distributed queue ---------------


@dataclass
class Runner:
    world: World
    run: Callable[[str], jobs.Job]
    channel: str
    pause: Callable[[], None] = lambda: None  # no job is taken until the next ``run``


@pytest.fixture(params=["embedded", "distributed"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runner]:
    if request.param == "embedded":
        home = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", "test")
        world = make_world(home, reviews=1, n_items=2)

        def run_here(job_id: str) -> jobs.Job:
            done = jobs.run_job(home, job_id)
            assert done is not None
            return done

        yield Runner(world, run_here, "job")
        home.close()
        return
    team: Team = request.getfixturevalue("team")

    def run_there(job_id: str) -> jobs.Job:
        if "contract" not in team.workers:
            team.start_worker("contract")
        return _wait_done(team.world.home, job_id)

    yield Runner(team.world, run_there, "worker", team.stop_all)


def test_contract_an_analysis_job_records_each_item_once_as_its_account(runner: Runner) -> None:
    w = runner.world
    items = w.items[:2]
    job_id = jobs.submit(w.home, w.analyst, "analyse", w.case.id, {"item_ids": items})
    done = runner.run(job_id)
    assert done.status == "done" and done.progress == 1.0
    assert sorted(r["item_id"] for r in done.result["results"]) == sorted(items)
    with w.home.reading() as conn:
        flagged = [e for e in CustodyLog.events(conn) if e.action == "flag.recorded" and e.item_id in items]
    assert flagged and {(e.actor, e.via) for e in flagged} == {(w.analyst.name, runner.channel)}


def test_contract_a_deactivated_accounts_job_fails(runner: Runner) -> None:
    w = runner.world
    runner.pause()
    job_id = jobs.submit(w.home, w.reviewer2, "analyse", w.case.id, {"item_ids": w.items[:1]})
    sessions.deactivate_user(w.home, w.admin, w.reviewer2.name)
    done = runner.run(job_id)
    assert done.status == "failed" and "no longer active" in done.result["error"]


def test_contract_a_fixity_job_rehashes_the_home(runner: Runner) -> None:
    w = runner.world
    with pytest.raises(AccessDenied):
        jobs.submit(w.home, w.legal, "fixity", w.case.id, {})
    done = runner.run(jobs.submit(w.home, w.admin, "fixity", w.case.id, {}))
    assert done.status == "done" and done.progress == 1.0
    assert done.result["intact"] is True and done.result["checked"] >= 2


# -- the distributed queue only -----------------------------------------------------------------------


def test_a_worker_killed_mid_job_loses_nothing_and_the_job_completes_once(team: Team) -> None:
    w, site = team.world, team.site
    urls = [site.url("fast-page"), site.url("slow-page")]
    team.stop_all()  # the doomed worker alone takes the job
    team.start_worker("doomed")
    job_id = jobs.submit(w.home, w.analyst, "capture", w.case.id, {"urls": urls})

    def half_done() -> bool:
        job = jobs.get_job(w.home, job_id)
        return job is not None and job.progress >= 0.5

    _until(half_done, 120, "the first URL captured")
    team.kill("doomed")  # the second URL is still loading
    site.release.set()
    team.start_worker("heir")  # another machine's worker takes the job up again
    done = _wait_done(w.home, job_id)
    assert done.status == "done", done.result
    assert done.attempts == 2
    assert [(r["url"], r["status"], r["reason"]) for r in done.result["results"]] == [
        (u, "captured", None) for u in urls
    ]
    with w.home.reading() as conn:
        made = conn.execute(
            select(captures.c.requested_url, func.count()).where(captures.c.case_id == w.case.id)
            .where(captures.c.requested_url.in_(urls)).group_by(captures.c.requested_url)
        ).all()  # fmt: skip
        events = [e for e in CustodyLog.events(conn) if e.action in ("item.captured", "capture.completed")]
    assert sorted(made) == sorted((u, 1) for u in urls)
    captured = [e for e in events if e.action == "item.captured"]
    assert len(captured) == len({e.item_id for e in captured}) == 2
    assert {e.via for e in events} == {"worker"}


def test_two_workers_on_their_own_homes_share_a_batch(team: Team) -> None:
    w = team.world
    team.stop_all()
    for name in ("one", "two"):
        team.start_worker(name)
    batch = [jobs.submit(w.home, w.analyst, "analyse", w.case.id, {"item_ids": [i]}) for i in w.items[2:6]]
    batch.append(jobs.submit(w.home, w.analyst, "capture", w.case.id, {"urls": [team.site.url("batch")]}))
    uploaded = jobs.save_uploads(w.home, [("u1.png", make_png(101)), ("u2.png", make_png(102))])
    assert uploaded.staged == "database"  # no folder of the app's is read by a worker
    batch.append(jobs.submit(w.home, w.analyst, "upload", w.case.id, uploaded))
    done = [_wait_done(w.home, job_id) for job_id in batch]
    assert [d.status for d in done] == ["done"] * len(batch), [d.result for d in done]
    assert [(r["name"], r["status"]) for r in done[-1].result["results"]] == [
        ("u1.png", "stored"),
        ("u2.png", "stored"),
    ]
    follow_up = _wait_done(w.home, done[-1].result["analysis_job"])
    assert follow_up.status == "done" and len(follow_up.result["results"]) == 2
    with w.home.reading() as conn:
        assert conn.execute(select(upload_chunks)).first() is None  # staged bytes gone once ingested
    ran_on = {d.result["ran_on"] for d in done}
    assert len(ran_on) >= 2 and w.home.home_id not in ran_on  # the workers did the work, not the app
    with w.home.reading() as conn:
        steps = conn.execute(select(job_steps.c.step).where(job_steps.c.job_id.in_(batch))).all()
    assert sorted(s[0] for s in steps) == sorted(w.items[2:6])  # each item analysed by one job, once


def test_a_package_a_worker_made_is_downloaded_through_an_app_that_shares_no_folder_with_it(
    team: Team,
) -> None:
    w = team.world
    team.stop_all()
    team.start_worker("three")
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[3]]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    done = _wait_done(w.home, job_id)
    assert done.status == "done" and done.result["package"] == "ready", done.result
    assert done.result["ran_on"] != w.home.home_id
    assert not (w.home.area("exports") / job_id).exists()  # the worker's folder is not the app's
    found = package_files.open_package(w.home, w.legal, job_id)
    assert found is not None
    assert hashlib.sha256(found.path.read_bytes()).hexdigest() == done.result["zip_sha256"]
    package_files.remove(w.home, job_id)
    with w.home.reading() as conn:
        assert conn.execute(select(upload_chunks)).first() is None  # the shared copy went with the file
    assert package_files.open_package(w.home, w.legal, job_id) is None


def test_an_analysis_delivered_again_after_its_worker_died_records_nothing_twice(tmp_path: Path) -> None:
    home = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", "test")
    try:
        w = make_world(home, reviews=1, n_items=2)
        job_id = jobs.submit(home, w.analyst, "analyse", w.case.id, {"item_ids": w.items})
        first = jobs.run_delivered(home, job_id)
        assert first is not None and first.status == "done"
        # What a worker killed before marking the job done leaves behind, as the queue's redelivery finds
        # it: silent for longer than the heartbeat timeout (60 s by default).
        silent = datetime.now(UTC) - timedelta(minutes=2)
        with home.db.begin() as conn:
            stale = (
                jobs_table.update()
                .where(jobs_table.c.id == job_id)
                .values(status="running", updated_at=silent)
            )
            conn.execute(stale)
        with home.reading() as conn:
            before = [e.event_hash for e in CustodyLog.events(conn)]
        again = jobs.run_delivered(home, job_id)
        assert again is not None and again.status == "done" and again.attempts == 2
        assert sorted(r["item_id"] for r in again.result["results"]) == sorted(w.items)
        with home.reading() as conn:
            assert [e.event_hash for e in CustodyLog.events(conn)] == before  # no flag recorded again
        assert jobs.run_delivered(home, job_id) is None  # a job already done: the message is just acked
    finally:
        home.close()


def test_a_job_the_queue_cannot_take_fails_at_once_instead_of_waiting_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", "test")
    try:
        w = make_world(home, reviews=1, n_items=1)
        monkeypatch.setenv("WB_QUEUE_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        with pytest.raises(jobs.QueueUnavailable, match="unreachable"):
            jobs.submit(home, w.analyst, "analyse", w.case.id, {"item_ids": w.items})
        (listed,) = jobs.list_jobs(home, w.analyst, w.case.id)
        assert listed.status == "failed" and "queue is unreachable" in listed.result["error"]
    finally:
        home.close()
