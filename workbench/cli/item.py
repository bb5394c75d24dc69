"""Commands on items: bring files in (`wb ingest`), their custody timeline (`log`, `access-log`),
annotations (`tag`, `classify`, `assign`, `method-step`) and translations of their texts (LNG-03)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from archive.home import Home
from workbench.cli.tools import (
    Output,
    Registrar,
    acting,
    find_case,
    open_home,
)
from workbench.services.auth import Account
from workbench.services.deletion import tombstones
from workbench.services.timeline import item_timeline
from workbench.services.timestamping import event_stamps

# Translations (langcodes) load when a translation command runs, not for every `wb`.

__all__ = ["register"]

TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def cmd_ingest(args: argparse.Namespace, out: Output) -> int:
    from workbench.services.intake import ingest_paths  # ingest's stack loads only when files come in

    counts = {"stored": 0, "duplicate": 0, "refused": 0}
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        for result in ingest_paths(home, case, args.paths, by, device=args.device):
            counts[result.status] += 1
            data = result.as_json()
            if result.status == "refused":
                out.error(f"{result.path}: refused: {result.reason}")
            out.record(
                data,
                f"{result.status:9} {result.sha256 or '-':64} {result.item_id or '-'} {result.path}"
                + (f"  [{result.note}]" if result.note else ""),
            )
    if not out.as_json:
        out.record(
            {},
            f"{counts['stored']} stored, {counts['duplicate']} duplicate, {counts['refused']} refused",
        )
    return 1 if counts["refused"] else 0


def cmd_log(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        gone = tombstones(home, by, args.item_id)
        if gone:  # RET-02: an erased item answers when it went, not a bare refusal
            for t in gone:
                out.record(
                    t.as_record(), f"item {t.item_id} ({t.sha256}) was deleted on {t.deleted_at:%Y-%m-%d}"
                )
            return 0
        events = item_timeline(home, by, args.item_id)
        stamps = event_stamps(home, [ev.seq for ev in events])
    for ev in events:
        data = {
            "position": ev.seq,
            "event_id": ev.event_id,
            "at": ev.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": ev.actor,
            "via": ev.via,
            "action": ev.action,
            "item_id": ev.item_id,
            "artifact_sha256": ev.artifact_sha256,
            "before_sha256": ev.before_sha256,
            "after_sha256": ev.after_sha256,
            "details": dict(ev.details),
            "event_hash": ev.event_hash,
            # The time of the earliest trusted timestamp whose checkpoint holds this event.
            "tsa_time": stamps.get(ev.seq),
        }
        stamped = f"  [TSA {stamps[ev.seq]}]" if ev.seq in stamps else ""
        out.record(
            data,
            f"{ev.seq:6} {data['at']} {ev.actor} ({ev.via}) {ev.action} {ev.artifact_sha256 or ''}{stamped}",
        )
    return 0


def cmd_access_log(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import access

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
    from workbench.services import access

    def act(home: Home, by: Account) -> dict[str, Any]:
        r = access.tag_item(home, by, args.item_id, args.tag, via="cli")
        if r.prompt_classification:
            out.error(f"wb: {args.item_id} is now {r.classification}: classify it (`wb classify ITEM LEVEL`)")
        return {"item_id": args.item_id, "tag": r.tag, "classification": r.classification}

    return _item_action(args, out, act)


def cmd_classify(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import access

    def act(home: Home, by: Account) -> dict[str, Any]:
        return {
            "item_id": args.item_id,
            "classification": access.classify(home, by, args.item_id, args.level, "cli"),
        }

    return _item_action(args, out, act)


def cmd_assign(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import access

    def act(home: Home, by: Account) -> dict[str, Any]:
        access.assign(home, by, args.item_id, args.user, via="cli")
        return {"item_id": args.item_id, "assigned": args.user}

    return _item_action(args, out, act)


def cmd_method_step(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import review

    def act(home: Home, by: Account) -> dict[str, Any]:
        nid = review.add_method_step(
            home, by, args.item_id, args.tool, args.query, args.result, args.date, "cli"
        )
        return {"item_id": args.item_id, "note_id": nid}

    return _item_action(args, out, act)


def cmd_translation_add(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import translations

    with open_home(args) as home:
        by = acting(home)
        tid = translations.add_translation(
            home, by, args.item_id, args.of, args.lang, args.text,
            translator_type="machine" if args.machine else "human",
            translator=args.machine or args.translator or "", source_lang=args.source_lang or "",
            notes_text=args.notes or "", via="cli",
        )  # fmt: skip
        out.record({"item_id": args.item_id, "translation_id": tid}, f"translation {tid} recorded")
        return 0


def cmd_translation_list(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import translations

    with open_home(args) as home:
        by = acting(home)
        sources = translations.item_sources(home, by, args.item_id, via="cli")
        found = translations.item_translations(home, by, args.item_id, via="cli")
        for s in sources:
            out.record(
                {"source_ref": s.ref, "label": s.label, "text": s.text}, f"{s.ref}  {s.label}: {s.text}"
            )
        for t in found:
            who = f"{t.translator_type}: {t.translator}, recorded by {t.recorded_by}"
            line = f"  -> {t.source_ref} in {t.target_lang} ({who}): {t.text}"
            out.record(t.as_json(), line)
        return 0


def register(r: Registrar) -> None:
    """Add `wb ingest`, `log`, `access-log`, `tag`, `classify`, `assign`, `method-step` and `translation`."""
    from workbench.services import access

    p = r.add("ingest", cmd_ingest, "bring files, folders and zips into a case")
    p.add_argument("--case", required=True)
    p.add_argument("--device", help="label of the source device (phone, SD card) to record")
    p.add_argument("paths", nargs="+")
    p = r.add("log", cmd_log, "the custody timeline of an item (of an erased one: when it was deleted)")
    p.add_argument("item_id", help="an item id (for an erased item also its original's SHA-256)")
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
    group = r.group("translation", "translations of an item's captions and notes")
    p = r.add("add", cmd_translation_add, "record a translation of one of an item's texts", group)
    p.add_argument("item_id")
    p.add_argument("--of", required=True, help="the text's reference, as `wb translation list` shows it")
    p.add_argument("--lang", required=True, help="BCP 47 tag of the translation (e.g. en, uk, ar)")
    p.add_argument("--text", required=True)
    p.add_argument("--source-lang", help="BCP 47 tag of the original")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--machine", metavar="TOOL", help="machine translation: the tool and its version")
    who.add_argument("--translator", help="the person who translated (default: you)")
    p.add_argument("--notes", help="translator's notes")
    r.add("list", cmd_translation_list, "an item's texts and their translations", group).add_argument(
        "item_id"
    )
