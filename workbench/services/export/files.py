"""Evidence packages made by the app's export jobs, waiting in the home for their one download.

The export job (``workbench.services.jobs``) writes the BagIt package into ``exports/JOB_ID/bag``, zips it
into ``exports/JOB_ID/package.zip`` (the bag folder is then removed) and records the zip's SHA-256
and size in the job's result. The browser fetches it from ``/api/export/JOB_ID`` (``workbench.app.asgi``):

- ``open_package`` decides: only the account that queued the export, still allowed to export from
  the case (``check_case``; a refusal is one ``access.denied`` event), gets the file; the download is
  logged as ``export.downloaded`` (transfer id, the zip's SHA-256);
- the package is taken at once (a second request, even before the bytes are gone, gets nothing), and
  not handed out at all when one of its items was hidden from the exporter or a consent on one was
  withdrawn since it was made (``withdrawn``: export again);
- the bytes leave the server after the download has been sent (``remove``), or ``PACKAGE_TTL_S``
  after the export finished, whichever comes first (``sweep``, run on every listing and download):
  the transfer register and the custody log keep what was sent; the package is made again by a
  new export if it is needed again. The job's result says which (``package``: ready, downloaded,
  withdrawn, expired).

Team mode (``WB_QUEUE_URL``): the worker that made the package may run on another machine, and app
instances share no folder, so the zip is also kept in the shared database in chunks (the uploads'
``upload_chunks`` table, under the job's id with member number ``SHARED_N``); the instance that serves
the download writes it into its own exports area first. Removal, expiry and erasure of the job remove
the chunks with the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import consents, transfers, upload_chunks
from archive.db import jobs as job_rows
from archive.home import Home
from workbench.services import access, config, jobs
from workbench.services.auth import Account, Perm, check_case, refuse

__all__ = [
    "PACKAGE_TTL_S",
    "PackageFile",
    "PackageReady",
    "bag_dir",
    "export_jobs",
    "finish",
    "fresh_bag_dir",
    "open_package",
    "remove",
    "sweep",
]

PACKAGE_TTL_S = 24 * 3600
ZIP_NAME = "package.zip"
SHARED_N = -1  # upload members are numbered from 0: -1 marks a package in the shared database
CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class PackageFile:
    path: Path
    download_name: str
    sha256: str
    job_id: str


def _folder(home: Home, job_id: str) -> Path:
    if not job_id.isalnum():
        raise ValueError("not a job id")
    return home.area("exports") / job_id


def bag_dir(home: Home, job_id: str) -> Path:
    """Where the export job writes the package before it is zipped."""
    return _folder(home, job_id) / "bag"


def fresh_bag_dir(home: Home, job_id: str) -> Path:
    """``bag_dir``, after removing whatever an earlier run of the same job left (a worker that died
    mid-way, the job delivered again), so the package is written again from scratch."""
    shutil.rmtree(_folder(home, job_id), ignore_errors=True)
    return bag_dir(home, job_id)


@dataclass(frozen=True)
class PackageReady:
    """A zipped package waiting for its one download: what the export job's result records of it."""

    zip_sha256: str
    zip_bytes: int

    def as_result(self) -> dict[str, Any]:
        return {"package": "ready", "zip_sha256": self.zip_sha256, "zip_bytes": self.zip_bytes}


def finish(home: Home, job_id: str) -> PackageReady:
    """Zip the written bag (members in name order, so the same bag gives the same listing), remove the
    bag folder, and return what the job's result records about the file."""
    bag = bag_dir(home, job_id)
    target = _folder(home, job_id) / ZIP_NAME
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in bag.rglob("*") if p.is_file()):
            zf.write(path, Path("package") / path.relative_to(bag))
    os.chmod(target, 0o600)
    shutil.rmtree(bag)
    digest = hashlib.sha256()
    with target.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if config.queue_url():
        _share(home, job_id, target)
    return PackageReady(digest.hexdigest(), target.stat().st_size)


def _share(home: Home, job_id: str, zipped: Path) -> None:
    """Keep the zip in the shared database, so any app instance can serve it (team mode)."""
    _unshare(home, job_id)  # a job delivered again writes its package again
    with zipped.open("rb") as fh:
        for seq, chunk in enumerate(iter(lambda: fh.read(CHUNK_BYTES), b"")):
            with home.db.begin() as conn:  # one chunk per transaction: no huge transaction
                row = {"folder": job_id, "n": SHARED_N, "seq": seq, "data": chunk}
                conn.execute(upload_chunks.insert().values(**row))


def _unshare(home: Home, job_id: str) -> None:
    with home.db.begin() as conn:
        mine = (upload_chunks.c.folder == job_id) & (upload_chunks.c.n == SHARED_N)
        conn.execute(upload_chunks.delete().where(mine))


def _fetch_shared(home: Home, job_id: str, target: Path) -> None:
    """Write a package kept in the shared database into this instance's exports area (if there is one)."""
    query = (
        select(upload_chunks.c.data)
        .where(upload_chunks.c.folder == job_id, upload_chunks.c.n == SHARED_N)
        .order_by(upload_chunks.c.seq)
    )
    partial = target.with_name(ZIP_NAME + ".part")
    wrote = False
    with home.reading() as conn:
        rows = conn.execute(query)
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            for (data,) in rows:
                out.write(bytes(data))
                wrote = True
    if wrote:
        os.chmod(partial, 0o600)
        partial.replace(target)
    else:
        partial.unlink(missing_ok=True)


def _mark(home: Home, job: jobs.Job, state: str) -> None:
    result = {**job.result, "package": state}
    jobs.set_progress(home, job.id, job.progress, result=result)


def remove(home: Home, job_id: str, state: str = "downloaded") -> None:
    """Remove the package's bytes from the server and say why in the job's result."""
    shutil.rmtree(_folder(home, job_id), ignore_errors=True)
    _unshare(home, job_id)
    job = jobs.get_job(home, job_id)
    if job is not None and job.result.get("package") == "ready":
        _mark(home, job, state)


def sweep(home: Home, now: float | None = None) -> int:
    """Remove packages older than ``PACKAGE_TTL_S`` (by the zip's time); how many were removed."""
    root = home.area("exports")
    limit = (time.time() if now is None else now) - PACKAGE_TTL_S
    gone = 0
    for folder in root.iterdir() if root.is_dir() else []:
        made = folder / ZIP_NAME
        if folder.is_dir() and made.is_file() and made.stat().st_mtime < limit:
            remove(home, folder.name, "expired")
            gone += 1
    return gone + _sweep_shared(home, limit)


def _sweep_shared(home: Home, limit: float) -> int:
    """Remove shared packages (team mode) whose export finished before ``limit`` (or whose job is gone)."""
    with home.reading() as conn:
        kept = conn.execute(select(upload_chunks.c.folder).where(upload_chunks.c.n == SHARED_N).distinct())
        held = [str(f) for (f,) in kept]
    gone = 0
    for job_id in held:
        job = jobs.get_job(home, job_id)
        finished = job.updated_at if job is not None else None
        if job is None or (finished is not None and _seconds(finished) < limit):
            remove(home, job_id, "expired")
            gone += 1
    return gone


def _seconds(moment: Any) -> float:
    """A job's time as seconds since the epoch (the database gives a datetime, a row dict may hold text)."""
    when = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    return when.timestamp()


def open_package(home: Home, account: Account, job_id: str, via: str = "app") -> PackageFile | None:
    """The finished package of an export job, for the account that queued it if it may still export
    from the case (else a logged refusal); None when there is no such package (any more). The
    download is logged as ``export.downloaded``."""
    sweep(home)
    job = jobs.get_job(home, job_id) if job_id.isalnum() else None
    if job is None or job.kind != jobs.JobKind.EXPORT:
        return None
    case_id = job.case_id
    check_case(home, account, Perm.EXPORT, case_id, via)
    result = job.result
    if job.actor != account.name:
        raise refuse(home, account, Perm.EXPORT, via, case_id=case_id)
    path = _folder(home, job_id) / ZIP_NAME
    if job.status == jobs.JobStatus.DONE and result.get("package") == "ready" and not path.is_file():
        _fetch_shared(home, job_id, path)  # made by a worker on another machine (team mode)
    if job.status != jobs.JobStatus.DONE or result.get("package") != "ready" or not path.is_file():
        return None
    with home.transaction(account.name, via) as tx:
        # Taken inside the writer's transaction: of two requests for one package (a double click, a
        # second tab) only the first gets it, although the bytes go only after its response is sent.
        result = dict(
            tx.conn.execute(select(job_rows.c.result).where(job_rows.c.id == job_id)).scalar() or {}
        )
        ready = result.get("package") == "ready"
        stale = _not_sendable(tx.conn, account, result.get("transfer_id")) if ready else None
        if ready:
            state = {"package": "withdrawn", "withdrawn": stale} if stale else {"package": "downloaded"}
            tx.conn.execute(
                job_rows.update().where(job_rows.c.id == job_id).values(result={**result, **state})
            )
        if ready and not stale:
            tx.event(
                "export.downloaded",
                case_id=case_id,
                artifact_sha256=str(result.get("zip_sha256") or "") or None,
                details={"transfer_id": result.get("transfer_id"), "job_id": job_id},
            )
    if stale:
        shutil.rmtree(_folder(home, job_id), ignore_errors=True)
        _unshare(home, job_id)
    if not ready or stale:
        return None
    name = f"package-{result.get('transfer_id') or job_id}.zip"
    return PackageFile(path, name, str(result.get("zip_sha256") or ""), job_id)


def _not_sendable(conn: Connection, account: Account, transfer_id: Any) -> str | None:
    """Why a package made earlier may no longer leave (None: it may): since it was made, one of its
    items was hidden from the exporter (or erased), or a consent on one of them was withdrawn."""
    listed = conn.execute(select(transfers.c["items"]).where(transfers.c.id == str(transfer_id))).scalar()
    sent = [str(e["item_id"]) for e in listed or [] if isinstance(e, dict) and "sha256" in e]
    for item_id in sent:
        if access.find_visible(conn, account, item_id) is None or access.withheld_members(
            conn, account, item_id
        ):
            return "an item of the package is no longer visible to you: export again"
    withdrawn = select(consents.c.id).where(
        consents.c.item_id.in_(sent), consents.c.withdrawn_on.is_not(None)
    )
    if sent and conn.execute(withdrawn).first() is not None:
        return "a consent on an item of the package was withdrawn since: export again"
    return None


def export_jobs(home: Home, account: Account, case_id: int, limit: int = 10) -> list[jobs.Job]:
    """The account's own export jobs of the case, newest first, after removing expired packages (the
    job list's checks apply: ``jobs.list_jobs``)."""
    sweep(home)
    return [
        j for j in jobs.list_jobs(home, account, case_id, limit=limit * 3) if j.kind == jobs.JobKind.EXPORT
    ][:limit]
