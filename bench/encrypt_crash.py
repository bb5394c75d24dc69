"""kill -9 during `wb encrypt` and during an encrypted `wb ingest`, ten rounds each by default:
nothing lost, the home verifies after resuming. Counts, not timings.

    .venv/bin/python -m bench.encrypt_crash [--rounds 10] [--files 12] [--dir /tmp]

Run from the repository root as a module (it shares its rounds with tests/workbench/crash_rounds.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from archive.home import memory_root, read_info
from tests.workbench.crash_rounds import encrypt_rounds, ingest_rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10, help="kills per scenario")
    parser.add_argument("--files", type=int, default=12, help="photos in the home (size argument)")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    if shutil.disk_usage(args.dir).free < 200 << 20:
        sys.exit(f"need 200 MiB free in {args.dir}")
    failures = 0
    for name, run in (("wb encrypt", encrypt_rounds), ("encrypted wb ingest", ingest_rounds)):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            rounds = run(Path(tmp), args.rounds, max(2, args.files))
            shutil.rmtree(memory_root(read_info(Path(tmp) / "home")["home_id"]), ignore_errors=True)
        if name == "wb encrypt":  # one conversion, killed again and again, then finished and verified
            bad = [r for r in rounds if r.killed_after == -1 and not r.verified]
        else:  # each round: killed, verified, the same files ingested again, verified
            bad = [r for r in rounds if not r.verified]
        failures += len(bad)
        kills = sum(1 for r in rounds if r.killed_after >= 0)
        print(f"{name}: {kills} kill -9, {len(bad)} rounds that did not verify afterwards")
        for r in bad:
            print(f"  {r.detail}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
