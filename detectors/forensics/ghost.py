"""JPEG ghost: a region once saved at a lower quality than the rest shows a dip when re-saved there.

Farid, "Exposing digital forgeries from JPEG ghosts" (IEEE TIFS 2009). The image is re-saved at a
range of qualities; for each 16x16 block the difference curve is normalised, and blocks whose
curve departs from the image's typical curve (in either direction: a region that dips where the
rest does not, or the rest dipping where the region does not) are ghosts. The pasted region may
sit on its own 8x8 grid, so the search also shifts the grid (all 64 shifts with
``full_shift_search``, else the shifts that the local blockiness suggests). Slow: off by default.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

from archive.model import Flag
from detectors.base import Subject, make_flag
from detectors.forensics import heatmap_png
from detectors.forensics.jpeg_grid import MIN_LOCAL_STRENGTH, local_phases

__all__ = ["JpegGhost", "ghost_map"]

QUALITIES = tuple(range(55, 100, 5))
BLOCK = 16
MAX_PIXELS = 4_000_000
BAND = (0.04, 0.10)
THRESHOLD = 0.07
QUALITY_NOTE = (
    "Measured (bench/indicators.py): no useful power, AUC 0.42 on 7 NoSo corpus images and 0.51 on 27 "
    "synthetic edits; 3 of 20 untouched photos flagged"
)


def _curves(rgb: Any) -> Any:
    """Per-block mean squared difference after re-saving at each quality: (qualities, by, bx)."""
    import cv2
    import numpy as np
    from PIL import Image

    h, w = (rgb.shape[0] // BLOCK) * BLOCK, (rgb.shape[1] // BLOCK) * BLOCK
    base = np.ascontiguousarray(rgb[:h, :w])
    img = Image.fromarray(base)
    out = []
    for q in QUALITIES:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q)
        again = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        # Squared error summed over the channels, then over each block's rows and columns: the same
        # values as ((base - again) ** 2).mean(axis=2) and a block mean, 3x quicker on one core.
        d = cv2.absdiff(base, again).astype(np.float32)
        d *= d
        per_pixel = (d[..., 0] + d[..., 1] + d[..., 2]) / 3.0
        blocks = per_pixel.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).sum(axis=3).sum(axis=1)
        out.append(blocks / (BLOCK * BLOCK))
    return np.stack(out)


def ghost_map(rgb: Any) -> tuple[float, Any]:
    """Two-sided ghost score and per-block deviation map for one grid alignment."""
    import numpy as np

    curves = _curves(rgb)
    total = curves.sum(axis=0)
    textured = total > np.percentile(total, 20)  # flat blocks have no curve to speak of
    shape = curves / (total + 1e-6)
    typical = np.median(shape[:, textured], axis=1)[:, None, None]
    dev = np.abs(shape - typical).max(axis=0) * textured
    clustered = dev * (_smooth(dev) > 0.5 * dev)
    score = float(np.mean(clustered > 0.1)) if textured.any() else 0.0
    return score, clustered


def _smooth(a: Any) -> Any:
    import cv2

    return cv2.blur(a.astype("float32"), (3, 3))


def _shifts(gray: Any, full: bool) -> list[tuple[int, int]]:
    import numpy as np

    if full:
        return [(x, y) for y in range(8) for x in range(8)]
    lx, ly, strength = local_phases(gray)
    strong = strength >= MIN_LOCAL_STRENGTH
    pairs, counts = np.unique(np.stack([lx[strong], ly[strong]], axis=1), axis=0, return_counts=True)
    ranked = [tuple(int(v) for v in pairs[i]) for i in np.argsort(-counts)[:3]]
    return list(dict.fromkeys([(0, 0), *ranked]))  # type: ignore[list-item]


class JpegGhost:
    name: ClassVar[str] = "jpeg_ghost"
    version: ClassVar[str] = "1.0"  # the vectorised curves give the same values: no version change
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = False  # measures JPEG history; a video frame has only the codec's
    default: ClassVar[bool] = False
    summary: ClassVar[str] = "JPEG ghosts with grid-shift search (slow; enable in settings)"
    quality: ClassVar[str] = QUALITY_NOTE

    def detect(self, subject: Subject) -> list[Flag]:
        import numpy as np

        img = subject.image()
        rgb = np.asarray(img)
        cropped = rgb.shape[0] * rgb.shape[1] > MAX_PIXELS
        if cropped:  # a centred window keeps the cost bounded; said in the explanation
            side = int(MAX_PIXELS**0.5)
            y0, x0 = max(0, (rgb.shape[0] - side) // 2), max(0, (rgb.shape[1] - side) // 2)
            rgb = rgb[y0 : y0 + side, x0 : x0 + side]
        f32 = rgb.astype(np.float32)
        gray = (f32[..., 0] + f32[..., 1] + f32[..., 2]) / 3.0  # = mean(axis=2), several times quicker
        best, best_map, best_shift = -1.0, None, (0, 0)
        for dx, dy in _shifts(gray, bool(subject.setting(self.name, "full_shift_search", False))):
            score, dev = ghost_map(np.ascontiguousarray(rgb[dy:, dx:]))
            if score > best:
                best, best_map, best_shift = score, dev, (dx, dy)
        text = (
            f"JPEG ghost: {best:.0%} of textured 16x16 blocks respond to re-saving at qualities "
            f"{QUALITIES[0]}-{QUALITIES[-1]} unlike the rest of the image (best grid shift {best_shift}). "
            "A region saved earlier at another quality, e.g. pasted from another photo, shows this; so "
            "can strong texture, saturated areas and resizing, and a single re-save at low quality "
            f"erases it. {'Only the central 4 MP were analysed. ' if cropped else ''}{QUALITY_NOTE}. "
            "Not proof."
        )
        return [
            make_flag(
                self,
                subject,
                text,
                score=best,
                threshold=THRESHOLD,
                band=BAND,
                heatmap=heatmap_png(np.clip(np.asarray(best_map) / 0.3, 0, 1)),
                details={"grid_shift": list(best_shift), "cropped": cropped},
            )
        ]
