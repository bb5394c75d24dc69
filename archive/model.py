"""Typed records of the evidence archive.

Pure data: no I/O, no database, no plugins. Collectors and detectors may import this module and
nothing else from ``archive``; everything here is a frozen dataclass or an enum so that a record,
once made, cannot drift from what was stored or logged.

Records that only the services carry live beside them: an account is ``workbench.services.auth.Account``, a
person's review ``workbench.services.review.Review`` (kept apart from ``Flag``, a machine's indicator), an
item
as an account may see it ``workbench.services.access.ItemRow``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

__all__ = [
    "Case",
    "Classification",
    "Confidence",
    "CustodyEvent",
    "Fingerprint",
    "Flag",
    "FlagLabel",
    "IncomingFile",
    "ItemRecord",
    "Refusal",
    "Role",
    "Status",
    "Withheld",
]


class Role(enum.StrEnum):
    ANALYST = "analyst"
    REVIEWER = "reviewer"
    LEGAL = "legal"
    ADMIN = "admin"


class Status(enum.StrEnum):
    """Verification status of an item (VER-01). Only people set it; a Flag never does."""

    UNVERIFIED = "unverified"
    IN_PROGRESS = "in_progress"
    VERIFIED = "verified"
    PARTIALLY_VERIFIED = "partially_verified"
    INCONCLUSIVE = "inconclusive"
    FALSE_OR_MISLEADING = "false_or_misleading"
    DISPUTED = "disputed"


class Confidence(int, enum.Enum):
    """Ordinal confidence scale (VER-03); definitions travel with every export."""

    VERY_LOW = 1
    LOW = 2
    MODERATE = 3
    HIGH = 4
    VERY_HIGH = 5


CONFIDENCE_DEFINITIONS: Mapping[Confidence, str] = {
    Confidence.VERY_LOW: "Little or no corroboration; significant unresolved doubts.",
    Confidence.LOW: "Some corroboration, but key questions remain open.",
    Confidence.MODERATE: "Corroborated on the main points by at least one independent strand.",
    Confidence.HIGH: "Corroborated by several independent strands; no material contradiction.",
    Confidence.VERY_HIGH: "Corroborated by all three strands; alternatives examined and excluded.",
}


class Classification(enum.StrEnum):
    """Confidentiality of an item (CON-01), in increasing order of restriction."""

    PUBLIC = "public"
    RESTRICTED = "restricted"
    CONFIDENTIAL = "confidential"
    SURVIVOR_IDENTIFYING = "survivor_identifying"


class FlagLabel(enum.StrEnum):
    INDICATOR = "indicator"
    INCONCLUSIVE = "inconclusive"
    NO_INDICATION = "no_indication"
    INFORMATION = "information"
    NOT_ANALYSED = "not_analysed"


@dataclass(frozen=True)
class Case:
    id: int
    slug: str
    purpose: str
    review_policy: int
    created_at: datetime
    retention_until: datetime | None = None  # the review date (RET-01)
    category: str | None = None  # picks the default review period


@dataclass(frozen=True)
class Fingerprint:
    artifact_sha256: str
    kind: str  # "phash", "pdq", ...
    value: str
    algo_version: str  # library + parameters, so old values stay interpretable


@dataclass(frozen=True)
class Flag:
    """A machine indicator. It never changes a verification status (MAN-01)."""

    detector: str
    version: str
    input_sha256: str
    label: FlagLabel
    explanation: str
    score: float | None = None
    threshold: float | None = None
    inconclusive_band: tuple[float, float] | None = None
    model_sha256: str | None = None
    heatmap_sha256: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CustodyEvent:
    """One entry of the append-only, hash-chained log. Ids, hashes and action names only."""

    seq: int
    event_id: str
    at: datetime
    actor: str
    via: str
    action: str
    case_id: int | None
    item_id: str | None
    artifact_sha256: str | None
    before_sha256: str | None
    after_sha256: str | None
    details: Mapping[str, Any]
    tool_version: str
    prev_hash: str
    event_hash: str


@dataclass(frozen=True)
class IncomingFile:
    """A file offered to the archive by a collector, not yet trusted.

    ``open`` yields the bytes as a stream; ``name`` is the name as found, kept only as escaped
    metadata and never used as a path.
    """

    name: str
    open: Callable[[], BinaryIO]
    size: int | None
    source: Mapping[str, Any] = field(default_factory=dict)
    container_sha256: str | None = None


@dataclass(frozen=True)
class Refusal:
    """An input a collector would not accept, with a reason a person can read."""

    name: str
    reason: str


@dataclass(frozen=True)
class Withheld:
    """An item an export held back, and why (a reason code, and a detail a person reads)."""

    item_id: str
    reason: str
    detail: str = ""

    def as_package(self) -> dict[str, str]:
        """Its entry in a package's manifest.json and items.json (the published schema calls it ``id``)."""
        return {"id": self.item_id, "reason": self.reason, "detail": self.detail}

    def as_json(self) -> dict[str, str]:
        """The line `wb export --json` prints for it."""
        return {**self.as_result(), "detail": self.detail}

    def as_result(self) -> dict[str, str]:
        """Its row in an export job's result (the app's job list)."""
        return {"item_id": self.item_id, "status": "withheld", "reason": self.reason}

    def as_register(self) -> dict[str, str]:
        """Its entry in the transfer register (``transfers.items``, beside the items sent)."""
        return {"item_id": self.item_id, "withheld": self.reason}


Row = dict[str, Any]  # a stored row as plain JSON values (times as fixed-form UTC text)
# The sections every gathered record has, in the order record.json has always listed them.
RECORD_SECTIONS = (
    "item", "artifacts", "derived", "sightings", "captures", "judgements", "flags", "tags", "notes",
    "translations", "consents",
)  # fmt: skip
# Present only when set: a failed fixity mark, the copy a partner or public recipient gets, what
# blind review or visibility hid from a report's reader, and the package's paths of the item's files.
RECORD_EXTRAS = ("integrity_failed", "shared_copy", "hidden_reviews", "withheld_content", "files")


@dataclass(frozen=True)
class ItemRecord:
    """An item and everything linked to it, as stored (``archive.export.gather``): what a package
    writes as the item's ``record.json`` (``as_json``) and what reports and tables read.

    Each section holds the stored rows as JSON values; the export changes a record only by making a
    new one (``dataclasses.replace``), so what was checked is what is written."""

    item: Row
    artifacts: list[Row] = field(default_factory=list)  # linked files, with their role
    derived: list[Row] = field(default_factory=list)  # files made from them (redactions, keyframes ...)
    sightings: list[Row] = field(default_factory=list)
    captures: list[Row] = field(default_factory=list)
    judgements: list[Row] = field(default_factory=list)
    flags: list[Row] = field(default_factory=list)
    tags: list[Row] = field(default_factory=list)
    notes: list[Row] = field(default_factory=list)
    translations: list[Row] = field(default_factory=list)
    consents: list[Row] = field(default_factory=list)
    integrity_failed: list[Row] | None = None
    shared_copy: Row | None = None  # {"sha256", "mime", "parent_sha256", "operation"}
    hidden_reviews: int | None = None
    withheld_content: int | None = None
    files: dict[str, str] | None = None  # sha256 -> path in the package
    # Sections the JSON it was read from lacked (``from_json``): left out again, so it gives the same bytes.
    absent: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def id(self) -> str:
        return str(self.item["id"])

    @property
    def sha256(self) -> str:
        return str(self.item["sha256"])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemRecord:
        """A record from its JSON form (a package's ``record.json``)."""
        known = set(RECORD_SECTIONS) | set(RECORD_EXTRAS)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown record field(s): {', '.join(sorted(unknown))}")
        given = {k: v for k, v in data.items()}
        absent = frozenset(k for k in RECORD_SECTIONS if k not in data)
        return cls(**given, absent=absent)

    def as_json(self) -> dict[str, Any]:
        """The record as a package's ``record.json`` holds it."""
        out: dict[str, Any] = {k: getattr(self, k) for k in RECORD_SECTIONS if k not in self.absent}
        for k in RECORD_EXTRAS:
            value = getattr(self, k)
            if value is not None:
                out[k] = value
        return out
