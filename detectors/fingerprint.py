"""Perceptual fingerprints of images: pHash (imagehash-compatible bits), dHash, PDQ, and robust views.

One guarded decode per file (``detectors.imageio.open_image``), straight to greyscale and at
reduced scale through ``Image.draft`` for JPEG: libjpeg scales in the DCT domain, so a 12 MP JPEG
decoded at 1/4 costs a fraction of a full decode and changes a 64-bit pHash by 0-4 bits. Entropy
decoding stays whatever the scale: it is the floor of the whole computation. From that one
greyscale image come several *views*, each a 64-bit pHash:

- ``phash``: the whole image, bit for bit what ``imagehash.phash`` gives on the same pixels
  (DCT of the 32x32 LANCZOS reduction, low 8x8 block against its median; Zauner 2010,
  hackerfactor "Looks like it").
- ``phash_mirror``: the left-right mirror, so a flipped repost matches.
- ``phash_trim``: the content box after removing uniform borders and screenshot chrome (status bars,
  captions on a plain background), so a photo pasted into a screenshot matches.
- ``phash_c80``/``phash_c64``: centre regions keeping 80% and 64% of the area, so a crop of one
  image is compared with the middle of the other.
- ``phash_w85_IJ``: nine windows of 85% of each side (left/centre/right x top/middle/bottom),
  so an off-centre crop of one image meets the window of the other that it resembles.

PDQ (Facebook's 256-bit hash, via ``pdqhash``) is computed from a reduction to at most 128 px (PDQ
filters to 64x64 itself); it is stored for exchange with other tools, not used in matching. Every
fingerprint names its algorithm version, so that stored values stay interpretable after a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from archive.model import Fingerprint
from detectors.imageio import open_image

__all__ = [
    "ALGO_VERSION",
    "PDQ_VERSION",
    "VIEW_KINDS",
    "ImageFingerprints",
    "content_box",
    "fingerprint_image",
    "fingerprint_pil",
    "hamming",
    "phash_of",
    "to_records",
]

# Bump the suffix whenever bits for the same pixels could change (resampling, drafting, views).
ALGO_VERSION = "wb-phash/4 imagehash4.3-bits draft512 gap2 work512 w85x9"  # <= 64 chars
PDQ_VERSION = "wb-pdq/3 pdqhash0.2 draft512 small128"
DHASH_VERSION = "wb-dhash/3 imagehash4.3-bits small128"
WINDOW_SCALE = 0.85
WINDOW_KINDS = tuple(f"phash_w85_{i}{j}" for i in range(3) for j in range(3))
VIEW_KINDS = ("phash", "phash_mirror", "phash_trim", "phash_c80", "phash_c64", *WINDOW_KINDS)
DRAFT_SIDE = 512
WORK_SIDE = 512
SMALL_SIDE = 128
# Pillow's resize first box-reduces by a whole factor to within GAP x 32 px, then LANCZOS:
# the views cost a fraction of a full-image LANCZOS and keep their bits within a few of it.
GAP = 2.0
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ImageFingerprints:
    """The fingerprints of one image. ``views`` maps a view kind to a 64-bit pHash."""

    views: dict[str, int]
    dhash: int
    pdq: str  # 64 hex digits (256 bits)
    pdq_quality: int
    width: int
    height: int
    versions: dict[str, str] = field(default_factory=dict)


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def _bits_to_int(bits: npt.NDArray[np.bool_]) -> int:
    # imagehash's hex form reads the 8x8 block row by row, most significant bit first.
    return int.from_bytes(np.packbits(bits.flatten()).tobytes(), "big")


def _dct_rows(n: int = 32, keep: int = 8) -> npt.NDArray[np.float64]:
    # The first ``keep`` rows of scipy.fftpack's unnormalised DCT-II matrix: 2 cos(pi k (2i+1) / 2n).
    k = np.arange(keep)[:, None]
    i = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT8 = _dct_rows()


def _phash_32(pixels: U8) -> int:
    # Only the low 8x8 block of the 2-D DCT is needed: C8 . X . C8^T (same values as scipy's dct).
    low = _DCT8 @ pixels.astype(np.float64) @ _DCT8.T
    return _bits_to_int(low > np.median(low))


def _resized32(gray: Image.Image, reducing_gap: float | None = None) -> U8:
    resized = gray.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=reducing_gap)
    return np.asarray(resized, dtype=np.uint8)


def _phash_many(blocks: list[U8]) -> list[int]:
    """pHash of several 32x32 reductions at once (the same bits as ``_phash_32`` on each)."""
    stack = np.stack(blocks).astype(np.float64)
    low = np.matmul(np.matmul(_DCT8, stack), _DCT8.T).reshape(len(blocks), 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    return [int.from_bytes(row.tobytes(), "big") for row in np.packbits(bits, axis=1)]


def phash_of(gray: Image.Image) -> int:
    """imagehash.phash bits of a greyscale Pillow image, as an int."""
    return _phash_32(_resized32(gray))


def _dhash_of(gray: Image.Image) -> int:
    px = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_int(px[:, 1:] > px[:, :-1])


def _centre(gray: Image.Image, keep_area: float) -> Image.Image:
    w, h = gray.size
    s = keep_area**0.5
    cw, ch = max(1, round(w * s)), max(1, round(h * s))
    left, top = (w - cw) // 2, (h - ch) // 2
    return gray.crop((left, top, left + cw, top + ch))


def _reduced(gray: Image.Image, side: int) -> Image.Image:
    """Box-averaged by a whole factor until the longer side is at most ``side`` (fast, no ringing)."""
    factor = -(-max(gray.size) // side)
    return gray.reduce(factor) if factor > 1 else gray


def _windows(small: Image.Image) -> dict[str, U8]:
    w, h = small.size
    cw, ch = max(1, round(w * WINDOW_SCALE)), max(1, round(h * WINDOW_SCALE))
    out = {}
    for i, ox in enumerate((0.0, 0.5, 1.0)):
        for j, oy in enumerate((0.0, 0.5, 1.0)):
            left, top = round((w - cw) * ox), round((h - ch) * oy)
            out[f"phash_w85_{i}{j}"] = _resized32(small.crop((left, top, left + cw, top + ch)))
    return out


def _longest_run(mask: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """Start and end (exclusive) of the longest run of True."""
    best, start, run_start = (0, len(mask)), -1, -1
    best_len = -1
    for i, v in enumerate(np.append(mask, False)):
        if v and run_start < 0:
            run_start = i
        elif not v and run_start >= 0:
            if i - run_start > best_len:
                best_len, best = i - run_start, (run_start, i)
            run_start = -1
    del start
    return best if best_len > 0 else (0, len(mask))


def content_box(gray: Image.Image, tolerance: int = 10, fill: float = 0.6) -> tuple[int, int, int, int]:
    """The box of the main picture inside uniform borders or screenshot chrome.

    The background colour is taken from the image's outer edge (median). A row belongs to the
    picture when most of its pixels differ from that colour; text in a status bar or caption fills
    only a small part of its rows, so the longest run of picture rows skips it. Columns are then
    found the same way inside that band.
    """
    px = np.asarray(gray, dtype=np.uint8)
    h, w = px.shape
    edge = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    bg = int(np.median(edge))
    # |px - bg| > tolerance, compared in uint8 (no widening copy of the image).
    differs = (px < bg - tolerance) if bg - tolerance > 0 else np.zeros(px.shape, dtype=bool)
    if bg + tolerance < 255:
        differs |= px > bg + tolerance
    top, bottom = _longest_run(np.count_nonzero(differs, axis=1) >= fill * w)
    band = differs[top:bottom]
    left, right = (
        _longest_run(np.count_nonzero(band, axis=0) >= fill * band.shape[0]) if band.size else (0, w)
    )
    return left, top, right, bottom


def _trimmed(gray: Image.Image) -> Image.Image:
    left, top, right, bottom = content_box(gray)
    w, h = gray.size
    # Too small a box is more likely a detail of the picture than the picture itself.
    if (right - left) * (bottom - top) < 0.2 * w * h or right - left < 16 or bottom - top < 16:
        return gray
    return gray.crop((left, top, right, bottom))


def fingerprint_pil(img: Image.Image) -> ImageFingerprints:
    """All fingerprints of an already decoded image (a video frame, or a guarded decode)."""
    gray = img if img.mode == "L" else img.convert("L")
    # The whole-image pHash is exactly imagehash's on the decoded pixels. The other views' 32x32
    # reductions box-average by a whole factor first (GAP): a LANCZOS pass over the full decode
    # for each view cost more than the decode itself. One reduction to at most WORK_SIDE serves
    # the trimmed and centre views, a smaller one the windows, dHash and PDQ (PDQ filters to 64x64
    # itself; it is stored for exchange, not used in matching).
    work = _reduced(gray, WORK_SIDE)
    small = _reduced(work, SMALL_SIDE)
    whole = _resized32(gray)
    blocks = {
        "phash": whole,
        # LANCZOS is symmetric: the mirror of the 32x32 reduction is the reduction of the mirror.
        "phash_mirror": np.ascontiguousarray(whole[:, ::-1]),
        "phash_trim": _resized32(_trimmed(work), GAP),
        "phash_c80": _resized32(_centre(work, 0.8), GAP),
        "phash_c64": _resized32(_centre(work, 0.64), GAP),
        **_windows(small),
    }
    pdq_hex, quality = _pdq(small)
    return ImageFingerprints(
        views=dict(zip(blocks, _phash_many(list(blocks.values())), strict=True)),
        dhash=_dhash_of(small),
        pdq=pdq_hex,
        pdq_quality=quality,
        width=gray.size[0],
        height=gray.size[1],
        versions={"phash": ALGO_VERSION, "pdq": PDQ_VERSION, "dhash": DHASH_VERSION},
    )


def _pdq(gray: Image.Image) -> tuple[str, int]:
    import pdqhash  # imported here: only fingerprinting needs it, not every `wb` start

    arr = np.asarray(gray, dtype=np.uint8)
    rgb = np.ascontiguousarray(np.stack([arr, arr, arr], axis=-1))
    bits, quality = pdqhash.compute(rgb)
    return f"{_bits_to_int(np.asarray(bits, dtype=bool)):064x}", int(quality)


def fingerprint_image(data: bytes | BinaryIO, *, max_pixels: int | None = None) -> ImageFingerprints:
    """Decode (guarded, drafted to >= 512 px for JPEG) and fingerprint. Raises ``ImageRefused``."""
    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    img = open_image(data, draft=("L", (DRAFT_SIDE, DRAFT_SIDE)), **kwargs)
    try:
        img = ImageOps.exif_transpose(img) if _has_orientation(img) else img
        return fingerprint_pil(img)
    finally:
        img.close()


def _has_orientation(img: Image.Image) -> bool:
    try:
        return int(img.getexif().get(0x0112, 1)) not in (0, 1)
    except Exception:  # a broken EXIF block must not stop fingerprinting
        return False


def to_records(sha256: str, fp: ImageFingerprints) -> list[Fingerprint]:
    """Rows for the ``fingerprints`` table, one per kind, values in hex."""
    rows = [Fingerprint(sha256, kind, f"{value:016x}", ALGO_VERSION) for kind, value in fp.views.items()]
    rows.append(Fingerprint(sha256, "dhash", f"{fp.dhash:016x}", DHASH_VERSION))
    rows.append(Fingerprint(sha256, "pdq", fp.pdq, f"{PDQ_VERSION} q={fp.pdq_quality}"))
    return rows
