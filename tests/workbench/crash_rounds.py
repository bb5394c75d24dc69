"""kill -9 during `wb encrypt` and during an encrypted `wb ingest`: the rounds, shared by the test
(a few rounds) and bench/encrypt_crash.py (ten). Real `wb` processes, real signals.

Run as a module from the repository root (it imports ``tests``).
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import FIRST_ADMIN, PASSWORD, REPO, clean_env, json_lines, run_wb
from tests.workbench.app_fixtures import make_png


@dataclass
class Round:
    killed_after: int  # output lines seen before the kill
    verified: bool
    detail: str


def env_for(root: Path) -> dict[str, str]:
    env = clean_env()
    env.update(
        WB_HOME=str(root / "home"),
        WB_KEY=str(root / "cfg" / "signing.key"),
        WB_SESSION=str(root / "cfg" / "session"),
        XDG_CONFIG_HOME=str(root / "cfg"),
    )
    return env


def make_photos(folder: Path, n: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        path = folder / f"p{i:03d}.png"
        path.write_bytes(make_png(i, (96 + i % 7, 64)))
        paths.append(path)
    return paths


def _run_until(env: dict[str, str], args: list[str], lines: int, stream: str, password: bool) -> int:
    """Start `wb ARGS`, killed (-9) as it writes its ``lines``-th line on ``stream``; the lines seen."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.workbench.crash_child", stream, str(lines), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(PASSWORD + "\n" if password else "")
    proc.stdin.close()
    source = proc.stderr if stream == "stderr" else proc.stdout
    assert source is not None
    seen = 0
    while seen < lines and source.readline():
        seen += 1
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return seen


def _verified(env: dict[str, str]) -> tuple[bool, str]:
    proc = run_wb(env, "verify", check=None)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def encrypt_rounds(root: Path, rounds: int, files: int = 12, seed: int = 1) -> list[Round]:
    """One plain home, `wb encrypt` killed ``rounds`` times at random points, then finished."""
    rng = random.Random(seed)
    env = env_for(root)
    run_wb(env, "init", "--admin", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "case", "create", "c1", "--purpose", "crash test")
    stored = json_lines(
        run_wb(env, "ingest", "--json", "--case", "c1", *map(str, make_photos(root / "in", files))).stdout
    )
    blobs = 2 * files  # each photo and its metadata sidecar
    args = ["encrypt", "--admin", FIRST_ADMIN, "--password-stdin", "--verbose"]
    out = []
    left = blobs
    for _ in range(rounds):
        # While sealing blobs, or right after the last one is sealed (the database's turn).
        at = rng.randint(1, left) if left > 1 and rng.random() < 0.7 else left
        seen = _run_until(env, args, at, "stderr", password=True)
        left -= seen
        out.append(Round(seen, False, "killed"))
    finish = run_wb(env, *args, input=PASSWORD, check=None)
    if finish.returncode != 0 and "encrypted already" not in finish.stderr:
        raise AssertionError(f"wb encrypt did not finish: {finish.stdout}{finish.stderr}")
    run_wb(env, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    ok, detail = _verified(env)
    listed = run_wb(env, "log", "--json", str(stored[-1]["item_id"]), check=None).returncode == 0
    resumed = "resumed" if finish.returncode == 0 else "finished before the last kill"
    out.append(Round(-1, ok and listed and f"intact: {blobs} files" in detail, f"{resumed}: {detail}"))
    return out


def ingest_rounds(root: Path, rounds: int, files: int = 10, seed: int = 2) -> list[Round]:
    """An encrypted home; each round an ingest killed after some files, then verified and finished."""
    rng = random.Random(seed)
    env = env_for(root)
    run_wb(env, "init", "--encrypt", "--admin", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "case", "create", "c1", "--purpose", "crash test")
    out = []
    for r in range(rounds):
        paths = [str(p) for p in make_photos(root / f"in{r}", files, start=100 * (r + 1))]
        seen = _run_until(
            env, ["ingest", "--json", "--case", "c1", *paths], rng.randint(1, files - 1), "stdout", False
        )
        ok, detail = _verified(env)
        again = json_lines(run_wb(env, "ingest", "--json", "--case", "c1", *paths).stdout)
        statuses = sorted({str(row["status"]) for row in again})
        done, detail2 = _verified(env)
        whole = len(again) == files and set(statuses) <= {"stored", "duplicate"}
        out.append(Round(seen, ok and done and whole, f"{detail} / {detail2} / {statuses}"))
    return out
