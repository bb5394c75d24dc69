"""Guarded image decoding for every detector: dimensions are checked before any pixel is decoded.

Pillow reads the size from the header without decoding. Files over the pixel budget, truncated
files and undecodable files raise ``ImageRefused`` with a reason a person can read, never a crash
or a silently repaired image. OpenCV is never used to decode untrusted bytes (it decodes bombs
and treats truncated JPEGs as whole): callers convert the Pillow image to an array instead.
"""

from __future__ import annotations

import io
import warnings
from typing import BinaryIO

from PIL import Image, ImageFile

from archive.errors import DetectorError

__all__ = ["MAX_PIXELS", "ImageRefused", "open_image", "probe"]

MAX_PIXELS = 80_000_000  # ~ 10000 x 8000: above any phone or DSLR photo, below Pillow's bomb warning
MAX_SIDE = 30_000

try:  # HEIC/HEIF from phones; optional so that a missing wheel only loses that format
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover
    pass

# Truncated files must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRefused(DetectorError):
    """The bytes were not decoded: too large, truncated, or not an image."""


def probe(stream: BinaryIO) -> tuple[str, int, int]:
    """Format, width and height from the header alone."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as img:
                return str(img.format), int(img.size[0]), int(img.size[1])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("image dimensions exceed the decoding budget (decompression bomb?)") from None
    except Exception as exc:  # Pillow raises many types for hostile headers
        raise ImageRefused(f"not a decodable image: {type(exc).__name__}: {exc}") from None


def open_image(
    data: bytes | BinaryIO,
    *,
    max_pixels: int = MAX_PIXELS,
    draft: tuple[str, tuple[int, int]] | None = None,
) -> Image.Image:
    """Decode fully, after the dimension check. ``draft`` lets JPEG decode at reduced scale."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    start = stream.tell()
    _fmt, width, height = probe(stream)
    if width <= 0 or height <= 0 or width > MAX_SIDE or height > MAX_SIDE or width * height > max_pixels:
        raise ImageRefused(
            f"image is {width}x{height} pixels, over the decoding budget of {max_pixels} pixels"
        )
    stream.seek(start)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(stream)
            if draft is not None:
                img.draft(*draft)
            img.load()
    except Exception as exc:
        raise ImageRefused(f"image could not be decoded (truncated or corrupt): {exc}") from None
    return img
