"""The learned detector's loading path, with a tiny random model built here and with broken folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from archive.model import FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, Subject, word_count
from detectors.learned import LearnedClassifier
from tests.detectors.conftest import encode, textured
from workbench.services.analysis.run import analyse_bytes, run_suite


def tiny_model(folder: Path, labels: dict[int, str] | None = None) -> Path:
    """A 2-label ViT with random weights, saved the way a vetted model would be."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = labels or {0: "real", 1: "fake"}
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def settings_for(folder: Path) -> dict[str, object]:
    return {"learned": {"enabled": True, "model_dir": str(folder)}}


@pytest.mark.model
def test_tiny_model_flag_names_model_hash_and_says_no_rates_supplied(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "model")
    (flag,) = LearnedClassifier().detect(Subject(encode(textured(96, 96)), settings_for(folder)))
    expected = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert flag.model_sha256 == expected
    assert flag.score is not None and 0.0 <= flag.score <= 1.0
    assert flag.label in (FlagLabel.INDICATOR, FlagLabel.INCONCLUSIVE, FlagLabel.NO_INDICATION)
    assert "stated no error rates" in flag.explanation
    assert word_count(flag.explanation) <= MAX_EXPLANATION_WORDS


@pytest.mark.model
def test_card_error_rates_go_into_the_explanation(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "model")
    card = {"test_set": "Vendor holdout 2025", "false_positive_rate": 0.04, "auc": 0.91}
    (folder / "wb_card.json").write_text(json.dumps(card))
    (flag,) = LearnedClassifier().detect(Subject(encode(textured(96, 96)), settings_for(folder)))
    assert "Vendor holdout 2025" in flag.explanation and "false positive rate 0.04" in flag.explanation


@pytest.mark.model
def test_labels_that_do_not_say_which_is_fake_are_refused_clearly(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "model", {0: "cat", 1: "dog"})
    (flag,) = run_suite(encode(textured(96, 96)), settings_for(folder), only=["learned"])
    assert flag.label == FlagLabel.NOT_ANALYSED and flag.score is None
    assert "learned.positive_labels" in (flag.reason or "")


@pytest.mark.model
def test_tiny_model_runs_inside_the_limited_subprocess(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "model")
    result = analyse_bytes(encode(textured(96, 96)), settings_for(folder), only=["learned"])
    (flag,) = result.flags
    assert flag.label != FlagLabel.NOT_ANALYSED, flag.reason
    assert flag.model_sha256 == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_missing_folder_gives_a_clear_message_not_a_hub_error(tmp_path: Path) -> None:
    (flag,) = run_suite(encode(textured(96, 96)), settings_for(tmp_path / "absent"), only=["learned"])
    assert flag.label == FlagLabel.NOT_ANALYSED and flag.score is None
    assert "does not exist" in (flag.reason or "")
    assert "repo" not in (flag.reason or "").lower()


def test_broken_folder_gives_a_clear_message(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    (folder / "preprocessor_config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"garbage")
    (flag,) = run_suite(encode(textured(96, 96)), settings_for(folder), only=["learned"])
    assert flag.label == FlagLabel.NOT_ANALYSED
    assert "config.json is unreadable" in (flag.reason or "")


def test_learned_is_off_by_default() -> None:
    flags = run_suite(encode(textured(96, 96)), {})
    assert "learned" not in {f.detector for f in flags}


@pytest.mark.model
def test_the_loaded_model_is_kept_per_folder_and_weights_hash(tmp_path: Path) -> None:
    from detectors.learned import ModelFolder

    folder = tiny_model(tmp_path / "model")
    first = ModelFolder(str(folder))
    model = first.load()[1]
    assert ModelFolder(str(folder)).load()[1] is model  # the second file of a run reuses it
    tiny_model(folder)  # new random weights saved over the old ones
    again = ModelFolder(str(folder))
    assert again.sha256 != first.sha256
    assert again.sha256 == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert again.load()[1] is not model
