"""Storing one staged web capture: blobs first, then one transaction of rows and custody events.

A crash before the commit leaves at most unreferenced blobs, never a row without its file. Custody
events carry ids, hashes and role names only; URLs, captions and handles live in ``captures`` and
``sightings``, which deletion can erase.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from archive import artifacts as art
from archive.blobs import BlobRetained, PutResult
from archive.db import artifacts, captures, items, sightings, utcnow
from archive.home import Home, Transaction
from archive.ingest import new_item_id, prior_item
from archive.metadata import ExifReader, MetadataError, build_sidecar
from archive.model import Case, Classification, Status
from archive.sniff import kind_of, sniff
from collectors.platforms import canonical_url
from collectors.recorder import StagedFile
from collectors.web import StagedCapture

__all__ = ["CaptureResult", "StoredMedia", "store_staged"]

PAGE_KIND = "webpage"


@dataclass(frozen=True)
class StoredMedia:
    item_id: str
    sha256: str
    mime: str


@dataclass
class CaptureResult:
    """One URL's outcome, shaped as INTERFACE.md fixes `wb capture --json`."""

    url: str
    status: str
    reason: str | None
    capture_id: str | None = None
    item_id: str | None = None
    requested_url: str | None = None
    final_url: str | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    post: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    stored_media: list[StoredMedia] = field(default_factory=list)
    refused_media: list[PutResult] = field(default_factory=list)  # content erased from the case

    def as_json(self) -> dict[str, Any]:
        keys = ("url", "status", "reason", "capture_id", "item_id", "requested_url", "final_url", "post")
        data = {k: getattr(self, k) for k in keys}
        data["artifacts"] = [{k: a.get(k) for k in ("role", "sha256", "mime")} for a in self.artifacts]
        return data


def store_staged(
    home: Home, case: Case, staged: StagedCapture, actor: str, via: str, exif: ExifReader | None
) -> CaptureResult:
    """Put the staged files into the blob store and record the capture; never raises on a bad page."""
    capture_id = new_item_id()
    result = CaptureResult(
        staged.url,
        staged.status,
        staged.reason,
        capture_id,
        None,
        staged.url,
        staged.final_url,
        post=staged.post,
    )
    puts: dict[str, PutResult] = {}
    if staged.status == "captured":
        try:
            puts = _put_files(home, staged.files)
        except (OSError, ValueError) as exc:
            staged.status, staged.reason = "failed", f"storing the capture failed: {exc}"
            result.status, result.reason = staged.status, staged.reason
    record = dict(staged.record)
    record.update(capture_id=capture_id, status=staged.status, reason=staged.reason, post=staged.post)
    sidecars = _sidecars(home, staged.files, exif) if puts else {}
    with home.transaction(actor, via) as tx:
        if staged.status != "captured":
            _capture_row(tx, case, capture_id, staged, record)
            tx.event(f"capture.{staged.status}", case_id=case.id, details={"capture_id": capture_id})
            return result
        page_item = _page(tx, home, case, capture_id, staged, record, puts, result)
        _media(tx, home, case, capture_id, staged, puts, sidecars, result)
        record["item_id"] = page_item
        _capture_row(tx, case, capture_id, staged, record)
    result.item_id = page_item
    _discard_refused(home, result.refused_media)
    return result


def _discard_refused(home: Home, refused: list[PutResult]) -> None:
    """Bytes of erased content that this capture wrote again and no record names are removed."""
    for put in refused:
        with home.reading() as conn:
            live = and_(artifacts.c.sha256 == put.sha256, artifacts.c.removed_at.is_(None))
            named = conn.execute(select(artifacts.c.sha256).where(live)).first()
        if put.created and named is None:
            with contextlib.suppress(BlobRetained):  # under a lock: hidden now, gone when it ends
                home.blobs.delete(put.sha256)


def _put_files(home: Home, files: list[StagedFile]) -> dict[str, PutResult]:
    puts: dict[str, PutResult] = {}
    for f in files:
        with f.path.open("rb") as fh:
            put = home.blobs.put(fh)
        if put.sha256 != f.sha256:
            # The staged file changed between the collector's hash and the store: evidence is not intact.
            raise ValueError(f"{f.role} changed after capture ({f.sha256} -> {put.sha256})")
        puts[f.sha256] = put
    return puts


def _sidecars(home: Home, files: list[StagedFile], exif: ExifReader | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if exif is None:
        return out
    for f in files:
        if f.role != "media":
            continue
        try:
            with home.blobs.local_copy(f.sha256) as path:
                tags, version = exif.read(path), exif.version
        except MetadataError as exc:
            tags, version = {"ExifTool:Warning": f"metadata not read: {exc}"}, "unknown"
        out[f.sha256] = build_sidecar(tags, f.sha256, version)
    return out


def _capture_row(
    tx: Transaction, case: Case, capture_id: str, staged: StagedCapture, record: dict[str, Any]
) -> None:
    tx.conn.execute(
        captures.insert().values(
            id=capture_id,
            case_id=case.id,
            requested_url=staged.url,
            final_url=staged.final_url,
            status=staged.status,
            started_at=_time(record.get("started_at")) or utcnow(),
            ended_at=_time(record.get("ended_at")),
            record=record,
        )
    )


def _page(
    tx: Transaction,
    home: Home,
    case: Case,
    capture_id: str,
    staged: StagedCapture,
    record: dict[str, Any],
    puts: dict[str, PutResult],
    result: CaptureResult,
) -> str:
    page_files = [f for f in staged.files if f.role != "media"]
    record["artifacts"] = [f.as_json() for f in staged.files]
    manifest = _manifest(home, staged.files)
    record_bytes = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
    extra = [("manifest", manifest, "text/plain"), ("record", record_bytes, "application/json")]
    for role, data, mime in extra:
        put = art.store_derived(
            tx.conn, home.blobs, data, mime, parent_sha256=_primary(page_files), operation=f"capture-{role}"
        )
        puts[put.sha256] = put
        page_files.append(StagedFile(role, Path(home.blobs.locate(put.sha256)), put.sha256, put.size, mime))
    for f in page_files:
        art.record(tx.conn, puts[f.sha256], f.mime)
    # From the URL the browser ended on, never from the page's claim (<link rel=canonical> is content).
    canon = canonical_url(staged.final_url or staged.url)
    item_id = _find_page(tx, case, canon)
    if item_id is None:
        item_id = _new_item(tx, case, _primary(page_files), PAGE_KIND, staged.record.get("title"))
        art.link(tx.conn, item_id, _primary(page_files), "original")
        tx.event(
            "item.captured",
            case_id=case.id,
            item_id=item_id,
            artifact_sha256=_primary(page_files),
            after_sha256=_primary(page_files),
            details={"capture_id": capture_id, "kind": PAGE_KIND},
        )
    for f in page_files:
        art.link(tx.conn, item_id, f.sha256, f.role)
        tx.event(
            "artifact.captured",
            case_id=case.id,
            item_id=item_id,
            artifact_sha256=f.sha256,
            details={"capture_id": capture_id, "role": f.role},
        )
    _sighting(tx, item_id, canon, capture_id, staged, {"kind": PAGE_KIND})
    result.artifacts = [f.as_json() for f in page_files]
    return item_id


def _media(
    tx: Transaction,
    home: Home,
    case: Case,
    capture_id: str,
    staged: StagedCapture,
    puts: dict[str, PutResult],
    sidecars: dict[str, bytes],
    result: CaptureResult,
) -> None:
    for f in staged.files:
        if f.role != "media":
            continue
        mime = sniff(puts[f.sha256].head)
        existing = prior_item(tx, case.id, f.sha256, capture_id=capture_id)
        if existing is not None and existing.deleted_at is not None:
            result.refused_media.append(puts[f.sha256])  # erased from the case: refused, as ingest does
            continue
        art.record(tx.conn, puts[f.sha256], mime)
        result.artifacts.append({"role": "media", "sha256": f.sha256, "mime": mime, "url": f.url})
        if existing is not None:
            item_id = str(existing.id)
            tx.event(
                "sighting.added",
                case_id=case.id,
                item_id=item_id,
                artifact_sha256=f.sha256,
                details={"capture_id": capture_id},
            )
        else:
            item_id = _new_media_item(tx, home, case, capture_id, f, mime, sidecars.get(f.sha256))
        _sighting(
            tx, item_id, f.url or "", capture_id, staged, {"kind": "media", "page_url": staged.final_url}
        )
        result.stored_media.append(StoredMedia(item_id, f.sha256, mime))


def _new_media_item(
    tx: Transaction, home: Home, case: Case, capture_id: str, f: StagedFile, mime: str, sidecar: bytes | None
) -> str:
    item_id = _new_item(tx, case, f.sha256, kind_of(mime), None)
    art.link(tx.conn, item_id, f.sha256, "original", f.mime)
    tx.event(
        "item.captured",
        case_id=case.id,
        item_id=item_id,
        artifact_sha256=f.sha256,
        after_sha256=f.sha256,
        details={"capture_id": capture_id, "kind": kind_of(mime)},
    )
    if sidecar is not None:
        art.attach_derived(
            tx,
            home.blobs,
            sidecar,
            "application/json",
            case_id=case.id,
            item_id=item_id,
            parent_sha256=f.sha256,
            operation="metadata-sidecar",
            role="sidecar",
            parameters={"tool": "exiftool"},
        )
    return item_id


def _primary(files: list[StagedFile]) -> str:
    for role in ("warc", "wacz", "screenshot", "html", "record"):
        for f in files:
            if f.role == role:
                return f.sha256
    return files[0].sha256


def _find_page(tx: Transaction, case: Case, canon: str) -> str | None:
    row = tx.conn.execute(
        select(items.c.id)
        .join(sightings, sightings.c.item_id == items.c.id)
        .where(and_(items.c.case_id == case.id, items.c.kind == PAGE_KIND, items.c.deleted_at.is_(None)))
        .where(sightings.c.url == canon)
    ).first()
    return str(row.id) if row else None


def _new_item(tx: Transaction, case: Case, sha256: str, kind: str, title: Any) -> str:
    item_id = new_item_id()
    tx.conn.execute(
        items.insert().values(
            id=item_id,
            case_id=case.id,
            sha256=sha256,
            kind=kind,
            status=Status.UNVERIFIED.value,
            classification=Classification.RESTRICTED.value,
            title=str(title)[:500] if title else None,
            created_at=utcnow(),
        )
    )
    return item_id


def _sighting(
    tx: Transaction, item_id: str, url: str, capture_id: str, staged: StagedCapture, extra: dict[str, Any]
) -> None:
    post = staged.post
    details = {
        "requested_url": staged.url,
        "final_url": staged.final_url,
        "post_id": post.get("post_id"),
        "display_name": post.get("display_name"),
        "posted_at_shown": post.get("posted_at_shown"),
        "availability": post.get("availability"),
        # A platform named by the page's own markup (a saved copy, a mirror) is the page's claim.
        "platform_chosen_by": post.get("platform_chosen_by"),
        **extra,
    }
    tx.conn.execute(
        sightings.insert().values(
            item_id=item_id,
            source="url",
            seen_at=_time(staged.record.get("started_at")) or utcnow(),
            url=url,
            account=post.get("handle") or post.get("author"),
            platform=post.get("platform"),
            posted_at=_time(post.get("posted_at")),
            capture_id=capture_id,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


def _manifest(home: Home, files: list[StagedFile]) -> bytes:
    """``sha256sum -c`` lines for every file of the capture, paths relative to the home (CAP-03)."""
    lines = [f"{f.sha256}  {_relative(home, home.blobs.locate(f.sha256))}" for f in files]
    return ("\n".join(lines) + "\n").encode()


def _relative(home: Home, where: str) -> str:
    """A blob's place relative to the home when it is a file there (a local store), else as given."""
    try:
        return str(Path(where).relative_to(home.root))
    except ValueError:
        return where


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None
