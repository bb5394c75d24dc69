"""The exiftool sidecar: real exiftool, capped size, impossible values surfaced, failures contained."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.metadata import SIDECAR_LIMIT, ExifReader, MetadataError, build_sidecar, consistency_warnings
from tests.archive.fixtures import jpeg_with_exif


def test_impossible_and_future_values_are_warned_about_and_kept_verbatim() -> None:
    tags = {
        "GPS:GPSLatitude": 95.0,
        "ExifIFD:DateTimeOriginal": "2099:01:01 00:00:00",
        "GPS:GPSLongitude": 10,
    }
    warnings = consistency_warnings(tags, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert any("impossible latitude 95.0" in w for w in warnings)
    assert any("future" in w for w in warnings)
    sidecar = json.loads(build_sidecar(tags, "0" * 64, "12.57"))
    assert sidecar["tags"]["GPS:GPSLatitude"] == 95.0


def test_oversized_metadata_is_elided_and_says_so() -> None:
    tags = {f"XMP:Field{i}": "x" * 3000 for i in range(600)} | {"XMP:Huge": "y" * 10_000}
    data = build_sidecar(tags, "0" * 64, "12.57")
    assert len(data) <= SIDECAR_LIMIT + 65_536
    sidecar = json.loads(data)
    assert "XMP:Huge" in sidecar["elided"]
    assert sidecar["warnings"] or sidecar["tags"]["XMP:Huge"].startswith("[elided")


def test_a_read_over_its_time_limit_fails_clearly_and_the_next_read_works(tmp_path: Path) -> None:
    photo = jpeg_with_exif(tmp_path / "p.jpg")
    reader = ExifReader(timeout=30)
    try:
        assert "ExifIFD:DateTimeOriginal" in reader.read(photo)
        # exiftool needs milliseconds to answer through its pipes; a 1 ms budget always runs out first.
        reader.timeout = 0.001
        with pytest.raises(MetadataError, match="took longer than"):
            reader.read(photo)
        reader.timeout = 30
        assert reader.read(photo)["ExifIFD:DateTimeOriginal"] == "2022:03:01 10:15:30"
    finally:
        reader.close()
