"""`wb` subcommands for accounts, access and the verification workflow.

The acting account is this user's session (``wb login``, INTERFACE.md); the same permission checks
as the app's apply. A refused action exits 1 and is in the custody log.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from archive.home import Home
from workbench import access, auth, review
from workbench.auth import Account
from workbench.clitools import Output, Registrar, UsageError, acting, find_case, open_home

__all__ = ["register"]

TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def cmd_member_add(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        with home.transaction(by.name) as tx:
            auth.add_member(tx, by, case.id, args.user)
        out.record({"case": case.slug, "user": args.user}, f"{args.user} is a member of {case.slug}")
        return 0


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


def cmd_access_log(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        for ev in access.access_report(home, by, args.item_id):
            data = {"position": ev.seq, "at": ev.at.strftime(TIME), "actor": ev.actor, "via": ev.via,
                    "action": ev.action, "item_id": ev.item_id}  # fmt: skip
            out.record(data, f"{data['at']} {ev.actor} ({ev.via}) {ev.action}")
        return 0


def _item_action(
    args: argparse.Namespace, out: Output, act: Callable[[Home, Account], dict[str, Any]]
) -> int:
    with open_home(args) as home:
        by = acting(home)
        data = act(home, by)
        out.record(data, " ".join(f"{k}={v}" for k, v in data.items()))
        return 0


def cmd_tag(args: argparse.Namespace, out: Output) -> int:
    def act(home: Home, by: Account) -> dict[str, Any]:
        r = access.tag_item(home, by, args.item_id, args.tag, via="cli")
        if r.prompt_classification:
            out.error(f"wb: {args.item_id} is now {r.classification}: classify it (`wb classify ITEM LEVEL`)")
        return {"item_id": args.item_id, "tag": r.tag, "classification": r.classification}

    return _item_action(args, out, act)


def cmd_classify(args: argparse.Namespace, out: Output) -> int:
    def act(home: Home, by: Account) -> dict[str, Any]:
        return {
            "item_id": args.item_id,
            "classification": access.classify(home, by, args.item_id, args.level, "cli"),
        }

    return _item_action(args, out, act)


def cmd_assign(args: argparse.Namespace, out: Output) -> int:
    def act(home: Home, by: Account) -> dict[str, Any]:
        access.assign(home, by, args.item_id, args.user, via="cli")
        return {"item_id": args.item_id, "assigned": args.user}

    return _item_action(args, out, act)


def cmd_method_step(args: argparse.Namespace, out: Output) -> int:
    def act(home: Home, by: Account) -> dict[str, Any]:
        nid = review.add_method_step(
            home, by, args.item_id, args.tool, args.query, args.result, args.date, "cli"
        )
        return {"item_id": args.item_id, "note_id": nid}

    return _item_action(args, out, act)


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
    """Add the membership, access and review subcommands."""
    member = r.group("member", "case membership")
    p = r.add("add", cmd_member_add, "make a user a member of a case", member)
    p.add_argument("--case", required=True)
    p.add_argument("user")
    _judgement_flags(r.add("judge", cmd_judge, "record a judgement on an item"), True)
    _judgement_flags(r.add("review", cmd_review, "record an independent review of an item"), True)
    _judgement_flags(r.add("adjudicate", cmd_adjudicate, "resolve a disputed item"), False)
    r.add("reviews", cmd_reviews, "the reviews of an item you may see now").add_argument("item_id")
    r.add("access-log", cmd_access_log, "who viewed, revealed or exported an item").add_argument("item_id")
    p = r.add("tag", cmd_tag, "tag an item (content warnings: graphic violence, sexual violence, ...)")
    p.add_argument("item_id")
    p.add_argument("tag")
    p = r.add("classify", cmd_classify, "set an item's classification")
    p.add_argument("item_id")
    p.add_argument("level", choices=[c.value for c in access.Classification])
    p = r.add("assign", cmd_assign, "give a case member access to a sensitive item")
    p.add_argument("item_id")
    p.add_argument("user")
    p = r.add("method-step", cmd_method_step, "add a step to an item's methodology log")
    p.add_argument("item_id")
    p.add_argument("--tool", required=True)
    p.add_argument("--query", default="")
    p.add_argument("--result", required=True)
    p.add_argument("--date", default="")
