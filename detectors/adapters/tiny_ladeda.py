"""Tiny-LaDeDa (Cavia et al., "Real-Time Deepfake Detection in the Real-World", arXiv 2406.09398).

Written here from the published description of the network: a fixed diagonal-gradient filter per
colour channel, a 1x1 and a 3x3 convolution (8 channels), batch norm, one bottleneck block (1x1
convolution, then a 3x3 convolution with stride 2, each with batch norm and ReLU), a global mean
and a linear layer 8 -> 1 whose sigmoid means "generated". The published checkpoint has a 3x3
kernel in the block (the repository's factory builds 1x1), so the kernel size is read from the state
dict. The global mean replaces ``AvgPool2d(height)``, which assumed a square input.

Preprocessing (manifest ``input``): resize to 256x256 (bilinear), ImageNet mean and deviation,
then the ``right_diag`` filter inside the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detectors.modelpack import Manifest, PackError

__all__ = ["TinyLaDeDaAdapter", "build_network"]

FILTERS = {
    "right_diag": [[-2.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 2.0]],
    "left_diag": [[0.0, 1.0, 2.0], [-1.0, 0.0, 1.0], [-2.0, -1.0, 0.0]],
    "x_grad": [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
    "y_grad": [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],
}


def build_network(filter_name: str = "right_diag", block_kernel: int = 3) -> Any:
    """The Tiny-LaDeDa module (random weights), parameter names as in the published state dict."""
    import torch
    from torch import nn

    if filter_name not in FILTERS:
        raise PackError(f"unknown Tiny-LaDeDa input filter {filter_name!r} (known: {', '.join(FILTERS)})")

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(8, 8, kernel_size=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 8, kernel_size=block_kernel, stride=2, padding=0, bias=False)
            self.bn2 = nn.BatchNorm2d(8)

        def forward(self, x: Any) -> Any:
            x = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(x)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            kernel = torch.tensor(FILTERS[filter_name]).expand(3, 1, 3, 3).clone()
            self.register_buffer("gradient", kernel, persistent=False)
            self.conv1 = nn.Conv2d(3, 8, kernel_size=1, bias=False)
            self.conv2 = nn.Conv2d(8, 8, kernel_size=3, padding=0, bias=False)
            self.bn1 = nn.BatchNorm2d(8, momentum=0.001)
            self.layer1 = nn.Sequential(Block())
            self.fc = nn.Linear(8, 1)

        def forward(self, x: Any) -> Any:
            x = nn.functional.conv2d(x, self.gradient, groups=3, padding="same")  # type: ignore[arg-type]
            x = torch.relu(self.bn1(self.conv2(self.conv1(x))))
            x = self.layer1(x)
            return self.fc(x.mean(dim=(2, 3)))

    return Net()


class TinyLaDeDaAdapter:
    """Builds the network from a pack's single state dict and scores RGB images."""

    def __init__(self, manifest: Manifest, weights: Mapping[str, Path]) -> None:
        import torch

        if len(weights) != 1:
            raise PackError(f"model pack {manifest.name}: Tiny-LaDeDa takes one state-dict file")
        (path,) = weights.values()
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only, no pickled code
        if not isinstance(state, dict):
            raise PackError(f"model pack {manifest.name}: {path.name} is not a state dict")
        kernel = int(state["layer1.0.conv2.weight"].shape[-1]) if "layer1.0.conv2.weight" in state else 3
        self.net = build_network(str(manifest.input.get("filter", "right_diag")), kernel)
        self.net.load_state_dict(state, strict=True)
        self.net.eval()
        size = manifest.input.get("resize", [256, 256])
        self.size = (int(size[0]), int(size[1]))
        self.mean = [float(v) for v in manifest.input.get("mean", [0.485, 0.456, 0.406])]
        self.std = [float(v) for v in manifest.input.get("std", [0.229, 0.224, 0.225])]

    def score(self, rgb: Any) -> float:
        """The network's logit on the preprocessed image (sigmoid = the model's "generated").

        The logit, not the sigmoid, is the score: many camera photos reach a sigmoid of 1.0 in
        floating point, and calibration needs scores that still differ there."""
        import numpy as np
        import torch
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(rgb)).resize(self.size, Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        norm = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        tensor = torch.from_numpy(np.ascontiguousarray(norm.transpose(2, 0, 1), dtype=np.float32)).unsqueeze(
            0
        )
        torch.set_num_threads(1)
        with torch.no_grad():
            return float(self.net(tensor)[0, 0])
