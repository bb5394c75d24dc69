"""Error level analysis, shown as a lens: where a re-save at a fixed quality changes the image most.

Krawetz, "A Picture's Worth" (2007). ELA highlights edges, texture and regions saved at another
quality alike, so it is never scored: it is a picture for a person, with its limits written out.
"""

from __future__ import annotations

import io
from typing import ClassVar

from archive.model import Flag, FlagLabel
from detectors.base import Subject, make_flag
from detectors.forensics import heatmap_png

__all__ = ["ElaLens"]

QUALITY = 90


def _heat_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) of the heatmap: the image reduced to at most 1024 pixels a side."""
    h, w = shape[:2]
    scale = min(1.0, 1024 / max(h, w))
    return max(1, int(w * scale)), max(1, int(h * scale))


class ElaLens:
    name: ClassVar[str] = "ela"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = False  # measures JPEG history; a video frame has only the codec's
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "error level analysis heatmap (a lens for a person, never a score)"
    quality: ClassVar[str] = "not scored, so no error rate applies; see docs/detectors.md"

    def detect(self, subject: Subject) -> list[Flag]:
        import cv2
        import numpy as np
        from PIL import Image

        img = subject.image()
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=QUALITY)
        again = Image.open(io.BytesIO(buf.getvalue()))  # our own bytes: no guard needed
        again.load()
        # The shared array of the original (made once per run); no copy of an image already in RGB.
        diff3 = cv2.absdiff(subject.rgb(), np.asarray(again if again.mode == "RGB" else again.convert("RGB")))
        # The largest channel error per pixel; a chain of maximums is ~20x quicker than max(axis=2).
        diff = np.maximum(np.maximum(diff3[..., 0], diff3[..., 1]), diff3[..., 2])
        small = cv2.resize(diff, _heat_size(diff.shape), interpolation=cv2.INTER_AREA).astype(np.float32)
        top = float(np.percentile(diff[::7, ::7], 99.5)) or 1.0
        text = (
            f"Error level analysis: the image was re-saved as JPEG at quality {QUALITY} and the "
            "difference is shown as a heatmap. Bright areas changed more. Edges, fine texture and "
            "areas saved at a different quality all look bright, so a bright patch is a reason to look "
            "closer, not evidence of editing; recompression, resizing and screenshots flatten or "
            "scramble the picture. No score is given because ELA has no reliable error rate."
        )
        return [
            make_flag(
                self,
                subject,
                text,
                label=FlagLabel.INFORMATION,
                heatmap=heatmap_png(small / top),
                details={"quality": QUALITY, "p99_5_error": top},
            )
        ]
