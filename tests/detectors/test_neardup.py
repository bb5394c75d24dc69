"""Exact Hamming search (FAISS and the numpy fallback agree), persistence, view pairs, clustering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.neardup import (
    HAVE_FAISS,
    HammingIndex,
    NearDupIndex,
    UnionFind,
    cluster_codes,
    connected_components,
)


def random_codes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) ^ (
        rng.integers(0, 2, n, dtype=np.int64).astype(np.uint64) << np.uint64(63)
    )


def flip(code: int, bits: list[int]) -> int:
    for b in bits:
        code ^= 1 << b
    return code


def brute(codes: np.ndarray, q: int, radius: int) -> list[tuple[int, int]]:
    return [(i, (int(c) ^ q).bit_count()) for i, c in enumerate(codes) if (int(c) ^ q).bit_count() <= radius]


@pytest.mark.parametrize("use_faiss", [True, False])
def test_range_search_is_exact(use_faiss: bool) -> None:
    if use_faiss and not HAVE_FAISS:
        pytest.skip("faiss is not installed")
    codes = random_codes(3000)
    planted = [flip(int(codes[5]), [1, 9, 40]), flip(int(codes[77]), list(range(0, 60, 5)))]
    idx = HammingIndex(use_faiss)
    idx.add(codes[:1000])
    idx.add(codes[1000:])  # incremental add
    assert len(idx) == 3000
    for q in planted + [int(codes[2999])]:
        for radius in (0, 3, 12, 20):
            assert sorted(idx.range(q, radius)) == brute(codes, q, radius)


def test_faiss_and_numpy_give_the_same_answers() -> None:
    if not HAVE_FAISS:
        pytest.skip("faiss is not installed")
    codes = random_codes(2000, seed=3)
    queries = random_codes(20, seed=4)
    a, b = HammingIndex(True), HammingIndex(False)
    a.add(codes)
    b.add(codes)
    assert [sorted(x) for x in a.range_many(queries, 24)] == [sorted(x) for x in b.range_many(queries, 24)]


def test_views_are_compared_only_in_meaningful_pairs() -> None:
    idx = NearDupIndex()
    idx.add("stored", {"phash": 0x0F0F, "phash_mirror": 0xFFFF_0000_0000_0000})
    # The query's mirror view equals the stored whole image: a mirrored match.
    found = idx.query({"phash": 0x1234_5678_9ABC_DEF0, "phash_mirror": 0x0F0F}, 4)
    assert [(m.ref, m.distance, m.kind) for m in found] == [("stored", 0, "mirrored")]
    # Mirror against mirror is not a meaningful pair (it would be the whole image twice).
    assert idx.query({"phash_mirror": 0xFFFF_0000_0000_0000}, 4) == []


def test_index_persists_and_a_damaged_folder_reads_as_lost(tmp_path: Path) -> None:
    idx = NearDupIndex()
    idx.add("a" * 64, {"phash": 1, "phash_mirror": 2})
    idx.add("b" * 64, {"frame": 3}, t=1.5)
    idx.save(tmp_path / "ix")
    again = NearDupIndex.load(tmp_path / "ix")
    assert again is not None
    assert again.entries == idx.entries and again.refs == idx.refs
    assert [m.ref for m in again.query({"phash": 1}, 0)] == ["a" * 64]
    idx.add("c" * 64, {"phash": 4})
    idx.flush(tmp_path / "ix")  # incremental: one appended line
    again = NearDupIndex.load(tmp_path / "ix")
    assert again is not None and again.refs == {"a" * 64, "b" * 64, "c" * 64}
    with (tmp_path / "ix" / "views.jsonl").open("a") as f:
        f.write('["d", null, {"phash": "00')  # a write torn by a crash
    assert NearDupIndex.load(tmp_path / "ix") is None
    assert NearDupIndex.load(tmp_path / "ix") is None
    assert NearDupIndex.load(tmp_path / "missing") is None


@pytest.mark.parametrize("use_faiss", [True, False])
def test_clustering_is_the_transitive_closure(use_faiss: bool) -> None:
    if use_faiss and not HAVE_FAISS:
        pytest.skip("faiss is not installed")
    a = 0
    b = flip(a, list(range(6)))  # 6 from a
    c = flip(b, list(range(10, 16)))  # 6 from b, 12 from a
    far = flip(a, list(range(20, 60)))
    labels = cluster_codes(np.array([c, far, a, b], dtype=np.uint64), radius=6, use_faiss=use_faiss)
    assert labels[0] == labels[2] == labels[3] != labels[1]


def test_union_find_names_groups_after_their_smallest_member() -> None:
    uf = UnionFind()
    uf.union("d", "b")
    uf.union("b", "c")
    uf.union("x", "y")
    assert {k: sorted(v) for k, v in uf.groups().items()} == {"b": ["b", "c", "d"], "x": ["x", "y"]}


def test_clustering_links_codes_in_different_chunks() -> None:
    codes = random_codes(9000, seed=9)
    codes[8500] = np.uint64(flip(int(codes[10]), [3, 7]))  # far apart in insertion order
    labels = cluster_codes(codes, radius=2)
    assert labels[8500] == labels[10] == 10
    assert len(set(labels.tolist())) == 8999


def test_numpy_union_find_gives_the_smallest_member_of_each_component() -> None:
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(1, 80))
        a = rng.integers(0, n, int(rng.integers(0, 120))).astype(np.int64)
        b = rng.integers(0, n, len(a)).astype(np.int64)
        uf = UnionFind(str(i) for i in range(n))
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            uf.union(f"{x:03d}", f"{y:03d}")
        expected = [int(uf.find(f"{i:03d}")) for i in range(n)]
        assert connected_components(n, a, b).tolist() == expected


def test_range_arrays_agree_with_range_many_and_the_fallback() -> None:
    codes = random_codes(3000, seed=4)
    queries = np.concatenate([codes[:20] ^ np.uint64(0b111), random_codes(5, seed=5)])
    for use_faiss in (True, False):
        idx = HammingIndex(use_faiss)
        idx.add(codes)
        lims, dist, pos = idx.range_arrays(queries, 20)
        as_lists = [
            sorted(zip(pos[lo:hi].tolist(), dist[lo:hi].tolist(), strict=True))
            for lo, hi in zip(lims[:-1].tolist(), lims[1:].tolist(), strict=True)
        ]
        assert as_lists == [sorted(brute(codes, int(q), 20)) for q in queries]
