"""Near-duplicate detection wired to the archive (DUP-02, DUP-03).

1. ``on_stored`` fingerprints every stored image or video (from the blob store, guarded decode),
   writes the ``fingerprints`` rows and adds them to the case's index before the command returns.
2. ``similar`` answers "what in this case looks like this file?".
3. ``clusters`` groups the case's items by transitive closure under two thresholds ("duplicate",
   "possibly_related") and names, for each cluster, the earliest known sighting and its basis.
4. ``decide`` records a person's confirmation or rejection (a custody event). Nothing is merged
   automatically: only confirmed members lend their sightings to the cluster's earliest-known view.

The per-case index in ``home.index_dir`` is a cache: when it is missing or disagrees with the
``fingerprints`` table, it is rebuilt from the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from archive.db import fingerprints, items, match_decisions, sightings, utc_text, utcnow
from archive.home import Home
from archive.model import Case, Fingerprint
from detectors import fingerprint as fp
from detectors import video
from detectors.imageio import ImageRefused
from detectors.neardup import Match, NearDupIndex, UnionFind

__all__ = [
    "DUPLICATE_THRESHOLD",
    "RELATED_THRESHOLD",
    "STATUS_KIND",
    "Cluster",
    "DecisionError",
    "Hit",
    "Member",
    "case_index",
    "cluster_id_of",
    "clusters",
    "decide",
    "edges",
    "fingerprint_file",
    "on_stored",
    "similar",
]

# Chosen on corpus/near_dups (see docs/dedup.md): at 10 bits no hard negative matched and pair
# precision was 0.99; at 12 same-scene separate captures start to appear, as "possibly related".
DUPLICATE_THRESHOLD = 10
RELATED_THRESHOLD = 12
STATUS_KIND = "status"
MAX_SIMILAR_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Hit:
    """One item of the case that resembles a file."""

    item_id: str
    sha256: str
    distance: int
    match: str
    level: str  # "duplicate" | "possibly_related"
    t: float | None = None


def _kind(mime: str) -> str | None:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return None


def fingerprint_file(path: Path, mime: str, sha256: str) -> list[Fingerprint]:
    """Fingerprint rows for a file; a refusal becomes a ``status`` row naming the reason."""
    kind = _kind(mime)
    try:
        if kind == "image":
            with path.open("rb") as stream:
                return fp.to_records(sha256, fp.fingerprint_image(stream))
        if kind == "video":
            return video.to_records(sha256, video.keyframes(path))
    except (ImageRefused, video.VideoRefused) as exc:
        return [Fingerprint(sha256, STATUS_KIND, f"refused: {exc}", fp.ALGO_VERSION)]
    return []


def _stored_kinds(conn: Connection, sha256: str) -> dict[str, str]:
    rows = conn.execute(
        select(fingerprints.c.kind, fingerprints.c.algo_version).where(
            fingerprints.c.artifact_sha256 == sha256
        )
    )
    return {r.kind: r.algo_version for r in rows}


def on_stored(home: Home, case: Case, item_id: str, sha256: str, mime: str) -> None:
    """Called for every file stored or sighted again, before the command returns."""
    if _kind(mime) is None:
        return
    with home.reading() as conn:
        known = _stored_kinds(conn, sha256)
    if not _current(known):
        rows = fingerprint_file(home.blobs.path(sha256), mime, sha256)
        _write(home, sha256, rows)
    _index_one(home, case, sha256)


def _current(known: dict[str, str]) -> bool:
    if STATUS_KIND in known:
        return True
    if "phash" in known:
        return known["phash"] == fp.ALGO_VERSION
    return video.KIND in known and known[video.KIND] == video.ALGO_VERSION


def _write(home: Home, sha256: str, rows: list[Fingerprint]) -> None:
    with home.db.begin() as conn:
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


def _fingerprints_of(conn: Connection, shas: Iterable[str]) -> dict[str, dict[str, str]]:
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
    return home.index_dir / f"neardup-case-{case.id}"


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
        prints = _fingerprints_of(conn, shas)
    wanted = {s for s, kinds in prints.items() if video.KIND in kinds or "phash" in kinds}
    idx = _loaded(folder)
    if idx is None or not idx.refs <= wanted:
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


def _index_one(home: Home, case: Case, sha256: str) -> None:
    """Add one file to the case's index: one short append, not a pass over the case."""
    folder = _index_folder(home, case)
    idx = _loaded(folder)
    if idx is None:
        case_index(home, case)
        return
    if sha256 in idx.refs:
        return
    with home.reading() as conn:
        kinds = _fingerprints_of(conn, [sha256]).get(sha256, {})
    _add(idx, sha256, kinds)
    idx.flush(folder)


def level(distance: int, duplicate: int, related: int) -> str | None:
    """Which of the two thresholds a distance meets."""
    if distance <= duplicate:
        return "duplicate"
    if distance <= related:
        return "possibly_related"
    return None


def similar(
    home: Home,
    case: Case,
    path: Path,
    duplicate: int = DUPLICATE_THRESHOLD,
    related: int = RELATED_THRESHOLD,
) -> list[Hit]:
    """Items of the case that resemble the file at ``path`` (not stored), best first."""
    from archive.sniff import sniff

    with path.open("rb") as stream:
        mime = sniff(stream.read(4096))
    rows = fingerprint_file(path, mime, "0" * 64)
    if not rows or rows[0].kind == STATUS_KIND:
        reason = rows[0].value if rows else f"not an image or video ({mime})"
        raise ImageRefused(reason)
    idx, shas = case_index(home, case)
    kinds = {r.kind: r.value for r in rows}
    matches = _query(idx, kinds, related)
    hits = []
    for m in matches:
        lv = level(m.distance, duplicate, related)
        if lv is not None and m.ref in shas:
            hits.append(Hit(shas[m.ref], m.ref, m.distance, m.kind, lv, m.t))
    return hits


def _query(idx: NearDupIndex, kinds: dict[str, str], radius: int, exclude: str | None = None) -> list[Match]:
    """Best match per stored reference, for an image's views or each of a video's frames."""
    if video.KIND in kinds:
        return video.match_video(idx, video.frames_from_value(kinds[video.KIND]), radius, exclude)
    views = {k: int(v, 16) for k, v in kinds.items() if k in fp.VIEW_KINDS}
    best: dict[str, Match] = {}
    for m in idx.query(views, radius, exclude):
        if m.ref not in best or m.distance < best[m.ref].distance:
            best[m.ref] = m
    return sorted(best.values(), key=lambda m: (m.distance, m.ref))


def edges(
    home: Home, case: Case, related: int = RELATED_THRESHOLD
) -> tuple[list[tuple[str, str, int, str]], dict[str, str]]:
    """Every pair of the case's fingerprinted files within ``related`` bits: (sha_a, sha_b, d, kind)."""
    idx, shas = case_index(home, case)
    with home.reading() as conn:
        prints = _fingerprints_of(conn, idx.refs)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for sha in sorted(idx.refs):
        for m in _query(idx, prints.get(sha, {}), related, exclude=sha):
            key = (min(sha, m.ref), max(sha, m.ref))
            if key not in found or m.distance < found[key][0]:
                found[key] = (m.distance, m.kind)
    return [(a, b, d, k) for (a, b), (d, k) in sorted(found.items())], shas


# -- clusters, decisions, earliest known ---------------------------------------------------------


@dataclass(frozen=True)
class Member:
    item_id: str
    sha256: str
    distance: int
    match: str
    decision: str  # "anchor" | "confirmed" | "pending"


@dataclass(frozen=True)
class Cluster:
    """Items that resemble each other. Only the anchor and confirmed members lend their sightings."""

    cluster_id: str
    kind: str  # "duplicate" | "possibly_related"
    members: list[Member]
    earliest_known: dict[str, Any] | None
    sightings: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "kind": self.kind,
            "members": [
                {
                    "item_id": m.item_id,
                    "sha256": m.sha256,
                    "distance": m.distance,
                    "match": m.match,
                    "decision": m.decision,
                }
                for m in self.members
            ],
            "earliest_known": self.earliest_known,
            "sightings": self.sightings,
        }


def cluster_id_of(anchor_sha256: str) -> str:
    """Stable across runs: named after the smallest member SHA-256 (the anchor)."""
    return f"c-{anchor_sha256[:16]}"


def _decisions(conn: Connection, case_id: int) -> dict[frozenset[str], str]:
    """The latest decision per pair of items."""
    rows = conn.execute(
        select(match_decisions.c.item_id, match_decisions.c.other_item_id, match_decisions.c.decision)
        .where(match_decisions.c.case_id == case_id)
        .order_by(match_decisions.c.id)
    )
    return {frozenset((r.item_id, r.other_item_id)): r.decision for r in rows}


def _components(shas: Iterable[str], links: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    uf = UnionFind(shas)
    for a, b in links:
        uf.union(a, b)
    return uf.groups()


def clusters(
    home: Home, case: Case, duplicate: int = DUPLICATE_THRESHOLD, related: int = RELATED_THRESHOLD
) -> list[Cluster]:
    """Clusters of the case by transitive closure: "duplicate" when every link needed is within
    ``duplicate`` bits, "possibly_related" when some link is only within ``related`` bits."""
    if duplicate > related:
        raise ValueError("the duplicate threshold must not exceed the possibly-related threshold")
    found, item_of = edges(home, case, related)
    with home.reading() as conn:
        decided = _decisions(conn, case.id)
        found = [e for e in found if decided.get(frozenset((item_of[e[0]], item_of[e[1]]))) != "rejected"]
        groups = _components({s for e in found for s in e[:2]}, [(a, b) for a, b, _d, _k in found])
        dup_root = UnionFind()
        for a, b, d, _k in found:
            if d <= duplicate:
                dup_root.union(a, b)
        out = []
        for anchor, shas in sorted(groups.items()):
            members = _members(anchor, sorted(shas), found, item_of, decided)
            if len(members) < 2:
                continue
            kind = "duplicate" if len({dup_root.find(m.sha256) for m in members}) == 1 else "possibly_related"
            merged = [m.item_id for m in members if m.decision in ("anchor", "confirmed")]
            seen = _sightings(conn, merged)
            out.append(Cluster(cluster_id_of(anchor), kind, members, _earliest(seen), seen))
    return out


def _members(
    anchor: str,
    shas: list[str],
    found: list[tuple[str, str, int, str]],
    item_of: dict[str, str],
    decided: dict[frozenset[str], str],
) -> list[Member]:
    best: dict[str, tuple[int, str]] = {}
    inside = set(shas)
    for a, b, d, k in found:
        if a in inside and b in inside:
            for s in (a, b):
                if s not in best or d < best[s][0]:
                    best[s] = (d, k)
    anchor_item = item_of[anchor]
    members = []
    for s in shas:
        decision = "anchor" if s == anchor else decided.get(frozenset((item_of[s], anchor_item)), "pending")
        if decision == "rejected":
            continue
        d, k = best.get(s, (0, "phash"))
        members.append(Member(item_of[s], s, d, k, decision))
    return members


def _sightings(conn: Connection, item_ids: list[str]) -> list[dict[str, Any]]:
    """Sightings in time order, each with the time used and the field it came from."""
    rows = conn.execute(
        select(sightings.c.id, sightings.c.item_id, sightings.c.seen_at, sightings.c.posted_at).where(
            sightings.c.item_id.in_(item_ids)
        )
    )
    out = []
    for r in rows:
        basis, moment = ("posted_at", r.posted_at) if r.posted_at is not None else ("seen_at", r.seen_at)
        out.append({"item_id": r.item_id, "sighting_id": r.id, "time": utc_text(moment), "basis": basis})
    return sorted(out, key=lambda s: (s["time"], s["sighting_id"]))


def _earliest(seen: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest known sighting: platform posting time where known, else capture/ingest time."""
    if not seen:
        return None
    first = seen[0]
    return {
        "item_id": first["item_id"],
        "as_of": first["time"],
        "basis": first["basis"],
        "sighting_id": first["sighting_id"],
    }


class DecisionError(Exception):
    """The cluster or item is not known in this case."""


def decide(
    home: Home, case: Case, cluster_id: str, item_id: str, decision: str, actor: str, via: str = "cli"
) -> dict[str, Any]:
    """Record a person's confirmation or rejection of ``item_id`` as a member of ``cluster_id``."""
    if decision not in ("confirmed", "rejected"):
        raise ValueError(f"unknown decision {decision!r}")
    with home.reading() as conn:
        item_of = case_items(conn, case.id)
    anchors = [s for s in item_of if cluster_id == cluster_id_of(s)]
    if not anchors:
        raise DecisionError(f"no cluster {cluster_id!r} in case {case.slug}")
    anchor_item = item_of[anchors[0]]
    member_sha = next((s for s, i in item_of.items() if i == item_id), None)
    if member_sha is None or item_id == anchor_item:
        raise DecisionError(f"item {item_id!r} is not a member of {cluster_id} other than its anchor")
    dist = _distance(home, case, anchors[0], member_sha)
    with home.transaction(actor, via) as tx:
        tx.conn.execute(
            match_decisions.insert().values(
                case_id=case.id,
                item_id=item_id,
                other_item_id=anchor_item,
                decision=decision,
                distance=None if dist is None else float(dist[0]),
                match=None if dist is None else dist[1],
                actor=actor,
                at=utcnow(),
            )
        )
        tx.event(
            f"dedup.{decision}",
            case_id=case.id,
            item_id=item_id,
            artifact_sha256=member_sha,
            details={"cluster_id": cluster_id, "other_item_id": anchor_item, "anchor_sha256": anchors[0]},
        )
    return {
        "cluster_id": cluster_id,
        "item_id": item_id,
        "decision": decision,
        "other_item_id": anchor_item,
        "distance": None if dist is None else dist[0],
        "match": None if dist is None else dist[1],
    }


def _distance(home: Home, case: Case, a: str, b: str) -> tuple[int, str] | None:
    idx, _shas = case_index(home, case)
    with home.reading() as conn:
        prints = _fingerprints_of(conn, [a])
    for m in _query(idx, prints.get(a, {}), 64, exclude=a):
        if m.ref == b:
            return m.distance, m.kind
    return None
