"""Near-duplicate detection wired to the archive (DUP-02, DUP-03).

1. ``on_stored`` fingerprints every stored image or video (from the blob store, guarded decode),
   writes the ``fingerprints`` rows and adds them to the case's index before the command returns.
2. ``similar`` answers "what in this case looks like this file?".
3. ``clusters`` groups the case's items by transitive closure under two thresholds ("duplicate",
   "possibly_related") and names, for each cluster, the earliest known sighting and its basis.
4. ``decide`` records a person's confirmation or rejection (a custody event). Nothing is merged
   automatically: only confirmed members lend their sightings to the cluster's earliest-known view.

Every answer is made for an account (``similar``, ``clusters``, ``near_duplicates``, ``decide``): from
the items it may see only (``access.visible_clause``). A hidden item is not listed, not counted,
does not name or anchor a cluster, does not lend its sightings, and does not link two visible items
into one cluster: the clusters are built from the visible items alone.

The per-case index in ``home.index_dir`` is a cache: when it is missing or disagrees with the
``fingerprints`` table, it is rebuilt from the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.cases import list_cases
from archive.db import items, match_decisions, sightings, utc_text, utcnow
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Case, Fingerprint
from detectors.imageio import ImageRefused
from detectors.neardup import UnionFind
from workbench.services import access
from workbench.services.auth import Account, Perm, check_case
from workbench.services.dedup import DUPLICATE_THRESHOLD, RELATED_THRESHOLD
from workbench.services.dedup import index as ix
from workbench.services.dedup.index import STATUS_KIND, case_index, fingerprint_file

__all__ = [
    "DUPLICATE_THRESHOLD",
    "RELATED_THRESHOLD",
    "STATUS_KIND",
    "Cluster",
    "Decision",
    "DecisionError",
    "Hit",
    "Member",
    "NearDuplicate",
    "case_index",
    "cluster_id_of",
    "clusters",
    "decide",
    "edges",
    "fingerprint_file",
    "index_stored",
    "item_cluster",
    "near_duplicates",
    "on_stored",
    "prepare_fingerprints",
    "save_fingerprints",
    "similar",
]


def on_stored(home: Home, case: Case, item_id: str, sha256: str, mime: str) -> None:
    """Called for every file stored or sighted again, before the command returns."""
    ix.fingerprint_and_index(home, case, sha256, mime)


# The same work in three steps, for a caller that records several files per transaction
# (``workbench.services.intake``): compute ahead in a worker thread, save with the file's rows, index after
# the commit.


def prepare_fingerprints(home: Home, sha256: str, mime: str) -> list[Fingerprint] | None:
    """Fingerprint rows for a stored file (None: not an image or video, or its rows are current)."""
    return ix.fresh_fingerprints(home, sha256, mime)


def save_fingerprints(conn: Connection, sha256: str, rows: list[Fingerprint]) -> None:
    """Store prepared rows inside the transaction that records the file."""
    ix.replace_fingerprints(conn, sha256, rows)


def index_stored(home: Home, case: Case, sha256: str, mime: str) -> None:
    """After the commit: add a stored or sighted image or video to the case's index."""
    if ix.media_kind(mime) is not None:
        ix.index_one(home, case, sha256)


@dataclass(frozen=True)
class Hit:
    """One item of the case that resembles a file."""

    item_id: str
    sha256: str
    distance: int
    match: str
    level: str  # "duplicate" | "possibly_related"
    t: float | None = None


def level(distance: int, duplicate: int, related: int) -> str | None:
    """Which of the two thresholds a distance meets."""
    if distance <= duplicate:
        return "duplicate"
    if distance <= related:
        return "possibly_related"
    return None


def _visible(home: Home, account: Account, case: Case) -> dict[str, str]:
    """SHA-256 -> item id of the case's items the account may see (membership already checked)."""
    with home.reading() as conn:
        rows = conn.execute(
            select(items.c.sha256, items.c.id).where(
                items.c.case_id == case.id, access.visible_clause(account, member_checked=True)
            )
        )
        return {str(r.sha256): str(r.id) for r in rows}


def similar(
    home: Home,
    account: Account,
    case: Case,
    path: Path,
    duplicate: int = DUPLICATE_THRESHOLD,
    related: int = RELATED_THRESHOLD,
    via: str = "cli",
) -> list[Hit]:
    """Items of the case the account may see that resemble the file at ``path`` (not stored), best first."""
    from archive.sniff import sniff

    check_case(home, account, Perm.READ, case.id, via)
    with path.open("rb") as stream:
        mime = sniff(stream.read(4096))
    rows = fingerprint_file(path, mime, "0" * 64)
    if not rows or rows[0].kind == STATUS_KIND:
        reason = rows[0].value if rows else f"not an image or video ({mime})"
        raise ImageRefused(reason)
    idx, _all = case_index(home, case)
    shas = _visible(home, account, case)
    kinds = {r.kind: r.value for r in rows}
    matches = ix.query(idx, kinds, related)
    hits = []
    for m in matches:
        lv = level(m.distance, duplicate, related)
        if lv is not None and m.ref in shas:
            hits.append(Hit(shas[m.ref], m.ref, m.distance, m.kind, lv, m.t))
    return hits


def edges(
    home: Home, case: Case, related: int = RELATED_THRESHOLD, only: dict[str, str] | None = None
) -> tuple[list[tuple[str, str, int, str]], dict[str, str]]:
    """Every pair of the case's fingerprinted files within ``related`` bits: (sha_a, sha_b, d, kind);
    ``only``: the SHA-256 -> item id of the items to consider (the others are not looked at)."""
    idx, shas = case_index(home, case)
    if only is not None:
        shas = {s: i for s, i in shas.items() if s in only}
    refs = sorted(r for r in idx.refs if only is None or r in shas)
    with home.reading() as conn:
        prints = ix.fingerprints_of(conn, refs)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for sha in refs:
        for m in ix.query(idx, prints.get(sha, {}), related, exclude=sha):
            if only is not None and m.ref not in shas:
                continue
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
    home: Home,
    account: Account,
    case: Case,
    duplicate: int = DUPLICATE_THRESHOLD,
    related: int = RELATED_THRESHOLD,
    via: str = "cli",
) -> list[Cluster]:
    """Clusters of the case's items the account may see, by transitive closure: "duplicate" when every
    link needed is within ``duplicate`` bits, "possibly_related" when some link is only within
    ``related`` bits. Hidden items take no part (see the module docstring)."""
    if duplicate > related:
        raise InvalidRequest("the duplicate threshold must not exceed the possibly-related threshold")
    check_case(home, account, Perm.READ, case.id, via)
    return _clusters(home, case, _visible(home, account, case), duplicate, related)


def _clusters(home: Home, case: Case, only: dict[str, str], duplicate: int, related: int) -> list[Cluster]:
    found, item_of = edges(home, case, related, only)
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


class DecisionError(InvalidRequest):
    """The cluster or item is not known in this case."""


def _case_of(home: Home, case_id: int) -> Case:
    with home.reading() as conn:
        return next(c for c in list_cases(conn) if c.id == case_id)


def item_cluster(home: Home, account: Account, item_id: str, via: str = "app") -> Cluster | None:
    """The near-duplicate cluster holding the item, as the account sees it (None: the item has none).

    A hidden or absent item is one logged refusal (AccessDenied), the same for both.
    """
    row = access.authorise(home, account, item_id, Perm.READ, via)
    case = _case_of(home, row.case_id)
    for cl in _clusters(home, case, _visible(home, account, case), DUPLICATE_THRESHOLD, RELATED_THRESHOLD):
        if row.id in {m.item_id for m in cl.members}:
            return cl
    return None


@dataclass(frozen=True)
class NearDuplicate:
    """Another member of an item's cluster, as one account sees it."""

    item_id: str
    distance: int
    match: str
    decision: str  # "anchor" | "confirmed" | "pending"
    cluster: str
    kind: str  # "duplicate" | "possibly_related"
    earliest_known: bool  # its sighting is the cluster's earliest known


def near_duplicates(home: Home, account: Account, item_id: str, via: str = "app") -> list[NearDuplicate]:
    """The other members of the item's cluster as the account sees it, the earliest known marked.

    A hidden or absent item is one logged refusal (AccessDenied), the same for both.
    """
    cl = item_cluster(home, account, item_id, via)
    if cl is None:
        return []
    earliest = cl.earliest_known["item_id"] if cl.earliest_known else None
    return [
        NearDuplicate(
            m.item_id, m.distance, m.match, m.decision, cl.cluster_id, cl.kind, earliest == m.item_id
        )
        for m in cl.members
        if m.item_id != item_id
    ]


@dataclass(frozen=True)
class Decision:
    """A recorded confirmation or rejection of a member of a cluster (against its anchor)."""

    cluster_id: str
    item_id: str
    decision: str  # "confirmed" | "rejected"
    other_item_id: str  # the anchor
    distance: int | None
    match: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "item_id": self.item_id,
            "decision": self.decision,
            "other_item_id": self.other_item_id,
            "distance": self.distance,
            "match": self.match,
        }


def decide(
    home: Home,
    account: Account,
    cluster_id: str,
    item_id: str,
    decision: str,
    case: Case | None = None,
    via: str = "cli",
) -> Decision:
    """Record the account's confirmation or rejection of ``item_id`` as a member of ``cluster_id``.

    The role must allow judging, and the account must see the item and the cluster's anchor: a
    hidden item is a logged refusal; a cluster named after a hidden anchor is "no cluster".
    """
    if decision not in ("confirmed", "rejected"):
        raise InvalidRequest(f"unknown decision {decision!r}")
    row = access.authorise(home, account, item_id, Perm.JUDGE, via)
    if case is not None and case.id != row.case_id:
        raise DecisionError(f"item {item_id!r} is not in case {case.slug}")
    case = _case_of(home, row.case_id)
    item_of = _visible(home, account, case)
    anchors = [s for s in item_of if cluster_id == cluster_id_of(s)]
    if not anchors:
        raise DecisionError(f"no cluster {cluster_id!r} in case {case.slug}")
    anchor_item = item_of[anchors[0]]
    member_sha = row.sha256
    if item_id == anchor_item:
        raise DecisionError(f"item {item_id!r} is not a member of {cluster_id} other than its anchor")
    dist = _distance(home, case, anchors[0], member_sha)
    actor = account.name
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
    return Decision(
        cluster_id,
        item_id,
        decision,
        anchor_item,
        None if dist is None else dist[0],
        None if dist is None else dist[1],
    )


def _distance(home: Home, case: Case, a: str, b: str) -> tuple[int, str] | None:
    idx, _shas = case_index(home, case)
    with home.reading() as conn:
        prints = ix.fingerprints_of(conn, [a])
    for m in ix.query(idx, prints.get(a, {}), 64, exclude=a):
        if m.ref == b:
            return m.distance, m.kind
    return None
