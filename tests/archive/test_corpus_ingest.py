"""Real camera photos from the shared corpus: sidecar values match the published ground truth."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CORPUS, RunWb, json_lines, require_shared

pytestmark = pytest.mark.corpus


def ground_truth() -> dict[str, dict[str, str]]:
    rows = {}
    with (CORPUS / "manifest.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["category"] == "photos_exif":
                facts = dict(part.split("=", 1) for part in row["ground_truth"].split("; ") if "=" in part)
                rows[Path(row["file"]).name] = facts | {"sha256": row["sha256"]}
    return rows


def test_corpus_photos_keep_their_hashes_and_their_sidecars_match_the_manifest(
    wb: RunWb, wb_env: dict[str, str]
) -> None:
    folder = require_shared(CORPUS / "photos_exif")
    truth = ground_truth()
    wb("init")
    wb("case", "create", "corpus", "--purpose", "ground truth check")
    lines = json_lines(wb("ingest", "--case", "corpus", str(folder), "--json").stdout)
    conn = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
    checked = 0
    for line in lines:
        name = Path(str(line["path"])).name
        facts = truth[name]
        assert line["status"] == "stored" and line["sha256"] == facts["sha256"], name
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == facts["sha256"]
        (side,) = conn.execute(
            "SELECT sha256 FROM artifacts WHERE parent_sha256=? AND operation='metadata-sidecar'",
            (line["sha256"],),
        ).fetchone()
        tags = json.loads((Path(wb_env["WB_HOME"]) / "blobs" / side[:2] / side[2:4] / side).read_text())[
            "tags"
        ]
        if "DateTimeOriginal" in facts:
            values = {v for k, v in tags.items() if k.endswith(":DateTimeOriginal")}
            assert facts["DateTimeOriginal"] in values, name
        if facts.get("GPS", "none") != "none":
            lat, lon = (float(x) for x in facts["GPS"].split(","))
            assert abs(float(tags["Composite:GPSLatitude"]) - lat) < 1e-5, name
            assert abs(float(tags["Composite:GPSLongitude"]) - lon) < 1e-5, name
        checked += 1
    assert checked == len(truth)
    wb("verify")
