"""Evidence package export and verification, against `sha256sum -c` of the same package in the same run.

    .venv/bin/python bench/export.py [--items 1000] [--mb 5120] [--dir /tmp] [--bagit]

Makes a case of N items totalling the given size (random bytes behind a JPEG signature, ingested
without exiftool so the set-up stays short), exports it with the internal profile (package, report,
custody proofs), then times `wb verify-package`'s verifier and GNU `sha256sum -c manifest-sha256.txt`
on the same package (and `bagit.py --validate` with --bagit). The export is also set against a plain
`cp -r` of the blob store (the disk's floor). Needs about 3.2 x the size free.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.cases import create_case  # noqa: E402
from archive.export.verify import verify_package  # noqa: E402
from archive.home import Home  # noqa: E402
from archive.ingest import Ingestor  # noqa: E402
from archive.model import IncomingFile  # noqa: E402
from workbench import TOOL_VERSION  # noqa: E402
from workbench.services import auth  # noqa: E402
from workbench.services.export.packages import ExportRequest, export_package  # noqa: E402

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def _item_bytes(block: bytes, i: int, size: int) -> bytes:
    reps = size // len(block) + 1
    return (JPEG + i.to_bytes(8, "big") + (block * reps))[:size]


def populate(home: Home, items: int, total_mb: int) -> None:
    with home.transaction("bench") as tx:
        case = create_case(tx, "bench", "benchmark")
    ingestor = Ingestor(home, None)
    block = os.urandom(1 << 20)
    size = max(64, (total_mb << 20) // items)
    for i in range(items):
        data = _item_bytes(block, i, size)
        offer = IncomingFile(f"f{i:05d}.jpg", lambda d=data: io.BytesIO(d), len(data))  # type: ignore[misc]
        result = ingestor.ingest(case, offer, "bench")
        assert result.status == "stored", result


def timed(label: str, fn: object) -> float:
    start = time.perf_counter()
    assert callable(fn)
    fn()
    elapsed = time.perf_counter() - start
    print(f"{label:38} {elapsed:9.2f} s", flush=True)
    return elapsed


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(root: Path, items: int, total_mb: int, bagit: bool, report: bool) -> None:
    home = Home.init(root / "home", root / "key" / "signing.key", TOOL_VERSION)
    timed(f"set-up: ingest {items} items, {total_mb} MB", lambda: populate(home, items, total_mb))
    out = root / "pkg"
    with home.transaction("bench") as tx:
        admin = auth.add_user(tx, None, "bench", "admin", "bench passphrase 1234")
    req = ExportRequest("bench", "internal", "Bench court", "court", "benchmark", out, admin, report=report)
    t_export = timed(
        f"export ({'bag, proofs, report' if report else 'bag, proofs; no report'})",
        lambda: export_package(home, req),
    )
    home.close()
    t_copy = timed(
        "baseline: cp -r of the blob store", lambda: shutil.copytree(root / "home" / "blobs", root / "copy")
    )
    shutil.rmtree(root / "copy")
    size = folder_bytes(out)
    print(f"{'package size':38} {size / 2**20:9.1f} MB ({len(list(out.rglob('*')))} paths)")

    def ours() -> None:
        report = verify_package(out)
        assert report.intact, report.problems[:3]

    def sha256sum() -> None:
        subprocess.run(["sha256sum", "-c", "--quiet", "manifest-sha256.txt"], cwd=out, check=True)

    # Alternate the two so that neither always meets a cold (or a warm) page cache.
    t_sum = timed("baseline: sha256sum -c manifest (1st)", sha256sum)
    t_ours = timed("verify_package (1st)", ours)
    t_ours2 = timed("verify_package (2nd)", ours)
    t_sum2 = timed("baseline: sha256sum -c manifest (2nd)", sha256sum)
    print(f"{'ratio verify_package / sha256sum':38} {(t_ours + t_ours2) / (t_sum + t_sum2):9.2f}")
    print(f"{'ratio export / sha256sum':38} {t_export / t_sum:9.2f}")
    print(f"{'ratio export / cp -r':38} {t_export / t_copy:9.2f}")
    print(f"{'export throughput':38} {size / 2**20 / t_export:9.1f} MB/s")
    if bagit:
        bagit_py = Path(sys.executable).parent / "bagit.py"
        t_bag = timed(
            "bagit.py --validate",
            lambda: subprocess.run([str(bagit_py), "--validate", "--quiet", str(out)], check=True),
        )
        print(f"{'ratio bagit.py / sha256sum':38} {t_bag / t_sum:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=5120, help="total size of the items in MiB")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--bagit", action="store_true", help="also time bagit.py --validate")
    parser.add_argument("--no-report", action="store_true", help="leave the PDF report out of the export")
    args = parser.parse_args()
    need = int(args.mb * 2**20 * 3.2) + (200 << 20)
    free = shutil.disk_usage(args.dir).free
    if free < need:
        sys.exit(f"needs {need / 2**30:.1f} GiB free in {args.dir}, has {free / 2**30:.1f} GiB")
    root = Path(tempfile.mkdtemp(prefix="wb-bench-export-", dir=args.dir))
    try:
        run(root, args.items, args.mb, args.bagit, not args.no_report)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
