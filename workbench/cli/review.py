"""The verification workflow from the command line: `wb judge`, `review` (blind, independent),
`adjudicate` and `reviews` (VER-01..07)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from workbench.cli.tools import Output, Registrar, UsageError, acting, open_home
from workbench.services import review

__all__ = ["register"]


TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _strands(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in review.STRANDS:
        raw = getattr(args, name)
        if raw:
            try:
                out[name] = json.loads(raw)
            except ValueError as exc:
                raise UsageError(f"--{name.replace('_', '-')} is not JSON: {exc}") from None
    return out


def _outcome(out: Output, item_id: str, o: review.Outcome) -> None:
    out.record(
        {"item_id": item_id, "judgement_id": o.judgement_id, "status": o.item_status, "state": o.state},
        f"item {item_id}: judgement {o.judgement_id} recorded; item is {o.state}",
    )


def _judge(args: argparse.Namespace, out: Output, independent: bool) -> int:
    strands = _strands(args)
    with open_home(args) as home:
        by = acting(home)
        o = review.submit_review(
            home, by, args.item_id, args.status, args.confidence, args.rationale, strands,
            independent=independent, via="cli",
        )  # fmt: skip
        _outcome(out, args.item_id, o)
        return 0


def cmd_judge(args: argparse.Namespace, out: Output) -> int:
    return _judge(args, out, independent=False)


def cmd_review(args: argparse.Namespace, out: Output) -> int:
    return _judge(args, out, independent=True)


def cmd_adjudicate(args: argparse.Namespace, out: Output) -> int:
    strands = _strands(args)
    with open_home(args) as home:
        by = acting(home)
        o = review.adjudicate(
            home, by, args.item_id, args.status, args.rationale, args.confidence, strands, via="cli"
        )
        _outcome(out, args.item_id, o)
        return 0


def cmd_reviews(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        view = review.reviews_of(home, by, args.item_id, via="cli")
        for r in view.visible:
            data = {"id": r.id, "kind": r.kind, "reviewer": r.reviewer, "status": r.status,
                    "confidence": r.confidence, "rationale": r.rationale, "strands": dict(r.strands),
                    "created_at": r.created_at.strftime(TIME)}  # fmt: skip
            out.record(data, f"{r.id} {r.kind} {r.reviewer} {r.status} confidence {r.confidence}")
        out.record({"state": view.state, "hidden": view.hidden}, f"{view.state}; {view.hidden} hidden")
        return 0


def _judgement_flags(p: argparse.ArgumentParser, confidence_required: bool) -> None:
    p.add_argument("item_id")
    p.add_argument(
        "--status", required=True, help="unverified, in_progress, verified, partially_verified, ..."
    )
    p.add_argument("--confidence", required=confidence_required, help="1-5 or very_low ... very_high")
    p.add_argument("--rationale", required=True)
    for name in review.STRANDS:
        p.add_argument(
            f"--{name.replace('_', '-')}", dest=name, help=f"{name} as JSON (method, evidence_links, note)"
        )


def register(r: Registrar) -> None:
    """Add `wb judge`, `review`, `adjudicate` and `reviews`."""
    _judgement_flags(r.add("judge", cmd_judge, "record a judgement on an item"), True)
    _judgement_flags(r.add("review", cmd_review, "record an independent review of an item"), True)
    _judgement_flags(r.add("adjudicate", cmd_adjudicate, "resolve a disputed item"), False)
    r.add("reviews", cmd_reviews, "the reviews of an item you may see now").add_argument("item_id")
