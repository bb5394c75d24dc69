"""What each export profile carries: the records and custody events a recipient may see (EXP-04).

- ``internal`` (internal, court and UN-mechanism recipients): everything gathered, unchanged: the
  original files, every linked file, full records and every custody event of the items, with the
  account names in them.
- ``partner``: one shared file per item (a redacted copy, else a metadata-stripped copy; see
  ``strip.py``), records with no account names (reviewers, authors, collectors and who recorded a
  consent are "(withheld)"), no notes or translations, no assignments, no consent pseudonyms, no file
  names or device labels from people's machines; no item titles (a file name or page title often names a
  person) and no source addresses or handles: sightings keep platform and times, not URL, account,
  display name or post id; capture records keep only the technical facts (``CAPTURE_SHARED``: times,
  tool, browser, status, this item's own files), not the requested or final URL, redirects, post,
  headers, certificate or allow-lists; custody events of the files' provenance (ingest, capture,
  derivations, sightings), of the verification (status changes, judgements) and of this transfer only,
  with the actor withheld. Earlier transfers (to a court, say) are not shown.
- ``public``: as partner, and judgements keep only their kind, status, confidence and time (no
  rationale or strands); no judgement events.

Events whose actor is withheld cannot be re-hashed by the recipient. The package therefore carries an
attestation signed with the installation key over the exact bytes of ``custody/events.jsonl``
(``attestation_message``); each event's hash is still proven to sit under the signed checkpoint.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from archive.model import ItemRecord

__all__ = [
    "ATTESTATION_FORMAT",
    "PROFILE_ACTIONS",
    "SHARED_PROFILES",
    "Profile",
    "RecipientType",
    "WITHHELD",
    "attestation_message",
    "shared_events",
    "shared_record",
]


class Profile(enum.StrEnum):
    """What a package carries, fullest first (EXP-04); stored in the transfer register as its value."""

    INTERNAL = "internal"
    PARTNER = "partner"
    PUBLIC = "public"


class RecipientType(enum.StrEnum):
    """Who a package goes to; a consent record's scopes name these (all but ``internal``)."""

    INTERNAL = "internal"
    COURT = "court"
    UN_MECHANISM = "un_mechanism"
    PARTNER = "partner"
    MEDIA = "media"
    PUBLIC = "public"


WITHHELD = "(withheld)"
SHARED_PROFILES = frozenset({Profile.PARTNER, Profile.PUBLIC})
ATTESTATION_FORMAT = "wb-shared-events/v1"
PROVENANCE = frozenset(
    {
        "item.ingested",
        "item.captured",
        "artifact.captured",
        "artifact.derived",
        "artifact.redacted",
        "sighting.added",
        "item.status_changed",
    }
)
PROFILE_ACTIONS: Mapping[str, frozenset[str]] = {
    Profile.PARTNER: PROVENANCE | {"judgement.recorded", "judgement.adjudicated"},
    Profile.PUBLIC: PROVENANCE,
}
# The keys of a capture's record a shared package keeps: how it was made, not where from or whose.
CAPTURE_SHARED = (
    "started_at", "ended_at", "utc_offset", "tool_version", "browser", "launch_flags", "viewport",
    "clock_sync", "status", "encoding", "artifacts",
)  # fmt: skip
# A sighting's details that name a machine, an address or the person who posted.
SIGHTING_PERSONAL = (
    "device",
    "path",
    "requested_url",
    "final_url",
    "display_name",
    "post_id",
    "posted_at_shown",
    "page_url",  # the page a media file was seen on
    "member",  # a zip member's own file name
)
ASSIGN_PREFIX = "assigned:"


def _capture(capture: Mapping[str, Any], own: set[str]) -> dict[str, Any]:
    """The capture's technical record only (no address, collector, post or headers), listing only this
    item's own files (the other pictures of the page are other items, which may not be in this
    package); the names of the fields left out are listed."""
    full = dict(capture.get("record") or {})
    record = {k: v for k, v in full.items() if k in CAPTURE_SHARED}
    record["withheld_fields"] = sorted(k for k in full if k not in CAPTURE_SHARED)
    if isinstance(record.get("artifacts"), list):
        record["artifacts"] = [
            a for a in record["artifacts"] if isinstance(a, dict) and a.get("sha256") in own
        ]
    return {**capture, "requested_url": WITHHELD, "final_url": WITHHELD, "record": record}


def _sighting(s: Mapping[str, Any]) -> dict[str, Any]:
    """File names and device labels come from people's machines, addresses and handles name people:
    they stay home."""
    details = {
        k: (WITHHELD if k in SIGHTING_PERSONAL else v) for k, v in dict(s.get("details") or {}).items()
    }
    named = {k: WITHHELD if s.get(k) else None for k in ("original_name", "url", "account")}
    return {**s, **named, "details": details}


def _judgement(j: Mapping[str, Any], profile: str) -> dict[str, Any]:
    if profile == Profile.PUBLIC:
        return {**j, "reviewer": WITHHELD, "rationale": WITHHELD, "strands": {}}
    return {**j, "reviewer": WITHHELD}


def shared_record(record: ItemRecord, profile: str) -> ItemRecord:
    """The item record as a partner or public recipient receives it (see the module docstring)."""
    if profile not in SHARED_PROFILES:
        return record
    own = {str(a["sha256"]) for a in record.artifacts} | {record.sha256}
    item = dict(record.item)
    if item.get("title"):
        item["title"] = WITHHELD  # a file name or page title often names a person
    return replace(
        record,
        item=item,
        judgements=[_judgement(j, profile) for j in record.judgements],
        notes=[],
        # A translation quotes its original verbatim (a caption, a note) and names its translator and
        # who recorded it: none of that is in a shared record, so neither are translations.
        translations=[],
        tags=[
            {**t, "added_by": WITHHELD} for t in record.tags if not str(t["tag"]).startswith(ASSIGN_PREFIX)
        ],
        consents=[{**c, "subject": WITHHELD, "recorded_by": WITHHELD} for c in record.consents],
        captures=[_capture(c, own) for c in record.captures],
        sightings=[_sighting(s) for s in record.sightings],
    )


def _transfer_of(event: Mapping[str, Any]) -> str | None:
    try:
        details = json.loads(str(event.get("details") or "{}"))
    except ValueError:
        return None
    return str(details.get("transfer_id")) if isinstance(details, dict) else None


def shared_events(
    events: Sequence[Mapping[str, Any]], profile: str, transfer_id: str
) -> list[dict[str, Any]]:
    """The custody events the profile carries, actors withheld (all of them, unchanged, for internal)."""
    if profile not in SHARED_PROFILES:
        return [dict(e) for e in events]
    allowed = PROFILE_ACTIONS[profile]
    out = []
    for event in events:
        action = str(event["action"])
        if action.startswith("export.") or action == "report.generated":
            if _transfer_of(event) != transfer_id:
                continue  # an earlier transfer: who else received the item is not the recipient's business
        elif action not in allowed:
            continue
        out.append({**event, "actor": WITHHELD, "withheld_fields": ["actor"]})
    return out


def attestation_message(transfer_id: str, tree_size: int, root_hash: str, events_bytes: bytes) -> bytes:
    """What the installation key signs for a package whose events have withheld fields."""
    digest = hashlib.sha256(events_bytes).hexdigest()
    return f"{ATTESTATION_FORMAT}\n{transfer_id}\n{tree_size}\n{root_hash}\n{digest}\n".encode()
