"""JPEG quantisation tables against the camera the metadata names.

Cameras mostly use their own quantisation tables; editors, platforms and libraries mostly write
the standard IJG (libjpeg) tables scaled to a quality (Farid 2006; Kee, Johnson & Farid 2011). A
file that claims a camera in EXIF but carries exact IJG tables was probably re-encoded by software,
though some phones also write IJG tables.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

from archive.model import Flag, FlagLabel
from detectors.base import Subject, make_flag
from detectors.metaread import read_meta

__all__ = ["QuantTables", "ijg_quality"]

# ITU-T T.81 Annex K tables (natural order), as libjpeg scales them.
LUMA = [
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
]
CHROMA = [
    17,
    18,
    24,
    47,
    99,
    99,
    99,
    99,
    18,
    21,
    26,
    66,
    99,
    99,
    99,
    99,
    24,
    26,
    56,
    99,
    99,
    99,
    99,
    99,
    47,
    66,
    99,
    99,
    99,
    99,
    99,
    99,
] + [99] * 32
QUALITY_NOTE = (
    "Measured (bench/indicators.py): 3 of 20 untouched corpus camera photos flagged (phones and cameras "
    "that write standard tables)"
)


def _scaled(base: list[int], quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in base]


def ijg_quality(tables: dict[int, Any]) -> int | None:
    """The IJG quality whose standard tables equal these exactly, or None."""
    luma = list(tables.get(0, []))
    chroma = list(tables.get(1, [])) if 1 in tables else None
    for q in range(1, 101):
        if luma == _scaled(LUMA, q) and (chroma is None or chroma == _scaled(CHROMA, q)):
            return q
    return None


class QuantTables:
    name: ClassVar[str] = "quant_tables"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = False
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "JPEG quantisation tables against the camera named in EXIF"
    quality: ClassVar[str] = QUALITY_NOTE

    def detect(self, subject: Subject) -> list[Flag]:
        from PIL import Image

        meta = read_meta(subject.data)
        if meta.fmt != "JPEG":
            text = "Quantisation tables: not a JPEG file, so this test does not apply."
            return [make_flag(self, subject, text, label=FlagLabel.INFORMATION)]
        tables = Image.open(io.BytesIO(subject.data)).quantization or {}  # type: ignore[attr-defined]
        q = ijg_quality(tables)
        camera = " ".join(x for x in (meta.make, meta.model) if x) or None
        details = {"ijg_quality": q, "camera_claim": camera, "tables": len(tables)}
        if q is not None and camera:
            text = (
                f"Quantisation tables: EXIF names a camera ({camera[:60]}), but the file uses the standard "
                f"libjpeg tables at quality {q}, which editors, platforms and converters write. The file "
                "was probably re-encoded by software after capture (a re-save, an upload, an edit); some "
                f"phones also write these tables. {QUALITY_NOTE}. Not proof of editing."
            )
            return [make_flag(self, subject, text, label=FlagLabel.INDICATOR, details=details)]
        what = f"standard libjpeg tables at quality {q}" if q else "non-standard (encoder-specific) tables"
        text = (
            f"Quantisation tables: {what}; "
            + (f"EXIF names {camera[:60]}. " if camera else "no camera is named in EXIF. ")
            + "Nothing here contradicts the file's own claims, which does not show it is unedited: "
            f"tables are easily copied. {QUALITY_NOTE}."
        )
        return [make_flag(self, subject, text, label=FlagLabel.NO_INDICATION, details=details)]
