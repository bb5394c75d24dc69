"""`wb similar` and `wb dedup`: near-duplicates of a file, clusters of a case, and people's decisions.

wb similar --case SLUG FILE [--json]
wb dedup --case SLUG [--duplicate-threshold X] [--related-threshold Y] [--json]
wb dedup confirm CLUSTER_ID ITEM_ID      (or reject): recorded with a custody event
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.tools import Output, Registrar, UsageError, acting, find_case, open_home
from workbench.services.dedup import DUPLICATE_THRESHOLD, RELATED_THRESHOLD

# The near-duplicate stack (numpy, the index) loads when a dedup command runs, not for every `wb`.

__all__ = ["register"]


def cmd_similar(args: argparse.Namespace, out: Output) -> int:
    from detectors.imageio import ImageRefused
    from workbench.services.dedup import clusters as dedup

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: not a file")
    _check_thresholds(args)
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        try:
            hits = dedup.similar(home, by, case, path, args.duplicate_threshold, args.related_threshold)
        except (ImageRefused, OSError) as exc:
            out.error(f"{args.file}: refused: {exc}")
            return 1
    for h in hits:
        data = {
            "item_id": h.item_id,
            "sha256": h.sha256,
            "distance": h.distance,
            "match": h.match,
            "kind": h.level,
            "t": h.t,
        }
        at = f" at {h.t:.2f}s" if h.t is not None else ""
        out.record(data, f"{h.level:16} {h.distance:3} bits {h.match}{at} {h.item_id} {h.sha256}")
    if not out.as_json:
        out.record({}, f"{len(hits)} similar item(s) in case {case.slug}")
    return 0


def _check_thresholds(args: argparse.Namespace) -> None:
    d, r = args.duplicate_threshold, args.related_threshold
    if not (0 <= d <= r <= 64):
        raise UsageError("thresholds must satisfy 0 <= duplicate <= related <= 64 (bits)")


def cmd_dedup(args: argparse.Namespace, out: Output) -> int:
    from workbench.services.dedup import clusters as dedup

    words = list(args.words)
    if words and words[0] in ("confirm", "reject"):
        if len(words) != 3:
            raise UsageError(f"usage: wb dedup {words[0]} CLUSTER_ID ITEM_ID")
        return _decide(args, out, words[0], words[1], words[2])
    if words:
        raise UsageError(f"unknown dedup action {words[0]!r} (confirm or reject)")
    if not args.case:
        raise UsageError("wb dedup needs --case SLUG")
    _check_thresholds(args)
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        found = dedup.clusters(home, by, case, args.duplicate_threshold, args.related_threshold)
    for c in found:
        ek = c.earliest_known
        label = (
            f"earliest known (as of {ek['as_of']}, by {ek['basis']}): {ek['item_id']}"
            if ek
            else "no sightings"
        )
        out.record(c.as_json(), f"{c.cluster_id} {c.kind:16} {len(c.members)} items; {label}")
    if not out.as_json:
        out.record({}, f"{len(found)} cluster(s) in case {case.slug}")
    return 0


def _decide(args: argparse.Namespace, out: Output, action: str, cluster_id: str, item_id: str) -> int:
    from workbench.services.dedup import clusters as dedup

    decision = "confirmed" if action == "confirm" else "rejected"
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case) if args.case else None
        result = dedup.decide(home, by, cluster_id, item_id, decision, case)
    out.record(result.as_json(), f"{decision}: item {item_id} in {cluster_id} (recorded in the custody log)")
    return 0


def register(r: Registrar) -> None:
    """Add `wb similar` and `wb dedup`."""
    p = r.add("similar", cmd_similar, "near-duplicates of a file among a case's items")
    p.add_argument("--case", required=True)
    p.add_argument("file")
    _thresholds(p)
    p = r.add("dedup", cmd_dedup, "near-duplicate clusters of a case; `confirm`/`reject` record a decision")
    p.add_argument("--case")
    _thresholds(p)
    p.add_argument("words", nargs="*", metavar="confirm|reject CLUSTER_ID ITEM_ID")


def _thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--duplicate-threshold",
        type=int,
        default=DUPLICATE_THRESHOLD,
        help=f"bits (of 64) for 'duplicate' (default {DUPLICATE_THRESHOLD})",
    )
    p.add_argument(
        "--related-threshold",
        type=int,
        default=RELATED_THRESHOLD,
        help=f"bits (of 64) for 'possibly related' (default {RELATED_THRESHOLD})",
    )
