"""`wb fixity`: re-hash every stored file, record the run, mark items whose files changed (admins).

wb fixity [--json]          run (or resume) a fixity run; lines in the `wb verify` format
wb fixity --limit N         stop after N files (the run resumes where it stopped next time)
wb fixity --every DAYS      how often the app's background work runs it (0: never; default 7)
"""

from __future__ import annotations

import argparse
import sys

from workbench import fixity
from workbench.clitools import Output, Registrar, UsageError, acting, open_home

__all__ = ["register"]

PROBLEMS = {
    "changed": "content changed: now hashes to {found}",
    "missing": "file missing",
    "unreadable": "file unreadable",
}


def cmd_fixity(args: argparse.Namespace, out: Output) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit is a number of files, 1 or more")
    with open_home(args) as home:
        by = acting(home)
        if args.every is not None:
            fixity.set_schedule(home, by, args.every)
            out.record({"every_days": args.every}, f"fixity runs every {args.every} day(s) (0: never)")
            return 0
        show = not out.as_json and sys.stderr.isatty()
        run = fixity.run_fixity(home, by, limit=args.limit, progress=_progress if show else None)
        if show:
            sys.stderr.write("\n")
    for f in run.failed:
        out.record(
            {"kind": "blob", "ref": f["sha256"], "position": None, "problem": _problem(f)},
            f"PROBLEM blob {f['sha256']}: {_problem(f)}",
        )
    for p in run.chain_problems:
        where = f" at position {p.position}" if p.position is not None else ""
        out.record(
            {"kind": p.kind, "ref": p.ref, "position": p.position, "problem": p.problem},
            f"PROBLEM {p.kind} {p.ref}{where}: {p.problem}",
        )
    problems = len(run.failed) + len(run.chain_problems)
    summary = {
        "blobs": run.checked,
        "events": run.events,
        "problems": problems,
        "run_id": run.run_id,
        "resumed": run.resumed,
        "finished": run.finished,
    }
    if not run.finished:
        line = (
            f"fixity run {run.run_id} stopped after {run.checked} of {run.total} files: "
            "run wb fixity again to resume"
        )
    else:
        verdict = "intact" if not problems else "NOT INTACT"
        line = (
            f"{verdict}: {run.checked} files re-hashed, {run.events} custody events checked, "
            f"{problems} problems (fixity run {run.run_id}{', resumed' if run.resumed else ''})"
        )
    out.record({"summary": summary}, line)
    return 1 if problems else 0


def _progress(done: int, total: int) -> None:
    """A one-line progress bar on standard error (only on a terminal)."""
    filled = int(30 * done / max(1, total))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} files")
    sys.stderr.flush()


def _problem(failure: dict[str, object]) -> str:
    return PROBLEMS.get(str(failure["state"]), str(failure["state"])).format(
        found=failure.get("found_sha256")
    )


def register(r: Registrar) -> None:
    p = r.add("fixity", cmd_fixity, "re-hash every stored file and record the run (admins)")
    p.add_argument("--limit", type=int, help="stop after N files; the next run resumes there")
    p.add_argument("--every", type=int, metavar="DAYS", help="set the app's schedule (0: never)")
