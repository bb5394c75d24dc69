"""Calibrated labels: thresholds from reference scores, case calibrations that only raise them."""

from __future__ import annotations

from archive.model import Flag, FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, word_count
from detectors.calibration import (
    CASE_KEY,
    Reference,
    apply,
    calibrate_flag,
    percentile,
    shipped,
    threshold_for,
)

SCORES = [float(i) for i in range(20)]  # 0..19


def flag(score: float, detector: str = "noise") -> Flag:
    return Flag(detector, "1", "0" * 64, FlagLabel.NO_INDICATION, "Noise level: something.", score=score)


def test_threshold_keeps_the_false_positive_rate_on_the_reference() -> None:
    # 20 photos at 5%: one may lie above, so the threshold is the second largest score.
    assert threshold_for(SCORES, 0.05) == 18.0
    assert sum(s > threshold_for(SCORES, 0.05) for s in SCORES) == 1
    assert threshold_for(SCORES, 0.20) == 15.0
    assert threshold_for(SCORES[:10], 0.05) == 9.0  # fewer than 20: nothing may lie above
    assert percentile(SCORES, 19.5) == 100.0 and percentile(SCORES, -1) == 0.0


def test_labels_follow_the_calibrated_thresholds() -> None:
    ref = Reference(
        "noise", "20 test photos", tuple(SCORES), found=({"set": "forgeries", "n": 4, "found": 1},)
    )
    assert calibrate_flag(flag(18.5), ref).label == FlagLabel.INDICATOR
    assert calibrate_flag(flag(16.0), ref).label == FlagLabel.INCONCLUSIVE
    assert calibrate_flag(flag(3.0), ref).label == FlagLabel.NO_INDICATION
    got = calibrate_flag(flag(18.5), ref)
    assert got.threshold == 18.0 and got.inconclusive_band == (15.0, 18.0)
    assert "higher than 95% of 20 test photos" in got.explanation
    assert "5%" in got.explanation and "1 of 4 forgeries" in got.explanation
    assert got.details["calibration"]["kind"] == "shipped"
    assert word_count(got.explanation) <= MAX_EXPLANATION_WORDS


def test_a_case_calibration_raises_thresholds_and_never_lowers_them() -> None:
    ref = Reference("noise", "reference", tuple(SCORES))
    noisy_phone = Reference(
        "noise", "case c1", tuple(s + 20 for s in SCORES[:5]), kind="case", ident="custody x"
    )
    quiet_phone = Reference("noise", "case c1", (0.0, 0.0, 0.0), kind="case", ident="custody y")
    raised = calibrate_flag(flag(18.5), ref, noisy_phone)
    assert raised.label == FlagLabel.NO_INDICATION and raised.threshold == 4.0 + 20
    assert raised.details["calibration"]["kind"] == "case" and "custody x" in raised.explanation
    kept = calibrate_flag(flag(18.5), ref, quiet_phone)
    assert kept.label == FlagLabel.INDICATOR and kept.threshold == 18.0


def test_apply_reads_the_case_calibration_from_the_settings() -> None:
    assert shipped("noise") is not None  # shipped with the detector
    case = {
        CASE_KEY: {"detectors": {"noise": {"name": "case c1", "scores": [5.0, 6.0, 7.0], "id": "custody z"}}}
    }
    got = apply(flag(0.99), case)
    assert got.details["calibration"]["id"] == "custody z"
    assert apply(flag(0.99), {}).details["calibration"]["kind"] == "shipped"
    info = Flag("ela", "1", "0" * 64, FlagLabel.INFORMATION, "a lens")
    assert apply(info, case) is info  # no score: nothing to calibrate


def test_long_explanations_are_cut_at_sentences() -> None:
    ref = Reference("noise", "reference", tuple(SCORES))
    long = Flag("noise", "1", "0" * 64, FlagLabel.NO_INDICATION, "Word " * 140 + ". Tail.", score=1.0)
    got = calibrate_flag(long, ref)
    assert word_count(got.explanation) <= MAX_EXPLANATION_WORDS
    assert got.details["detector_explanation"] == long.explanation


def test_a_detector_without_shipped_statistics_is_calibrated_by_the_case_alone() -> None:
    learned = Flag("learned", "1", "0" * 64, FlagLabel.INDICATOR, "Learned classifier: 0.9.", score=0.9)
    assert apply(learned, {}) is learned  # nothing to place it among
    case = {
        CASE_KEY: {"detectors": {"learned": {"name": "case c1", "scores": [0.92, 0.95, 0.97], "id": "ev"}}}
    }
    got = apply(learned, case)
    assert got.label == FlagLabel.NO_INDICATION and got.threshold == 0.97
    assert got.details["calibration"]["kind"] == "case" and "3 reference photos" in got.explanation
