"""One way into the archive for every front end, and the batch engine behind it.

`wb ingest` (paths), the app's uploads (run as background jobs) and the web capture all store what
they bring through the same rules:

- files, folders and zips: a zip is stored as an original and each member becomes its own item
  naming the zip as its container, whether it came from a path or an upload; the same refusals
  (empty, unreadable, a name claiming media over other bytes, unsafe zip members, over a limit), the
  same ``item.ingested`` / ``sighting.added`` events, the same metadata sidecar and near-duplicate
  fingerprints before the call returns;
- content erased from the case is never brought back: ``archive.ingest.prior_item`` refuses it
  and writes one ``ingest.refused`` event, for ingest, upload and capture alike (the capture's
  media go through it in ``workbench.services.capture.store``);
- follow-up analysis of what a background job stored is queued by ``workbench.services.jobs`` for
  uploads and captures alike; `wb ingest` leaves it to `wb detect` (INTERFACE.md, "Timing").

Front ends (commands, pages, jobs) call the functions here and add no rules of their own.

The batch engine, one short step per stage:

1. Collect: ``collectors`` turn paths (or uploaded files) into offers, refusing what they must.
2. Store: each offer's bytes go into the blob store, hashed and fsynced (``Ingestor.store``), in a
   worker thread, a few files ahead of the database.
3. Describe: the metadata sidecar (exiftool) and the near-duplicate fingerprints are made from the
   stored copy, in a second worker thread.
4. Record: the main thread records a group of files in one transaction (one savepoint per file, one
   signed checkpoint per group), then adds their fingerprints to the case's index. Results are
   yielded, in input order, only once their group is committed.

Each input is isolated: one that fails is reported with its reason and the rest go on. A blob is
always fsynced before the transaction that names it commits; a crash leaves at most unreferenced
blobs, never a row without its file.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import and_, select

from archive.db import artifacts
from archive.home import Home, Transaction
from archive.ingest import Ingestor, IngestResult, Prepared
from archive.metadata import ExifReader
from archive.model import Case, Fingerprint, IncomingFile, Refusal
from collectors.files import ZipOffer, expand_paths, offer_saved, zip_members
from workbench.services.access import WITHHELD, find_visible
from workbench.services.auth import Account, Perm, check_case
from workbench.services.dedup import clusters as dedup

__all__ = [
    "BATCH_FILES",
    "BATCH_SECONDS",
    "LOOKAHEAD",
    "Offer",
    "ingest_offers",
    "ingest_paths",
    "ingest_uploads",
]

BATCH_FILES = 32  # files per transaction at most
BATCH_SECONDS = 0.5  # a group is committed once its first file has waited this long
LOOKAHEAD = 64  # files stored and described ahead of the one being recorded


Offer = IncomingFile | ZipOffer | Refusal


def ingest_paths(
    home: Home,
    case: Case,
    paths: list[str],
    by: Account,
    via: str = "cli",
    device: str | None = None,
    exif: ExifReader | None = None,
) -> Generator[IngestResult, None, None]:
    """Ingest files, folders and zips; yields one result per file, in order, once it is committed.

    Raises AccessDenied (logged) unless ``by`` may capture into the case."""
    check_case(home, by, Perm.CAPTURE, case.id, via)
    yield from _ingest(home, case, expand_paths(paths, device), by, via, exif)


def ingest_offers(
    home: Home,
    case: Case,
    offers: Iterable[Offer],
    by: Account,
    via: str,
    exif: ExifReader | None = None,
) -> Generator[IngestResult, None, None]:
    """``ingest_paths`` for offers another front end made (app uploads): the same zip expansion,
    refusals, events and fingerprints. Raises AccessDenied (logged) as ``ingest_paths``."""
    check_case(home, by, Perm.CAPTURE, case.id, via)
    yield from _ingest(home, case, offers, by, via, exif)


def ingest_uploads(
    home: Home,
    case: Case,
    folder: Path,
    files: list[Mapping[str, Any]],
    by: Account,
    via: str = "job",
    on_progress: Callable[[float], None] | None = None,
    exif: ExifReader | None = None,
) -> list[IngestResult]:
    """Files the app saved as ``folder/N`` (``files``: their names as uploaded and their ``n``), taken
    exactly as `wb ingest` takes files: a zip is expanded into its members. Raises AccessDenied
    (logged) unless ``by`` may capture into the case."""

    def offers() -> Iterator[Offer]:
        for k, f in enumerate(files):
            yield offer_saved(folder / str(int(f["n"])), str(f["name"]), {"uploaded_via": "app"})
            if on_progress is not None:
                on_progress(k / max(1, len(files)))

    results = list(ingest_offers(home, case, offers(), by, via, exif))
    if on_progress is not None:
        on_progress(1.0)
    return results


def _ingest(
    home: Home, case: Case, offers: Iterable[Offer], by: Account, via: str, exif: ExifReader | None
) -> Generator[IngestResult, None, None]:
    own_reader = exif is None
    reader = exif or ExifReader()
    run = _Run(Ingestor(home, reader), case, by.name, via)
    try:
        for offer in offers:
            yield from (_as_seen(home, by, r) for r in run.offer(offer))
        yield from (_as_seen(home, by, r) for r in run.flush())
    finally:
        run.close()
        if own_reader:
            reader.close()


def _as_seen(home: Home, by: Account, result: IngestResult) -> IngestResult:
    """A file already in the case as an item hidden from ``by`` (a survivor-identifying photo it is
    not assigned to) is a duplicate whose item is not named: the id would confirm the hidden item
    and let it be asked for. (Only duplicates can be hidden: a new item is seen by its case.)"""
    if result.status != "duplicate" or result.item_id is None:
        return result
    with home.reading() as conn:
        if find_visible(conn, by, result.item_id) is not None:
            return result
    return replace(result, item_id=None, note=WITHHELD)


@dataclass(frozen=True)
class _Ready:
    """A file stored and described, or refused before any record, with its fingerprint rows."""

    name: str
    prepared: Prepared | None = None
    fingerprints: list[Fingerprint] | None = None
    refused: IngestResult | None = None


class _Run:
    """Two worker threads ahead of the main thread, which records groups of files."""

    def __init__(self, ingestor: Ingestor, case: Case, actor: str, via: str) -> None:
        self.ingestor, self.case, self.actor, self.via = ingestor, case, actor, via
        self.home = ingestor.home
        self.storer = ThreadPoolExecutor(1, thread_name_prefix="wb-store")
        self.describer = ThreadPoolExecutor(1, thread_name_prefix="wb-describe")
        self.pending: deque[tuple[str, Future[_Ready]]] = deque()
        self.batch: list[_Ready] = []
        self.batch_started = 0.0
        self.refused_blobs: list[Prepared] = []
        self.stopping = threading.Event()

    def close(self) -> None:
        # Work not yet recorded is abandoned as a crash would leave it: unreferenced blobs. A file
        # being stored stops at its next read (Ctrl-C must not wait for a large video to copy).
        self.stopping.set()
        self.storer.shutdown(wait=True, cancel_futures=True)
        self.describer.shutdown(wait=True, cancel_futures=True)
        self._discard_refused()

    # -- feeding ---------------------------------------------------------------------------------

    def offer(self, offer: IncomingFile | ZipOffer | Refusal) -> Iterator[IngestResult]:
        if isinstance(offer, ZipOffer):
            yield from self._zip(offer)
            return
        if isinstance(offer, Refusal):
            self._refusal(offer)
        else:
            stored = self.storer.submit(self.ingestor.store, self._interruptible(offer))
            self.pending.append((offer.name, self.describer.submit(self._describe, stored)))
        yield from self._drain(LOOKAHEAD)

    def _zip(self, offer: ZipOffer) -> Iterator[IngestResult]:
        # Members are taken only when the zip itself is recorded, so the zip goes through alone.
        stored = self.storer.submit(self.ingestor.store, self._interruptible(offer.file))
        self.pending.append((offer.file.name, self.describer.submit(self._describe, stored)))
        results = list(self.flush())
        yield from results
        container = results[-1]
        if container.status == "refused" or container.sha256 is None:
            return
        for member in zip_members(offer, container.sha256):
            if isinstance(member, Refusal):
                self._refusal(member)
            else:
                # Stored here, not in the worker: members are read through the zip's handle, which
                # closes when the member generator ends.
                done: Future[Prepared] = Future()
                done.set_result(self.ingestor.store(member))
                self.pending.append((member.name, self.describer.submit(self._describe, done)))
            yield from self._drain(LOOKAHEAD)

    def _interruptible(self, incoming: IncomingFile) -> IncomingFile:
        def opener() -> BinaryIO:
            return _Interruptible(incoming.open(), self.stopping)  # type: ignore[return-value]

        return replace(incoming, open=opener)

    def _refusal(self, refusal: Refusal) -> None:
        done: Future[_Ready] = Future()
        done.set_result(_Ready(refusal.name, refused=IngestResult(refusal.name, "refused", refusal.reason)))
        self.pending.append((refusal.name, done))

    def _describe(self, stored: Future[Prepared]) -> _Ready:
        prepared = self.ingestor.describe(stored.result())
        if prepared.refused is not None:
            return _Ready(prepared.incoming.name, refused=prepared.refused)
        assert prepared.put is not None and prepared.mime is not None
        rows = dedup.prepare_fingerprints(self.home, prepared.put.sha256, prepared.mime)
        return _Ready(prepared.incoming.name, prepared, rows)

    # -- recording -------------------------------------------------------------------------------

    def flush(self) -> Iterator[IngestResult]:
        """Record everything offered so far."""
        yield from self._drain(0)
        yield from self._commit()

    def _drain(self, keep: int) -> Iterator[IngestResult]:
        """Move files into the group: every ready one, and the oldest until ``keep`` are left.

        Ready files are taken at once and a group is committed once its first file has waited
        ``BATCH_SECONDS``, so results keep coming while long files are still being stored.
        """
        while self.pending and (len(self.pending) > keep or self.pending[0][1].done()):
            name, future = self.pending.popleft()
            try:
                ready = future.result()
            except Exception as exc:  # stage boundary: an unexpected failure refuses this file only
                why = f"not stored: {type(exc).__name__}: {exc}"
                ready = _Ready(name, refused=IngestResult(name, "refused", why))
            if not self.batch:
                self.batch_started = time.monotonic()
            self.batch.append(ready)
            if len(self.batch) >= BATCH_FILES:
                yield from self._commit()
        if self.batch and time.monotonic() - self.batch_started >= BATCH_SECONDS:
            yield from self._commit()

    def _commit(self) -> Iterator[IngestResult]:
        batch, self.batch = self.batch, []
        if not batch:
            return
        results = self._record_group(batch)
        for ready, result in zip(batch, results, strict=True):
            if result.status == "refused" and ready.prepared is not None:
                self.refused_blobs.append(ready.prepared)
            elif result.status != "refused" and result.sha256 and result.mime:
                dedup.index_stored(self.home, self.case, result.sha256, result.mime)
        yield from results

    def _record_group(self, batch: list[_Ready]) -> list[IngestResult]:
        if all(r.prepared is None for r in batch):
            return [_result(r) for r in batch]
        try:
            with self.home.transaction(self.actor, self.via) as tx:
                return [self._record_one(tx, r) for r in batch]
        except Exception:
            if len(batch) == 1:
                raise
        # The group's transaction failed as a whole: each file in a transaction of its own.
        results = []
        for ready in batch:
            try:
                with self.home.transaction(self.actor, self.via) as tx:
                    results.append(self._record_one(tx, ready))
            except Exception as exc:  # stage boundary: this file is refused, the others go on
                results.append(_not_recorded(ready, exc))
        return results

    def _record_one(self, tx: Transaction, ready: _Ready) -> IngestResult:
        if ready.prepared is None:
            return _result(ready)
        try:
            with tx.conn.begin_nested():
                result = self.ingestor.record(tx, self.case, ready.prepared)
                if result.status != "refused" and ready.fingerprints is not None and result.sha256:
                    dedup.save_fingerprints(tx.conn, result.sha256, ready.fingerprints)
        except Exception as exc:  # stage boundary: the savepoint undid this file's rows and events
            return _not_recorded(ready, exc)
        return result

    def _discard_refused(self) -> None:
        """At the end of the run, remove the bytes of files refused at recording (content deleted
        from the case) that this run wrote and that no record names. Not earlier: a file still in
        flight could be the same bytes."""
        for prepared in self.refused_blobs:
            put = prepared.put
            if put is None or not put.created:
                continue
            with self.home.reading() as conn:
                named = conn.execute(
                    select(artifacts.c.sha256).where(
                        and_(artifacts.c.sha256 == put.sha256, artifacts.c.removed_at.is_(None))
                    )
                ).first()
            if named is None:
                self.ingestor.discard(prepared)
        self.refused_blobs = []


class _Interruptible:
    """A read-only stream that stops (raises) once the run is stopping."""

    def __init__(self, stream: BinaryIO, stopping: threading.Event) -> None:
        self.stream = stream
        self.stopping = stopping

    def read(self, size: int = -1) -> bytes:
        if self.stopping.is_set():
            raise InterruptedError("the ingest was stopped")
        return self.stream.read(size)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> _Interruptible:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _result(ready: _Ready) -> IngestResult:
    assert ready.refused is not None
    return ready.refused


def _not_recorded(ready: _Ready, exc: Exception) -> IngestResult:
    prepared = ready.prepared
    put = prepared.put if prepared else None
    return IngestResult(
        ready.name,
        "refused",
        f"not recorded: {type(exc).__name__}: {exc}",
        put.sha256 if put else None,
        None,
        prepared.mime if prepared else None,
        put.size if put else None,
    )
