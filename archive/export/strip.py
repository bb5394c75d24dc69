"""Metadata-stripped copies of originals for partner and public packages (EXP-04, CON-03).

``exiftool -all=`` removes every writable metadata block (EXIF with GPS positions and serial numbers,
XMP, IPTC, maker notes, ICC, PNG text chunks, QuickTime user data) and leaves the picture or video
data itself as it was, so the copy shows exactly what the original shows. exiftool then reads the
copy back: if any tag naming a position, a device, its serial number or a person survived, the copy
is refused (``StripError``) and the caller withholds the item instead of sending it.

Only formats exiftool can rewrite are stripped; web archives, HTML and PDF embed the page byte for
byte and are never shared under these profiles.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from archive.errors import StorageError
from archive.metadata import ExifReader, MetadataError

__all__ = ["FORBIDDEN", "STRIPPABLE", "StripError", "leftover_tags", "strip_copy"]

STRIPPABLE = frozenset(
    {"image/jpeg", "image/png", "image/tiff", "image/webp", "image/gif", "video/mp4", "video/quicktime"}
)
# Words in tag names (after the group) that must not survive: positions, devices, people.
FORBIDDEN = (
    "gps",
    "serial",
    "make",
    "model",
    "lens",
    "datetimeoriginal",
    "artist",
    "owner",
    "creator",
    "author",
    "copyright",
    "location",
)
TIMEOUT_S = 120.0


class StripError(StorageError):
    """No metadata-free copy can be made of this file; it must not be shared."""


def leftover_tags(reader: ExifReader, path: Path) -> list[str]:
    """Tags of ``path`` that name a position, a device or a person (exiftool's group:name)."""
    try:
        tags = reader.read(path)
    except MetadataError as exc:
        raise StripError(f"exiftool could not read the stripped copy: {exc}") from None
    return sorted(k for k in tags if any(word in k.lower().split(":")[-1] for word in FORBIDDEN))


def strip_copy(source: Path, mime: str, work: Path, reader: ExifReader) -> bytes:
    """The bytes of a copy of ``source`` with its metadata removed and checked (see the docstring).

    ``work`` is an empty private folder for exiftool's output; the copy is read back and removed.
    """
    if mime.split(";")[0].strip().lower() not in STRIPPABLE:
        raise StripError(f"{mime or 'this type'} cannot be stripped of metadata")
    target = work / "stripped"
    # Both paths are ours (a hex-named blob and a fixed name), so neither can read as an option.
    proc = subprocess.run(
        ["exiftool", "-q", "-q", "-all=", "-o", str(target), str(source)],
        capture_output=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0 or not target.is_file():
        raise StripError(f"exiftool could not rewrite the file: {proc.stderr.decode(errors='replace')[:200]}")
    try:
        left = leftover_tags(reader, target)
        if left:
            raise StripError(f"metadata survived stripping: {', '.join(left)}")
        return target.read_bytes()
    finally:
        target.unlink(missing_ok=True)
