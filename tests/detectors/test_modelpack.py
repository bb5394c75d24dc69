"""Model packs: manifest, SHA-256 check before use, load, score, calibration; Tiny-LaDeDa as shipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from archive.model import FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, Subject, run_detectors, word_count
from detectors.modelpack import ModelPackDetector, PackError, load_pack, read_manifest, shipped_manifests
from tests.conftest import SHARED, require_shared
from tests.detectors.conftest import encode, textured
from tests.detectors.packs import tiny_pack

pytestmark = pytest.mark.model

TINY_LADEDA = SHARED / "models" / "tiny_ladeda"


def test_a_pack_built_here_round_trips_manifest_load_score_and_calibration(tmp_path: Path) -> None:
    folder = tiny_pack(tmp_path / "pack")
    pack = load_pack(folder)
    photos = [textured(96, 96, seed=s) for s in range(6)]
    scores = sorted(pack.scorer.score(p) for p in photos)
    assert pack.scorer.score(photos[0]) == pack.scorer.score(photos[0])
    # The calibration statistics go into the manifest; a photo above all of them is an indicator.
    data = json.loads((folder / "manifest.json").read_text())
    data["calibration"] = {"name": "6 test photos", "scores": scores[:-1]}
    (folder / "manifest.json").write_text(json.dumps(data))
    manifest = read_manifest(folder / "manifest.json")
    ref = manifest.reference()
    assert ref is not None and ref.n == 5
    subject = Subject(
        encode(photos[int(np.argmax([pack.scorer.score(p) for p in photos]))]),
        settings={"model_pack": {"packs": [{"name": "tiny-test", "dir": str(folder)}]}},
    )
    (got,) = run_detectors(subject, [ModelPackDetector()])
    assert got.detector == "model_pack" and got.details["pack"] == "tiny-test"
    assert got.model_sha256 == manifest.model_sha256 and got.model_sha256[:16] in got.explanation
    assert got.label == FlagLabel.INDICATOR
    assert got.details["calibration"]["kind"] == "pack" and got.details["calibration"]["n"] == 5
    assert word_count(got.explanation) <= MAX_EXPLANATION_WORDS


def test_a_wrong_sha256_refuses_to_load_with_a_clear_message(tmp_path: Path) -> None:
    folder = tiny_pack(tmp_path / "pack")
    weights = folder / "tiny.pth"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(
        PackError, match=r"refused: tiny.pth has SHA-256 [0-9a-f]{64}, but the manifest states"
    ):
        load_pack(folder)
    # In an analysis the refusal is a not_analysed flag with that reason, never a score.
    subject = Subject(encode(textured(96, 96)), settings={"model_pack": {"packs": [{"dir": str(folder)}]}})
    (got,) = run_detectors(subject, [ModelPackDetector()])
    assert (
        got.label == FlagLabel.NOT_ANALYSED and got.score is None and "manifest states" in (got.reason or "")
    )


def test_a_weight_replaced_after_loading_is_refused(tmp_path: Path) -> None:
    folder = tiny_pack(tmp_path / "pack")
    load_pack(folder)
    tiny_pack(tmp_path / "other", seed=5)
    shutil.copyfile(tmp_path / "other" / "tiny.pth", folder / "tiny.pth")
    with pytest.raises(PackError, match="refused"):
        load_pack(folder)


def test_bad_manifests_are_refused_naming_the_field(tmp_path: Path) -> None:
    folder = tiny_pack(tmp_path / "pack")
    data = json.loads((folder / "manifest.json").read_text())
    for broken, needle in (
        ({**data, "weights": [{"file": "../x.pth", "sha256": "0" * 64}]}, "plain file name"),
        ({**data, "task": "vibes"}, "task must be"),
        ({k: v for k, v in data.items() if k != "licence"}, "lacks licence"),
        ({**data, "adapter": "nope"}, "no model adapter named 'nope'"),
    ):
        (folder / "manifest.json").write_text(json.dumps(broken))
        with pytest.raises(PackError, match=needle):
            load_pack(folder)


def _tiny_ladeda(tmp_path: Path) -> Path:
    require_shared(TINY_LADEDA)
    (manifest,) = [m for m in shipped_manifests() if m.name == "tiny-ladeda-wildrf"]
    folder = tmp_path / "tiny_ladeda"
    folder.mkdir()
    shutil.copyfile(TINY_LADEDA / "WildRF_Tiny_LaDeDa.pth", folder / "WildRF_Tiny_LaDeDa.pth")
    (folder / "manifest.json").write_text(json.dumps(manifest.raw))
    return folder


@pytest.mark.corpus
def test_tiny_ladeda_is_repeatable_and_scores_a_generated_sample_above_a_camera_photo(tmp_path: Path) -> None:
    pack = load_pack(_tiny_ladeda(tmp_path))
    generated = Subject((SHARED / "corpus" / "ai_generated" / "sdv1__txt2img_000002025.png").read_bytes())
    camera = Subject((SHARED / "corpus" / "photos_exif" / "mei__HTC_Desire.jpg").read_bytes())
    first = pack.scorer.score(generated.rgb())
    assert pack.scorer.score(generated.rgb()) == first
    assert first > pack.scorer.score(camera.rgb())
    # As a flag it is calibrated by the statistics shipped in its manifest, and says how weak it is.
    subject = Subject(
        generated.data, settings={"model_pack": {"packs": [{"dir": str(tmp_path / "tiny_ladeda")}]}}
    )
    (flag,) = run_detectors(subject, [ModelPackDetector()])
    assert flag.model_sha256 == "5e063100564d2ddfe9bf48074e351c8f2b38855552574a18a0738e7f2a764d80"
    assert flag.details["calibration"]["n"] >= 20 and "untouched photos" in flag.explanation
    assert "chance at most 4.7%" in flag.explanation  # the rate its reference shows
    assert flag.label in (FlagLabel.NO_INDICATION, FlagLabel.INCONCLUSIVE, FlagLabel.INDICATOR)
