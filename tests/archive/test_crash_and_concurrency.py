"""kill -9 in the middle of an ingest loses nothing; two ingests at once both succeed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Account, RunWb, json_lines
from tests.rawdb import raw_db

pytestmark = pytest.mark.slow


def big_file(path: Path, mib: int) -> Path:
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(mib):
            fh.write(block[:-8] + i.to_bytes(8, "big"))
    return path


def test_kill_9_during_ingest_leaves_no_partial_file_and_a_rerun_completes(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "crash test")
    small = tmp_path / "first.txt"
    small.write_text("ingested before the crash\n")
    wb("ingest", "--case", "alpha", str(small))
    big = big_file(tmp_path / "big.bin", 512)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "ingest", "--case", "alpha", str(big)],
        env=wb_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    incoming = Path(wb_env["WB_HOME"]) / "blobs" / ".incoming"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size > (1 << 20) for p in incoming.glob("put-*")):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the ingest finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    home = Path(wb_env["WB_HOME"])
    visible = [p for p in (home / "blobs").glob("??/??/*")]
    assert all(p.stat().st_size < big.stat().st_size for p in visible), "a partial file became visible"
    conn = sqlite3.connect(home / "archive.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    wb("verify")
    (line,) = json_lines(wb("ingest", "--case", "alpha", str(big), "--json").stdout)
    assert line["status"] == "stored"
    wb("verify")


# On PostgreSQL too: there the writers' advisory lock (archive/db.py) keeps the custody chain one line.
@pytest.mark.both_engines
def test_two_ingests_into_one_case_at_once_both_succeed(
    wb: RunWb, wb_env: dict[str, str], account: Account, tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "concurrency test")
    envs = [account(f"analyst-{i}", "analyst", "alpha") for i in range(2)]
    sets = []
    for who in ("a", "b"):
        folder = tmp_path / who
        folder.mkdir()
        for i in range(25):
            (folder / f"{who}{i}.txt").write_text(f"{who} statement {i}\n")
        (folder / "shared.txt").write_text("the same bytes in both sets\n")
        sets.append(folder)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workbench.cli",
                "ingest",
                "--case",
                "alpha",
                "--json",
                str(f),
            ],
            env=envs[i],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, f in enumerate(sets)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    lines = [line for out, _ in outputs for line in json_lines(out)]
    assert len(lines) == 52
    assert sorted(str(x["status"]) for x in lines).count("duplicate") == 1
    conn = raw_db(wb_env)
    assert conn.one("SELECT count(*) FROM items") == 51
    assert conn.one("SELECT count(*) FROM sightings") == 52
    conn.close()
    wb("verify")
