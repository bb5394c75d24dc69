"""One "AI-generation" view per item: every signal that bears on it, each with its own strength.

The signals are listed side by side, never merged into a score or a verdict, and never change a
status: a C2PA declaration is only as reliable as its signer, metadata is easy to strip or add, a
watermark survives only untouched files, and a model's score is weak and calibrated on few photos.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archive.model import Flag, FlagLabel

__all__ = ["SIGNALS", "Signal", "ai_signals"]

SIGNALS = (
    "C2PA declared source type",
    "IPTC DigitalSourceType",
    "generator metadata (software names, PNG text chunks, embedded parameters)",
    "generator watermark",
    "AI-generation model score",
)
NOT_RUN = "not analysed: run `wb detect` (with the detector enabled) to see this signal"


@dataclass(frozen=True)
class Signal:
    """One line of the view: what was looked for, what was found, and how much it can carry."""

    signal: str
    found: bool | None  # None: not analysed or not applicable
    what: str
    strength: str
    detector: str | None = None
    label: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _c2pa(flags: list[Flag]) -> Signal:
    facts = {f.details.get("fact"): f for f in flags if f.detector == "c2pa"}
    source = facts.get("source_type")
    if source is None:
        present = facts.get("presence")
        if present is None:
            return Signal(SIGNALS[0], None, NOT_RUN, "-")
        return Signal(
            SIGNALS[0], False, "no C2PA declaration", "absence means nothing", "c2pa", present.label
        )
    types = [str(t) for t in source.details.get("digital_source_types") or []]
    state = facts.get("signature")
    signed = str(state.details.get("state")) if state is not None else "unknown"
    ai = source.label == FlagLabel.INDICATOR
    return Signal(
        SIGNALS[0],
        ai,
        f"declared: {', '.join(types) or 'none'}; signature state {signed}",
        "as reliable as the signer; checked only when the signature is Trusted or Valid",
        "c2pa",
        source.label.value,
    )


def _signature(flags: list[Flag]) -> tuple[Signal, Signal]:
    sig = next((f for f in flags if f.detector == "ai_signature"), None)
    if sig is None or sig.label == FlagLabel.NOT_ANALYSED:
        return Signal(SIGNALS[1], None, NOT_RUN, "-"), Signal(SIGNALS[2], None, NOT_RUN, "-")
    traces = [str(t) for t in sig.details.get("traces") or []]
    iptc = [t for t in traces if t.startswith("IPTC")]
    other = [t for t in traces if not t.startswith("IPTC")]
    easy = "written by the generator or anyone after it; easily stripped or copied: absence means nothing"
    return (
        Signal(SIGNALS[1], bool(iptc), "; ".join(iptc) or "none", easy, "ai_signature", sig.label.value),
        Signal(SIGNALS[2], bool(other), "; ".join(other) or "none", easy, "ai_signature", sig.label.value),
    )


def _watermark(flags: list[Flag]) -> Signal:
    wm = next((f for f in flags if f.detector == "watermark"), None)
    if wm is None or wm.label == FlagLabel.NOT_ANALYSED or wm.details.get("searched") is False:
        why = NOT_RUN if wm is None else "not searched (size or format); says nothing"
        return Signal(SIGNALS[3], None, why, "-", "watermark", wm.label.value if wm else None)
    matching, bits = wm.details.get("matching_bits"), wm.details.get("bits")
    p = float(wm.details.get("p_chance", 1.0))
    what = f"{wm.details.get('generator')}: {matching} of {bits} bits match"
    strength = f"chance of such a match {p:.1e}; a re-encoded, resized or cropped copy loses the mark"
    return Signal(SIGNALS[3], wm.label == FlagLabel.INDICATOR, what, strength, "watermark", wm.label.value)


def _models(flags: list[Flag]) -> list[Signal]:
    out = []
    for f in flags:
        if f.detector != "model_pack" or f.details.get("task") != "ai_generated":
            continue
        cal = f.details.get("calibration") or {}
        if cal:
            strength = (
                f"percentile {cal.get('percentile')} among {cal.get('reference')}; indicator above "
                f"{float(cal.get('threshold', 0)):.3g} "
                f"({float(cal.get('rate', 0.05)):.0%} false positives there)"
            )
        else:
            strength = "uncalibrated: the raw score alone means little"
        what = f"{f.details.get('pack')} {f.details.get('pack_version')}: score {f.score}"
        out.append(
            Signal(SIGNALS[4], f.label == FlagLabel.INDICATOR, what, strength, "model_pack", f.label.value)
        )
    if not out:
        out.append(Signal(SIGNALS[4], None, "no AI-generation model pack ran (wb model add FOLDER)", "-"))
    return out


def ai_signals(flags: Iterable[Flag]) -> list[Signal]:
    """The AI-generation view of one file's flags: one line per signal, never a verdict."""
    listed = [f for f in flags if "keyframe" not in f.details]  # stills: a video's frames are listed apart
    iptc, other = _signature(listed)
    return [_c2pa(listed), iptc, other, _watermark(listed), *_models(listed)]
