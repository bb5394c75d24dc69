"""Ingest throughput against the floor of plain SHA-256 + copy of the same files, in the same run,
and an encrypted home's ingest (SQLCipher + age, `wb init --encrypt`) against the plain home's.

    .venv/bin/python bench/ingest.py [--mb 1024] [--dir /tmp] [--rounds 1] [--photo-reads 20]

Mixed files: many small photos-sized files and a few large video-sized ones (random bytes behind real
JPEG/MP4 signatures, so type sniffing and exiftool do their normal work). Both sides fsync each file.
With ``--rounds N`` the files are split into N parts and the two sides alternate part by part, so
that a shared machine's changing load falls on both alike; the ratio is of the summed times.
The encrypted home takes its part right after the plain one in each round. Last, one 12 MP photo
(4000x3000 JPEG) is read whole through each home's store (decrypting it in the encrypted one), as the
item page does, ``--photo-reads`` times each, alternating.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.blobs_age import AgeBlobStore  # noqa: E402
from archive.cases import create_case  # noqa: E402
from archive.home import Home, memory_root  # noqa: E402
from archive.keys import DataKey  # noqa: E402
from archive.model import Case  # noqa: E402
from workbench import TOOL_VERSION  # noqa: E402
from workbench.services.auth import Account, account_by_name  # noqa: E402
from workbench.services.intake import ingest_paths  # noqa: E402
from workbench.services.sessions import create_first_admin  # noqa: E402

HEADERS = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00")


def make_files(folder: Path, total_mb: int, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    budget = total_mb << 20
    paths = []
    block = rng.randbytes(1 << 20)  # the same files in every run, so that runs compare
    i = 0
    while budget > 0:
        big = i % 25 == 24
        size = min(budget, rng.randint(30, 80) << 20 if big else rng.randint(100_000, 4_000_000))
        path = folder / f"f{i:05d}.{'mp4' if big else 'jpg'}"
        with path.open("wb") as fh:
            fh.write(HEADERS[1] if big else HEADERS[0])
            left = size
            while left > 0:
                chunk = block[: min(left, len(block))]
                fh.write(i.to_bytes(8, "big") + chunk[8:])
                left -= len(chunk)
        paths.append(path)
        budget -= size
        i += 1
    return paths


def baseline(paths: list[Path], out: Path) -> float:
    out.mkdir(exist_ok=True)
    start = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as src, (out / path.name).open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    return time.perf_counter() - start


def bench_admin(home: Home) -> Account:
    """The benchmark home's one account (an admin), made on first use."""
    with home.reading() as conn:
        found = account_by_name(conn, "bench")
    return found or create_first_admin(home, "bench", "benchmark password", "cli")


def ours(paths: list[Path], home: Home, case: Case) -> float:
    start = time.perf_counter()
    results = list(ingest_paths(home, case, [str(p) for p in paths], bench_admin(home)))
    elapsed = time.perf_counter() - start
    assert all(r.status == "stored" for r in results), [r for r in results if r.status != "stored"][:3]
    return elapsed


def _home(root: Path, key: DataKey | None) -> tuple[Home, Case]:
    home = Home.init(root, root.parent / "key" / "signing.key", TOOL_VERSION, data_key=key)
    with home.transaction("bench") as tx:
        case = create_case(tx, "bench", "benchmark")
    return home, case


def compare(paths: list[Path], work: Path, rounds: int, reads: int = 20) -> tuple[float, float, float]:
    """Summed times of the floor, of ``ingest_paths`` and of it on an encrypted home, part by part."""
    home, case = _home(work / "home", None)
    sealed, sealed_case = _home(work / "sealed", DataKey.generate())
    base = mine = enc = 0.0
    try:
        for part in range(rounds):
            chunk = paths[part::rounds]
            base += baseline(chunk, work / "copy")
            shutil.rmtree(work / "copy")
            mine += ours(chunk, home, case)
            enc += ours(chunk, sealed, sealed_case)
        photo_reads(home, sealed, work, reads)
    finally:
        home.close()
        sealed.close()
        shutil.rmtree(memory_root(sealed.home_id), ignore_errors=True)
    return base, mine, enc


def photo_reads(home: Home, sealed: Home, work: Path, reads: int = 20) -> None:
    """Read one 12 MP photo whole through the plain store and through the encrypted one."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(12)
    pixels = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    pixels[::2] //= 2  # some structure, so the JPEG is photo-sized rather than noise-sized
    path = work / "photo12mp.jpg"
    Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=90)
    size = path.stat().st_size
    with path.open("rb") as fh:
        sha = home.blobs.put(fh).sha256
    with path.open("rb") as fh:
        sealed.blobs.put(fh)
    if isinstance(sealed.blobs, AgeBlobStore):
        sealed.blobs.close()  # drop its plain copy of the file just stored: measure a real decrypt
    plain = enc = 0.0
    for _ in range(reads):
        plain += _read(home, sha)
        enc += _read(sealed, sha)
    n = reads
    print(f"12 MP photo ({size / (1 << 20):.1f} MiB), mean of {n} whole reads:")
    print(f"  plain read      {1000 * plain / n:8.1f} ms")
    print(f"  age decrypt     {1000 * enc / n:8.1f} ms   (ratio plain / encrypted: {plain / enc:.2f})")


def _read(home: Home, sha: str) -> float:
    start = time.perf_counter()
    with home.blobs.open(sha) as fh:
        while fh.read(1 << 20):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1024, help="total size of the mixed files (MiB)")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--rounds", type=int, default=1, help="alternate the sides over N parts")
    parser.add_argument("--photo-reads", type=int, default=20, help="reads of the 12 MP photo per side")
    args = parser.parse_args()
    free = shutil.disk_usage(args.dir).free
    if free < 4.5 * (args.mb << 20) + (64 << 20):
        sys.exit(f"need {4.5 * args.mb + 64:.0f} MiB free in {args.dir}, have {free >> 20} MiB")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        paths = make_files(work / "in", args.mb)
        total = sum(p.stat().st_size for p in paths)
        base, mine, enc = compare(paths, work, max(1, args.rounds), max(1, args.photo_reads))
    mb = total / (1 << 20)
    print(f"files: {len(paths)}, {mb:.0f} MiB")
    print(f"floor (sha256 + copy + fsync): {mb / base:8.1f} MiB/s {len(paths) / base:8.1f} files/s")
    print(f"wb ingest (store, sidecar, db):{mb / mine:8.1f} MiB/s {len(paths) / mine:8.1f} files/s")
    print(f"wb ingest, encrypted home:     {mb / enc:8.1f} MiB/s {len(paths) / enc:8.1f} files/s")
    print(f"ratio wb / floor: {base / mine:.2f}")
    print(f"ratio encrypted / plain wb ingest: {mine / enc:.2f} (aim >= 0.8)")


if __name__ == "__main__":
    main()
