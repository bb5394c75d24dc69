"""The bag writer, the item tables and the shared-root proof builder, without the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

from archive import merkle
from archive.export import tables
from archive.export.bag import BagError, BagWriter
from archive.export.proofs import ProofBuilder
from archive.model import ItemRecord, Withheld

REPO = Path(__file__).resolve().parents[2]
CAPTION = "Харків — خاركيف — ґ"


def _record(title: str, classification: str = "public") -> ItemRecord:
    return ItemRecord.from_json(
        {
            "item": {
                "id": "0001",
                "title": title,
                "kind": "image",
                "classification": classification,
                "sha256": "a" * 64,
                "status": "verified",
                "created_at": "2026-01-01T00:00:00.000000Z",
            },
            "sightings": [{"seen_at": "2026-01-02T00:00:00.000000Z", "posted_at": None, "details": {}}],
            "notes": [{"kind": "description", "body": {"text": CAPTION, "language": "uk"}}],
            "judgements": [
                {"reviewer": "rev-a", "confidence": 4},
                {"reviewer": "rev-b", "confidence": 2},
            ],
        }
    )


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_cells_are_neutralised(start: str) -> None:
    payload = f'{start}HYPERLINK("http://127.0.0.1/x")'
    rows = [tables.item_row(_record(payload), "data/x.jpg")]
    text = tables.items_csv(rows).decode("utf-8-sig")
    cells = next(r for r in csv.DictReader(io.StringIO(text, newline="")))
    assert cells["title"] == "'" + payload
    assert tables.neutralise("plain") == "plain"


def test_csv_round_trips_non_latin_text_and_json_follows_its_schema() -> None:
    rows = [tables.item_row(_record(CAPTION), "data/x.jpg")]
    data = tables.items_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert parsed[0]["title"] == CAPTION and parsed[0]["language"] == "uk"
    assert parsed[0]["reviewers"] == "rev-a; rev-b" and parsed[0]["confidence"] == "2"
    doc = json.loads(json.dumps(tables.items_document(rows, [Withheld("9", "classification")])))
    jsonschema.validate(doc, tables.items_schema())
    doc["items"][0]["sha256"] = "not a hash"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, tables.items_schema())


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a//b", ".hidden", "a/b\nc"])
def test_unsafe_paths_are_refused(tmp_path: Path, bad: str) -> None:
    bag = BagWriter(tmp_path / "bag")
    with pytest.raises(BagError):
        bag.add_bytes(bad, b"x")


def test_a_bag_with_odd_but_safe_names_validates(tmp_path: Path) -> None:
    bag = BagWriter(tmp_path / "bag")
    bag.add_bytes("items/a/original/file.bin", os.urandom(1000))
    bag.add_json("items.json", {"caption": CAPTION})
    bag.add_tag("README.txt", "read me\n")
    bag.finish({"Source-Organization": "line one\nline two"})
    proc = subprocess.run(
        [str(REPO / ".venv/bin/bagit.py"), "--validate", str(tmp_path / "bag")], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "Source-Organization: line one line two\n" in (tmp_path / "bag" / "bag-info.txt").read_text()


def test_writer_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(BagError):
        BagWriter(tmp_path)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_shared_root_proofs_equal_the_reference_proofs(size: int) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    builder = ProofBuilder(leaves)
    assert builder.root() == merkle.root(leaves)
    for i in range(size):
        assert builder.proof(i) == merkle.inclusion_proof(i, leaves)
        assert merkle.verify_inclusion(leaves[i], i, size, builder.proof(i), builder.root())
