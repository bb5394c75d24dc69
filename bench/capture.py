"""Capture throughput and peak memory against a bare Playwright loop, in the same run.

    .venv/bin/python bench/capture.py [PAGES] [--dir /tmp]

PAGES local pages (default 20) are served on 127.0.0.1, each with Ukrainian and Arabic text, three
photos (JPEG) and a lazy image below the fold. Four runs over the same pages:

- bare loop, concurrency 1 and 2: one Chromium, a fresh context per page, goto + full-page PNG +
  HTML, nothing else;
- `wb capture` (``workbench.services.capture.run.capture_urls``), concurrency 1 and 2: guard proxy, recording,
  scroll, screenshot, HTML, MHTML, text, WARC, WACZ, media, post context, and storing everything in
  a fresh archive home with custody events.

Peak memory is the largest resident set summed over this process and all its descendants (Chromium's
processes included), sampled every 100 ms from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from archive.cases import create_case  # noqa: E402
from archive.home import Home  # noqa: E402
from collectors.guard import Policy, parse_allow  # noqa: E402
from collectors.web import CHROMIUM, LAUNCH_FLAGS, CaptureSettings  # noqa: E402
from workbench import TOOL_VERSION  # noqa: E402
from workbench.services.capture.run import capture_urls  # noqa: E402
from workbench.services.sessions import create_first_admin  # noqa: E402

PAGE = """<!doctype html><html lang="uk"><head><meta charset="utf-8"><title>Сторінка {n}</title>
<meta property="og:description" content="صفحة {n}"></head><body>
<h1>Свідчення {n}</h1><p>شهادة رقم {n}</p>
<img src="p{a}.jpg"><img src="p{b}.jpg"><img src="p{c}.jpg">
<div style="height:3000px"></div><img loading="lazy" src="p{d}.jpg"></body></html>"""


def make_site(folder: Path, pages: int) -> None:
    folder.mkdir(parents=True)
    for i in range(max(8, pages)):
        img = Image.new("RGB", (800, 600), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        (folder / f"p{i}.jpg").write_bytes(buf.getvalue())
    for n in range(pages):
        a, b, c, d = ((n * 4 + k) % max(8, pages) for k in range(4))
        (folder / f"page{n}.html").write_text(PAGE.format(n=n, a=a, b=b, c=c, d=d), encoding="utf-8")


def serve(folder: Path) -> tuple[ThreadingHTTPServer, int]:
    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


class PeakRSS:
    """Largest summed RSS of this process and its descendants, sampled from /proc."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, tree_rss(os.getpid()))


def tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(ppid, []).append(pid)
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


async def bare(urls: list[str], concurrency: int) -> None:
    """The baseline: goto + full-page screenshot + HTML, a fresh context per page."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(LAUNCH_FLAGS))
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str) -> None:
            async with gate:
                context = await browser.new_context(viewport={"width": 1366, "height": 900})
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                await page.screenshot(full_page=True)
                await page.content()
                await context.close()

        await asyncio.gather(*(one(u) for u in urls))
        await browser.close()


def ours(urls: list[str], concurrency: int, root: Path, port: int) -> None:
    home = Home.init(root / "home", root / "key", TOOL_VERSION)
    with home.transaction("bench") as tx:
        case = create_case(tx, "bench", "benchmark")
    settings = CaptureSettings(policy=Policy(parse_allow([f"127.0.0.1:{port}"])))
    admin = create_first_admin(home, "bench", "benchmark password", "cli")
    results = capture_urls(home, case, urls, admin, settings, concurrency=concurrency)
    home.close()
    bad = [r for r in results if r.status != "captured"]
    assert not bad, [(r.url, r.reason) for r in bad[:3]]


def measure(work: Callable[[], None]) -> tuple[float, int]:
    with PeakRSS() as rss:
        start = time.perf_counter()
        work()
        elapsed = time.perf_counter() - start
    return elapsed, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pages", type=int, nargs="?", default=20, help="number of pages per run")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    need = args.pages * 6 << 20
    free = shutil.disk_usage(args.dir).free
    if free < need + (512 << 20):
        sys.exit(f"need {(need >> 20) + 512} MiB free in {args.dir}, have {free >> 20} MiB")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        make_site(work / "site", args.pages)
        server, port = serve(work / "site")
        urls = [f"http://127.0.0.1:{port}/page{n}.html" for n in range(args.pages)]
        rows = []
        for conc in (1, 2):
            b_time, b_rss = measure(lambda c=conc: asyncio.run(bare(urls, c)))  # type: ignore[misc]
            root = work / f"home{conc}"
            o_time, o_rss = measure(lambda c=conc, r=root: ours(urls, c, r, port))  # type: ignore[misc]
            rows.append((conc, b_time, b_rss, o_time, o_rss))
        server.shutdown()
    print(f"pages per run: {args.pages} (local, 4 JPEGs each incl. one lazy)")
    print(
        "conc  bare pages/min  bare peak MiB   wb pages/min  wb peak MiB   throughput wb/bare  memory wb/bare"
    )
    for conc, bt, br, ot, orss in rows:
        bp, op = 60 * args.pages / bt, 60 * args.pages / ot
        print(
            f"{conc:4}  {bp:14.1f}  {br / 2**20:13.0f}  {op:13.1f}  {orss / 2**20:11.0f}"
            f"   {op / bp:18.2f}  {orss / max(br, 1):14.2f}"
        )


if __name__ == "__main__":
    main()
