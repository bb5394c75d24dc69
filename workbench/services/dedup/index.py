"""Fingerprints in the archive and the per-case near-duplicate index (used by
``workbench.services.dedup.clusters``).

Fingerprint rows live in the ``fingerprints`` table; the index in ``home.index_dir`` is a cache of
them: extended by one append per stored file, rebuilt from the table when it is missing, torn or
holds deleted items, and refreshed when an older algorithm version made some rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from archive.db import artifacts, fingerprints, items
from archive.home import Home
from archive.model import Case, Fingerprint
from detectors import fingerprint as fp
from detectors import video
from detectors.imageio import ImageRefused
from detectors.neardup import Match, NearDupIndex

__all__ = [
    "STATUS_KIND",
    "case_index",
    "case_items",
    "fingerprint_file",
    "fresh_fingerprints",
    "index_one",
    "is_current",
    "query",
    "fingerprints_of",
    "media_kind",
    "replace_fingerprints",
    "stored_kinds",
    "write_fingerprints",
]

STATUS_KIND = "status"
RETRY = "retry"  # the algo_version of a failure: tried again the next time the file is stored


def media_kind(mime: str) -> str | None:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return None


def fingerprint_file(path: Path, mime: str, sha256: str) -> list[Fingerprint]:
    """Fingerprint rows for a file; a refusal or failure becomes a ``status`` row naming the reason.

    A refusal (over the limits, not decodable) is final for this algorithm version; a failure
    (anything unexpected) is recorded as data and tried again the next time the file is stored.
    """
    kind = media_kind(mime)
    version = video.ALGO_VERSION if kind == "video" else fp.ALGO_VERSION
    try:
        if kind == "image":
            with path.open("rb") as stream:
                return fp.to_records(sha256, fp.fingerprint_image(stream))
        if kind == "video":
            return video.to_records(sha256, video.keyframes(path))
    except (ImageRefused, video.VideoRefused) as exc:
        return [Fingerprint(sha256, STATUS_KIND, f"refused: {exc}"[:1000], version)]
    except Exception as exc:  # stage boundary: one file's failure must not stop an ingest
        return [Fingerprint(sha256, STATUS_KIND, f"failed: {type(exc).__name__}: {exc}"[:1000], RETRY)]
    return []


def stored_kinds(conn: Connection, sha256: str) -> dict[str, str]:
    rows = conn.execute(
        select(fingerprints.c.kind, fingerprints.c.algo_version).where(
            fingerprints.c.artifact_sha256 == sha256
        )
    )
    return {r.kind: r.algo_version for r in rows}


def fingerprint_and_index(home: Home, case: Case, sha256: str, mime: str) -> None:
    """Fingerprint a stored image or video (unless current rows exist) and add it to the case index."""
    rows = fresh_fingerprints(home, sha256, mime)
    if rows is not None:
        write_fingerprints(home, sha256, rows)
    if media_kind(mime) is not None:
        index_one(home, case, sha256)


def fresh_fingerprints(home: Home, sha256: str, mime: str) -> list[Fingerprint] | None:
    """Rows to store for a stored file; None when it is no image or video, or its rows are current.

    Reads the database but writes nothing, so it can run beside a transaction of another thread.
    """
    if media_kind(mime) is None:
        return None
    with home.reading() as conn:
        known = stored_kinds(conn, sha256)
    if is_current(known):
        return None
    with home.blobs.local_copy(sha256) as path:
        return fingerprint_file(path, mime, sha256)


def is_current(known: dict[str, str]) -> bool:
    """Whether the stored rows (kind -> algorithm version) need no new fingerprinting."""
    if STATUS_KIND in known:
        return known[STATUS_KIND] in (fp.ALGO_VERSION, video.ALGO_VERSION)
    if "phash" in known:
        return known["phash"] == fp.ALGO_VERSION
    return video.KIND in known and known[video.KIND] == video.ALGO_VERSION


def write_fingerprints(home: Home, sha256: str, rows: list[Fingerprint]) -> None:
    """Replace a file's fingerprint rows in a transaction of their own."""
    with home.db.begin() as conn:
        replace_fingerprints(conn, sha256, rows)


def replace_fingerprints(conn: Connection, sha256: str, rows: list[Fingerprint]) -> None:
    """Replace a file's fingerprint rows inside the caller's transaction."""
    conn.execute(fingerprints.delete().where(fingerprints.c.artifact_sha256 == sha256))
    if rows:
        conn.execute(
            fingerprints.insert(),
            [
                {
                    "artifact_sha256": r.artifact_sha256,
                    "kind": r.kind,
                    "value": r.value,
                    "algo_version": r.algo_version,
                }
                for r in rows
            ],
        )


# -- the per-case index --------------------------------------------------------------------------


def case_items(conn: Connection, case_id: int) -> dict[str, str]:
    """SHA-256 -> item id for the live items of a case."""
    rows = conn.execute(
        select(items.c.id, items.c.sha256).where(
            and_(items.c.case_id == case_id, items.c.deleted_at.is_(None))
        )
    )
    return {r.sha256: r.id for r in rows}


def fingerprints_of(conn: Connection, shas: Iterable[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    wanted = list(shas)
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(fingerprints.c.artifact_sha256, fingerprints.c.kind, fingerprints.c.value).where(
                fingerprints.c.artifact_sha256.in_(wanted[start : start + 500])
            )
        )
        for r in rows:
            out.setdefault(r.artifact_sha256, {})[r.kind] = r.value
    return out


def _add(idx: NearDupIndex, sha256: str, kinds: dict[str, str]) -> None:
    if video.KIND in kinds:
        for t, code in video.frames_from_value(kinds[video.KIND]):
            idx.add(sha256, {"frame": code}, t)
        return
    views = {k: int(v, 16) for k, v in kinds.items() if k in fp.VIEW_KINDS}
    if views:
        idx.add(sha256, views)


def _index_folder(home: Home, case: Case) -> Path:
    return home.area("neardup") / f"neardup-case-{case.id}"


# Indexes loaded in this process, by folder: a long `wb ingest` appends to one instead of re-reading.
_LOADED: dict[str, NearDupIndex] = {}


def _loaded(folder: Path) -> NearDupIndex | None:
    idx = _LOADED.get(str(folder))
    if idx is not None and not (folder / "views.jsonl").exists():
        idx = None  # the folder was removed under us: the cache is no proof of what is on disk
    if idx is None:
        idx = NearDupIndex.load(folder)
        if idx is not None:
            _LOADED[str(folder)] = idx
    return idx


def case_index(home: Home, case: Case) -> tuple[NearDupIndex, dict[str, str]]:
    """The case's index, checked against the table (extended, or rebuilt when it holds more) and
    the case's SHA-256 -> item id."""
    folder = _index_folder(home, case)
    with home.reading() as conn:
        shas = case_items(conn, case.id)
    refreshed = _refresh_outdated(home, shas)
    with home.reading() as conn:
        prints = fingerprints_of(conn, shas)
    wanted = {s for s, kinds in prints.items() if video.KIND in kinds or "phash" in kinds}
    idx = _loaded(folder)
    if idx is None or refreshed or not idx.refs <= wanted:
        idx = NearDupIndex()  # lost, damaged, or holding deleted items: rebuild from the table
        for sha in sorted(wanted):
            _add(idx, sha, prints[sha])
        idx.save(folder)
        _LOADED[str(folder)] = idx
        return idx, shas
    missing = sorted(wanted - idx.refs)
    for sha in missing:
        _add(idx, sha, prints[sha])
    if missing:
        idx.flush(folder)
    return idx, shas


def _refresh_outdated(home: Home, shas: Iterable[str]) -> bool:
    """Fingerprint again the files whose stored fingerprints an older algorithm version made."""
    current = {"phash": fp.ALGO_VERSION, video.KIND: video.ALGO_VERSION}
    wanted = list(shas)
    stale: list[tuple[str, str]] = []
    with home.reading() as conn:
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(
                    fingerprints.c.artifact_sha256,
                    fingerprints.c.kind,
                    fingerprints.c.algo_version,
                    artifacts.c.mime,
                )
                .join(artifacts, artifacts.c.sha256 == fingerprints.c.artifact_sha256)
                .where(fingerprints.c.artifact_sha256.in_(wanted[start : start + 500]))
                .where(fingerprints.c.kind.in_(list(current)))
            )
            stale += [(r.artifact_sha256, r.mime) for r in rows if r.algo_version != current[r.kind]]
    for sha256, mime in stale:
        with home.blobs.local_copy(sha256) as path:
            found = fingerprint_file(path, mime, sha256)
        write_fingerprints(home, sha256, found)
    return bool(stale)


def index_one(home: Home, case: Case, sha256: str) -> None:
    """Add one file to the case's index: one short append, not a pass over the case."""
    folder = _index_folder(home, case)
    idx = _loaded(folder)
    if idx is None:
        case_index(home, case)
        return
    if sha256 in idx.refs:
        return
    with home.reading() as conn:
        kinds = fingerprints_of(conn, [sha256]).get(sha256, {})
    _add(idx, sha256, kinds)
    idx.flush(folder)


def query(idx: NearDupIndex, kinds: dict[str, str], radius: int, exclude: str | None = None) -> list[Match]:
    """Best match per stored reference, for an image's views or each of a video's frames."""
    if video.KIND in kinds:
        return video.match_video(idx, video.frames_from_value(kinds[video.KIND]), radius, exclude)
    views = {k: int(v, 16) for k, v in kinds.items() if k in fp.VIEW_KINDS}
    best: dict[str, Match] = {}
    for m in idx.query(views, radius, exclude):
        if m.ref not in best or m.distance < best[m.ref].distance:
            best[m.ref] = m
    return sorted(best.values(), key=lambda m: (m.distance, m.ref))
