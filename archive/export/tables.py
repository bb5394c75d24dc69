"""items.csv and items.json: one row per exported item in court-style fields, with a versioned schema.

The fields follow the e-Court style of evidence metadata (id, title, date, type, source/author,
confidentiality level, language, hash); the mapping is in ``FIELD_MAPPING`` and published in the bag.
CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or
carriage return) are prefixed with an apostrophe; the JSON keeps the text as stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from archive.custody import HASHED_FIELDS
from archive.model import ItemRecord, Withheld

__all__ = [
    "COLUMNS",
    "FIELD_MAPPING",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "custody_event_schema",
    "item_row",
    "items_csv",
    "items_document",
    "items_schema",
    "neutralise",
]

SCHEMA_VERSION = "1.0.0"
SCHEMA_ID = "urn:wb:schema:items:1.0.0"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FIELD_MAPPING: Mapping[str, str] = {
    "id": "Document ID (ERN): the workbench item id",
    "title": "Title: the item's title as recorded (file name or post title)",
    "date": "Document date: earliest known posting time, else first capture or import time (UTC)",
    "date_basis": "Which of those the date is",
    "type": "Type: photo, video, document, web capture ...",
    "source_author": "Source / author: account or URL where the item was seen, else 'file import'",
    "confidentiality_level": "Confidentiality level: public, restricted, confidential, survivor_identifying",
    "language": "Language (BCP 47) of the item's text, when recorded",
    "sha256": "Hash: SHA-256 of the original file",
    "status": "Verification status given by people (never by a machine)",
    "confidence": "Confidence of the latest judgement on the 1-5 scale defined in the report",
    "reviewers": "People who reviewed the item, separated by '; '",
    "file": "Path of the item's file inside this package (data/...)",
    "file_sha256": "SHA-256 of that file: the original's, or the shared copy's when one is sent instead",
    "file_is": "original, redacted copy or metadata-stripped copy (derived: see the item's record.json)",
}
COLUMNS: Sequence[str] = tuple(FIELD_MAPPING)


def neutralise(value: str) -> str:
    """Stop spreadsheets from running a cell as a formula (OWASP CSV injection advice)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _date(record: ItemRecord) -> tuple[str, str]:
    posted = sorted(s["posted_at"] for s in record.sightings if s.get("posted_at"))
    if posted:
        return posted[0], "posted_at"
    seen = sorted(s["seen_at"] for s in record.sightings if s.get("seen_at"))
    if seen:
        return seen[0], "first_seen"
    return str(record.item["created_at"]), "archived"


def _source(record: ItemRecord) -> str:
    for s in record.sightings:
        if s.get("account") or s.get("url"):
            return " ".join(str(x) for x in (s.get("platform"), s.get("account"), s.get("url")) if x)
    return "file import"


def _language(record: ItemRecord) -> str:
    for note in record.notes:
        body = note.get("body")
        if isinstance(body, dict) and note.get("kind") in {"description", "caption", "translation"}:
            lang = body.get("source_language") or body.get("language")
            if lang:
                return str(lang)
    for s in record.sightings:
        lang = (s.get("details") or {}).get("language")
        if lang:
            return str(lang)
    return ""


SHARED_KINDS: Mapping[str, str] = {"redaction": "redacted copy", "metadata-strip": "metadata-stripped copy"}


def _file_is(record: ItemRecord, file_sha256: str) -> str:
    if file_sha256 == record.item["sha256"]:
        return "original"
    shared = record.shared_copy or {}
    return SHARED_KINDS.get(str(shared.get("operation")), "redacted copy")


def item_row(record: ItemRecord, file: str, file_sha256: str | None = None) -> dict[str, Any]:
    """Court-style fields of one gathered item record."""
    item = record.item
    date, basis = _date(record)
    latest = record.judgements[-1] if record.judgements else None
    return {
        "id": item["id"],
        "title": item.get("title") or "",
        "date": date,
        "date_basis": basis,
        "type": item["kind"],
        "source_author": _source(record),
        "confidentiality_level": item["classification"],
        "language": _language(record),
        "sha256": item["sha256"],
        "status": item["status"],
        "confidence": None if latest is None else int(latest["confidence"]),
        "reviewers": "; ".join(dict.fromkeys(j["reviewer"] for j in record.judgements)),
        "file": file,
        "file_sha256": file_sha256 or item["sha256"],
        "file_is": _file_is(record, file_sha256 or item["sha256"]),
    }


def items_csv(rows: Sequence[Mapping[str, Any]], bom: bool = True) -> bytes:
    """UTF-8 CSV (with a BOM by default, so spreadsheet tools read it as UTF-8)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([neutralise("" if row[c] is None else str(row[c])) for c in COLUMNS])
    data = buf.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def items_document(rows: Sequence[Mapping[str, Any]], withheld: Sequence[Withheld]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "items": [dict(r) for r in rows],
        "withheld": [w.as_package() for w in withheld],
    }


def items_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that items.json follows."""
    text = {"type": "string"}
    props: dict[str, Any] = {c: {**text, "description": FIELD_MAPPING[c]} for c in COLUMNS}
    props["confidence"] = {"type": ["integer", "null"], "minimum": 1, "maximum": 5}
    props["sha256"] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    props["file_sha256"] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    props["file_is"] = {"enum": ["original", *SHARED_KINDS.values()]}
    props["date_basis"] = {"enum": ["posted_at", "first_seen", "archived"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Items of a workbench evidence package",
        "type": "object",
        "required": ["schema_version", "items", "withheld"],
        "properties": {
            "$schema": {"const": SCHEMA_ID},
            "schema_version": {"const": SCHEMA_VERSION},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": list(COLUMNS),
                    "additionalProperties": False,
                    "properties": props,
                },
            },
            "withheld": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "reason"],
                    "properties": {"id": text, "reason": text, "detail": text},
                },
            },
        },
    }


def custody_event_schema() -> dict[str, Any]:
    """JSON Schema of one line of custody/events.jsonl: the stored, hash-chained fields of an event."""
    sha = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    maybe_sha = {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:wb:schema:custody-event:1",
        "title": "A custody event as stored (event_hash = SHA-256 of the canonical JSON of the other fields)",
        "type": "object",
        "additionalProperties": False,
        "required": [*HASHED_FIELDS, "event_hash"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1, "description": "position in the installation's log"},
            "event_id": {"type": "string"},
            "at": {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ"},
            "actor": {"type": "string"},
            "via": {"type": "string"},
            "action": {"type": "string"},
            "case_id": {"type": ["integer", "null"]},
            "item_id": {"type": ["string", "null"]},
            "artifact_sha256": maybe_sha,
            "before_sha256": maybe_sha,
            "after_sha256": maybe_sha,
            "details": {"type": "string", "description": "canonical JSON text: ids, hashes, action names"},
            "tool_version": {"type": "string"},
            "prev_hash": sha,
            "event_hash": sha,
            "withheld_fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "fields shown as '(withheld)' (see custody/attestation.json)",
            },
        },
    }
