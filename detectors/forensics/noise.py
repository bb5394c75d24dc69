"""Noise-level inconsistency: regions whose sensor noise does not match the rest of the image.

A camera leaves noise of similar strength everywhere at a given brightness; a region pasted from
another photo, or smoothed/synthesised, often carries different noise (Mahdian & Saic 2009, Lyu et
al. 2014). Noise is estimated per 32x32 block from a high-pass residual with the median absolute
deviation, flat blocks only (edges inflate it), then compared with the image's own
brightness-to-noise curve.
"""

from __future__ import annotations

from typing import Any, ClassVar

from archive.model import Flag, FlagLabel
from detectors.base import Subject, make_flag
from detectors.forensics import heatmap_png

__all__ = ["NoiseLevel", "block_noise"]

BLOCK = 32
MAX_SIDE = 2048
RATIO = 2.0
BAND = (0.15, 0.3)  # set so that no untouched corpus photo reaches "indicator" (docs/detectors.md)
THRESHOLD = 0.3
QUALITY_NOTE = (
    "Measured (bench/indicators.py): no useful power, AUC 0.46 on 7 NoSo corpus images and 0.57 on 27 "
    "synthetic edits; 0 of 20 untouched photos flagged at a threshold set on those same photos"
)


def block_noise(gray: Any) -> tuple[Any, Any, Any]:
    """Per-block noise sigma, mean brightness and a mask of usable (not edge-dominated) blocks."""
    import cv2
    import numpy as np

    residual = gray - cv2.medianBlur(np.clip(gray, 0, 255).astype(np.uint8), 3).astype(np.float32)
    # Edges are measured on a smoothed copy, so that strong noise is not mistaken for structure.
    smooth = cv2.GaussianBlur(gray, (0, 0), 2.0)
    grad = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    h, w = (gray.shape[0] // BLOCK) * BLOCK, (gray.shape[1] // BLOCK) * BLOCK

    def blocks(a: Any) -> Any:
        return (
            a[:h, :w]
            .reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
            .transpose(0, 2, 1, 3)
            .reshape(h // BLOCK, w // BLOCK, -1)
        )

    res = blocks(residual)
    med = np.median(res, axis=2, keepdims=True)
    sigma = 1.4826 * np.median(np.abs(res - med), axis=2)
    bright = blocks(gray).mean(axis=2)
    edge = np.median(blocks(grad), axis=2)
    flat = edge <= max(float(np.percentile(edge, 60)), 8.0)
    usable = flat & (bright > 15) & (bright < 240)  # clipped blocks have no measurable noise
    return sigma, bright, usable


def _expected(sigma: Any, bright: Any, usable: Any) -> Any:
    """The image's own noise at each brightness (median per brightness bin)."""
    import numpy as np

    bins = np.clip((bright / 32).astype(int), 0, 7)
    expected = np.full(sigma.shape, np.median(sigma[usable]) if usable.any() else 1.0, dtype=np.float32)
    for b in range(8):
        sel = usable & (bins == b)
        if sel.sum() >= 8:
            expected[bins == b] = np.median(sigma[sel])
    return expected


class NoiseLevel:
    name: ClassVar[str] = "noise"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = True  # also run on video keyframes
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "blocks whose noise level departs from the image's own noise curve"
    quality: ClassVar[str] = QUALITY_NOTE

    def detect(self, subject: Subject) -> list[Flag]:
        import cv2
        import numpy as np

        gray = subject.gray()
        scale = min(1.0, MAX_SIDE / max(gray.shape))
        if scale < 1.0:  # an integer-ish area reduction keeps relative noise differences
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sigma, bright, usable = block_noise(gray)
        if usable.sum() < 16:
            text = "Noise level: too few flat areas to estimate noise, so this test does not apply here."
            return [make_flag(self, subject, text, label=FlagLabel.INFORMATION)]
        ratio = np.log2((sigma + 0.05) / (_expected(sigma, bright, usable) + 0.05))
        odd = usable & (np.abs(ratio) >= np.log2(RATIO))
        odd &= _clustered(odd)
        score = float(odd.sum() / usable.sum())
        heat = np.where(usable, np.clip(np.abs(ratio) / 2, 0, 1), 0)
        text = (
            f"Noise level: {score:.0%} of the flat 32x32 blocks have noise at least {RATIO:g}x stronger "
            "or weaker than the image's own noise at that brightness, in clusters. A pasted or "
            "retouched region often has foreign noise; so do denoising by phones, shadows, blur and "
            f"heavy compression, and screenshots have almost none. {QUALITY_NOTE}. Not proof."
        )
        return [
            make_flag(
                self,
                subject,
                text,
                score=score,
                threshold=THRESHOLD,
                band=BAND,
                heatmap=heatmap_png(heat),
                details={"blocks": int(usable.sum()), "odd_blocks": int(odd.sum())},
            )
        ]


def _clustered(mask: Any) -> Any:
    """Keep blocks with at least two odd neighbours: single blocks are estimation noise."""
    import numpy as np

    p = np.pad(mask.astype(np.int8), 1)
    n = sum(
        p[1 + dy : p.shape[0] - 1 + dy, 1 + dx : p.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    return (n - mask) >= 2
