"""Collect -> archive -> detect, one short function per stage.

1. Collect: ``collectors`` turn paths (or URLs) into offers, refusing what they must.
2. Archive: ``archive.ingest`` stores each offer, hashed, with custody events.
3. Detect: fingerprints are computed before returning, so deduplication sees everything at once.

Each input is isolated: one that fails is reported with its reason and the rest go on.
"""

from __future__ import annotations

from collections.abc import Iterator

from archive.home import Home
from archive.ingest import Ingestor, IngestResult
from archive.metadata import ExifReader
from archive.model import Case, IncomingFile, Refusal
from collectors.files import ZipOffer, expand_paths, zip_members
from workbench import dedup

__all__ = ["ingest_paths"]


def ingest_paths(
    home: Home,
    case: Case,
    paths: list[str],
    actor: str,
    via: str = "cli",
    device: str | None = None,
    exif: ExifReader | None = None,
) -> Iterator[IngestResult]:
    """Ingest files, folders and zips; yields one result per file as it is done."""
    own_reader = exif is None
    reader = exif or ExifReader()
    ingestor = Ingestor(home, reader)
    try:
        for offer in expand_paths(paths, device):
            yield from _ingest_offer(ingestor, case, offer, actor, via)
    finally:
        if own_reader:
            reader.close()


def _ingest_offer(
    ingestor: Ingestor, case: Case, offer: IncomingFile | ZipOffer | Refusal, actor: str, via: str
) -> Iterator[IngestResult]:
    if isinstance(offer, Refusal):
        yield IngestResult(offer.name, "refused", offer.reason)
        return
    if isinstance(offer, IncomingFile):
        yield _after(ingestor, case, ingestor.ingest(case, offer, actor, via))
        return
    container = _after(ingestor, case, ingestor.ingest(case, offer.file, actor, via))
    yield container
    if container.status == "refused" or container.sha256 is None:
        return
    for member in zip_members(offer, container.sha256):
        if isinstance(member, Refusal):
            yield IngestResult(member.name, "refused", member.reason)
        else:
            yield _after(ingestor, case, ingestor.ingest(case, member, actor, via))


def _after(ingestor: Ingestor, case: Case, result: IngestResult) -> IngestResult:
    """Stage 3: what must be known before the command returns (fingerprints for dedup)."""
    if result.status != "refused" and result.item_id and result.sha256 and result.mime:
        dedup.on_stored(ingestor.home, case, result.item_id, result.sha256, result.mime)
    return result
