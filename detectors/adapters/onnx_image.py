"""A generic adapter for an image model exported to ONNX, run with ``onnxruntime`` on one CPU thread.

An organisation with a stronger model (a TruFor, CAT-Net or B-Free export, a CLIP-based detector)
needs only a manifest: the architecture is in the ONNX file. Manifest fields read here:

- ``input``: ``resize`` [height, width] (bilinear), ``mean`` and ``std`` (on 0-1 values, per RGB
  channel), ``layout`` ``NCHW`` (default) or ``NHWC``;
- ``output``: ``index`` (which value of the flattened first output is the score; default 0) and
  ``softmax`` (true: a softmax over the output first, for two-class heads).

The bytes are hashed again as they are handed to onnxruntime, so the model run is the one checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detectors.modelpack import Manifest, PackError

__all__ = ["OnnxImageAdapter"]


class OnnxImageAdapter:
    """Builds an onnxruntime session from a pack's single ``.onnx`` file and scores RGB images."""

    def __init__(self, manifest: Manifest, weights: Mapping[str, Path]) -> None:
        import onnxruntime

        if len(weights) != 1:
            raise PackError(f"model pack {manifest.name}: the onnx_image adapter takes one .onnx file")
        ((fname, path),) = weights.items()
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest.weights[fname]:
            raise PackError(f"model pack {manifest.name} refused: {fname} changed while it was loaded")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        size = manifest.input.get("resize", [224, 224])
        self.size = (int(size[1]), int(size[0]))  # Pillow takes (width, height)
        self.mean = [float(v) for v in manifest.input.get("mean", [0.0, 0.0, 0.0])]
        self.std = [float(v) for v in manifest.input.get("std", [1.0, 1.0, 1.0])]
        self.layout = str(manifest.input.get("layout", "NCHW")).upper()
        if self.layout not in ("NCHW", "NHWC"):
            raise PackError(f"model pack {manifest.name}: input layout must be NCHW or NHWC")
        self.index = int(manifest.output.get("index", 0))
        self.softmax = bool(manifest.output.get("softmax", False))

    def score(self, rgb: Any) -> float:
        """The selected output value (after a softmax when the manifest asks for one)."""
        import numpy as np
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(rgb)).resize(self.size, Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        norm = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        batch = norm[None] if self.layout == "NHWC" else norm.transpose(2, 0, 1)[None]
        (out, *_rest) = self.session.run(
            None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        )
        values = np.asarray(out, dtype=np.float64).ravel()
        if self.softmax:
            values = np.exp(values - values.max())
            values = values / values.sum()
        return float(values[self.index])
