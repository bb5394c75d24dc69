"""Near-duplicate quality and speed.

    .venv/bin/python bench/neardup.py quality            # corpus/near_dups: precision/recall per transform
    .venv/bin/python bench/neardup.py speed --size 1000000 --cluster-size 100000 --video-seconds 60

Quality: rows of ``ground_truth.csv`` form clusters by transitive closure of ``near_dup`` rows (plus
``real_pairs.csv``). Positives are pairs inside one such cluster. ``exclude`` rows (a region of a
photo) are scored neither way against their photo's cluster, nor against other regions of the same
pixels. Hard negatives are the ``hard_negative`` rows and ``real_pairs.csv``'s canon_hdr_NO/YES;
every other pair is a negative. "pair" scores the direct link between two files (what ``wb similar``
shows), "cluster" scores membership of the transitive closure (what ``wb dedup`` shows).

Speed: baselines are measured in the same run (imagehash.phash on the same files; a numpy popcount
scan of the same codes). Ratios are what to quote: the machines are shared.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.fingerprint import ImageFingerprints, fingerprint_image  # noqa: E402
from detectors.neardup import HammingIndex, NearDupIndex, UnionFind, cluster_codes  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ND = CORPUS / "near_dups"


# -- quality ---------------------------------------------------------------------------------------


def _path(name: str) -> Path:
    return CORPUS / name if "/" in name else ND / name


def _truth() -> tuple[
    list[dict[str, str]], UnionFind, set[frozenset[str]], set[frozenset[str]], dict[str, str]
]:
    rows = list(csv.DictReader((ND / "ground_truth.csv").open()))
    with (ND / "real_pairs.csv").open() as f:
        lines = [ln for ln in f if not ln.startswith("#") and ln.strip()]
    for a, b, label, reason in csv.reader(lines):
        rows.append(
            {"file_a": a, "file_b": b, "label": label, "transform": f"real_pair:{reason}", "group": ""}
        )
    uf = UnionFind()
    hard: set[frozenset[str]] = set()
    excluded: set[frozenset[str]] = set()
    region_of: dict[str, str] = {}
    for r in rows:
        uf.find(r["file_a"])
        uf.find(r["file_b"])
        pair = frozenset((r["file_a"], r["file_b"]))
        if r["label"] == "near_dup":
            uf.union(r["file_a"], r["file_b"])
        elif r["label"] == "hard_negative":
            hard.add(pair)
        elif r["label"] == "exclude":
            excluded.add(pair)
            region_of[r["file_a"]] = r["file_b"]
    return rows, uf, hard, excluded, region_of


def _fingerprints(names: list[str]) -> dict[str, ImageFingerprints]:
    out = {}
    for n in names:
        with _path(n).open("rb") as f:
            out[n] = fingerprint_image(f)
    return out


def _edges(fps: dict[str, ImageFingerprints], radius: int) -> dict[frozenset[str], tuple[int, str]]:
    idx = NearDupIndex()
    for n, fp in fps.items():
        idx.add(n, fp.views)
    best: dict[frozenset[str], tuple[int, str]] = {}
    for n, fp in fps.items():
        for m in idx.query(fp.views, radius, exclude=n):
            key = frozenset((n, m.ref))
            if key not in best or m.distance < best[key][0]:
                best[key] = (m.distance, m.kind)
    return best


def _label(
    a: str,
    b: str,
    uf: UnionFind,
    hard: set[frozenset[str]],
    excluded: set[frozenset[str]],
    region_of: dict[str, str],
) -> str:
    pair = frozenset((a, b))
    if pair in hard:
        return "hard"
    if pair in excluded:
        return "skip"
    ra, rb = region_of.get(a), region_of.get(b)
    # A region of a photo against that photo's cluster, or against the same region of the same pixels.
    if (ra and uf.find(ra) == uf.find(b)) or (rb and uf.find(rb) == uf.find(a)):
        return "skip"
    if ra and rb and uf.find(ra) == uf.find(rb):
        return "skip"
    return "pos" if uf.find(a) == uf.find(b) else "neg"


def quality(duplicate: int, related: int) -> None:
    """Print precision and recall per transform at both thresholds, and a threshold sweep."""
    rows, uf, hard, excluded, region_of = _truth()
    names = sorted({r["file_a"] for r in rows} | {r["file_b"] for r in rows})
    t0 = time.perf_counter()
    fps = _fingerprints(names)
    print(f"fingerprinted {len(fps)} files in {time.perf_counter() - t0:.1f} s")
    edges = _edges(fps, 64)
    labels = {frozenset(p): _label(*p, uf, hard, excluded, region_of) for p in combinations(names, 2)}
    count = {k: sum(v == k for v in labels.values()) for k in ("pos", "neg", "hard", "skip")}
    print(
        f"pairs: {count['pos']} positive, {count['neg']} negative, {count['hard']} hard negative, "
        f"{count['skip']} not scored"
    )
    print("\nthreshold sweep (pair level): T  precision  recall  false_pos  hard_neg_matched")
    for t in range(4, 21, 2):
        _summary(t, edges, labels, verbose=False)
    for name, t in (("duplicate", duplicate), ("possibly_related", related)):
        print(f"\n== {name} threshold {t} bits ==")
        _summary(t, edges, labels, verbose=True)
        _per_transform(t, edges, rows, names, uf)


def _summary(
    t: int, edges: dict[frozenset[str], tuple[int, str]], labels: dict[frozenset[str], str], verbose: bool
) -> None:
    hit = {p for p, (d, _k) in edges.items() if d <= t}
    tp = sum(labels[p] == "pos" for p in hit)
    fp = [p for p in hit if labels[p] in ("neg", "hard")]
    pos = sum(v == "pos" for v in labels.values())
    hard_hits = [p for p in hit if labels[p] == "hard"]
    prec = tp / (tp + len(fp)) if tp + len(fp) else 1.0
    print(
        f"  T={t:2}  precision {prec:.3f}  recall {tp / pos:.3f}  false_pos {len(fp):3}  "
        f"hard_neg_matched {len(hard_hits)}"
    )
    if verbose:
        for p in sorted(fp, key=sorted)[:12]:
            print(f"     false positive: {sorted(p)} d={edges[p][0]} via {edges[p][1]}")


def _per_transform(
    t: int,
    edges: dict[frozenset[str], tuple[int, str]],
    rows: list[dict[str, str]],
    names: list[str],
    gt: UnionFind,
) -> None:
    pred = UnionFind(names)
    for p, (d, _k) in edges.items():
        if d <= t:
            a, b = sorted(p)
            pred.union(a, b)
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for r in rows:
        if r["label"] != "near_dup":
            continue
        pair = frozenset((r["file_a"], r["file_b"]))
        direct = pair in edges and edges[pair][0] <= t
        per[r["transform"]].append((direct, pred.find(r["file_a"]) == pred.find(r["file_b"])))
    print(f"  {'transform':44} n   pair_recall  cluster_recall")
    for name, vals in sorted(per.items()):
        k = len(vals)
        print(
            f"  {name:44} {k:3}  {sum(v[0] for v in vals) / k:.2f}         {sum(v[1] for v in vals) / k:.2f}"
        )
    # Cluster-level precision: pairs put in one predicted cluster that belong together.
    members: dict[str, list[str]] = defaultdict(list)
    for n in names:
        members[pred.find(n)].append(n)
    tp = fp = 0
    rows_, uf, hard, excluded, region_of = _truth()
    for group in members.values():
        for a, b in combinations(group, 2):
            lab = _label(a, b, uf, hard, excluded, region_of)
            tp += lab == "pos"
            fp += lab in ("neg", "hard")
    print(f"  cluster-level precision {tp / max(1, tp + fp):.3f} ({fp} wrong pairs in clusters)")


# -- speed -----------------------------------------------------------------------------------------


def _make_jpegs(folder: Path, megapixels: float, count: int) -> list[Path]:
    """JPEGs of a given size made from corpus photos by resizing (never copied into the project)."""
    from PIL import Image

    sources = sorted((CORPUS / "photos_exif").glob("mei__*.jpg"))[:count]
    out = []
    for i, src in enumerate(sources):
        with Image.open(src) as im:
            rgb = im.convert("RGB")
        scale = (megapixels * 1e6 / (rgb.width * rgb.height)) ** 0.5
        big = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BICUBIC)
        path = folder / f"{megapixels:g}mp-{i}.jpg"
        big.save(path, "JPEG", quality=90)
        out.append(path)
    return out


def _time_per_file(paths: list[Path], fn: object, rounds: int = 5) -> float:
    """Mean over files of the best of ``rounds`` timings per file (the machine is shared and noisy)."""
    total = 0.0
    for p in paths:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn(p)  # type: ignore[operator]
            best = min(best, time.perf_counter() - t0)
        total += best
    return total / len(paths)


def speed_fingerprint(folder: Path) -> None:
    import imagehash
    from PIL import Image

    from detectors.fingerprint import phash_of
    from detectors.imageio import open_image

    def baseline(p: Path) -> object:
        with Image.open(p) as im:
            return imagehash.phash(im)

    def ours_all(p: Path) -> object:
        with p.open("rb") as f:
            return fingerprint_image(f)

    def ours_phash(p: Path) -> object:
        with p.open("rb") as f:
            img = open_image(f, draft=("L", (64, 64)))
        return phash_of(img)

    for mp in (12, 2):
        paths = _make_jpegs(folder, mp, 6)
        base = _time_per_file(paths, baseline)
        full = _time_per_file(paths, ours_all)
        quick = _time_per_file(paths, ours_phash)
        print(
            f"{mp:2} MP JPEG: imagehash.phash {base * 1e3:7.1f} ms/file | ours, all views + PDQ "
            f"{full * 1e3:6.1f} ms ({base / full:4.1f}x) | ours, pHash alone (draft 64 px) "
            f"{quick * 1e3:5.1f} ms ({base / quick:4.1f}x)"
        )


def speed_index(size: int) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, np.iinfo(np.int64).max, size, dtype=np.int64).astype(np.uint64)
    idx = HammingIndex()
    t0 = time.perf_counter()
    idx.add(codes)
    print(f"index of {size} codes built in {time.perf_counter() - t0:.2f} s (faiss={idx.use_faiss})")
    queries = codes[rng.integers(0, size, 50)] ^ np.uint64(0b1011)
    t = []
    for q in queries:
        t0 = time.perf_counter()
        idx.range(int(q), 14)
        t.append(time.perf_counter() - t0)
    fallback = HammingIndex(use_faiss=False)
    fallback.add(codes)
    tb = []
    for q in queries[:10]:
        t0 = time.perf_counter()
        fallback.range(int(q), 14)
        tb.append(time.perf_counter() - t0)
    q_ms, b_ms = statistics.median(t) * 1e3, statistics.median(tb) * 1e3
    print(
        f"one query against {size}: {q_ms:.2f} ms (median of 50) | numpy popcount fallback "
        f"{b_ms:.2f} ms ({b_ms / q_ms:.1f}x slower)"
    )
    t0 = time.perf_counter()
    for c in codes[:1000]:
        idx.add([int(c)])
    print(f"insert one code: {(time.perf_counter() - t0) / 1000 * 1e3:.3f} ms (mean of 1000)")
    _speed_views(codes)
    _speed_persisted_insert()


def _speed_views(codes: np.ndarray) -> None:
    """A whole image query: every view of the query against every view of the stored images."""
    from detectors.fingerprint import VIEW_KINDS

    per = len(VIEW_KINDS)
    n_img = len(codes) // per
    views = NearDupIndex()
    grid = codes[: n_img * per].reshape(n_img, per)
    for col, kind in enumerate(VIEW_KINDS):
        views.by_view[kind] = HammingIndex()
        views.by_view[kind].add(grid[:, col])
        views.view_refs[kind] = [(str(i), None) for i in range(n_img)]
    query = {k: int(codes[7 * per + n]) for n, k in enumerate(VIEW_KINDS)}
    t0 = time.perf_counter()
    for _ in range(10):
        views.query(query, 12)
    took = (time.perf_counter() - t0) / 10 * 1e3
    print(f"one image query ({per} views) against {n_img} images x {per} views: {took:.2f} ms")


def _speed_persisted_insert() -> None:
    """Insert one image (all its views) into a saved index of 10k images, with the appended to its folder."""
    from detectors.fingerprint import VIEW_KINDS

    rng = np.random.default_rng(5)
    idx = NearDupIndex()
    for i in range(10_000):
        idx.add(
            f"{i:064x}",
            {k: int(c) for k, c in zip(VIEW_KINDS, rng.integers(0, 2**62, len(VIEW_KINDS)), strict=True)},
        )
    with tempfile.TemporaryDirectory(prefix="bench-neardup-ix-") as tmp:
        idx.save(Path(tmp))
        t = []
        for i in range(50):
            views = {
                k: int(c) for k, c in zip(VIEW_KINDS, rng.integers(0, 2**62, len(VIEW_KINDS)), strict=True)
            }
            t0 = time.perf_counter()
            idx.add(f"new{i}", views)
            idx.flush(Path(tmp))
            t.append(time.perf_counter() - t0)
    print(f"insert one image ({len(VIEW_KINDS)} views), append to disk: {statistics.median(t) * 1e3:.2f} ms")


def speed_cluster(size: int) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, np.iinfo(np.int64).max, size // 2, dtype=np.int64).astype(np.uint64)
    noise = np.uint64(1) << rng.integers(0, 63, size // 2).astype(np.uint64)
    codes = np.concatenate([base, base ^ noise])  # every code has one planted neighbour
    t0 = time.perf_counter()
    labels = cluster_codes(codes, 10)
    took = time.perf_counter() - t0
    print(
        f"clustering {len(codes)} codes at 10 bits: {took:.2f} s, {len(set(labels.tolist()))} clusters "
        f"(expected about {size // 2})"
    )


def speed_video(folder: Path, seconds: int) -> None:
    import cv2

    from detectors.video import keyframes

    path = folder / "720p.mp4"
    fps = 30
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (1280, 720))
    rng = np.random.default_rng(2)
    frame: np.ndarray = np.zeros((720, 1280, 3), np.uint8)
    for i in range(seconds * fps):
        if i % (3 * fps) == 0:  # a new shot every 3 s
            small = rng.integers(0, 255, (9, 16, 3), dtype=np.uint8)
            frame = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_CUBIC)
        shifted = np.roll(frame, i % (3 * fps), axis=1)
        writer.write(shifted)
    writer.release()
    t0 = time.perf_counter()
    kf = keyframes(path)
    took = time.perf_counter() - t0
    print(
        f"video: {seconds} s of 720p ({path.stat().st_size / 1e6:.1f} MB) -> {len(kf.frames)} keyframes in "
        f"{took:.2f} s = {took * 60 / seconds:.1f} s per minute of video"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["quality", "speed", "all"])
    ap.add_argument(
        "--size", type=int, default=1_000_000, help="stored 64-bit fingerprints for the query test"
    )
    ap.add_argument("--cluster-size", type=int, default=100_000)
    ap.add_argument("--video-seconds", type=int, default=60)
    ap.add_argument("--duplicate-threshold", type=int, default=None)
    ap.add_argument("--related-threshold", type=int, default=None)
    args = ap.parse_args(argv)
    from workbench.services.dedup.clusters import DUPLICATE_THRESHOLD, RELATED_THRESHOLD

    if args.what in ("quality", "all"):
        if not ND.exists():
            print(f"{ND} is absent: quality needs the shared corpus", file=sys.stderr)
            return 2
        quality(args.duplicate_threshold or DUPLICATE_THRESHOLD, args.related_threshold or RELATED_THRESHOLD)
    if args.what in ("speed", "all"):
        need = 200e6 + args.video_seconds * 2e6  # twelve JPEGs and the test video, with room to spare
        with tempfile.TemporaryDirectory(prefix="bench-neardup-") as tmp:
            free = shutil.disk_usage(tmp).free
            if free < need:
                print(f"only {free / 1e9:.1f} GB free in {tmp}; need {need / 1e9:.1f} GB", file=sys.stderr)
                return 2
            speed_fingerprint(Path(tmp))
            speed_index(args.size)
            speed_cluster(args.cluster_size)
            speed_video(Path(tmp), args.video_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
