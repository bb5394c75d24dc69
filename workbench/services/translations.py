"""Translations of an item's text (LNG-03), kept as separate records linked to the original.

The original stays verbatim where it is: a caption in a sighting or a capture record, or a note
(a description or a method step). A translation names what it translates (``source_ref``) and keeps a
verbatim copy of the original as it was translated, so that a report shows both side by side even if
the original is later changed. It records the languages as BCP 47 tags (validated against the IANA
registry that ``langcodes`` ships, and stored in their canonical form), whether a person or a machine
translated it (a machine: the tool and its version, named by the person who ran it; the workbench
itself never sends text anywhere), who recorded it and when.

Who may act: recording a translation is an annotation (analysts, reviewers, admins) of an item the
account may see; any account that may see the item reads its translations. Blind review holds: a
translation of a note by a reviewer whose work is still hidden from the reader, or made by such a
reviewer, is not shown (as the note itself is not). Every refusal is one ``access.denied`` event;
the custody event ``translation.recorded`` names the item, the translation id and the languages, never
the text. The rows are personal text: erasure removes them with the item (``archive.deletion``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import langcodes
from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import notes, sightings, translations, utcnow
from archive.errors import InvalidRequest
from archive.home import Home
from workbench.services import access, review
from workbench.services.access import NOT_FOUND
from workbench.services.auth import AccessDenied, Account, Perm

__all__ = [
    "KINDS",
    "Source",
    "Translation",
    "TranslationError",
    "add_translation",
    "item_sources",
    "item_translations",
    "language_tag",
    "visible_translations",
]

KINDS = ("human", "machine")
TAG_SHAPE = re.compile(r"[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*")
NOTE_KINDS = ("description", "method_step", "note")
TEXT_MAX = 50_000
NAME_MAX = 128


class TranslationError(InvalidRequest, ValueError):
    """A translation cannot be recorded as asked (bad language tag, empty text, unknown original)."""


@dataclass(frozen=True)
class Translation:
    """One recorded translation, with the verbatim original it was made from."""

    id: int
    item_id: str
    source_ref: str  # caption:sighting:ID | caption:capture:ID | note:ID
    source_text: str
    source_lang: str | None
    target_lang: str
    text: str
    translator_type: str  # human | machine
    translator: str  # the person, or the tool and its version
    notes: str
    recorded_by: str
    created_at: datetime

    def as_row(self) -> dict[str, Any]:
        """The fields as stored (``created_at`` a datetime), for reports to render."""
        return asdict(self)

    def as_json(self) -> dict[str, Any]:
        """The fields as ``wb translation list --json`` prints them (the time in ISO 8601)."""
        return {**self.as_row(), "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Source:
    """One piece of an item's text that can be translated."""

    ref: str  # caption:sighting:ID, caption:capture:ID or note:ID
    label: str  # what it is, for a person choosing it ("caption (capture ...)", "description by ...")
    text: str


def language_tag(tag: str) -> str:
    """The canonical form of a BCP 47 tag ("uk", "ar-SY", "ckb"); TranslationError if it is not one
    whose subtags are in the IANA registry."""
    cleaned = tag.strip()
    # langcodes also takes "en_US" and other near-misses; BCP 47 is letters and digits between hyphens.
    if not TAG_SHAPE.fullmatch(cleaned) or len(cleaned) > 64 or not langcodes.tag_is_valid(cleaned):
        raise TranslationError(f"{tag!r} is not a valid BCP 47 language tag (e.g. uk, ar, en-GB, ckb)")
    return str(langcodes.standardize_tag(cleaned))


def _captions(conn: Connection, account: Account, item_id: str) -> list[Source]:
    found: list[Source] = []
    q = select(sightings.c.id, sightings.c.details).where(sightings.c.item_id == item_id)
    for sid, details in conn.execute(q.order_by(sightings.c.id)):
        caption = (details or {}).get("caption")
        if isinstance(caption, str) and caption.strip():
            found.append(Source(f"caption:sighting:{sid}", f"caption (sighting {sid})", caption))
    for cap_id, record in access.capture_records(conn, account, item_id):
        post = record.get("post") or {}
        text = post.get("caption") or post.get("text") if isinstance(post, dict) else None
        if isinstance(text, str) and text.strip():
            found.append(Source(f"caption:capture:{cap_id}", f"caption (capture {cap_id})", text))
    once: dict[str, Source] = {}
    for source in found:  # a caption seen in several places is one text to translate
        once.setdefault(source.text, source)
    return list(once.values())


def _note_text(body: Any) -> str | None:
    """A description's or note's text; a method step's query and result (its words, not its tool)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("text"), str):
        return str(body["text"])
    return "\n".join(
        f"{k}: {body[k]}" for k in ("query", "result") if isinstance(body.get(k), str) and body[k]
    )


def _notes(conn: Connection, item_id: str, hidden: frozenset[str]) -> list[Source]:
    q = (
        select(notes.c.id, notes.c.kind, notes.c.author, notes.c.body)
        .where(notes.c.item_id == item_id, notes.c.deleted_at.is_(None), notes.c.kind.in_(NOTE_KINDS))
        .order_by(notes.c.id)
    )
    found = []
    for nid, kind, author, body in conn.execute(q):
        text = _note_text(body)
        if author not in hidden and isinstance(text, str) and text.strip():
            found.append(Source(f"note:{nid}", f"{str(kind).replace('_', ' ')} by {author}", text))
    return found


def _sources(conn: Connection, account: Account, item_id: str) -> list[Source]:
    hidden = review.hidden_reviewers(conn, account, item_id)
    return _captions(conn, account, item_id) + _notes(conn, item_id, hidden)


def item_sources(home: Home, by: Account, item_id: str, via: str = "app") -> list[Source]:
    """The item's captions and notes the account may read, each once (a logged refusal otherwise)."""
    row = access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        return _sources(conn, by, row.id)


def _clean_text(value: str, what: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise TranslationError(f"the {what} is empty")
    if len(text) > limit:
        raise TranslationError(f"the {what} is longer than {limit} characters")
    return text


def add_translation(
    home: Home,
    by: Account,
    item_id: str,
    source_ref: str,
    target_lang: str,
    text: str,
    *,
    translator_type: str = "human",
    translator: str = "",
    source_lang: str = "",
    notes_text: str = "",
    via: str = "app",
) -> int:
    """Record a translation of one of the item's texts; its id. ``translator`` is the person who
    translated (default: the account) or, for a machine translation, the tool and its version
    (required). Logged as ``translation.recorded`` with ids and language tags only."""
    row = access.authorise(home, by, item_id, Perm.ANNOTATE, via)
    if translator_type not in KINDS:
        raise TranslationError(f"translator type must be one of {', '.join(KINDS)}")
    target = language_tag(target_lang)
    source = language_tag(source_lang) if source_lang.strip() else None
    body = _clean_text(text, "translation", TEXT_MAX)
    if translator_type == "machine":
        who = _clean_text(translator, "machine translation tool (name and version)", NAME_MAX)
    else:
        who = translator.strip()[:NAME_MAX] or by.name
    with home.reading() as conn:
        original = next((s for s in _sources(conn, by, row.id) if s.ref == source_ref), None)
    if original is None:
        raise TranslationError(f"the item has no text {source_ref!r} that you may read")
    with home.transaction(by.name, via) as tx:
        inserted = tx.conn.execute(
            translations.insert().values(
                item_id=row.id,
                source_ref=original.ref,
                source_text=original.text,
                source_lang=source,
                target_lang=target,
                text=body,
                translator_type=translator_type,
                translator=who,
                notes=notes_text.strip()[:TEXT_MAX],
                recorded_by=by.name,
                created_at=utcnow(),
            )  # fmt: skip
        ).inserted_primary_key
        assert inserted is not None
        tid = int(inserted[0])
        tx.event(
            "translation.recorded",
            case_id=row.case_id,
            item_id=row.id,
            details={"translation_id": tid, "target_lang": target, "translator_type": translator_type},
        )
    return tid


def visible_translations(conn: Connection, account: Account, item_id: str) -> list[Translation]:
    """The item's translations the account may read, oldest first (blind review applied: none made by,
    or translating a note of, a reviewer whose work is hidden from the account)."""
    if access.find_visible(conn, account, item_id) is None:
        raise AccessDenied(NOT_FOUND)
    hidden = review.hidden_reviewers(conn, account, item_id)
    # A translation is shown only beside a text the account may read now: a caption of a page hidden
    # since (its post withheld) takes its translations along (a caption is matched by its text too,
    # since one text seen in several places is listed once, under one of its refs).
    sources = _sources(conn, account, item_id)
    readable, texts = {s.ref for s in sources}, {s.text for s in sources}
    q = select(translations).where(translations.c.item_id == item_id).order_by(translations.c.id)
    rows = [Translation(**r) for r in conn.execute(q).mappings()]
    return [
        t
        for t in rows
        if t.recorded_by not in hidden
        and (t.translator_type == "machine" or t.translator not in hidden)
        and (t.source_ref in readable or (t.source_ref.startswith("caption:") and t.source_text in texts))
    ]


def item_translations(home: Home, by: Account, item_id: str, via: str = "app") -> list[Translation]:
    """The item's translations the account may read (a logged refusal if it may not see the item)."""
    row = access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        return visible_translations(conn, by, row.id)
