"""Server-side time to render the gallery's first page and an item page, against a small case.

    .venv/bin/python bench/app.py [--items 100000] [--baseline 1000] [--runs 5] [--dir /tmp]

One archive home holds two cases: a baseline case with ``--baseline`` items and a big case with
``--items`` items (rows inserted in bulk; the newest page's items have real PNG files so thumbnails
are made). Each page is rendered by Streamlit's AppTest (the same script the server runs, without
the browser) as a logged-in analyst; the first render of each page warms the thumbnail cache and is
not counted. Prints the median of ``--runs`` renders for each case and the ratio big/baseline.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from argon2 import PasswordHasher  # noqa: E402
from PIL import Image  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from archive import artifacts as art  # noqa: E402
from archive.cases import create_case  # noqa: E402
from archive.db import item_artifacts, items, sightings, utcnow  # noqa: E402
from archive.home import Home  # noqa: E402
from archive.model import Case  # noqa: E402
from workbench import TOOL_VERSION  # noqa: E402
from workbench.services import auth  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "workbench" / "app" / "main.py")
PASSWORD = "benchmark password"
REAL_FILES = 30


def _png(seed: int) -> bytes:
    img = Image.new("RGB", (640, 480), ((seed * 37) % 256, (seed * 91) % 256, 120))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def fill(home: Home, case: Case, n: int) -> None:
    """n items in bulk; the newest REAL_FILES have stored PNGs linked as their originals."""
    start = utcnow() - timedelta(days=30)
    rows, seen = [], []
    for k in range(n):
        item_id = f"{case.id:02d}{k:018d}"
        rows.append(
            {
                "id": item_id,
                "case_id": case.id,
                "sha256": f"{case.id:02x}{k:062x}",
                "kind": "image",
                "status": "unverified",
                "classification": "restricted",
                "title": f"post {k} caption text",
                "created_at": start + timedelta(seconds=k),
            }
        )
        seen.append(
            {
                "item_id": item_id,
                "source": "url",
                "seen_at": start + timedelta(seconds=k),
                "url": f"https://example.org/p/{k}",
                "platform": "generic",
                "details": {},
            }
        )
    newest = rows[-REAL_FILES:]
    with home.transaction("bench") as tx:
        for k, row in enumerate(newest):
            put = home.blobs.put(io.BytesIO(_png(k + case.id * 100)))
            art.record(tx.conn, put, "image/png")
            row["sha256"] = put.sha256
        for chunk in range(0, n, 5000):
            tx.conn.execute(items.insert(), rows[chunk : chunk + 5000])
            tx.conn.execute(sightings.insert(), seen[chunk : chunk + 5000])
        tx.conn.execute(
            item_artifacts.insert(),
            [
                {
                    "item_id": r["id"],
                    "sha256": r["sha256"],
                    "role": "original",
                    "declared_type": None,
                    "added_at": utcnow(),
                }
                for r in newest
            ],
        )


def _timed(at: AppTest, item_id: str | None, runs: int) -> float:
    """Median seconds of ``runs`` script runs (after one warming run) of the gallery or an item page."""
    times = []
    for n in range(runs + 1):
        # The item page logs one view per visit: make every run a fresh visit so the write is counted.
        at.session_state["viewed_item"] = None
        at.session_state["item_id"] = item_id
        t0 = time.perf_counter()
        at.run(timeout=120)
        if n:
            times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--baseline", type=int, default=1_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--dir", default=tempfile.gettempdir())
    args = p.parse_args()
    need = 200 * 1024 * 1024 + args.items * 2000
    if shutil.disk_usage(args.dir).free < need:
        print(f"not enough free disk in {args.dir}: need about {need >> 20} MiB", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="wb-bench-app-", dir=args.dir))
    try:
        return run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> int:
    os.environ.update(WB_HOME=str(root / "home"), WB_KEY=str(root / "key"), WB_JOBS_WORKER="0")
    home = Home.init(root / "home", root / "key", TOOL_VERSION)
    auth.HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with home.transaction("bench") as tx:
        admin = auth.add_user(tx, None, "admin", "admin", PASSWORD)
        auth.add_user(tx, admin, "analyst", "analyst", PASSWORD)
        small = create_case(tx, "a-baseline", "benchmark", 1)
        big = create_case(tx, "b-big", "benchmark", 1)
        for c in (small, big):
            auth.add_member(tx, admin, c.id, "analyst")
    t0 = time.perf_counter()
    fill(home, small, args.baseline)
    fill(home, big, args.items)
    print(f"filled {args.baseline} + {args.items} items in {time.perf_counter() - t0:.1f} s")
    results = {}
    for case, n in ((small, args.baseline), (big, args.items)):
        at = AppTest.from_file(APP, default_timeout=120).run()
        at.text_input(key="login_name").input("analyst")
        at.text_input(key="login_password").input(PASSWORD)
        at.button[0].click().run()
        at.sidebar.selectbox(key="case").select(case).run()
        newest = f"{case.id:02d}{n - 1:018d}"
        results[case.slug] = (_timed(at, None, args.runs), _timed(at, newest, args.runs))
    (gb, ib), (gg, ig) = results["a-baseline"], results["b-big"]
    for label, base, big_t in (("gallery first page", gb, gg), ("item page", ib, ig)):
        print(
            f"{label:18}: {args.baseline} items {base * 1000:.0f} ms, {args.items} items "
            f"{big_t * 1000:.0f} ms, ratio {big_t / base:.2f}"
        )
    home.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
