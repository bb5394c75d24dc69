"""Calibrated labels: thresholds from reference scores, case calibrations that only raise them."""

from __future__ import annotations

import numpy as np

from archive.model import Flag, FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, word_count
from detectors.calibration import (
    CASE_KEY,
    Reference,
    achieved_rate,
    apply,
    calibrate_flag,
    percentile,
    shipped,
    shipped_summary,
    threshold_for,
)

SCORES = [float(i) for i in range(40)]  # 0..39


def flag(score: float, detector: str = "noise") -> Flag:
    return Flag(detector, "1", "0" * 64, FlagLabel.NO_INDICATION, "Noise level: something.", score=score)


def test_threshold_keeps_the_false_positive_rate_on_the_reference() -> None:
    # 40 photos at 5%: a new photo exceeds the k-th largest with chance k/41, so k = floor(0.05 * 41) = 2.
    assert threshold_for(SCORES, 0.05) == 38.0
    assert sum(s > threshold_for(SCORES, 0.05) for s in SCORES) == 1
    assert achieved_rate(40, 0.05) == 2 / 41
    assert threshold_for(SCORES, 0.20) == 32.0
    # Too few photos to show 5% (fewer than 19): nothing may lie above, and the rate shown is 1/(n+1).
    assert threshold_for(SCORES[:10], 0.05) == 9.0 and achieved_rate(10, 0.05) == 1 / 11
    assert percentile(SCORES, 39.5) == 100.0 and percentile(SCORES, -1) == 0.0


def test_held_out_photos_exceed_the_threshold_at_most_at_the_stated_rate() -> None:
    # New photos drawn like the reference ones: with 20 reference photos at 5% the old rule (one photo
    # allowed above, i.e. the second largest) let about 2 in 21 held-out photos through.
    rng = np.random.default_rng(3)
    trials = rng.lognormal(size=(4000, 21))
    above = [row[20] > threshold_for(list(row[:20]), 0.05) for row in trials]
    assert float(np.mean(above)) <= 0.06
    bigger = rng.lognormal(size=(2000, 61))
    above = [row[60] > threshold_for(list(row[:60]), 0.05) for row in bigger]
    assert 0.03 <= float(np.mean(above)) <= 0.06  # k = 3 of 60: 3/61, not needlessly strict


def test_labels_follow_the_calibrated_thresholds() -> None:
    ref = Reference(
        "noise", "40 test photos", tuple(SCORES), found=({"set": "forgeries", "n": 4, "found": 1},)
    )
    assert calibrate_flag(flag(38.5), ref).label == FlagLabel.INDICATOR
    assert calibrate_flag(flag(33.0), ref).label == FlagLabel.INCONCLUSIVE
    assert calibrate_flag(flag(3.0), ref).label == FlagLabel.NO_INDICATION
    got = calibrate_flag(flag(38.5), ref)
    assert got.threshold == 38.0 and got.inconclusive_band == (32.0, 38.0)
    assert got.details["calibration"]["percentile"] == 97.5
    assert "of 40 test photos" in got.explanation and "chance at most 4.9%" in got.explanation
    assert "too few" not in got.explanation
    assert "1 of 4 forgeries" in got.explanation
    assert got.details["calibration"]["kind"] == "shipped"
    assert word_count(got.explanation) <= MAX_EXPLANATION_WORDS
    few = calibrate_flag(flag(9.5), Reference("noise", "10 test photos", tuple(SCORES[:10])))
    assert "chance at most 9.1% (10 photos are too few to show 5%)" in few.explanation


def test_a_case_calibration_raises_thresholds_and_never_lowers_them() -> None:
    ref = Reference("noise", "reference", tuple(SCORES))
    noisy_phone = Reference(
        "noise", "case c1", tuple(s + 40 for s in SCORES[:5]), kind="case", ident="custody x"
    )
    quiet_phone = Reference("noise", "case c1", (0.0, 0.0, 0.0), kind="case", ident="custody y")
    raised = calibrate_flag(flag(38.5), ref, noisy_phone)
    assert raised.label == FlagLabel.NO_INDICATION and raised.threshold == 4.0 + 40
    assert raised.details["calibration"]["kind"] == "case" and "custody x" in raised.explanation
    kept = calibrate_flag(flag(38.5), ref, quiet_phone)
    assert kept.label == FlagLabel.INDICATOR and kept.threshold == 38.0


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
    assert got.details["calibration"]["kind"] == "case" and "3 photos are too few" in got.explanation


def test_every_shipped_reference_keeps_its_rate_on_held_out_photos() -> None:
    import json
    from importlib import resources

    for name in ("copy_move", "noise", "jpeg_grid", "jpeg_ghost"):
        raw = json.loads(resources.files("detectors").joinpath("reference", f"{name}.json").read_text())
        hits, _, total = raw["heldout_fpr"].split()[:3]
        assert int(hits) / int(total) <= 0.05, name  # measured by bench/indicators.py reference
        ref = shipped(name)
        assert ref is not None and ref.n == int(total) and achieved_rate(ref.n, 0.05) <= 0.05
        summary = shipped_summary(name)
        assert summary and "held-out false positives" in summary and "At this threshold it found" in summary
    assert shipped_summary("ela") is None  # not scored: nothing to calibrate
