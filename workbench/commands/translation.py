"""`wb translation add|list`: translations of an item's captions and notes (LNG-03), as in the app.

The acting account is this user's session; ``workbench.translations`` checks it (a refusal exits 1
and is in the custody log). ``list`` prints each text that can be translated with its reference, then
the translations; ``add`` records one against such a reference.
"""

from __future__ import annotations

import argparse

from workbench import translations
from workbench.clitools import Output, Registrar, acting, open_home

__all__ = ["register"]


def cmd_add(args: argparse.Namespace, out: Output) -> int:
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


def cmd_list(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        sources = translations.item_sources(home, by, args.item_id, via="cli")
        found = translations.item_translations(home, by, args.item_id, via="cli")
        for s in sources:
            out.record(
                {"source_ref": s.ref, "label": s.label, "text": s.text}, f"{s.ref}  {s.label}: {s.text}"
            )
        for t in found:
            record = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in t.items()}
            who = f"{t['translator_type']}: {t['translator']}, recorded by {t['recorded_by']}"
            line = f"  -> {t['source_ref']} in {t['target_lang']} ({who}): {t['text']}"
            out.record(record, line)
        return 0


def register(r: Registrar) -> None:
    """Add ``wb translation add`` and ``wb translation list``."""
    group = r.group("translation", "translations of an item's captions and notes")
    p = r.add("add", cmd_add, "record a translation of one of an item's texts", group)
    p.add_argument("item_id")
    p.add_argument("--of", required=True, help="the text's reference, as `wb translation list` shows it")
    p.add_argument("--lang", required=True, help="BCP 47 tag of the translation (e.g. en, uk, ar)")
    p.add_argument("--text", required=True)
    p.add_argument("--source-lang", help="BCP 47 tag of the original")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--machine", metavar="TOOL", help="machine translation: the tool and its version")
    who.add_argument("--translator", help="the person who translated (default: you)")
    p.add_argument("--notes", help="translator's notes")
    r.add("list", cmd_list, "an item's texts and their translations", group).add_argument("item_id")
