"""Files into the archive: store, sniff, describe, and record as an item or a new sighting.

The order matters for crash safety: bytes go to the blob store first (hashed while written), the
metadata sidecar is made from the stored copy, and only then one database transaction records the
artifact, the item or sighting, and their custody events. A crash before the commit leaves at most
an unreferenced blob; never a row without its file.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, select

from archive import artifacts as art
from archive.blobs import BlobTooLarge, PutResult
from archive.db import items, sightings, utcnow
from archive.home import Home, Transaction
from archive.metadata import ExifReader, MetadataError, build_sidecar
from archive.model import Case, Classification, IncomingFile, Status
from archive.sniff import kind_of, sniff

__all__ = ["IngestResult", "Ingestor", "new_item_id"]

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


class Ingestor:
    def __init__(self, home: Home, exif: ExifReader | None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.home = home
        self.exif = exif
        self.max_bytes = max_bytes

    def ingest(self, case: Case, incoming: IncomingFile, actor: str, via: str = "cli") -> IngestResult:
        try:
            with incoming.open() as stream:
                put = self.home.blobs.put(stream, limit=self.max_bytes)
        except BlobTooLarge as exc:
            return IngestResult(incoming.name, "refused", str(exc))
        except Exception as exc:  # stage boundary: any failure to read this input is its refusal
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return IngestResult(incoming.name, "refused", f"cannot read: {reason or type(exc).__name__}")
        if put.size == 0:
            self._discard(put)
            return IngestResult(incoming.name, "refused", "empty file (0 bytes)", put.sha256)
        mime = sniff(put.head)
        if (refusal := _type_refusal(incoming, mime)) is not None:
            self._discard(put)
            return IngestResult(incoming.name, "refused", refusal, put.sha256, None, mime, put.size)
        sidecar = self._sidecar(put) if self.exif is not None else None
        with self.home.transaction(actor, via) as tx:
            result = self._record(tx, case, incoming, put, mime, sidecar)
        if result.status == "refused":
            self._discard(put)
        return result

    def _discard(self, put: PutResult) -> None:
        """Remove bytes this call wrote that no record will point to."""
        if put.created:
            self.home.blobs.delete(put.sha256)

    def _sidecar(self, put: PutResult) -> bytes:
        assert self.exif is not None
        try:
            tags = self.exif.read(self.home.blobs.path(put.sha256))
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
        existing = tx.conn.execute(
            select(items.c.id, items.c.deleted_at).where(
                and_(items.c.case_id == case.id, items.c.sha256 == put.sha256)
            )
        ).first()
        if existing is not None and existing.deleted_at is not None:
            when = existing.deleted_at.strftime("%Y-%m-%d")
            tx.event(
                "ingest.refused",
                case_id=case.id,
                item_id=existing.id,
                artifact_sha256=put.sha256,
                details={"reason": "deleted"},
            )
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
