"""Exact Hamming search over 64-bit fingerprints, and clustering by transitive closure.

Evidence work needs exact answers: FAISS ``IndexBinaryFlat`` compares a query with every stored code
(about 0.5 ms per query against a million 64-bit codes); approximate indexes (HNSW, multi-hash) lost
recall in trials. Without faiss, a numpy popcount over the same codes gives the same answers, slower.

``NearDupIndex`` keeps several *views* per reference (a file's SHA-256, or a video keyframe) and
compares only meaningful pairs of views: a query's mirror against a stored whole image, a trimmed
content box against a trimmed one, a centre region against a whole image. The codes are persisted to
a folder the caller gives (``views.jsonl``, one line per addition, appended, so an insert costs
one short write); the folder is a cache that the caller rebuilds from its stored
fingerprints whenever ``load`` returns None.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Optional: the numpy fallback gives identical answers. Imported on first use, not at `wb` start.
HAVE_FAISS = importlib.util.find_spec("faiss") is not None

__all__ = [
    "HAVE_FAISS",
    "INDEX_FORMAT",
    "VIEW_PAIRS",
    "Entry",
    "HammingIndex",
    "Match",
    "NearDupIndex",
    "UnionFind",
    "cluster_codes",
    "connected_components",
]

INDEX_FORMAT = "wb-neardup-index/2"
META = "meta.json"
LOG = "views.jsonl"
Codes = npt.NDArray[np.uint64]

WINDOWS = tuple(f"phash_w85_{i}{j}" for i in range(3) for j in range(3))
# (query view, stored view) -> (match kind, penalty in bits). Centre regions compared with whole
# images are weaker evidence than whole images, so they pay a penalty before meeting a threshold.
VIEW_PAIRS: dict[tuple[str, str], tuple[str, int]] = {
    ("phash", "phash"): ("phash", 0),
    ("phash_mirror", "phash"): ("mirrored", 0),
    ("phash", "phash_mirror"): ("mirrored", 0),
    ("phash_trim", "phash_trim"): ("borders_removed", 0),
    ("phash_trim", "phash"): ("borders_removed", 0),
    ("phash", "phash_trim"): ("borders_removed", 0),
    ("phash_c80", "phash"): ("cropped", 0),
    ("phash", "phash_c80"): ("cropped", 0),
    ("phash_c80", "phash_c80"): ("cropped", 0),
    ("phash_c64", "phash"): ("cropped", 3),
    ("phash", "phash_c64"): ("cropped", 3),
    ("phash_c64", "phash_c80"): ("cropped", 3),
    ("phash_c80", "phash_c64"): ("cropped", 3),
    ("phash_c64", "phash_c64"): ("cropped", 3),
    **{(w, "phash"): ("cropped", 0) for w in WINDOWS},
    **{("phash", w): ("cropped", 0) for w in WINDOWS},
    ("phash", "frame"): ("video_frame", 0),
    ("phash_mirror", "frame"): ("video_frame_mirrored", 0),
    ("phash_trim", "frame"): ("video_frame", 0),
    ("phash_c80", "frame"): ("video_frame", 0),
    ("frame", "phash"): ("video_frame", 0),
    ("frame", "phash_mirror"): ("video_frame_mirrored", 0),
    ("frame", "phash_trim"): ("video_frame", 0),
    ("frame", "phash_c80"): ("video_frame", 0),
    ("frame", "frame"): ("video_frame", 0),
}
MAX_PENALTY = max(p for _k, p in VIEW_PAIRS.values())


def _to_bytes(codes: Codes) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(codes.astype(">u8")).view(np.uint8).reshape(-1, 8)


def _popcount(x: Codes) -> npt.NDArray[np.int64]:
    if hasattr(np, "bitwise_count"):
        counted: npt.NDArray[np.int64] = np.bitwise_count(x).astype(np.int64)
        return counted
    b = x.view(np.uint8).reshape(-1, 8)  # pragma: no cover - numpy < 2
    summed: npt.NDArray[np.int64] = np.unpackbits(b, axis=1).sum(axis=1).astype(np.int64)
    return summed  # pragma: no cover


class HammingIndex:
    """Exact search over 64-bit codes; positions are insertion order."""

    def __init__(self, use_faiss: bool | None = None) -> None:
        self.use_faiss = HAVE_FAISS if use_faiss is None else (use_faiss and HAVE_FAISS)
        self._codes: list[Codes] = []
        self._n = 0
        self._flat: Codes | None = np.zeros(0, dtype=np.uint64)
        self._faiss: Any = None
        self._threads = 1
        if self.use_faiss:
            import faiss

            self._faiss = faiss.IndexBinaryFlat(64)
            self._threads = max(1, os.cpu_count() or 1)

    def __len__(self) -> int:
        return self._n

    def add(self, codes: Sequence[int] | Codes) -> int:
        """Append codes; returns the position of the first one."""
        arr = np.asarray(codes, dtype=np.uint64).reshape(-1)
        first = self._n
        self._codes.append(arr)
        self._n += len(arr)
        self._flat = None
        if self._faiss is not None and len(arr):
            self._faiss.add(_to_bytes(arr))
        return first

    def codes(self) -> Codes:
        """All stored codes in insertion order."""
        if self._flat is None:
            self._flat = np.concatenate(self._codes) if self._codes else np.zeros(0, dtype=np.uint64)
            self._codes = [self._flat]
        return self._flat

    def range_many(self, queries: Sequence[int] | Codes, radius: int) -> list[list[tuple[int, int]]]:
        """For each query, every (position, distance) with distance <= radius."""
        q = np.asarray(queries, dtype=np.uint64).reshape(-1)
        lims, dist, pos = self.range_arrays(q, radius)
        return [
            list(zip(pos[lo:hi].tolist(), dist[lo:hi].tolist(), strict=True))
            for lo, hi in zip(lims[:-1].tolist(), lims[1:].tolist(), strict=True)
        ]

    def range_arrays(
        self, queries: Codes, radius: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Hits in FAISS's layout: those of query i are at ``lims[i]:lims[i + 1]`` in dist and pos."""
        q = np.asarray(queries, dtype=np.uint64).reshape(-1)
        if self._n == 0 or len(q) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros(len(q) + 1, dtype=np.int64), empty, empty
        if self._faiss is not None:
            import faiss

            # A few queries finish faster on one thread: on a busy machine, OpenMP workers that wait
            # for a core made one query against 1M codes 50x slower. Batches use every core.
            faiss.omp_set_num_threads(1 if len(q) < 64 else self._threads)
            lims, dist, pos = self._faiss.range_search(_to_bytes(q), radius + 1)
            return lims.astype(np.int64), dist.astype(np.int64), pos.astype(np.int64)
        stored = self.codes()
        hits, dists = [], []
        for code in q:
            d = _popcount(stored ^ code)
            found = np.nonzero(d <= radius)[0]
            hits.append(found.astype(np.int64))
            dists.append(d[found])
        counts = np.array([len(h) for h in hits], dtype=np.int64)
        lims = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)])
        return lims, np.concatenate(dists).astype(np.int64), np.concatenate(hits)

    def range(self, query: int, radius: int) -> list[tuple[int, int]]:
        """Every (position, distance) within radius of one query."""
        return self.range_many([query], radius)[0]


@dataclass(frozen=True)
class Entry:
    """What one stored code stands for: a reference (SHA-256), its view, and a time for video frames."""

    ref: str
    view: str
    t: float | None = None


@dataclass(frozen=True)
class Match:
    """The best evidence that a stored reference resembles the query."""

    ref: str
    distance: int  # Hamming bits plus the view pair's penalty
    kind: str
    t: float | None = None


class NearDupIndex:
    """Views of many references, one Hamming index per view kind, searched by meaningful view pairs.

    Keeping each stored view kind in its own index means a query view is compared only with the
    stored views it pairs with (the nine crop windows, for example, only with a whole image), not
    with every stored code.
    """

    def __init__(self, use_faiss: bool | None = None) -> None:
        self.use_faiss = use_faiss
        self.by_view: dict[str, HammingIndex] = {}
        self.view_refs: dict[str, list[tuple[str, float | None]]] = {}
        self.entries: list[Entry] = []
        self.refs: set[str] = set()
        self._lines: list[str] = []  # the persisted form, one line per add
        self._pending: list[str] = []  # added since the last save or flush

    def __len__(self) -> int:
        return len(self.refs)

    def add(self, ref: str, views: dict[str, int], t: float | None = None) -> None:
        """Add one reference's views (or one video frame's, with its time)."""
        names = sorted(views)
        for n in names:
            if n not in self.by_view:
                self.by_view[n] = HammingIndex(self.use_faiss)
                self.view_refs[n] = []
            self.by_view[n].add([views[n]])
            self.view_refs[n].append((ref, t))
        self.entries.extend(Entry(ref, n, t) for n in names)
        self.refs.add(ref)
        line = json.dumps([ref, t, {n: f"{views[n]:016x}" for n in names}]) + "\n"
        self._lines.append(line)
        self._pending.append(line)

    def query(self, views: dict[str, int], radius: int, exclude: str | None = None) -> list[Match]:
        """Best match per stored reference (per frame time for videos) within ``radius``."""
        best: dict[tuple[str, float | None], Match] = {}
        for sview, index in self.by_view.items():
            pairs = [(q, *VIEW_PAIRS[(q, sview)]) for q in sorted(views) if (q, sview) in VIEW_PAIRS]
            if not pairs:
                continue
            hits = index.range_many([views[q] for q, _k, _p in pairs], radius + MAX_PENALTY)
            refs = self.view_refs[sview]
            for (_q, kind, penalty), found in zip(pairs, hits, strict=True):
                for pos, dist in found:
                    ref, t = refs[pos]
                    total = dist + penalty
                    if ref == exclude or total > radius:
                        continue
                    if (ref, t) not in best or total < best[(ref, t)].distance:
                        best[(ref, t)] = Match(ref, total, kind, t)
        return sorted(best.values(), key=lambda m: (m.distance, m.ref, m.t or 0.0))

    # -- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the whole index atomically (temp file + rename) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        _atomic(folder / META, lambda f: f.write(json.dumps({"format": INDEX_FORMAT}).encode()))
        _atomic(folder / LOG, lambda f: f.write("".join(self._lines).encode()))
        self._pending = []

    def flush(self, folder: Path) -> None:
        """Append what was added since the last save or flush (one line per ``add``).

        No fsync: the folder is a cache. A crash can lose or tear the last lines; a torn file reads
        as lost and is rebuilt, and lines lost whole are re-added by the caller's check against
        its table."""
        if not (folder / META).exists() or not (folder / LOG).exists():
            self.save(folder)
            return
        with (folder / LOG).open("ab") as f:
            f.write("".join(self._pending).encode())
        self._pending = []

    @classmethod
    def load(cls, folder: Path, use_faiss: bool | None = None) -> NearDupIndex | None:
        """The saved index, or None when it is missing, unreadable or torn (rebuild then)."""
        try:
            meta = json.loads((folder / META).read_text())
            lines = (folder / LOG).read_text().splitlines(keepends=True)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
            return None
        idx = cls(use_faiss)
        try:
            for line in lines:
                ref, t, views = json.loads(line)
                idx.add(
                    str(ref), {str(k): int(v, 16) for k, v in views.items()}, None if t is None else float(t)
                )
        except (ValueError, TypeError, AttributeError):
            return None  # a torn last line after a crash, or a damaged file
        idx._pending = []
        return idx


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class UnionFind:
    """Disjoint sets over hashable items, for clustering by transitive closure."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        self.parent: dict[str, str] = {i: i for i in items}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller name becomes the root, so a cluster's id does not depend on input order.
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return out


def cluster_codes(codes: Codes, radius: int, use_faiss: bool | None = None) -> npt.NDArray[np.int64]:
    """Cluster label (smallest member position) per code: transitive closure of distance <= radius."""
    idx = HammingIndex(use_faiss)
    left: list[npt.NDArray[np.int64]] = []
    right: list[npt.NDArray[np.int64]] = []
    step = 4096
    for start in range(0, len(codes), step):
        # Each chunk is searched against itself and the chunks before it: every pair once, not twice.
        chunk = np.asarray(codes[start : start + step], dtype=np.uint64)
        idx.add(chunk)
        lims, _dist, pos = idx.range_arrays(chunk, radius)
        left.append(np.repeat(np.arange(start, start + len(chunk), dtype=np.int64), np.diff(lims)))
        right.append(pos)
    if not left:
        return np.zeros(0, dtype=np.int64)
    return connected_components(len(codes), np.concatenate(left), np.concatenate(right))


def connected_components(n: int, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Label of each of ``n`` nodes linked by edges ``a[i]``-``b[i]``: the smallest node of its component.

    Union-find in numpy: every label names a node no larger than itself. Each round hooks the larger
    root of every edge whose ends differ under the smaller one, then jumps pointers until every
    label is a root; each round removes at least one root, and in practice few rounds are needed.
    """
    labels = np.arange(n, dtype=np.int64)
    while True:
        ra, rb = labels[a], labels[b]
        differ = ra != rb
        if not differ.any():
            return labels
        ra, rb = ra[differ], rb[differ]
        np.minimum.at(labels, np.maximum(ra, rb), np.minimum(ra, rb))
        while not np.array_equal(jumped := labels[labels], labels):
            labels = jumped
