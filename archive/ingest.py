"""Files into the archive: store, sniff, describe, and record as an item or a new sighting.

The order matters for crash safety: bytes go to the blob store first (hashed while written and
fsynced: ``store``), the metadata sidecar is made from the stored copy (``describe``), and only then
a database transaction records the artifact, the item or sighting, and their custody events
(``record``). A crash before the commit leaves at most an unreferenced blob; never a row without its
file. The three stages are separate so that a caller can run the first two for the next files
while it records earlier ones, and record several files in one transaction.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from archive import artifacts as art
from archive.blobs import BlobRetained, BlobTooLarge, PutResult
from archive.db import items, sightings, utcnow
from archive.home import Home, Transaction
from archive.metadata import ExifReader, MetadataError, build_sidecar
from archive.model import Case, Classification, IncomingFile, Status
from archive.sniff import kind_of, sniff

__all__ = ["IngestResult", "Ingestor", "Prepared", "Prior", "new_item_id", "prior_item"]

DEFAULT_MAX_BYTES = 64 << 30
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True)
class IngestResult:
    path: str
    status: str  # stored | duplicate | refused
    reason: str | None = None
    sha256: str | None = None
    item_id: str | None = None
    mime: str | None = None
    size: int | None = None
    note: str | None = None  # e.g. the declared type disagreeing with the content

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def new_item_id() -> str:
    """Time-ordered, unguessable: 12 hex digits of milliseconds, then 8 random ones."""
    return f"{int(time.time() * 1000):012x}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Prepared:
    """A file whose bytes are stored (fsynced) and described, waiting for its database record.

    ``refused`` is set when it was refused before any record (unreadable, empty, wrong type).
    """

    incoming: IncomingFile
    put: PutResult | None = None
    mime: str | None = None
    sidecar: bytes | None = None
    refused: IngestResult | None = None


@dataclass(frozen=True)
class Prior:
    """The case's item that already holds some bytes; ``deleted_at`` set when it was erased."""

    id: str
    deleted_at: datetime | None


def prior_item(tx: Transaction, case_id: int, sha256: str, **details: Any) -> Prior | None:
    """The case's item with these bytes, if any. The rule of every way in (ingest, upload, capture):
    content erased from the case is not brought back, and each such refusal is one ``ingest.refused``
    event (``details``: ids only, e.g. the capture's id), written here so that no way in forgets it."""
    row = tx.conn.execute(
        select(items.c.id, items.c.deleted_at).where(
            and_(items.c.case_id == case_id, items.c.sha256 == sha256)
        )
    ).first()
    if row is None:
        return None
    if row.deleted_at is not None:
        tx.event(
            "ingest.refused",
            case_id=case_id,
            item_id=row.id,
            artifact_sha256=sha256,
            details={"reason": "deleted", **details},
        )
    return Prior(str(row.id), row.deleted_at)


class Ingestor:
    """Stores, describes and records files. ``ingest`` does all three for one file; a caller that
    groups files (``workbench.services.intake``) runs ``store`` and ``describe`` ahead of ``record``."""

    def __init__(self, home: Home, exif: ExifReader | None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.home = home
        self.exif = exif
        self.max_bytes = max_bytes

    def ingest(self, case: Case, incoming: IncomingFile, actor: str, via: str = "cli") -> IngestResult:
        """Store, describe and record one file in its own transaction."""
        prepared = self.describe(self.store(incoming))
        if prepared.refused is not None:
            return prepared.refused
        with self.home.transaction(actor, via) as tx:
            result = self.record(tx, case, prepared)
        if result.status == "refused":
            self.discard(prepared)
        return result

    def store(self, incoming: IncomingFile) -> Prepared:
        """Stage 1: the bytes into the blob store (hashed while written, fsynced), then type checks."""
        try:
            with incoming.open() as stream:
                put = self.home.blobs.put(stream, limit=self.max_bytes)
        except BlobTooLarge as exc:
            return Prepared(incoming, refused=IngestResult(incoming.name, "refused", str(exc)))
        except Exception as exc:  # stage boundary: any failure to read this input is its refusal
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            why = f"cannot read: {reason or type(exc).__name__}"
            return Prepared(incoming, refused=IngestResult(incoming.name, "refused", why))
        if put.size == 0:
            self._discard(put)
            empty = IngestResult(incoming.name, "refused", "empty file (0 bytes)", put.sha256)
            return Prepared(incoming, put, refused=empty)
        mime = sniff(put.head)
        if (refusal := _type_refusal(incoming, mime)) is not None:
            self._discard(put)
            refused = IngestResult(incoming.name, "refused", refusal, put.sha256, None, mime, put.size)
            return Prepared(incoming, put, mime, refused=refused)
        return Prepared(incoming, put, mime)

    def describe(self, prepared: Prepared) -> Prepared:
        """Stage 2: the metadata sidecar, made from the stored copy (no database access)."""
        if prepared.refused is not None or prepared.put is None or self.exif is None:
            return prepared
        return replace(prepared, sidecar=self._sidecar(prepared.put))

    def record(self, tx: Transaction, case: Case, prepared: Prepared) -> IngestResult:
        """Stage 3: the item or sighting, artifacts and custody events, inside the caller's transaction.

        Every blob it names was fsynced by ``store`` (or is fsynced here, the sidecar) before the
        transaction commits.
        """
        if prepared.refused is not None:
            return prepared.refused
        assert prepared.put is not None and prepared.mime is not None
        return self._record(tx, case, prepared.incoming, prepared.put, prepared.mime, prepared.sidecar)

    def discard(self, prepared: Prepared) -> None:
        """Remove stored bytes that no record will name (after a refusal at ``record``)."""
        if prepared.put is not None:
            self._discard(prepared.put)

    def _discard(self, put: PutResult) -> None:
        """Remove bytes this call wrote that no record will point to."""
        if put.created:
            # Under an object store's lock the bytes are hidden now and go when the retention ends.
            with contextlib.suppress(BlobRetained):
                self.home.blobs.delete(put.sha256)

    def _sidecar(self, put: PutResult) -> bytes:
        assert self.exif is not None
        try:
            with self.home.blobs.local_copy(put.sha256) as path:
                tags = self.exif.read(path)
            version = self.exif.version
        except MetadataError as exc:
            tags, version = {"ExifTool:Warning": f"metadata not read: {exc}"}, "unknown"
        return build_sidecar(tags, put.sha256, version)

    def _record(
        self,
        tx: Transaction,
        case: Case,
        incoming: IncomingFile,
        put: PutResult,
        mime: str,
        sidecar: bytes | None,
    ) -> IngestResult:
        declared = _declared_type(incoming)
        existing = prior_item(tx, case.id, put.sha256)
        if existing is not None and existing.deleted_at is not None:
            when = existing.deleted_at.strftime("%Y-%m-%d")
            return IngestResult(
                incoming.name,
                "refused",
                f"this content was deleted from the case on {when}",
                put.sha256,
                existing.id,
                mime,
                put.size,
            )
        art.record(tx.conn, put, mime)
        if existing is not None:
            self._sighting(tx, existing.id, incoming)
            tx.event("sighting.added", case_id=case.id, item_id=existing.id, artifact_sha256=put.sha256)
            return IngestResult(
                incoming.name,
                "duplicate",
                "same SHA-256 as an item in this case",
                put.sha256,
                existing.id,
                mime,
                put.size,
            )
        item_id = self._new_item(tx, case, put, mime, incoming, declared)
        if sidecar is not None:
            art.attach_derived(
                tx,
                self.home.blobs,
                sidecar,
                "application/json",
                case_id=case.id,
                item_id=item_id,
                parent_sha256=put.sha256,
                operation="metadata-sidecar",
                role="sidecar",
                parameters={"tool": "exiftool"},
            )
        return IngestResult(
            incoming.name, "stored", None, put.sha256, item_id, mime, put.size, _mismatch(declared, mime)
        )

    def _new_item(
        self,
        tx: Transaction,
        case: Case,
        put: PutResult,
        mime: str,
        incoming: IncomingFile,
        declared: str | None,
    ) -> str:
        item_id = new_item_id()
        tx.conn.execute(
            items.insert().values(
                id=item_id,
                case_id=case.id,
                sha256=put.sha256,
                kind=kind_of(mime),
                status=Status.UNVERIFIED.value,
                classification=Classification.RESTRICTED.value,
                title=incoming.name,
                created_at=utcnow(),
            )
        )
        art.link(tx.conn, item_id, put.sha256, "original", declared)
        self._sighting(tx, item_id, incoming)
        tx.event(
            "item.ingested",
            case_id=case.id,
            item_id=item_id,
            artifact_sha256=put.sha256,
            after_sha256=put.sha256,
            details={"mime": mime, "size": put.size},
        )
        return item_id

    @staticmethod
    def _sighting(tx: Transaction, item_id: str, incoming: IncomingFile) -> None:
        details: dict[str, Any] = dict(incoming.source)
        if incoming.container_sha256:
            details["container_sha256"] = incoming.container_sha256
        tx.conn.execute(
            sightings.insert().values(
                item_id=item_id,
                source="file",
                seen_at=utcnow(),
                original_name=incoming.name,
                details=_jsonable(details),
            )
        )


_MEDIA_EXTENSIONS = frozenset(
    "jpg jpeg png gif webp heic heif avif tif tiff bmp mp4 mov m4v webm mkv avi mp3 wav ogg m4a flac".split()
)


def _type_refusal(incoming: IncomingFile, mime: str) -> str | None:
    """A name that claims media over bytes that are not media at all is refused, naming both."""
    declared = _declared_type(incoming)
    if declared in _MEDIA_EXTENSIONS and kind_of(mime) not in ("image", "video", "audio"):
        return f"named as .{declared} but the content is {mime}: not a media file"
    return None


_EXPECTED = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}


def _mismatch(declared: str | None, mime: str) -> str | None:
    expected = _EXPECTED.get(declared or "")
    if expected is not None and expected != mime:
        return f"declared .{declared} but the content is {mime}"
    return None


def _declared_type(incoming: IncomingFile) -> str | None:
    ext = os.path.splitext(incoming.name)[1].lower().lstrip(".")
    return ext[:16] or None


def _jsonable(details: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(k): (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
        for k, v in details.items()
    }
