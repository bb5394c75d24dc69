"""Throughput of analyses through the distributed queue with 1 worker, then 2 (team mode).

    .venv/bin/python bench/workers.py [--jobs 6] [--per-job 2] [--side 320] [--dir /tmp]

Starts its own PostgreSQL, Redis and S3 server (moto) on 127.0.0.1, as the tests do, makes an app
home and two worker homes that share only those services, and stores ``2 * jobs * per_job`` PNG
pictures of ``side`` x ``side`` pixels. Each round queues ``--jobs`` analysis jobs of ``--per-job``
pictures each (fresh pictures every round) and times from the first submit until every job is done;
the workers are started and ready before the clock starts. Prints pictures per second for each round
and the ratio 2 workers / 1 worker (ideal: 2.0 on a machine with two free cores; the detectors run in
each worker's own child process).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from archive.home import Home  # noqa: E402
from archive.s3blobs import S3BlobStore  # noqa: E402
from tests.s3server import new_bucket  # noqa: E402
from tests.services import S3_CREDENTIALS, start_postgres  # noqa: E402
from tests.workbench.app_fixtures import World, make_world, store  # noqa: E402
from workbench.services import jobs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _png(seed: int, side: int) -> bytes:
    img = Image.effect_noise((side, side), 40 + seed % 50).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _redis(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    port = _free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(base)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    raise SystemExit("redis-server did not start")


def _moto(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    import urllib.request

    port = _free_port()
    argv = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(argv, cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()  # noqa: S310 (loopback)
            return proc, endpoint
        except OSError:
            time.sleep(0.2)
    raise SystemExit("moto_server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _home(root: Path, name: str, env: dict[str, str]) -> Home:
    blobs = S3BlobStore.from_url(env["WB_BLOB_URL"], env)
    return Home.init(root / name, Path(env["WB_KEY"]), "bench", env["WB_DATABASE_URL"], blobs)


def _worker(root: Path, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = root / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "worker"], cwd=REPO,
                                env=dict(env, WB_HOME=str(root / name)), stdout=out, stderr=out,
                                start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while b"taking jobs" not in log.read_bytes():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"worker {name} did not start: {log.read_text()[-1000:]}")
        time.sleep(0.1)
    return proc


def _round(world: World, items: list[str], per_job: int) -> float:
    """Seconds from the first submit until every job is done."""
    start = time.perf_counter()
    ids = [
        jobs.submit(world.home, world.analyst, "analyse", world.case.id, {"item_ids": items[k : k + per_job]})
        for k in range(0, len(items), per_job)
    ]
    pending = set(ids)
    while pending:
        for job_id in list(pending):
            job = jobs.get_job(world.home, job_id)
            if job is not None and job.status in ("done", "failed"):
                if job.status == "failed":
                    raise SystemExit(f"job {job_id} failed: {job.result}")
                pending.discard(job_id)
        time.sleep(0.05)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=6, help="analysis jobs per round")
    parser.add_argument("--per-job", type=int, default=2, help="pictures per job")
    parser.add_argument("--side", type=int, default=320, help="picture width and height in pixels")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    n = args.jobs * args.per_job
    if shutil.disk_usage(args.dir).free < 2 * n * args.side * args.side * 3 + (
        500 << 20
    ):  # moto keeps them too
        raise SystemExit(f"not enough free space in {args.dir}")
    root = Path(tempfile.mkdtemp(prefix="wb-bench-workers-", dir=args.dir))
    pg_base = Path(
        tempfile.mkdtemp(prefix="wb-bench-pg-", dir=args.dir)
    )  # its own: the server's user enters it
    postgres = start_postgres(pg_base)
    redis, queue_url = _redis(root)
    moto, endpoint = _moto(root)
    workers: list[subprocess.Popen[bytes]] = []
    env = dict(os.environ, **S3_CREDENTIALS, AWS_ENDPOINT_URL=endpoint,
               WB_BLOB_URL=f"s3://{new_bucket(endpoint)}/bench", WB_KEY=str(root / "keys" / "signing.key"),
               WB_DATABASE_URL=postgres.new_database(), WB_QUEUE_URL=queue_url)  # fmt: skip
    os.environ["WB_QUEUE_URL"] = queue_url  # this process is the app: what it queues goes to Redis
    try:
        app = _home(root, "app", env)
        world = make_world(app, reviews=1, n_items=0)
        items = [store(app, world.case, _png(i, args.side), f"p{i}.png") for i in range(2 * n)]
        for name in ("w1", "w2"):
            _home(root, name, env).close()
        workers.append(_worker(root, "w1", env))
        one = _round(world, items[:n], args.per_job)
        workers.append(_worker(root, "w2", env))
        two = _round(world, items[n:], args.per_job)
        print(f"pictures: {n} per round ({args.jobs} jobs of {args.per_job}), {args.side}x{args.side} PNG")
        print(f"1 worker : {one:7.2f} s  {n / one:6.2f} pictures/s")
        print(f"2 workers: {two:7.2f} s  {n / two:6.2f} pictures/s")
        print(f"ratio 2/1 workers (throughput): {one / two:.2f}")
        app.close()
    finally:
        for proc in [*workers, redis, moto]:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        os.killpg(postgres.proc.pid, signal.SIGTERM)
        postgres.proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pg_base, ignore_errors=True)


if __name__ == "__main__":
    main()
