"""Face boxes with OpenCV's Haar cascade, on pixels already decoded by ``detectors.imageio``.

The cascade files come with OpenCV: the pip wheel's ``cv2.data.haarcascades`` (empty in the
opencv-python-headless 5 wheel) or Debian's ``opencv-data`` package (/usr/share/opencv4/haarcascades).
When neither is present ``FaceDetectorUnavailable`` says so; nothing is ever downloaded. A detector
misses faces (profiles, small, occluded): redaction always takes hand-drawn boxes as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["CASCADE", "FaceDetectorUnavailable", "cascade_path", "find_faces"]

CASCADE = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
DEBIAN_DIRS = (Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades"))

Box = tuple[int, int, int, int]


class FaceDetectorUnavailable(Exception):
    """No cascade file is installed, so faces cannot be found automatically."""


def _cv2() -> Any:
    """OpenCV, untyped: its stubs lack ``data`` and the cascade classes in some wheels."""
    import cv2

    return cv2


def _dirs() -> list[Path]:
    data = getattr(_cv2(), "data", None)
    found = [Path(str(getattr(data, "haarcascades", "") or ""))]
    return [d for d in (*found, *DEBIAN_DIRS) if str(d) not in {"", "."}]


def cascade_path(name: str = CASCADE) -> Path | None:
    for folder in _dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def _detect(name: str, gray: np.ndarray, min_side: int) -> list[Box]:
    path = cascade_path(name)
    if path is None:
        return []
    cascade = _cv2().CascadeClassifier(str(path))
    if cascade.empty():
        return []
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def find_faces(img: Image.Image, min_side: int = 20) -> list[Box]:
    """Boxes (x, y, w, h) of frontal and profile faces; raises FaceDetectorUnavailable without a cascade."""
    if cascade_path() is None:
        searched = ", ".join(str(d) for d in _dirs())
        raise FaceDetectorUnavailable(
            f"no face detector model ({CASCADE}) in {searched}: install Debian's opencv-data, "
            "or draw the boxes by hand"
        )
    gray = np.ascontiguousarray(np.asarray(img.convert("L")))
    boxes = _detect(CASCADE, gray, min_side) + _detect(PROFILE, gray, min_side)
    mirrored = np.ascontiguousarray(gray[:, ::-1])
    width = gray.shape[1]
    boxes += [(width - x - w, y, w, h) for x, y, w, h in _detect(PROFILE, mirrored, min_side)]
    return sorted(set(boxes))
