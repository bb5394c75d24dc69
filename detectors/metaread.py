"""Reading embedded metadata from hostile bytes without decoding pixels.

EXIF through Pillow's header parser, XMP by bounded regular expressions (no XML parser, so no
entity expansion), PNG text chunks through Pillow (which caps decompressed text), and a JPEG
marker walk that finds where the image really ends. Every reader is bounded and returns plain
values; none of them raises on malformed input.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image

__all__ = ["Meta", "exif_thumbnail", "jpeg_end", "png_end", "read_meta", "trailing_bytes"]

MAX_XMP = 2_000_000
MAX_TEXT = 20_000

_XMP_RE = re.compile(rb"<x:xmpmeta.{0,%d}?</x:xmpmeta>" % MAX_XMP, re.S)


@dataclass
class Meta:
    """What the file says about itself: all strings are untrusted and shown escaped."""

    fmt: str | None = None
    make: str | None = None
    model: str | None = None
    software: str | None = None
    modify_date: str | None = None
    original_date: str | None = None
    digitized_date: str | None = None
    xmp: str = ""
    text_chunks: dict[str, str] = field(default_factory=dict)
    exif: Any = None
    image: Any = None

    def xmp_values(self, tag: str) -> list[str]:
        """Values of an XMP property written as attribute or element (``ns:Name``)."""
        name = re.escape(tag)
        found = re.findall(rf'{name}="([^"]{{0,2000}})"', self.xmp)
        found += re.findall(rf"<{name}>([^<]{{0,2000}})</{name}>", self.xmp)
        found += re.findall(rf"<{name}>\s*<rdf:Alt>\s*<rdf:li[^>]*>([^<]{{0,2000}})</rdf:li>", self.xmp)
        return [v.strip() for v in found if v.strip()]


def read_meta(data: bytes) -> Meta:
    """Parse the header of an image (Pillow does not decode pixels here)."""
    meta = Meta()
    match = _XMP_RE.search(data)
    if match:
        meta.xmp = match.group(0).decode("utf-8", "replace")
    try:
        img = Image.open(io.BytesIO(data))
    except Exception:  # not an image Pillow knows: XMP may still have been found
        return meta
    meta.fmt = "JPEG" if img.format == "MPO" else img.format  # MPO is a JPEG with appended pictures
    meta.image = img
    _read_exif(img, meta)
    for key, value in (img.info or {}).items():
        if isinstance(value, str | bytes) and key not in ("xmp", "icc_profile", "exif"):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            meta.text_chunks[str(key)[:80]] = text[:MAX_TEXT]
    if not meta.xmp and isinstance(img.info.get("xmp"), bytes | str):
        raw = img.info["xmp"]
        meta.xmp = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)[:MAX_XMP]
    return meta


def _read_exif(img: Image.Image, meta: Meta) -> None:
    try:
        exif = img.getexif()
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # malformed EXIF is common and never fatal
        return
    meta.exif = exif
    meta.make = _s(exif.get(0x010F))
    meta.model = _s(exif.get(0x0110))
    meta.software = _s(exif.get(0x0131))
    meta.modify_date = _s(exif.get(0x0132))
    meta.original_date = _s(sub.get(0x9003))
    meta.digitized_date = _s(sub.get(0x9004))


def _s(value: Any) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip("\x00 ").strip()
    return text[:500] or None


def parse_exif_date(text: str | None) -> datetime | None:
    """EXIF and XMP dates ('2004:11:21 21:29:12', '2004-11-21T21:29:12+01:00'), naive, or None."""
    if not text:
        return None
    cleaned = text.strip()[:19].replace("T", " ")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
    return None


def exif_thumbnail(meta: Meta) -> bytes | None:
    """The JPEG thumbnail in EXIF IFD1, or None."""
    img = meta.image
    if meta.exif is None or img is None or meta.fmt != "JPEG":
        return None
    try:
        ifd1 = meta.exif.get_ifd(ExifTags.IFD.IFD1)
        offset, length = int(ifd1.get(0x0201, 0)), int(ifd1.get(0x0202, 0))
        app1 = next(seg for name, seg in img.applist if name == "APP1" and seg.startswith(b"Exif\x00\x00"))
    except Exception:  # no thumbnail or a malformed IFD
        return None
    if offset <= 0 or length <= 0 or length > 500_000:
        return None
    thumb = bytes(app1[6 + offset : 6 + offset + length])
    return thumb if thumb.startswith(b"\xff\xd8") else None


def jpeg_end(data: bytes) -> int | None:
    """Offset just after the EOI marker that ends the first JPEG image, or None if it never ends."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        length: int = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data follows until the next real marker
            pos = _skip_scan(data, pos)
    return None


def _skip_scan(data: bytes, pos: int) -> int:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos


def png_end(data: bytes) -> int | None:
    """Offset just after the IEND chunk, or None."""
    pos = 8
    while pos + 12 <= len(data):
        length: int = struct.unpack(">I", data[pos : pos + 4])[0]
        ctype = data[pos + 4 : pos + 8]
        pos += 12 + length
        if ctype == b"IEND":
            return pos
    return None


def trailing_bytes(data: bytes, fmt: str | None) -> tuple[int, str] | None:
    """Bytes after the image's end marker and what they look like, or None."""
    end = jpeg_end(data) if fmt == "JPEG" else png_end(data) if fmt == "PNG" else None
    if end is None or end >= len(data):
        return None
    tail = data[end : end + 4096]
    if tail.strip(b"\x00") == b"":
        kind = "zero padding"
    elif tail.startswith(b"\xff\xd8"):
        kind = "a further JPEG image (e.g. an MPF preview or depth map written by phones)"
    elif b"ftyp" in tail[:16]:
        kind = "a video (e.g. a 'motion photo')"
    elif tail[:4] in (b"PK\x03\x04", b"Rar!", b"7z\xbc\xaf"):
        kind = "an archive (zip, rar or 7z)"
    else:
        kind = "unidentified data"
    return len(data) - end, kind
