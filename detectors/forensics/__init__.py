"""Pixel forensics: ELA lens, JPEG grid, JPEG ghost, copy-move, noise and quantisation tables.

Every detector here decodes through ``detectors.imageio`` (Pillow, guarded) and converts to numpy
before any OpenCV call: OpenCV never sees untrusted bytes.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["heatmap_png"]

HEATMAP_MAX_SIDE = 1024


def heatmap_png(values: Any, max_side: int = HEATMAP_MAX_SIDE) -> bytes:
    """A colour-mapped PNG of an array scaled to 0..1 (higher = more notable)."""
    import cv2
    import numpy as np
    from PIL import Image

    arr: Any = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    h, w = arr.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        arr = cv2.resize(arr, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    colour = cv2.applyColorMap((arr * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    buf = io.BytesIO()
    Image.fromarray(colour[:, :, ::-1]).save(buf, "PNG", compress_level=1)  # 3x quicker than 6, +20% size
    return buf.getvalue()
