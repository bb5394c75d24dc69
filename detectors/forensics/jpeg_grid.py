"""JPEG block-grid alignment and blockiness inconsistency.

JPEG compresses 8x8 blocks, leaving faint steps at block borders. The strongest period-8 phase of
the horizontal and vertical pixel differences gives the grid's position (Fan & de Queiroz 2003;
Lin et al. 2009 for local grids). A grid that does not start at (0, 0) means the image was cropped
after compression; windows whose own grid disagrees with the image's suggest a region that was
pasted from another JPEG (it keeps its own grid) or resampled.
"""

from __future__ import annotations

from typing import Any, ClassVar

from archive.model import Flag, FlagLabel
from detectors.base import Subject, make_flag
from detectors.forensics import heatmap_png

__all__ = ["JpegGrid", "grid_phases", "local_phases"]

WINDOW = 64
CLIP = 3.0
MIN_GLOBAL_STRENGTH = 0.08
MIN_LOCAL_STRENGTH = 0.25
CLUSTER_FULL = 20  # windows in the largest misaligned cluster that give score 1.0
BAND = (0.3, 0.5)
THRESHOLD = 0.5
QUALITY_NOTE = (
    "Measured (bench/indicators.py): AUC 0.53 on 27 synthetic edits (recall 0.11); the NoSo corpus PNGs "
    "carry no grid; 1 of 20 untouched photos flagged"
)


def _phase_strength(sums: Any) -> tuple[Any, Any]:
    """Phase with the largest mean border step, and how far it stands above the other phases."""
    best = sums.argmax(axis=-1)
    top = sums.max(axis=-1)
    rest = (sums.sum(axis=-1) - top) / 7.0
    return best, (top - rest) / (rest + 1e-6)


def _diffs(gray: Any) -> tuple[Any, Any]:
    """Neighbour differences clipped to a few grey levels: block steps are small, while object
    edges are large and would otherwise decide the phase of any window they cross."""
    import cv2
    import numpy as np

    dh = cv2.absdiff(gray[:, 1:], gray[:, :-1])
    np.minimum(dh, CLIP, out=dh)
    dv = cv2.absdiff(gray[1:, :], gray[:-1, :])
    np.minimum(dv, CLIP, out=dv)
    return dh, dv


def grid_phases(gray: Any, diffs: tuple[Any, Any] | None = None) -> tuple[int, int, float]:
    """(x offset, y offset, strength) of the image's JPEG grid; strength near 0 means no grid."""
    dh, dv = diffs if diffs is not None else _diffs(gray)
    wh, wv = (dh.shape[1] // 8) * 8, (dv.shape[0] // 8) * 8
    sx = dh[:, :wh].reshape(dh.shape[0], -1, 8).mean(axis=(0, 1))
    sy = dv[:wv, :].reshape(-1, 8, dv.shape[1]).mean(axis=(0, 2))
    px, strx = _phase_strength(sx)
    py, stry = _phase_strength(sy)
    # A border step at difference index 7 means blocks start at column 0 (offset 0).
    return (int(px) + 1) % 8, (int(py) + 1) % 8, float(min(strx, stry))


def local_phases(
    gray: Any, window: int = WINDOW, diffs: tuple[Any, Any] | None = None
) -> tuple[Any, Any, Any]:
    """Per-window grid offsets (x, y) and strength, on non-overlapping windows."""
    import numpy as np

    dh, dv = diffs if diffs is not None else _diffs(gray)
    h = (min(dh.shape[0], dv.shape[0]) // window) * window
    w = (min(dh.shape[1], dv.shape[1]) // window) * window
    nby, nbx = h // window, w // window
    sx = dh[:h, :w].reshape(nby, window, nbx, window // 8, 8).mean(axis=(1, 3))
    sy = dv[:h, :w].reshape(nby, window // 8, 8, nbx, window).mean(axis=(1, 4)).transpose(0, 2, 1)
    px, strx = _phase_strength(sx)
    py, stry = _phase_strength(sy)
    return (px + 1) % 8, (py + 1) % 8, np.minimum(strx, stry)


class JpegGrid:
    name: ClassVar[str] = "jpeg_grid"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = False  # measures JPEG history; a video frame has only the codec's
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "JPEG 8x8 grid position and windows whose grid disagrees (pasted regions)"
    quality: ClassVar[str] = QUALITY_NOTE

    def detect(self, subject: Subject) -> list[Flag]:
        import numpy as np

        gray = subject.gray()
        diffs = _diffs(gray)  # computed once for the global and the local grids
        gx, gy, strength = grid_phases(gray, diffs) if min(gray.shape) >= 2 * WINDOW else (0, 0, 0.0)
        if strength < MIN_GLOBAL_STRENGTH:
            text = (
                "JPEG grid: no 8x8 compression grid was found (the image was never JPEG-compressed, "
                "was resized afterwards, or is too small), so this test does not apply. That says "
                "nothing either way about editing."
            )
            return [
                make_flag(self, subject, text, label=FlagLabel.INFORMATION, details={"strength": strength})
            ]
        lx, ly, ls = local_phases(gray, diffs=diffs)
        strong = ls >= MIN_LOCAL_STRENGTH
        off = strong & ((lx != gx) | (ly != gy))
        off = off & (_neighbours(off) >= 1)  # isolated windows are mostly texture noise
        largest = _largest_cluster(off)
        score = min(1.0, largest / CLUSTER_FULL)
        heat = np.where(strong, 0.3, 0.0) + np.where(off, 0.7, 0.0)
        text = _explain(gx, gy, score)
        details = {
            "largest_cluster_windows": largest,
            "grid_offset": [gx, gy],
            "strength": round(strength, 4),
            "windows": int(strong.sum()),
            "misaligned_windows": int(off.sum()),
        }
        flag = make_flag(
            self,
            subject,
            text,
            score=score,
            threshold=THRESHOLD,
            band=BAND,
            heatmap=heatmap_png(np.kron(heat, np.ones((8, 8)))),
            details=details,
        )
        return [flag]


def _largest_cluster(mask: Any) -> int:
    """Windows in the largest 8-connected group of misaligned windows."""
    import cv2
    import numpy as np

    if not mask.any():
        return 0
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0


def _neighbours(mask: Any) -> Any:
    import numpy as np

    padded = np.pad(mask.astype(np.int8), 1)
    total = sum(
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    return total - mask


def _explain(gx: int, gy: int, score: float) -> str:
    crop = (
        f"The grid starts at offset ({gx}, {gy}), so the image was cropped after compression. "
        if (gx, gy) != (0, 0)
        else "The grid is aligned with the image's corner. "
    )
    return (
        f"JPEG grid: {crop}Score {score:.2f} measures the largest connected patch of 64x64 windows whose "
        f"own grid disagrees with the image's ({CLUSTER_FULL} windows give 1.0); a pasted region keeps its "
        f"own grid. High scores can also come from resampling, strong texture or double compression; "
        f"low scores do not exclude editing (re-saving erases grids). {QUALITY_NOTE}. Not proof."
    )
