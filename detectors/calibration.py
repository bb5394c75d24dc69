"""Calibrated scores: where a detector's score falls among untouched camera photos.

A raw score (copy-move inliers, a model's sigmoid) means little to a reviewer. Each scored detector
ships **reference statistics**: its scores on untouched camera photos whose licences allow it (the
scores only, never the photos; ``detectors/reference/<detector>.json``, built by
``bench/indicators.py reference``). A flag then says which percentile its score reaches among those
photos, and says "indicator" only above the threshold that keeps the false-positive rate on them at
or below a stated rate (default 5%), "inconclusive" above the threshold of a looser rate (20%).

A **case calibration** (``workbench.services.models.calibrate_case``) re-derives the thresholds from photos a
reviewer knows to be authentic and from the same source (a witness's phone). It may raise a
threshold, never lower it below the shipped one: a handful of photos cannot show that a detector is
more reliable than the reference measured. Every calibrated flag names the calibration it used.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from archive.model import Flag, FlagLabel

__all__ = [
    "CASE_KEY",
    "DEFAULT_RATE",
    "LOWER_RATE",
    "Reference",
    "achieved_rate",
    "apply",
    "calibrate_flag",
    "percentile",
    "shipped",
    "shipped_summary",
    "threshold_for",
]

DEFAULT_RATE = 0.05  # the false-positive rate on the reference photos that "indicator" keeps to
LOWER_RATE = 0.20  # above this rate's threshold, and not above the indicator's: "inconclusive"
CASE_KEY = "_case_calibration"  # settings key under which the analysis passes a case's calibration
MAX_WORDS = 150


@dataclass(frozen=True)
class Reference:
    """Scores of one detector on photos known to be untouched, and what it found at the threshold."""

    detector: str
    name: str  # e.g. "20 untouched camera photos (corpus photos_exif), shipped"
    scores: tuple[float, ...]
    kind: str = "shipped"  # shipped | home | case
    found: tuple[Mapping[str, Any], ...] = ()  # [{"set", "n", "found"}] at DEFAULT_RATE
    ident: str = ""  # what names this calibration in a flag (a stats hash, a custody event id)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.scores)

    @classmethod
    def from_json(cls, detector: str, data: Mapping[str, Any], kind: str = "shipped") -> Reference:
        """A Reference from its JSON form (``{"name", "scores", "found"?}``); bad data raises ValueError."""
        scores = data.get("scores")
        if not isinstance(scores, list) or not scores or not all(isinstance(s, int | float) for s in scores):
            raise ValueError(f"calibration of {detector}: 'scores' must be a non-empty list of numbers")
        clean = tuple(sorted(float(s) for s in scores))
        if not all(math.isfinite(s) for s in clean):
            raise ValueError(f"calibration of {detector}: scores must be finite")
        found = tuple(dict(f) for f in data.get("found") or () if isinstance(f, Mapping))
        ident = str(data.get("id") or _stats_id(clean))
        return cls(detector, str(data.get("name") or "reference photos"), clean, kind, found, ident)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "scores": list(self.scores), "found": list(self.found), "id": self.ident}

    def threshold(self, rate: float = DEFAULT_RATE) -> float:
        return threshold_for(self.scores, rate)


def _stats_id(scores: Sequence[float]) -> str:
    return "stats-" + hashlib.sha256(json.dumps(list(scores)).encode()).hexdigest()[:12]


def threshold_for(scores: Sequence[float], rate: float) -> float:
    """The score a flag must exceed so that a new untouched photo exceeds it with chance at most ``rate``.

    A new photo of the same kind is as likely to take any rank among the n reference photos and
    itself, so it lies above the k-th largest reference score with chance k / (n + 1). The threshold
    is the k-th largest score with k = floor(rate * (n + 1)), and "indicator" means strictly above it.
    (Allowing floor(rate * n) photos above it, as before, let a held-out photo exceed it slightly
    more often than ``rate``: 1 in 19 for 19 photos at 5%.) Fewer than 1 / rate - 1 photos cannot
    show the rate at all: the threshold is then the largest score, and ``achieved_rate`` says what
    those photos can show.
    """
    ordered = sorted(scores)
    k = max(1, math.floor(rate * (len(ordered) + 1) + 1e-9))
    return float(ordered[len(ordered) - min(k, len(ordered))])


def achieved_rate(n: int, rate: float) -> float:
    """The false-positive rate ``threshold_for`` keeps to on new photos, given n reference photos:
    ``rate`` where n is large enough, else 1 / (n + 1), the smallest that n photos can show."""
    k = math.floor(rate * (n + 1) + 1e-9)
    return k / (n + 1) if k >= 1 else 1.0 / (n + 1)


def percentile(scores: Sequence[float], value: float) -> float:
    """The share (0-100) of reference scores below ``value``, ties counted half."""
    below = sum(s < value for s in scores)
    ties = sum(s == value for s in scores)
    return 100.0 * (below + 0.5 * ties) / len(scores)


@cache
def shipped(detector: str) -> Reference | None:
    """The reference statistics shipped with a detector, or None."""
    try:
        text = resources.files("detectors").joinpath("reference", f"{detector}.json").read_text()
    except (FileNotFoundError, OSError):
        return None
    return Reference.from_json(detector, json.loads(text))


def shipped_summary(detector: str, rate: float = DEFAULT_RATE) -> str | None:
    """One line on a detector's shipped calibration (for `wb detectors`), or None where it has none."""
    ref = shipped(detector)
    if ref is None:
        return None
    try:
        raw = json.loads(resources.files("detectors").joinpath("reference", f"{detector}.json").read_text())
    except (OSError, ValueError):
        raw = {}
    held = f"; held-out false positives {raw['heldout_fpr']}" if raw.get("heldout_fpr") else ""
    return (
        f"calibrated on {ref.name}: indicator above {ref.threshold(rate):.3g} "
        f"(chance at most {achieved_rate(ref.n, rate):.1%} for an untouched photo{held}). {_found_text(ref)}"
    )


def _found_text(ref: Reference) -> str:
    if not ref.found:
        return "No set of known forgeries or generated images was measured at this threshold."
    parts = [f"{int(f['found'])} of {int(f['n'])} {f['set']}" for f in ref.found if int(f.get("n", 0))]
    if not parts:
        return "No set of known forgeries or generated images was measured at this threshold."
    return f"At this threshold it found {'; '.join(parts)}."


def calibrate_flag(
    flag: Flag, ref: Reference, case: Reference | None = None, rate: float = DEFAULT_RATE
) -> Flag:
    """The flag relabelled by the reference (and a case calibration, which may only raise thresholds)."""
    if flag.score is None or flag.label in (FlagLabel.NOT_ANALYSED, FlagLabel.INFORMATION):
        return flag
    score = float(flag.score)
    high, low = ref.threshold(rate), ref.threshold(LOWER_RATE)
    used = ref
    if case is not None:
        high, low = max(high, case.threshold(rate)), max(low, case.threshold(LOWER_RATE))
        used = case
    low = min(low, high)
    if score > high:
        label = FlagLabel.INDICATOR
    elif score > low:
        label = FlagLabel.INCONCLUSIVE
    else:
        label = FlagLabel.NO_INDICATION
    pct = percentile(ref.scores, score)
    info: dict[str, Any] = {
        "kind": used.kind,
        "name": used.name,
        "id": used.ident,
        "n": used.n,
        "rate": rate,
        "threshold": high,
        "lower": low,
        "percentile": round(pct, 1),
        "reference": ref.name,
        "reference_id": ref.ident,
    }
    shown = achieved_rate(ref.n, rate)
    info["achieved_rate"] = round(shown, 4)
    too_few = f" ({ref.n} photos are too few to show {rate:.0%})" if shown > rate + 1e-9 else ""
    text = (
        f"Calibrated: score {score:.3g} is higher than {pct:.0f}% of {ref.name}. It counts as an "
        f"indicator only above {high:.3g}, set so that an untouched photo like those exceeds it with "
        f"chance at most {shown:.1%}{too_few}; above {low:.3g} it is inconclusive. "
        + (_found_text(ref) if rate == DEFAULT_RATE else "What it finds at this rate was not measured.")
    )
    if case is not None:
        info["case_percentile"] = round(percentile(case.scores, score), 1)
        text += (
            f" Case calibration {case.ident} ({case.n} photos marked authentic: {case.name}) "
            f"sets the thresholds used here; it can raise them, never lower them."
        )
    explanation = _fit(text, flag.explanation)
    details = dict(flag.details, calibration=info)
    if explanation != f"{text} {flag.explanation}":
        details["detector_explanation"] = flag.explanation
    return replace(
        flag,
        label=label,
        threshold=high,
        inconclusive_band=(low, high),
        explanation=explanation,
        details=details,
    )


def _fit(head: str, tail: str) -> str:
    """``head`` then as many whole sentences of ``tail`` as fit in 150 words."""
    whole = f"{head} {tail}"
    if len(whole.split()) <= MAX_WORDS:
        return whole
    out = head
    for sentence in tail.replace(". ", ".\n").splitlines():
        if len(f"{out} {sentence}".split()) > MAX_WORDS - 4:
            break
        out = f"{out} {sentence}"
    if len(out.split()) > MAX_WORDS:
        out = " ".join(out.split()[:MAX_WORDS])
    return out


def _case_reference(settings: Mapping[str, Any], key: str) -> Reference | None:
    section = settings.get(CASE_KEY)
    if not isinstance(section, Mapping):
        return None
    data = (section.get("detectors") or {}).get(key)
    if not isinstance(data, Mapping):
        return None
    try:
        return Reference.from_json(key, data, kind="case")
    except ValueError:
        return None


def apply(flag: Flag, settings: Mapping[str, Any]) -> Flag:
    """Calibrate a flag by its detector's reference (shipped, or carried by the flag for model packs)
    and the case calibration in ``settings``; flags without a reference pass unchanged."""
    if flag.score is None or "calibration" in flag.details:
        return flag
    key = str(flag.details.get("calibration_key") or flag.detector)
    carried = flag.details.get("reference")
    ref: Reference | None
    try:
        ref = Reference.from_json(key, carried, kind="pack") if isinstance(carried, Mapping) else None
    except ValueError:
        ref = None
    ref = ref or shipped(key)
    case = _case_reference(settings, key)
    if ref is None and case is None:
        return flag
    details = {k: v for k, v in flag.details.items() if k != "reference"}
    rate = (
        settings.get("calibration", {}).get("rate", DEFAULT_RATE)
        if isinstance(settings.get("calibration"), Mapping)
        else DEFAULT_RATE
    )
    rate = float(rate) if isinstance(rate, int | float) and 0 < float(rate) < 0.5 else DEFAULT_RATE
    if ref is None:  # no shipped statistics (a vetted model folder): the case's photos are all there is
        assert case is not None
        return calibrate_flag(replace(flag, details=details), case, None, rate)
    return calibrate_flag(replace(flag, details=details), ref, case, rate)
