"""Every registered detector is documented (as datasette's tests/test_docs.py checks its hooks)."""

from __future__ import annotations

from pathlib import Path

from detectors.base import registry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "detectors.md"


def test_every_registered_detector_has_a_docs_section() -> None:
    text = DOCS.read_text()
    missing = [name for name in registry().names() if f"\n### {name}\n" not in text]
    assert missing == []


def test_registry_loads_our_detectors_through_entry_points() -> None:
    reg = registry()
    names = set(reg.names())
    assert {
        "c2pa",
        "ai_signature",
        "metadata_traces",
        "ela",
        "jpeg_grid",
        "jpeg_ghost",
        "copy_move",
        "noise",
        "quant_tables",
        "learned",
    } <= names
    assert reg.broken == {}
    for cls in reg.classes().values():
        assert cls.name and cls.version and cls.summary and cls.quality


def test_every_pixel_detector_says_whether_it_runs_on_video_frames() -> None:
    for name, cls in registry().classes().items():
        if cls.needs_pixels:
            assert isinstance(getattr(cls, "on_frames", None), bool), name
    text = DOCS.read_text()
    for name, cls in registry().classes().items():  # the docs name every detector run on frames
        if getattr(cls, "on_frames", False):
            assert f"`{name}`" in text.split("### Videos", 1)[1].split("### Settings", 1)[0], name
