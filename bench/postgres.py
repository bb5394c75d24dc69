"""Gallery first page and item page on PostgreSQL at N generated items, against a small case.

    .venv/bin/python bench/postgres.py [--items 1000000] [--baseline 1000] [--runs 5] [--database-url URL]

Without ``--database-url`` (an empty database) a throwaway PostgreSQL server is started on 127.0.0.1 as
the tests do (tests/services.py). Items are generated inside the server (generate_series) with one
sighting each; the newest REAL_FILES items of a case have real PNG files, as in bench/app.py, whose page
rendering this reuses (Streamlit's AppTest, logged in as an analyst, first render not counted). Prints
the median render of each page for both cases and their ratio, and the gallery's own queries
(``access.list_items``: the page and the count) timed alone.
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

from app import APP, PASSWORD, REAL_FILES, _png, _timed  # noqa: E402  (bench/app.py, beside this file)
from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import text  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from archive import artifacts as art  # noqa: E402
from archive.cases import create_case  # noqa: E402
from archive.db import item_artifacts, items, sightings, utc_text, utcnow  # noqa: E402
from archive.home import Home  # noqa: E402
from archive.model import Case  # noqa: E402
from workbench import TOOL_VERSION  # noqa: E402
from workbench.services import (
    access,  # noqa: E402
    auth,
)

ITEM_ID = "lpad(CAST(:case AS text), 2, '0') || lpad(CAST(k AS text), 18, '0')"
AT = "to_char(CAST(:start AS timestamp) + k * interval '1 second', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
GENERATE = (
    f"INSERT INTO items (id, case_id, sha256, kind, status, classification, title, created_at) "
    f"SELECT {ITEM_ID}, CAST(:case AS integer), "
    f"lpad(to_hex(CAST(:case AS integer)), 2, '0') || lpad(to_hex(k), 62, '0'), 'image', "
    f"'unverified', 'restricted', 'post ' || k || ' caption text', {AT} FROM generate_series(0, :last) AS k",
    f"INSERT INTO sightings (item_id, source, seen_at, url, platform, details) "
    f"SELECT {ITEM_ID}, 'url', {AT}, 'https://example.org/p/' || k, 'generic', '{{}}' "
    f"FROM generate_series(0, :last) AS k",
)


def item_id(case: Case, k: int) -> str:
    return f"{case.id:02d}{k:018d}"


def generate(home: Home, case: Case, n: int) -> None:
    """n items: all but the newest REAL_FILES made by the server itself."""
    start = utcnow() - timedelta(days=30)
    bulk = max(0, n - REAL_FILES)
    with home.transaction("bench") as tx:
        if bulk:
            for statement in GENERATE:
                params = {"case": case.id, "start": utc_text(start).rstrip("Z"), "last": bulk - 1}
                tx.conn.execute(text(statement), params)
        for k in range(bulk, n):
            put = home.blobs.put(io.BytesIO(_png(k + case.id * 100)))
            art.record(tx.conn, put, "image/png")
            moment = start + timedelta(seconds=k)
            tx.conn.execute(
                items.insert().values(
                    id=item_id(case, k), case_id=case.id, sha256=put.sha256, kind="image",
                    status="unverified", classification="restricted", title=f"post {k} caption text",
                    created_at=moment,
                )
            )  # fmt: skip
            tx.conn.execute(
                sightings.insert().values(
                    item_id=item_id(case, k), source="url", seen_at=moment,
                    url=f"https://example.org/p/{k}", platform="generic", details={},
                )
            )  # fmt: skip
            tx.conn.execute(
                item_artifacts.insert().values(
                    item_id=item_id(case, k), sha256=put.sha256, role="original", added_at=utcnow()
                )
            )
    with home.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE items, sightings, item_artifacts")


def query_time(home: Home, case: Case, runs: int) -> float:
    """Median seconds of the gallery's first page query and count alone (access.list_items)."""
    with home.reading() as conn:
        analyst = auth.account_by_name(conn, "analyst")
    assert analyst is not None
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        with home.reading() as conn:
            access.list_items(conn, analyst, case.id)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--baseline", type=int, default=1_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway server)")
    p.add_argument("--dir", default=tempfile.gettempdir())
    args = p.parse_args()
    need = 300 * 1024 * 1024 + args.items * 1500
    if shutil.disk_usage(args.dir).free < need:
        print(f"not enough free disk in {args.dir}: need about {need >> 20} MiB", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="wb-bench-pg-", dir=args.dir))
    server = None
    try:
        url = args.database_url
        if url is None:
            from tests.services import start_postgres

            # Its own folder at the top of the temporary folder: the server's user must reach it.
            server = start_postgres(Path(tempfile.mkdtemp(prefix="wb-bench-pgdata-", dir=args.dir)))
            url = server.new_database()
        return run(root, url, args)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.data.parent, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, url: str, args: argparse.Namespace) -> int:
    os.environ.update(WB_HOME=str(root / "home"), WB_KEY=str(root / "key"), WB_DATABASE_URL=url)
    os.environ.update(WB_JOBS_WORKER="0")
    home = Home.init(root / "home", root / "key", TOOL_VERSION, url)
    auth.HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with home.transaction("bench") as tx:
        admin = auth.add_user(tx, None, "admin", "admin", PASSWORD)
        auth.add_user(tx, admin, "analyst", "analyst", PASSWORD)
        small = create_case(tx, "a-baseline", "benchmark", 1)
        big = create_case(tx, "b-big", "benchmark", 1)
        for c in (small, big):
            auth.add_member(tx, admin, c.id, "analyst")
    t0 = time.perf_counter()
    generate(home, small, args.baseline)
    generate(home, big, args.items)
    print(f"PostgreSQL: generated {args.baseline} + {args.items} items in {time.perf_counter() - t0:.1f} s")
    results = {}
    for case, n in ((small, args.baseline), (big, args.items)):
        at = AppTest.from_file(APP, default_timeout=300).run()
        at.text_input(key="login_name").input("analyst")
        at.text_input(key="login_password").input(PASSWORD)
        at.button[0].click().run()
        at.sidebar.selectbox(key="case").select(case).run()
        newest = item_id(case, n - 1)
        results[case.slug] = (
            _timed(at, None, args.runs),
            _timed(at, newest, args.runs),
            query_time(home, case, args.runs),
        )
    (gb, ib, qb), (gg, ig, qg) = results["a-baseline"], results["b-big"]
    for label, base, big_t in (
        ("gallery first page", gb, gg),
        ("item page", ib, ig),
        ("gallery queries", qb, qg),
    ):
        print(
            f"{label:18}: {args.baseline} items {base * 1000:.0f} ms, {args.items} items "
            f"{big_t * 1000:.0f} ms, ratio {big_t / base:.2f}"
        )
    home.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
