"""Model packs built in the test: a Tiny-LaDeDa-shaped network with seeded random weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from detectors.modelpack import FORMAT


def tiny_pack(
    folder: Path, seed: int = 0, calibration: dict[str, Any] | None = None, name: str = "tiny-test"
) -> Path:
    """A pack folder (manifest + one state dict) for the tiny_ladeda adapter, random weights."""
    import torch

    from detectors.adapters.tiny_ladeda import build_network

    torch.manual_seed(seed)
    net = build_network("right_diag", 3)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "tiny.pth"
    torch.save(net.state_dict(), weights)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "version": "0.1",
        "source": "built in the test",
        "licence": "test only",
        "task": "ai_generated",
        "adapter": "tiny_ladeda",
        "weights": [{"file": "tiny.pth", "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}],
        "input": {"resize": [64, 64], "filter": "right_diag"},
        "output": {"kind": "logit", "activation": "sigmoid", "threshold": 0.0, "meaning": "random"},
        "stated_error_rates": {"summary": "none: random weights"},
    }
    if calibration is not None:
        manifest["calibration"] = calibration
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
