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
        return {"item_id": self.item_id, "status": "withheld", "reason": self.reason, "detail": self.detail}
