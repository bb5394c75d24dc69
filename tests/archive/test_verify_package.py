"""The package verifier on hostile or broken packages, built in-process (no CLI, no report)."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from archive.cases import create_case
from archive.export.verify import verify_package
from archive.home import Home
from archive.ingest import Ingestor
from archive.model import IncomingFile
from workbench.services import auth
from workbench.services.export.packages import ExportRequest, export_package


@pytest.fixture
def bag(home: Home, tmp_path: Path) -> Path:
    with home.transaction("analyst-a") as tx:
        case = create_case(tx, "demo", "purpose")
    ingestor = Ingestor(home, None)
    for i in range(3):
        data = f"document {i}\n".encode() * 50
        offer = IncomingFile(f"d{i}.txt", lambda d=data: io.BytesIO(d), len(data))  # type: ignore[misc]
        assert ingestor.ingest(case, offer, "analyst-a").status == "stored"
    out = tmp_path / "pkg"
    with home.transaction("setup") as tx:
        admin = auth.add_user(tx, None, "legal-a", "admin", "correct horse battery staple")
    req = ExportRequest("demo", "internal", "Court", "court", "trial", out, admin, report=False)
    export_package(home, req)
    return out


def refs(bag: Path) -> list[tuple[str, str]]:
    return [(p.kind, p.ref) for p in verify_package(bag).problems]


def test_an_intact_package_has_no_problems(bag: Path) -> None:
    report = verify_package(bag)
    assert report.intact and report.items == 3 and report.events >= 6


def test_an_added_file_is_named(bag: Path) -> None:
    (bag / "data" / "extra.txt").write_text("slipped in")
    assert refs(bag) == [("file", "data/extra.txt")]


def test_a_manifest_line_leaving_the_bag_is_named(bag: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("x")
    with open(bag / "manifest-sha256.txt", "a") as f:
        f.write(f"{'0' * 64}  ../outside.txt\n")
    found = verify_package(bag).problems
    assert any(p.ref == "../outside.txt" and "outside the bag" in p.problem for p in found)


def test_a_symlink_to_a_file_elsewhere_is_refused(bag: Path, tmp_path: Path) -> None:
    target = next((bag / "data" / "items").glob("*/original/*.txt"))
    elsewhere = tmp_path / "same-bytes.txt"
    shutil.copy(target, elsewhere)
    target.unlink()
    os.symlink(elsewhere, target)
    rel = target.relative_to(bag).as_posix()
    found = verify_package(bag).problems
    assert any(p.ref == rel and "symbolic link" in p.problem for p in found)
    assert any(p.ref == rel and "outside the bag" in p.problem for p in found)


def test_a_missing_checkpoint_and_broken_json_are_named(bag: Path) -> None:
    (bag / "data" / "custody" / "checkpoint.json").unlink()
    (bag / "data" / "items.json").write_text("{not json")
    found = refs(bag)
    assert ("custody", "data/custody/checkpoint.json") in found
    assert ("bag", "data/items.json") in found
    assert ("file", "data/custody/checkpoint.json") in found


def test_an_event_removed_from_the_package_loses_its_item_link(bag: Path) -> None:
    path = bag / "data" / "custody" / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    ingested = next(e for e in events if e["action"] == "item.ingested")
    path.write_text("".join(json.dumps(e) + "\n" for e in events if e is not ingested))
    found = verify_package(bag).problems
    assert any(
        p.kind == "item" and p.ref == ingested["item_id"] and "no custody event" in p.problem for p in found
    )


def test_not_a_folder(tmp_path: Path) -> None:
    assert refs(tmp_path / "nothing") == [("bag", str(tmp_path / "nothing"))]
