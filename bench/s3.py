"""Ingest (and fixity) through an S3 object store against the local blob folder: same files, same run.

    .venv/bin/python bench/s3.py [--mb 256] [--dir /tmp] [--rounds 2] [--lock]
                                 [--endpoint URL --bucket NAME]   # a real MinIO/Ceph/AWS instead

Without ``--endpoint`` a moto S3 server is started on 127.0.0.1 (and stopped at the end): it keeps
objects in its own Python process, so its numbers are a floor for the protocol path (hashing, spooling,
multipart, HTTP) rather than a measure of a production store. ``--lock`` writes every object under
Object Lock (compliance, one day), as a team home would. The two homes ingest the same mixed files
(photo-sized and video-sized, the large ones multipart) part by part, alternating, so a shared
machine's changing load falls on both; then each home's ``verify`` re-reads every blob.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from archive.blobs import BlobStore  # noqa: E402
from archive.cases import create_case  # noqa: E402
from archive.home import Home  # noqa: E402
from archive.model import Case  # noqa: E402
from archive.s3blobs import Lock, S3BlobStore  # noqa: E402
from archive.verify import verify  # noqa: E402
from workbench import TOOL_VERSION  # noqa: E402
from workbench.services.auth import Account, account_by_name  # noqa: E402
from workbench.services.intake import ingest_paths  # noqa: E402
from workbench.services.sessions import create_first_admin  # noqa: E402

HEADERS = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00")
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}


def make_files(folder: Path, total_mb: int, seed: int = 7) -> list[Path]:
    """Photo-sized files and, one in ten, a video-sized one (over the multipart threshold)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    budget, paths, i = total_mb << 20, [], 0
    block = rng.randbytes(1 << 20)
    while budget > 0:
        big = i % 10 == 9
        size = min(budget, rng.randint(12, 40) << 20 if big else rng.randint(100_000, 3_000_000))
        path = folder / f"f{i:05d}.{'mp4' if big else 'jpg'}"
        with path.open("wb") as fh:
            fh.write(HEADERS[1] if big else HEADERS[0])
            left = size
            while left > 0:
                fh.write(i.to_bytes(8, "big") + block[8 : min(left, len(block))])
                left -= min(left, len(block))
        paths.append(path)
        budget -= size
        i += 1
    return paths


@contextmanager
def moto() -> Iterator[str]:
    """moto's S3 server on a free loopback port, for this run only."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("moto_server did not start")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_store(endpoint: str, bucket: str | None, lock: bool, scratch: Path) -> S3BlobStore:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        region_name=CREDENTIALS["region_name"],
        config=Config(s3={"addressing_style": "path"}),
    )
    if bucket is None:
        bucket = f"wb-bench-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=lock)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    return S3BlobStore(client, bucket, prefix, Lock("COMPLIANCE", 1) if lock else None, scratch)


def new_home(root: Path, blobs: BlobStore | None) -> tuple[Home, Case, Account]:
    home = Home.init(root / "home", root / "key" / "signing.key", TOOL_VERSION, blobs=blobs)
    with home.transaction("bench") as tx:
        case = create_case(tx, "bench", "benchmark")
    with home.reading() as conn:
        found = account_by_name(conn, "bench")
    return home, case, found or create_first_admin(home, "bench", "benchmark password", "cli")


def ingest(paths: list[Path], home: Home, case: Case, by: Account) -> float:
    start = time.perf_counter()
    results = list(ingest_paths(home, case, [str(p) for p in paths], by))
    elapsed = time.perf_counter() - start
    assert all(r.status == "stored" for r in results), [r for r in results if r.status != "stored"][:3]
    return elapsed


def timed_verify(home: Home) -> float:
    start = time.perf_counter()
    report = verify(home)
    elapsed = time.perf_counter() - start
    assert report.intact, report.problems[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=256, help="total size of the mixed files (MiB)")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--rounds", type=int, default=2, help="alternate the two sides over N parts")
    parser.add_argument("--lock", action="store_true", help="write under Object Lock (compliance, 1 day)")
    parser.add_argument("--endpoint", help="an S3 endpoint to use instead of a moto server started here")
    parser.add_argument("--bucket", help="with --endpoint: an existing bucket (credentials from AWS_*)")
    args = parser.parse_args()
    free = shutil.disk_usage(args.dir).free
    if free < 3 * (args.mb << 20):
        sys.exit(f"need {3 * args.mb} MiB free in {args.dir}, have {free >> 20} MiB")
    if args.endpoint:
        for key, env in (
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
        ):
            CREDENTIALS[key] = os.environ.get(env, CREDENTIALS[key])
    with (
        tempfile.TemporaryDirectory(dir=args.dir) as tmp,
        nullcontext(args.endpoint) if args.endpoint else moto() as endpoint,
    ):
        work = Path(tmp)
        paths = make_files(work / "in", args.mb)
        mb = sum(p.stat().st_size for p in paths) / (1 << 20)
        local = new_home(work / "local", None)
        remote = new_home(work / "s3", s3_store(endpoint, args.bucket, args.lock, work))
        rounds = max(1, args.rounds)
        t_local = t_s3 = 0.0
        for part in range(rounds):
            chunk = paths[part::rounds]
            t_local += ingest(chunk, *local)
            t_s3 += ingest(chunk, *remote)
        v_local, v_s3 = timed_verify(local[0]), timed_verify(remote[0])
        local[0].close()
        remote[0].close()
    where = "the given endpoint" if args.endpoint else "moto on 127.0.0.1"
    print(f"files: {len(paths)}, {mb:.0f} MiB; S3 at {where}")
    print(f"ingest, local folder: {mb / t_local:8.1f} MiB/s {len(paths) / t_local:7.1f} files/s")
    s3 = "S3 (locked)" if args.lock else "S3         "
    print(f"ingest, {s3}:  {mb / t_s3:8.1f} MiB/s {len(paths) / t_s3:7.1f} files/s")
    print(f"verify, local folder: {mb / v_local:8.1f} MiB/s;  S3: {mb / v_s3:8.1f} MiB/s")
    print(f"ratio S3 / local (time): ingest {t_s3 / t_local:.2f}x, verify {v_s3 / v_local:.2f}x")


@contextmanager
def nullcontext(value: str) -> Iterator[str]:
    yield value


if __name__ == "__main__":
    main()
