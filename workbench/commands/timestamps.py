"""`wb timestamps`: trusted timestamps over the custody log's checkpoints (workbench.timestamping).

wb timestamps                          the authority in use and every token (or pending attempt)
wb timestamps --retry                  stamp every checkpoint still waiting, now
wb timestamps --set-url URL --ca FILE  use this RFC 3161 authority (admin; WB_TSA_URL/WB_TSA_CA win)
wb timestamps --clear                  stop stamping (admin); tokens already kept stay
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench import timestamping
from workbench.clitools import Output, Registrar, UsageError, acting, open_home

__all__ = ["register"]


def cmd_timestamps(args: argparse.Namespace, out: Output) -> int:
    if bool(args.set_url) != bool(args.ca):
        raise UsageError("--set-url and --ca go together: the authority's address and its PEM chain")
    with open_home(args) as home:
        by = acting(home)
        if args.set_url:
            timestamping.configure_tsa(home, by, args.set_url, _read(args.ca))
            out.record({"tsa_url": args.set_url}, f"trusted timestamps from {args.set_url}")
            return 0
        if args.clear:
            timestamping.clear_tsa(home, by)
            out.record({"tsa_url": None}, "trusted timestamps off (tokens already kept stay)")
            return 0
        if args.retry:
            done, errors = timestamping.retry_timestamps(home, by)
            for error in errors:
                out.error(f"wb: trusted timestamp delayed: {error}")
            out.record({"stamped": done, "errors": errors}, f"{done} checkpoint(s) stamped")
            return 1 if errors else 0
        status = timestamping.timestamp_status(home, by)
    for t in status["tokens"]:
        when = t["gen_time"] or f"pending after {t['attempts']} attempt(s): {t['last_error']}"
        out.record(t, f"checkpoint {t['checkpoint_id']} (events 1..{t['tree_size']}) {t['status']} {when}")
    url = status["tsa_url"]
    out.record(
        {"summary": {"tsa_url": url, "tokens": len(status["tokens"])}},
        f"authority: {url or 'none configured'}; {len(status['tokens'])} checkpoint(s) tried",
    )
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None


def register(r: Registrar) -> None:
    p = r.add("timestamps", cmd_timestamps, "trusted timestamps (RFC 3161) over the custody log")
    p.add_argument("--retry", action="store_true", help="stamp every checkpoint still waiting, now")
    p.add_argument("--set-url", metavar="URL", help="the RFC 3161 authority to use (admin)")
    p.add_argument("--ca", metavar="FILE", help="with --set-url: PEM file of the authority's chain")
    p.add_argument("--clear", action="store_true", help="stop stamping (admin)")
