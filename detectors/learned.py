"""A learned image classifier from a local model folder that an organisation has vetted.

No model ships with the workbench: a trial model trained here did not carry over to real forgeries
and scored untouched camera photos above 0.95 (DESIGN.md). An organisation points the setting
``learned.model_dir`` (or ``WB_MODEL_DIR``) at a transformers image-classification folder
(``config.json``, weights, ``preprocessor_config.json``) and may add ``wb_card.json`` with the
error rates stated by the model's card. Loading is offline only; every flag names the model and
the SHA-256 of its weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from archive.model import Flag
from detectors.base import DetectorError, Subject, make_flag

__all__ = ["LearnedClassifier", "ModelFolder", "weights_sha256"]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
POSITIVE_WORDS = ("fake", "ai", "generated", "synthetic", "manipulated", "tampered", "artificial", "forged")
DEFAULT_BAND = (0.3, 0.7)
# Loaded models by (folder, weights SHA-256): an analysis child serves a whole run of files, so the
# model loads once per run; new weights in the folder have a new hash and are loaded afresh.
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}


def weights_sha256(folder: Path) -> str:
    """SHA-256 of the weights file (of the per-file hashes, in name order, for sharded weights)."""
    files = sorted(p for p in folder.iterdir() if p.name in WEIGHT_FILES or p.name.endswith(".safetensors"))
    if not files:
        raise DetectorError(f"model folder {folder} holds no weights ({' or '.join(WEIGHT_FILES)})")
    digests = []
    for path in files:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digests.append(h.hexdigest())
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()


_HASHED: dict[tuple[tuple[str, int, int], ...], str] = {}


def _cached_weights_sha256(folder: Path) -> str:
    """``weights_sha256``, hashed again only when a weights file's size or modification time changes."""
    try:
        stamp = tuple(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())
            if p.name in WEIGHT_FILES or p.name.endswith(".safetensors")
        )
    except OSError:
        return weights_sha256(folder)
    key = ((str(folder.resolve()), 0, 0), *stamp)
    if key not in _HASHED:
        _HASHED.clear()
        _HASHED[key] = weights_sha256(folder)
    return _HASHED[key]


class ModelFolder:
    """A checked local model folder; problems are explained, never a hub 'repo id' error."""

    def __init__(self, folder: str | None) -> None:
        if not folder:
            raise DetectorError("no model folder is configured (setting learned.model_dir or WB_MODEL_DIR)")
        self.path = Path(folder).expanduser()
        if not self.path.is_dir():
            raise DetectorError(f"the model folder {self.path} does not exist or is not a folder")
        for needed in ("config.json", "preprocessor_config.json"):
            if not (self.path / needed).is_file():
                raise DetectorError(f"the model folder {self.path} has no {needed}")
        try:
            self.config = json.loads((self.path / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise DetectorError(f"the model folder's config.json is unreadable: {exc}") from None
        self.sha256 = _cached_weights_sha256(self.path)
        self.name = str(self.config.get("_name_or_path") or self.path.name)[:120] or self.path.name
        self.card = self._card()

    def _card(self) -> dict[str, Any]:
        path = self.path / "wb_card.json"
        if not path.is_file():
            return {}
        try:
            card = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DetectorError(f"wb_card.json in the model folder is unreadable: {exc}") from None
        return card if isinstance(card, dict) else {}

    def load(self) -> tuple[Any, Any]:
        """(processor, model), loaded once per process for this folder and these exact weights."""
        key = (str(self.path.resolve()), self.sha256)
        if key not in _LOADED:
            _LOADED.clear()  # one model at a time: a run uses one configured folder
            _LOADED[key] = self._load()
        return _LOADED[key]

    def _load(self) -> tuple[Any, Any]:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        try:
            processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                str(self.path), local_files_only=True
            )
            model = AutoModelForImageClassification.from_pretrained(str(self.path), local_files_only=True)
        except Exception as exc:  # transformers raises many kinds for a broken folder
            raise DetectorError(
                f"the model in {self.path} could not be loaded: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        model.eval()
        return processor, model


def _positive(labels: dict[int, str], configured: list[str] | None) -> list[int]:
    if configured:
        chosen = [i for i, name in labels.items() if name in configured]
    else:
        chosen = [i for i, name in labels.items() if set(_words(name)) & set(POSITIVE_WORDS)]
    if not chosen or len(chosen) == len(labels):
        raise DetectorError(
            f"cannot tell which of the model's labels {sorted(labels.values())} means manipulated or "
            "AI-made: name them in the setting learned.positive_labels"
        )
    return chosen


def _words(label: str) -> list[str]:
    return label.lower().replace("-", " ").replace("_", " ").split()


def _card_text(card: dict[str, Any]) -> str:
    if not card:
        return "The model's supplier stated no error rates, and none were measured here."
    parts = [
        f"{k.replace('_', ' ')} {card[k]}"
        for k in ("auc", "false_positive_rate", "false_negative_rate")
        if k in card
    ]
    test_set = str(card.get("test_set", "an unnamed test set"))[:80]
    return f"Stated by the model's card on {test_set}: {', '.join(parts) or 'no rates given'}."


class LearnedClassifier:
    name: ClassVar[str] = "learned"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = True  # also run on video keyframes
    default: ClassVar[bool] = False
    summary: ClassVar[str] = "a vetted local image-classification model (none ships; set learned.model_dir)"
    quality: ClassVar[str] = "depends on the configured model; its card's stated rates go into each flag"

    def detect(self, subject: Subject) -> list[Flag]:
        import torch

        folder = ModelFolder(subject.setting(self.name, "model_dir") or os.environ.get("WB_MODEL_DIR"))
        processor, model = folder.load()
        labels = {int(k): str(v) for k, v in model.config.id2label.items()}
        positive = _positive(labels, subject.setting(self.name, "positive_labels"))
        torch.set_num_threads(1)
        with torch.no_grad():
            logits = model(**processor(images=subject.image(), return_tensors="pt")).logits[0]
        probs = torch.softmax(logits, dim=-1).tolist()
        score = float(sum(probs[i] for i in positive))
        band = tuple(folder.card.get("band") or subject.setting(self.name, "band") or DEFAULT_BAND)
        threshold = float(folder.card.get("threshold", (band[0] + band[1]) / 2))
        text = (
            f"Learned classifier {folder.name} (weights SHA-256 {folder.sha256[:16]}...): probability "
            f"{score:.2f} for '{', '.join(labels[i] for i in positive)}'. Scores between {band[0]} and "
            f"{band[1]} are inconclusive. {_card_text(folder.card)} Such models often fail on images "
            "unlike their training data, and on recompressed, resized or screenshotted files. Not proof."
        )
        return [
            make_flag(
                self,
                subject,
                text,
                score=score,
                threshold=threshold,
                band=(band[0], band[1]),
                model_sha256=folder.sha256,
                details={"model": folder.name, "labels": labels},
            )
        ]
