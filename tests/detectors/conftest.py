"""Image factories for detector tests: every image is made here, so the right answer is known."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def textured(width: int = 640, height: int = 480, seed: int = 1) -> np.ndarray:
    """A photo-like RGB array: smooth shading, random shapes, fine grain."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(img)
    for _ in range(160):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(4, 40))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    arr = np.asarray(img, dtype=np.float32)
    arr += rng.normal(0, 3, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


CLIP_FPS = 10
CLIP_SIZE = (480, 360)
CLONE_SRC = (60, 40)  # x, y of the copied 100x80 patch
CLONE_DST = (300, 200)


def cloned(arr: np.ndarray) -> np.ndarray:
    """A copy of ``arr`` with a 100x80 patch pasted 240 px right and 160 px down (a copy-move)."""
    out = arr.copy()
    (sx, sy), (dx, dy) = CLONE_SRC, CLONE_DST
    out[dy : dy + 80, dx : dx + 100] = arr[sy : sy + 80, sx : sx + 100]
    return out


def clip(path: Path, codec: str, shots: int = 3, pasted_shot: int | None = None) -> Path:
    """A video of ``shots`` one-second still shots (distinct textured scenes); one may hold a clone.

    Written with OpenCV's VideoWriter (mp4v in .mp4 and MJPG in .avi both write and read back with
    the opencv-python-headless 4 wheel).
    """
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), CLIP_FPS, CLIP_SIZE)
    assert writer.isOpened(), f"OpenCV cannot write {codec}"
    for s in range(shots):
        scene = textured(*CLIP_SIZE, seed=10 + s)
        if s == pasted_shot:
            scene = cloned(scene)
        bgr = np.ascontiguousarray(scene[:, :, ::-1])
        for _ in range(CLIP_FPS):
            writer.write(bgr)
    writer.release()
    return path
