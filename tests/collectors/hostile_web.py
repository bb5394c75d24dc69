"""Run the public hostile web corpus through `wb capture` and print one JSON summary.

Meant to run inside a loopback-only network namespace (``unshare -rn``): it brings ``lo`` up when
asked, starts the corpus server on a free port (the canary on port+1), captures every web case with
only the pages port allow-listed, reads the canary's log and runs `wb verify`.
Usage (from the repository root): python -m tests.collectors.hostile_web WORKDIR [--lo-up]
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from tests.conftest import init_home

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "hostile" / "make_public_corpus.py"
CASES = [
    "/ok",
    "/redirect/loop",
    "/redirect/file",
    "/redirect/internal",
    "/subresources",
    "/slow",
    "/big?mb=50",
    "/dialogs",
    "/popups",
    "/download",
    "/scroll",
    "/xss",
]


def free_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no free pair of ports")


def _marked_processes(mark: str) -> list[int]:
    """Processes still alive that inherited this run's marker (an orphaned Chromium would)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if f"WB_HOSTILE_RUN={mark}".encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _records(db: Path) -> dict[str, dict[str, object]]:
    """Per requested URL: how many dialogs and popups the capture record logged."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("select requested_url, record from captures").fetchall()
    finally:
        conn.close()
    out: dict[str, dict[str, object]] = {}
    for url, text in rows:
        rec = json.loads(text)
        out[url] = {
            "dialogs": len(rec.get("dialogs") or []),
            "popups": len(rec.get("popups") or []),
            "screenshot": rec.get("screenshot"),
        }
    return out


def main(work: Path, lo_up: bool) -> dict[str, object]:
    if lo_up:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = free_pair()
    server = subprocess.Popen(
        [sys.executable, str(CORPUS), "serve", "--seed", "0", "--port", str(port), "--slow-max", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # the server prints one line when both ports listen
        mark = uuid.uuid4().hex
        env = dict(
            os.environ,
            WB_HOSTILE_RUN=mark,
            WB_HOME=str(work / "home"),
            WB_KEY=str(work / "key"),
            WB_SESSION=str(work / "session"),
            WB_CAPTURE_ALLOW=f"127.0.0.1:{port}",
        )
        wb = [sys.executable, "-m", "workbench.cli"]
        init_home(env)
        subprocess.run(
            [*wb, "case", "create", "h", "--purpose", "hostile"], env=env, check=True, capture_output=True
        )
        urls = [f"http://127.0.0.1:{port}{p}" for p in CASES]
        start = time.monotonic()
        cap = subprocess.run(
            [*wb, "capture", "--case", "h", "--json", "--timeout", "20", "--max-mb", "16", *urls],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - start
        time.sleep(0.5)
        orphans = _marked_processes(mark)
        records = _records(work / "home" / "archive.sqlite3")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__canary", timeout=10) as resp:  # noqa: S310
            hits = json.loads(resp.read())
        verify = subprocess.run([*wb, "verify"], env=env, capture_output=True, text=True)
    finally:
        server.kill()
        server.wait()
    return {
        "exit": cap.returncode,
        "lines": [json.loads(x) for x in cap.stdout.splitlines() if x.strip()],
        "stderr": cap.stderr[-4000:],
        "canary_hits": hits,
        "verify_exit": verify.returncode,
        "verify": verify.stdout[-2000:],
        "seconds": round(seconds, 1),
        "orphans": orphans,
        "records": records,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), "--lo-up" in sys.argv)))
