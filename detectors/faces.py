"""Face boxes on pixels already decoded by ``detectors.imageio``, with OpenCV's own detectors.

Two backends, tried in order, and nothing is ever downloaded:

- Haar cascades (``cv2.CascadeClassifier``) with a cascade file from the wheel's ``cv2.data`` or
  Debian's ``opencv-data`` (/usr/share/opencv4/haarcascades). OpenCV 5 moved the cascade classes out
  of its main modules, so with opencv-python-headless 5 this backend is absent.
- YuNet (``cv2.FaceDetectorYN``, in OpenCV 5) with its ONNX model file, named by ``WB_FACE_MODEL``
  (for example face_detection_yunet_2023mar.onnx from the OpenCV model zoo, vetted and copied in by an
  administrator).

Without either, ``FaceDetectorUnavailable`` says what is missing. A detector misses faces (profiles,
small, covered): redaction always takes hand-drawn boxes as well.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["CASCADE", "FaceDetectorUnavailable", "backend", "cascade_path", "find_faces"]

CASCADE = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
DEBIAN_DIRS = (Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades"))
YUNET_MAX_SIDE = 1280  # YuNet runs on a downscaled copy; boxes are scaled back
YUNET_THRESHOLD = 0.6

Box = tuple[int, int, int, int]


class FaceDetectorUnavailable(Exception):
    """No detector model is installed, so faces cannot be found automatically."""


def _cv2() -> Any:
    """OpenCV, untyped: its stubs differ between wheels (``data``, the cascade classes)."""
    import cv2

    return cv2


def _dirs() -> list[Path]:
    data = getattr(_cv2(), "data", None)
    found = [Path(str(getattr(data, "haarcascades", "") or ""))]
    return [d for d in (*found, *DEBIAN_DIRS) if str(d) not in {"", "."}]


def cascade_path(name: str = CASCADE) -> Path | None:
    if not hasattr(_cv2(), "CascadeClassifier"):
        return None
    for folder in _dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def _yunet_model() -> Path | None:
    name = os.environ.get("WB_FACE_MODEL")
    if not name or not hasattr(_cv2(), "FaceDetectorYN"):
        return None
    path = Path(name)
    return path if path.is_file() else None


def backend() -> str | None:
    """ "haar", "yunet", or None when no detector model is installed."""
    if cascade_path() is not None:
        return "haar"
    if _yunet_model() is not None:
        return "yunet"
    return None


def _haar(name: str, gray: np.ndarray, min_side: int) -> list[Box]:
    path = cascade_path(name)
    if path is None:
        return []
    cascade = _cv2().CascadeClassifier(str(path))
    if cascade.empty():
        return []
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def _haar_all(img: Image.Image, min_side: int) -> list[Box]:
    gray = np.ascontiguousarray(np.asarray(img.convert("L")))
    boxes = _haar(CASCADE, gray, min_side) + _haar(PROFILE, gray, min_side)
    width = gray.shape[1]
    mirrored = np.ascontiguousarray(gray[:, ::-1])  # the profile cascade knows one side only
    boxes += [(width - x - w, y, w, h) for x, y, w, h in _haar(PROFILE, mirrored, min_side)]
    return boxes


def _yunet(img: Image.Image, model: Path) -> list[Box]:
    scale = min(1.0, YUNET_MAX_SIDE / max(img.size))
    small = img.convert("RGB").resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])
    detector = _cv2().FaceDetectorYN.create(str(model), "", small.size, YUNET_THRESHOLD)
    detector.setInputSize(small.size)
    _, faces = detector.detect(bgr)
    if faces is None:
        return []
    return [tuple(int(round(v / scale)) for v in row[:4]) for row in faces]  # type: ignore[misc]


def find_faces(img: Image.Image, min_side: int = 20) -> list[Box]:
    """Boxes (x, y, w, h) of faces; raises FaceDetectorUnavailable when no model is installed."""
    kind = backend()
    if kind == "haar":
        return sorted(set(_haar_all(img, min_side)))
    model = _yunet_model()
    if kind == "yunet" and model is not None:
        return sorted(set(_yunet(img, model)))
    raise FaceDetectorUnavailable(
        "no face detector model: this OpenCV has no Haar cascades and no YuNet model is set "
        "(WB_FACE_MODEL=/path/to/face_detection_yunet.onnx); draw the boxes by hand with --box"
    )
