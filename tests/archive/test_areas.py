"""Every local folder of a home is named in one place (archive.home.AREAS), and blobs are read through
the BlobStore protocol only, so that erasure, encryption and other stores reach every caller."""

from __future__ import annotations

import re
from pathlib import Path

from archive.home import AREAS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for pkg in ("archive", "workbench") for p in (ROOT / pkg).rglob("*.py")]


def test_no_module_joins_a_folder_onto_the_home_root() -> None:
    joined = re.compile(r"(home\.root|index_dir)\s*/")
    found = [f"{p.relative_to(ROOT)}" for p in SOURCES if joined.search(p.read_text())]
    assert found == []


def test_no_caller_reads_a_blob_file_past_the_protocol() -> None:
    found = [f"{p.relative_to(ROOT)}" for p in SOURCES if "blobs.path(" in p.read_text()]
    assert found == []


def test_every_area_says_whether_it_holds_item_content() -> None:
    assert {a.name for a in AREAS.values() if a.item_content} >= {
        "blobs", "thumbs", "uploads", "staging", "exports", "neardup", "scratch",
    }  # fmt: skip
    assert all(not Path(a.relpath).is_absolute() and ".." not in a.relpath for a in AREAS.values())
