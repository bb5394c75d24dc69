"""An ONNX model pack built here: manifest only (no adapter code), SHA-256 checked, scored by onnxruntime."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from archive.model import FlagLabel
from detectors.base import Subject, run_detectors
from detectors.modelpack import FORMAT, ModelPackDetector, PackError, load_pack
from tests.detectors.conftest import encode


def onnx_pack(folder: Path, calibration: dict[str, object] | None = None) -> Path:
    """A two-class head on the mean colour: class 1 ("generated") grows with red minus blue."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([[-4.0, 0.0, 4.0], [4.0, 0.0, -4.0]], np.float32)  # rows: class 0, class 1
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "w", "b"], ["y"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.zeros(2, np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    data = model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    manifest = {
        "format": FORMAT,
        "name": "tiny-onnx",
        "version": "1",
        "source": "built in the test",
        "licence": "test only",
        "task": "manipulated",
        "adapter": "onnx_image",
        "weights": [{"file": "model.onnx", "sha256": hashlib.sha256(data).hexdigest()}],
        "input": {"resize": [32, 32], "mean": [0, 0, 0], "std": [1, 1, 1], "layout": "NCHW"},
        "output": {"index": 1, "softmax": True, "threshold": 0.5, "meaning": "probability of class 1"},
        "calibration": calibration or {"name": "5 test photos", "scores": [0.3, 0.35, 0.4, 0.45, 0.5]},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def solid(rgb: tuple[int, int, int]) -> bytes:
    return encode(np.tile(np.array(rgb, np.uint8), (96, 96, 1)))


def test_an_onnx_pack_needs_only_a_manifest_and_is_calibrated(tmp_path: Path) -> None:
    folder = onnx_pack(tmp_path / "pack")
    pack = load_pack(folder)
    red = pack.scorer.score(np.tile(np.array([255, 0, 0], np.uint8), (64, 64, 1)))
    blue = pack.scorer.score(np.tile(np.array([0, 0, 255], np.uint8), (64, 64, 1)))
    assert red > 0.99 and blue < 0.01
    settings = {"model_pack": {"packs": [{"dir": str(folder)}]}}
    (hit,) = run_detectors(Subject(solid((255, 0, 0)), settings=settings), [ModelPackDetector()])
    (miss,) = run_detectors(Subject(solid((0, 0, 255)), settings=settings), [ModelPackDetector()])
    assert hit.label == FlagLabel.INDICATOR and miss.label == FlagLabel.NO_INDICATION
    assert hit.details["calibration"]["reference"] == "5 test photos" and hit.details["task"] == "manipulated"


def test_a_changed_onnx_file_is_refused(tmp_path: Path) -> None:
    folder = onnx_pack(tmp_path / "pack")
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-1] ^= 1
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(PackError, match="model.onnx has SHA-256"):
        load_pack(folder)
