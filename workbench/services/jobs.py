"""Background jobs: captures, uploads and analyses run outside the page, with progress (the ``jobs`` table).

``submit`` queues a job after the permission check. Two ways run it, both as the account that queued
it (a deactivated account's job fails):

- embedded (the default): a ``Worker`` thread (one per app process) claims queued jobs and runs each in
  its own subprocess (``python -m workbench.services.jobs JOB_ID``), so a browser or decoder that hangs or
  crashes takes down neither the UI nor the other jobs; the child has a time limit. Claiming is a
  conditional UPDATE, so two workers never run the same job. Channel ``job``.
- team mode (``WB_QUEUE_URL``): the job's id goes to the distributed queue (``workbench.services.taskqueue``),
  and a `wb worker` anywhere runs it (``run_delivered``). Channel ``worker``. A message comes again
  after its worker died mid-job, so every kind is idempotent: a capture skips URLs the case already
  holds, an analysis records each item once (``job_steps``, written in the item's own transaction),
  a follow-up analysis has an id derived from its parent's, a fixity run resumes its unfinished run.

``run_job`` claims and runs in-process (tests, scripts).

Handlers report progress with ``set_progress`` and return a JSON result (ids and statuses).
Kinds: ``upload`` (files saved by the app under ``index/uploads/JOB_ID/N``, names kept only as
metadata), ``capture`` (URLs, through ``workbench.services.capture.run``), ``analyse``
(``workbench.services.analysis.run``), ``export`` (an evidence package of items the requester can
see, through ``workbench.services.export.packages``), ``fixity`` (a fixity run over the home,
``workbench.services.fixity``: admins).
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from archive.cases import list_cases
from archive.db import captures, items, job_steps, jobs, sightings, upload_chunks, utcnow
from archive.errors import InvalidRequest, WorkbenchError
from archive.home import Home, Transaction
from archive.model import Case
from workbench.services import access, config
from workbench.services.access import WITHHELD, visible_clause
from workbench.services.auth import AccessDenied, Account, Perm, account_by_name, check_case

__all__ = [
    "JOB_TIMEOUT_S",
    "Job",
    "JobKind",
    "JobStatus",
    "QueueUnavailable",
    "Uploads",
    "Worker",
    "fail",
    "get_job",
    "list_jobs",
    "run_delivered",
    "run_job",
    "save_uploads",
    "set_progress",
    "submit",
]

JOB_TIMEOUT_S = 1800
MAX_UPLOAD_BYTES = 2 << 30
CHUNK_BYTES = 8 << 20  # uploads staged in the database (team mode) go in rows of this size


class JobKind(enum.StrEnum):
    """What a job does (stored in ``jobs.kind`` as its value)."""

    UPLOAD = "upload"
    CAPTURE = "capture"
    ANALYSE = "analyse"
    EXPORT = "export"
    FIXITY = "fixity"


class JobStatus(enum.StrEnum):
    """Where a job is (stored in ``jobs.status`` as its value)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


KIND_PERMS = {
    JobKind.UPLOAD: Perm.CAPTURE,
    JobKind.CAPTURE: Perm.CAPTURE,
    JobKind.ANALYSE: Perm.JUDGE,
    JobKind.EXPORT: Perm.EXPORT,
    JobKind.FIXITY: Perm.MAINTAIN,
}
# A job whose worker died this many times (a crash it causes itself) is given up, not redelivered forever.
MAX_DELIVERIES = 4


@dataclass(frozen=True)
class Job:
    """A background job as stored (or as one account may see it: ``list_jobs``).

    ``result`` is what its handler returned, as JSON: ``results`` (one row per URL, file or item, with
    its status), ids such as ``analysis_job`` or ``transfer_id``, or ``error`` once it failed."""

    id: str
    kind: JobKind
    case_id: int
    actor: str  # the account that queued it, and that it runs as
    params: dict[str, Any]
    status: JobStatus
    progress: float
    result: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    attempts: int

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Job:
        typed = {"kind": JobKind(row["kind"]), "status": JobStatus(row["status"])}
        return cls(**{**{k: row[k] for k in _FIELDS}, **typed})

    @property
    def results(self) -> list[dict[str, Any]]:
        """The result's rows (one per URL, file or item)."""
        return _results(self.result)

    @property
    def finished(self) -> bool:
        return self.status not in (JobStatus.QUEUED, JobStatus.RUNNING)


_FIELDS = tuple(Job.__dataclass_fields__)


@dataclass(frozen=True)
class Uploads:
    """Uploaded files kept until their job runs: the parameters of an ``upload`` job."""

    folder: str
    files: list[dict[str, Any]]  # {"name": as given (metadata only), "n": its number in the folder}
    staged: str | None = None  # "database": in the shared database (team mode), else in the uploads area

    def as_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"folder": self.folder, "files": self.files}
        return out if self.staged is None else {**out, "staged": self.staged}


def submit(
    home: Home, account: Account, kind: JobKind | str, case_id: int, params: Mapping[str, Any] | Uploads
) -> str:
    """Queue a job (after the role and membership check, a refusal logged); returns its id."""
    if kind not in KIND_PERMS:
        raise ValueError(f"unknown job kind {kind!r}")
    kind = JobKind(kind)
    check_case(home, account, KIND_PERMS[kind], case_id, "app")
    given = params.as_params() if isinstance(params, Uploads) else dict(params)
    return _queue(home, account.name, kind, case_id, given)


def _follow_up_analysis(home: Home, job: dict[str, Any], results: list[dict[str, Any]]) -> str | None:
    """Every picture or video a job stored is analysed next, in the background (never a verdict)."""
    ids = [str(r["item_id"]) for r in results if r.get("status") == "stored" and r.get("item_id")]
    if not ids:
        return None
    # Derived from the parent's id: a job run again after its worker died queues no second analysis.
    job_id = uuid.uuid5(uuid.NAMESPACE_OID, f"wb-job:{job['id']}:analyse").hex
    params = {"item_ids": ids, "after": job["id"]}
    return _queue(home, str(job["actor"]), JobKind.ANALYSE, int(job["case_id"]), params, job_id, _via(job))


def _queue(
    home: Home,
    actor: str,
    kind: JobKind,
    case_id: int,
    params: dict[str, Any],
    job_id: str | None = None,
    via: str = "app",
) -> str:
    job_id = job_id or uuid.uuid4().hex
    with home.transaction(actor, via) as tx:
        if tx.conn.execute(select(jobs.c.id).where(jobs.c.id == job_id)).first() is not None:
            return job_id  # queued by an earlier run of the same parent
        now = utcnow()
        tx.conn.execute(
            jobs.insert().values(
                id=job_id, kind=kind.value, case_id=case_id, actor=actor, params=params,
                status=JobStatus.QUEUED.value, progress=0.0, result={}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        tx.event("job.queued", case_id=case_id, details={"job_id": job_id, "kind": kind.value})
    if url := config.queue_url():
        _send(home, url, job_id)
    return job_id


class QueueUnavailable(WorkbenchError, RuntimeError):
    """The distributed queue (WB_QUEUE_URL) could not take a job; the job is recorded as failed."""


def _send(home: Home, url: str, job_id: str) -> None:
    """Hand the job to the queue; if Redis cannot take it the job fails at once, rather than wait
    forever as ``queued`` with no message that would ever run it."""
    from workbench.services import taskqueue

    try:
        taskqueue.send(url, job_id)
    except Exception as exc:  # stage boundary: any failure to enqueue is this job's failure
        fail(home, job_id, f"the queue is unreachable: {type(exc).__name__}")
        raise QueueUnavailable(
            f"the job queue is unreachable ({type(exc).__name__}): try again later"
        ) from exc


def _via(job: dict[str, Any]) -> str:
    """The channel a job acts through: ``worker`` when a queue delivered it, else ``job``."""
    return "worker" if job.get("delivered") else "job"


def save_uploads(home: Home, files: list[tuple[str, bytes]]) -> Uploads:
    """Keep uploaded bytes until their job runs; the given names are kept as metadata only.

    Embedded: under the home's uploads area (``<random>/<n>``). Team mode (``WB_QUEUE_URL``): in the
    shared database, in chunks, because the worker that takes the job may run on another machine."""
    folder = uuid.uuid4().hex
    for n, (_name, data) in enumerate(files):
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidRequest(f"upload {n + 1} is larger than {MAX_UPLOAD_BYTES} bytes")
    listed = [{"name": name[:500], "n": n} for n, (name, _data) in enumerate(files)]
    if config.queue_url():
        for n, (_name, data) in enumerate(files):
            with home.db.begin() as conn:  # one file per transaction: no huge transaction
                for seq, start in enumerate(range(0, max(1, len(data)), CHUNK_BYTES)):
                    chunk = data[start : start + CHUNK_BYTES]
                    conn.execute(upload_chunks.insert().values(folder=folder, n=n, seq=seq, data=chunk))
        return Uploads(folder, listed, "database")
    path = home.area("uploads") / folder
    path.mkdir(parents=True)
    for n, (_name, data) in enumerate(files):
        (path / str(n)).write_bytes(data)
    return Uploads(folder, listed)


def _unstage(home: Home, folder: str, files: list[dict[str, Any]]) -> Path:
    """Uploads staged in the database, written into this worker's own uploads area for the intake."""
    path = home.area("uploads") / folder
    path.mkdir(parents=True, exist_ok=True)
    for f in files:
        n = int(f["n"])
        query = select(upload_chunks.c.data).where(upload_chunks.c.folder == folder, upload_chunks.c.n == n)
        with home.reading() as conn, (path / str(n)).open("wb") as out:
            for (data,) in conn.execute(query.order_by(upload_chunks.c.seq)):
                out.write(bytes(data))
    return path


def get_job(home: Home, job_id: str) -> Job | None:
    """The job as stored (None: no such job). Unchecked: for the job machinery and its own services."""
    with home.reading() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    return Job.of(row) if row is not None else None


def list_jobs(home: Home, account: Account, case_id: int, limit: int = 20, via: str = "app") -> list[Job]:
    """The newest jobs of a case as the account may see them (visibility follows the items).

    Result rows that name an item the account may not see are left out (with their file names and
    URLs); a job whose items are all hidden is not listed, and an export job is listed only to
    the account that queued it (its counts speak of what it sent). Other accounts' job parameters
    (URLs, upload file names) are never returned.
    """
    check_case(home, account, Perm.READ, case_id, via)
    q = select(jobs).where(jobs.c.case_id == case_id).order_by(jobs.c.created_at.desc()).limit(limit)
    with home.reading() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
        named = {i for j in rows for i in _named(j)}
        seen = _visible_ids(conn, account, named)
        listed = [j for j in (_as_seen(j, account, seen) for j in rows) if j is not None]
        for job in listed:
            if job["actor"] != account.name:
                _withhold_names(conn, account, job)
    return [Job.of(j) for j in listed]


def _withhold_names(conn: Connection, account: Account, job: dict[str, Any]) -> None:
    """Another account's upload rows name its files as uploaded: a zip member's name starts with its
    zip's, withheld where that zip is hidden from the account (``access.withhold_hidden_media``)."""
    for row in _results(job.get("result")):
        if row.get("item_id") and isinstance(row.get("name"), str):
            row["name"] = access.withhold_hidden_media(conn, account, str(row["item_id"]), row["name"])


def _results(result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    results = (result or {}).get("results") or []
    return [r for r in results if isinstance(r, dict)]


def _named(job: dict[str, Any]) -> set[str]:
    """The items a job names: in its results, and the items it was asked to work on."""
    asked = (job.get("params") or {}).get("item_ids") or []
    return {str(r["item_id"]) for r in _results(job.get("result")) if r.get("item_id")} | {
        str(i) for i in asked
    }


def _visible_ids(conn: Connection, account: Account, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    q = select(items.c.id).where(items.c.id.in_(sorted(ids)), visible_clause(account))
    return {str(r[0]) for r in conn.execute(q)}


def _shown(row: dict[str, Any], seen: set[str]) -> bool:
    """A result row names a visible item, or none: a refusal, or not a row whose item was withheld
    from the job's own account (``pipeline``/``capture``: its file name or URL belongs to that item)."""
    if row.get("item_id"):
        return str(row["item_id"]) in seen
    return not any(WITHHELD in str(row.get(k) or "") for k in ("note", "reason"))


def _as_seen(job: dict[str, Any], account: Account, seen: set[str]) -> dict[str, Any] | None:
    own = job["actor"] == account.name
    if job["kind"] == JobKind.EXPORT and not own:
        return None
    results = _results(job.get("result"))
    # Another account's rows naming no item (a refused or failed URL, a refused file) are its inputs:
    # an address refused then may be a page captured and hidden since.
    kept = [r for r in results if _shown(r, seen) and (own or r.get("item_id"))]
    named = _named(job)
    if named and not own and not named & seen:
        return None  # a job about hidden items only
    result = dict(job.get("result") or {})
    if "results" in result:
        result["results"] = kept
    return {**job, "result": result, "params": job["params"] if own else {}}


def set_progress(home: Home, job_id: str, progress: float, **fields: Any) -> None:
    with home.db.begin() as conn:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(progress=min(1.0, max(0.0, progress)), updated_at=utcnow(), **fields)
        )


def fail(home: Home, job_id: str, reason: str) -> None:
    """Record a job as failed, with the reason (ids and words only, no content)."""
    set_progress(home, job_id, 0.0, status=JobStatus.FAILED.value, result={"error": reason[:2000]})


class JobBusy(WorkbenchError):
    """A delivered job is running in a live worker: this message is a replay or a duplicate."""


def _claim_delivered(home: Home, job_id: str, last_try: bool) -> dict[str, Any] | None:
    """Take a delivered job: queued, or running when its last worker died. None when it is done,
    failed or unknown: the message is simply acked.

    A running job is taken again only once it has been silent for the queue's heartbeat timeout: the
    queue redelivers a dead worker's message only after that long, while a message replayed or sent
    twice beside a live worker (whose progress keeps ``updated_at`` fresh) must not start a second
    run. Such a message raises ``JobBusy`` so the queue retries it later, by when the job is done
    (acked) or its worker has died (taken)."""
    from workbench.services.taskqueue import heartbeat_timeout_ms

    silent_since = utcnow() - timedelta(milliseconds=heartbeat_timeout_ms())
    claimable = or_(
        jobs.c.status == JobStatus.QUEUED.value,
        and_(jobs.c.status == JobStatus.RUNNING.value, jobs.c.updated_at < silent_since),
    )
    with home.db.begin() as conn:
        done = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, claimable)
            .values(status=JobStatus.RUNNING.value, attempts=jobs.c.attempts + 1, updated_at=utcnow())
        )
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        return None
    if done.rowcount != 1:
        if row["status"] == JobStatus.RUNNING and not last_try:
            raise JobBusy(f"job {job_id} is running in a live worker")
        return None
    return {**dict(row), "delivered": True}


# Passing trouble with a shared service: the queue delivers the job again later (with back-off).
TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, TimeoutError)


def run_delivered(home: Home, job_id: str, last_try: bool = False) -> Job | None:
    """Run a job the distributed queue delivered (`wb worker`), as its account, channel ``worker``.

    Raises one of ``TRANSIENT`` (the job back to ``queued``) so that the queue retries with back-off,
    unless ``last_try``; every other failure is recorded on the job and not retried."""
    job = _claim_delivered(home, job_id, last_try)
    if job is None:
        return None
    if int(job["attempts"]) > MAX_DELIVERIES:
        fail(home, job_id, f"delivered {MAX_DELIVERIES} times without finishing: given up")
        return get_job(home, job_id)
    try:
        # The result names the worker's home that ran it, for the operator (an id, no content).
        return _execute(home, job, reraise=() if last_try else TRANSIENT, extra={"ran_on": home.home_id})
    except TRANSIENT as exc:
        set_progress(
            home,
            job_id,
            0.0,
            status=JobStatus.QUEUED.value,
            result={"error": f"retrying: {type(exc).__name__}"},
        )
        raise


def _claim(home: Home, job_id: str | None = None) -> dict[str, Any] | None:
    """Take one queued job (or the named one); None when there is none or another worker took it."""
    with home.db.begin() as conn:
        q = select(jobs).where(jobs.c.status == JobStatus.QUEUED.value).order_by(jobs.c.created_at).limit(1)
        if job_id is not None:
            q = select(jobs).where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
        row = conn.execute(q).mappings().first()
        if row is None:
            return None
        done = conn.execute(
            jobs.update()
            .where(jobs.c.id == row["id"], jobs.c.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.RUNNING.value, updated_at=utcnow())
        )
        return dict(row) if done.rowcount == 1 else None


def _account(home: Home, job: dict[str, Any]) -> Account:
    """The account that queued the job, as it is now: a job of a deactivated account does not run."""
    with home.reading() as conn:
        account = account_by_name(conn, str(job["actor"]))
    if account is None or not account.active:
        raise AccessDenied("the account that queued this job is no longer active")
    return account


def _case(home: Home, case_id: int) -> Case:
    with home.reading() as conn:
        return next(c for c in list_cases(conn) if c.id == case_id)


def _upload(home: Home, job: dict[str, Any], case: Case) -> dict[str, Any]:
    from workbench.services.intake import ingest_uploads

    params = job["params"]
    name = str(params["folder"])
    staged = params.get("staged") == "database"
    folder = _unstage(home, name, params["files"]) if staged else home.area("uploads") / name
    keep = False
    try:  # a refused or failed job leaves no uploaded bytes behind
        done = ingest_uploads(
            home,
            case,
            folder,
            job["params"]["files"],
            _account(home, job),
            _via(job),
            on_progress=lambda p: set_progress(home, job["id"], p),
        )
    except TRANSIENT:
        keep = True  # the queue delivers the job again: its staged bytes must still be there
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if staged and not keep:
            with home.db.begin() as conn:
                conn.execute(upload_chunks.delete().where(upload_chunks.c.folder == name))
    results = [{"name": r.path, "status": r.status, "reason": r.reason, "item_id": r.item_id} for r in done]
    return {"results": results, "analysis_job": _follow_up_analysis(home, job, results)}


def _capture(home: Home, job: dict[str, Any], case: Case) -> dict[str, Any]:
    from collectors.web import CaptureSettings
    from workbench.services.capture.run import capture_urls

    urls = [str(u) for u in job["params"]["urls"]][:500]
    done: list[dict[str, Any]] = []
    earlier = _captured_since(home, case.id, job) if int(job.get("attempts") or 0) > 1 else set()

    def step(r: Any) -> None:
        # A URL that an earlier delivery of this job captured is skipped now, and reported as captured.
        ours = r.skipped and r.capture_id in earlier
        done.append(
            {
                "url": r.url,
                "status": r.status,
                "reason": None if ours else r.reason,
                "item_id": r.item_id,
                "capture_id": r.capture_id,
            }
        )
        set_progress(home, job["id"], len(done) / max(1, len(urls)))

    capture_urls(
        home,
        case,
        urls,
        _account(home, job),
        # No run targets: the worker's environment is not the queuing account's to choose.
        CaptureSettings(),
        via=_via(job),
        on_result=step,
    )
    return {"results": done, "analysis_job": _follow_up_analysis(home, job, _media_of(home, done))}


def _captured_since(home: Home, case_id: int, job: dict[str, Any]) -> set[str]:
    """Captures of the case since the job was queued: those an earlier delivery of it made."""
    query = select(captures.c.id).where(
        captures.c.case_id == case_id,
        captures.c.status == "captured",
        captures.c.started_at >= job["created_at"],
    )
    with home.reading() as conn:
        return {str(r[0]) for r in conn.execute(query)}


def _media_of(home: Home, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pictures and videos that this job's new captures stored (a skipped URL brought nothing new)."""
    capture_ids = [
        str(d["capture_id"])
        for d in done
        if d["status"] == "captured" and d.get("capture_id") and not d["reason"]
    ]
    if not capture_ids:
        return []
    query = (
        select(sightings.c.item_id)
        .join(items, items.c.id == sightings.c.item_id)
        .where(sightings.c.capture_id.in_(capture_ids), items.c.kind.in_(("image", "video")))
        .distinct()
    )
    with home.reading() as conn:
        return [{"status": "stored", "item_id": r.item_id} for r in conn.execute(query)]


def _analyse(home: Home, job: dict[str, Any], case: Case) -> dict[str, Any]:
    from workbench.services.analysis.run import analyse_items

    ids = [str(i) for i in job["params"].get("item_ids", [])]
    steps = _Steps(home, str(job["id"]))
    out = [{"item_id": i, "status": "analysed"} for i in sorted(steps.done)]
    analysed = analyse_items(
        home, case, ids, _account(home, job), _via(job), skip=steps.done, on_store=steps.record
    )
    for item_id, _analysis in analysed:
        out.append({"item_id": item_id, "status": "analysed"})
        set_progress(home, job["id"], len(out) / max(1, len(ids) or len(out)))
    return {"results": out}


class _Steps:
    """The steps of a job already done (``job_steps``): each is recorded in the transaction that did it,
    so a job run again after its worker died skips exactly those."""

    def __init__(self, home: Home, job_id: str) -> None:
        self.job_id = job_id
        with home.reading() as conn:
            found = conn.execute(select(job_steps.c.step).where(job_steps.c.job_id == job_id))
            self.done = frozenset(str(r[0]) for r in found)

    def record(self, tx: Transaction, step: str) -> None:
        tx.conn.execute(job_steps.insert().values(job_id=self.job_id, step=step, at=utcnow()))


def _fixity(home: Home, job: dict[str, Any], case: Case) -> dict[str, Any]:
    """A fixity run over the home (``workbench.services.fixity``, admins); a run cut short is resumed, not
    started again, when the job is delivered again."""
    from workbench.services.fixity import run_fixity

    def step(done: int, total: int) -> None:
        set_progress(home, job["id"], done / max(1, total))

    run = run_fixity(home, _account(home, job), _via(job), progress=step)
    failed = [{"status": "problem", "reason": f"{f.get('state')} {f.get('sha256')}"} for f in run.failed]
    return {
        "run_id": run.run_id,
        "checked": run.checked,
        "intact": not run.failed and not run.chain_problems,
        "results": failed[:200],
    }


def _export(home: Home, job: dict[str, Any], case: Case) -> dict[str, Any]:
    """An evidence package of the given items (workbench.services.export.packages), zipped in
    ``exports/JOB_ID`` for its one download through the app (``workbench.services.export.files``)."""
    from workbench.services.export import files as package_files
    from workbench.services.export.packages import ExportRequest, export_package

    package_files.sweep(home)

    def tell(done: float, stage: str) -> None:
        set_progress(home, job["id"], done, result={"stage": stage})

    p = job["params"]
    req = ExportRequest(
        case_slug=case.slug, profile=str(p["profile"]), recipient=str(p["recipient"]),
        recipient_type=str(p["recipient_type"]), purpose=str(p["purpose"]),
        out=package_files.fresh_bag_dir(home, str(job["id"])), by=_account(home, job),
        item_ids=[str(i) for i in p["item_ids"]], via=_via(job), progress=tell,
    )  # fmt: skip
    res = export_package(home, req)
    withheld = [w.as_result() for w in res.withheld]
    out: dict[str, Any] = {
        "transfer_id": res.transfer_id,
        "manifest_sha256": res.manifest_sha256,
        "included": len(res.included),
        "results": withheld,
    }
    if res.transfer_id is not None:
        tell(0.85, "zipping the package for its download")
        out.update(package_files.finish(home, str(job["id"])).as_result())
    return out


HANDLERS: dict[JobKind, Callable[[Home, dict[str, Any], Case], dict[str, Any]]] = {
    JobKind.UPLOAD: _upload,
    JobKind.CAPTURE: _capture,
    JobKind.ANALYSE: _analyse,
    JobKind.EXPORT: _export,
    JobKind.FIXITY: _fixity,
}


def run_job(home: Home, job_id: str | None = None) -> Job | None:
    """Claim and run one queued job in this process; returns the finished job row (None: nothing to do)."""
    job = _claim(home, job_id)
    return None if job is None else _execute(home, job)


def _execute(
    home: Home,
    job: dict[str, Any],
    reraise: tuple[type[BaseException], ...] = (),
    extra: dict[str, Any] | None = None,
) -> Job | None:
    try:
        result = HANDLERS[job["kind"]](home, job, _case(home, int(job["case_id"])))
        set_progress(home, job["id"], 1.0, status=JobStatus.DONE.value, result={**result, **(extra or {})})
    except reraise:
        raise
    except Exception as exc:  # stage boundary: a failed job is recorded as data, the worker goes on
        set_progress(
            home,
            job["id"],
            0.0,
            status=JobStatus.FAILED.value,
            result={"error": f"{type(exc).__name__}: {exc}"[:2000]},
        )
    return get_job(home, job["id"])


class Worker:
    """Runs queued jobs one at a time, each in a child process, from a daemon thread."""

    def __init__(self, home: Home, key_path: Path, poll_s: float = 1.0) -> None:
        self.home = home
        self.key_path = key_path
        self.poll_s = poll_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="wb-jobs", daemon=True)

    def start(self) -> Worker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = _claim(self.home)
            if job is None:
                self._stop.wait(self.poll_s)
                continue
            self._run_child(str(job["id"]))

    def _run_child(self, job_id: str) -> None:
        env = dict(os.environ, WB_HOME=str(self.home.root), WB_KEY=str(self.key_path))
        cmd = [sys.executable, "-m", "workbench.services.jobs", job_id]
        try:
            subprocess.run(cmd, env=env, timeout=JOB_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        except subprocess.TimeoutExpired:
            set_progress(
                self.home, job_id, 0.0, status=JobStatus.FAILED.value, result={"error": "time limit reached"}
            )
        job = get_job(self.home, job_id)
        if job is not None and not job.finished:
            # The child died before finishing (crash, kill): record it rather than retry forever.
            set_progress(
                self.home,
                job_id,
                0.0,
                status=JobStatus.FAILED.value,
                result={"error": "worker process ended early"},
            )


def _main(argv: list[str]) -> int:
    from workbench import TOOL_VERSION
    from workbench.services import config, unlock

    root = config.home_path(None)
    key = unlock.data_key(root, use_session=False)  # WB_DATA_KEY_FILE, as the app handed it down
    home = Home.open(
        root, config.key_path(), TOOL_VERSION, config.db_url(), config.blob_store(root), data_key=key
    )
    try:
        with home.reading() as conn:
            row = (
                conn.execute(
                    select(jobs).where(jobs.c.id == argv[0], jobs.c.status == JobStatus.RUNNING.value)
                )
                .mappings()
                .first()
            )
        job = _execute(home, dict(row)) if row is not None else None
    finally:
        home.close()
    return 0 if job is not None and job.status == JobStatus.DONE else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
