"""The analysis runner: limits, not-analysed flags, storing flags and heatmaps, and the `wb` commands."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from archive.db import artifacts, custody_events, flags, items
from archive.model import FlagLabel
from tests.conftest import RunWb, json_lines
from workbench.services.analysis.run import Limits, analyse_bytes

INTERFACE_KEYS = {
    "detector",
    "version",
    "score",
    "threshold",
    "label",
    "explanation",
    "model_sha256",
    "heatmap_sha256",
}


def jpeg_bytes(size: tuple[int, int] = (96, 64)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_bomb_header(width: int = 40_000, height: int = 40_000) -> bytes:
    """A PNG whose header claims huge dimensions (the pixels are never needed to refuse it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 1000)
    chunk += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def test_bomb_is_not_analysed_by_any_detector_and_has_no_score() -> None:
    result = analyse_bytes(png_bomb_header())
    assert result.flags
    for f in result.flags:
        assert f.label == FlagLabel.NOT_ANALYSED
        assert f.score is None
        assert f.reason and ("bomb" in f.reason or "decoding budget" in f.reason)


def test_time_limit_gives_not_analysed_flags() -> None:
    result = analyse_bytes(jpeg_bytes(), limits=Limits(seconds=0.001))
    assert {f.label for f in result.flags} == {FlagLabel.NOT_ANALYSED}
    assert all("time limit" in (f.reason or "") for f in result.flags)


def test_memory_limit_too_small_gives_not_analysed_flags() -> None:
    result = analyse_bytes(jpeg_bytes(), limits=Limits(memory_mb=40))
    failed = [f for f in result.flags if f.label == FlagLabel.NOT_ANALYSED]
    # The pixel detectors need OpenCV and numpy, which cannot be loaded in 40 MB.
    assert {"copy_move", "ela", "jpeg_grid", "noise"} <= {f.detector for f in failed}
    assert all(f.score is None and "memory" in (f.reason or "").lower() for f in failed)


def test_truncated_jpeg_is_not_scored_by_pixel_detectors() -> None:
    data = jpeg_bytes((256, 256))
    result = analyse_bytes(data[: len(data) // 2])
    for f in result.flags:
        if f.label == FlagLabel.NOT_ANALYSED:
            assert f.score is None and "truncated" in (f.reason or "")
        else:
            assert f.score is None  # only facts that need no pixels (metadata, credentials) remain


def test_wb_analyse_json_has_the_interface_shape(tmp_path: Path, wb: RunWb) -> None:
    f = tmp_path / "photo.jpg"
    f.write_bytes(jpeg_bytes())
    (row,) = json_lines(wb("analyse", "--json", str(f)).stdout)
    assert len(str(row["sha256"])) == 64
    names = set()
    for flag in row["flags"]:
        assert INTERFACE_KEYS <= set(flag)
        assert flag["explanation"]
        names.add(flag["detector"])
    assert {"c2pa", "ai_signature", "metadata_traces"} <= names


def test_wb_detectors_lists_registered_detectors(wb: RunWb) -> None:
    rows = json_lines(wb("detectors", "--json").stdout)
    by_name = {r["detector"]: r for r in rows}
    assert {"c2pa", "ai_signature", "metadata_traces"} <= set(by_name)
    assert all(r["version"] and r["quality"] for r in rows)
    assert by_name["copy_move"]["on_video_frames"] is True and by_name["ela"]["on_video_frames"] is False
    # Scored detectors say how they are calibrated: the rate held on held-out photos and what they found.
    assert "held-out false positives" in by_name["noise"]["calibration"]
    assert "NoSo copy-move forgeries" in by_name["copy_move"]["calibration"]
    assert by_name["ela"]["calibration"] is None


def test_wb_detect_stores_flags_with_custody_and_keeps_status(tmp_path: Path, wb: RunWb, wb_env) -> None:
    from archive.home import Home
    from workbench import TOOL_VERSION

    f = tmp_path / "photo.jpg"
    f.write_bytes(jpeg_bytes())
    wb("init")
    wb("case", "create", "demo", "--purpose", "test")
    (ingested,) = json_lines(wb("ingest", "--json", "--case", "demo", str(f)).stdout)
    (row,) = json_lines(wb("detect", "--json", "--case", "demo").stdout)
    assert row["item_id"] == ingested["item_id"] and row["sha256"] == ingested["sha256"]
    home = Home.open(Path(wb_env["WB_HOME"]), Path(wb_env["WB_KEY"]), TOOL_VERSION)
    try:
        with home.reading() as conn:
            stored = conn.execute(select(flags).where(flags.c.input_sha256 == ingested["sha256"])).all()
            events = conn.execute(select(custody_events.c.action, custody_events.c.details)).all()
            status = conn.execute(select(items.c.status)).scalar_one()
            heatmaps = conn.execute(select(artifacts).where(artifacts.c.operation.like("heatmap:%"))).all()
    finally:
        home.close()
    assert len(stored) == len(row["flags"])
    recorded = [e for e in events if e.action == "flag.recorded"]
    assert len(recorded) == len(stored)
    assert status == "unverified"
    for h in heatmaps:
        assert h.parent_sha256 == ingested["sha256"]
    wb("verify")


def test_wb_detect_unknown_case_is_a_usage_error(wb: RunWb) -> None:
    wb("init")
    proc = wb("detect", "--case", "nope", check=2)
    assert "nope" in proc.stderr


def test_tiny_images_are_not_analysed_by_pixel_detectors() -> None:
    from workbench.services.analysis.run import run_suite

    flags = {f.detector: f for f in run_suite(jpeg_bytes((8, 8)), {})}
    for name in ("ela", "jpeg_grid", "copy_move", "noise"):
        assert flags[name].label == FlagLabel.NOT_ANALYSED and "too small" in (flags[name].reason or "")
    assert flags["c2pa"].label == FlagLabel.INFORMATION


def test_wb_analyse_unknown_detector_is_a_usage_error(tmp_path: Path, wb: RunWb) -> None:
    f = tmp_path / "photo.jpg"
    f.write_bytes(jpeg_bytes())
    proc = wb("analyse", "--only", "no_such_detector", str(f), check=2)
    assert "no_such_detector" in proc.stderr


def test_a_file_that_is_neither_image_nor_video_is_not_a_failure(tmp_path: Path, wb: RunWb) -> None:
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    (row,) = json_lines(wb("analyse", "--json", str(pdf)).stdout)  # exit 0: nothing failed
    pixel = {f["detector"]: f for f in row["flags"] if f["detector"] in ("copy_move", "ela", "noise")}
    assert len(pixel) == 3
    for f in pixel.values():
        assert f["label"] == "not_analysed" and f["score"] is None
        assert "not an image or a video" in f["reason"]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg_bytes((256, 256))[:300])  # a JPEG by its bytes, cut short: a real failure
    wb("analyse", "--json", str(broken), check=1)
