"""The PDF report through `wb report`: hashes, reviewers, custody events, scripts, blur, footer.

Judgements, flags, tags and notes are written to their tables directly (their workflows belong to
other modules); the report is made by the real CLI and read back with poppler's pdftotext/pdfimages.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from archive.db import flags, items, judgements, notes, tags, utcnow
from archive.home import Home
from tests.conftest import RunWb, json_lines
from tests.workbench.test_export_cli import make_runner
from workbench import TOOL_VERSION

CAPTION = "Харків — خاركيف — ґ"
BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def pdf_text(path: Path) -> str:
    """Text in content order; poppler wraps right-to-left runs in embedding marks, which are not ours."""
    out = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return BIDI_MARKS.sub("", out.stdout.decode("utf-8"))


def checkerboard(path: Path) -> Path:
    cells = (np.indices((240, 320)).sum(axis=0) // 8) % 2
    Image.fromarray((cells * 255).astype(np.uint8)).convert("RGB").save(path, "PNG")
    return path


def annotate(wb_env: dict[str, str], item_id: str, sha: str) -> None:
    home = Home.open(Path(wb_env["WB_HOME"]), Path(wb_env["WB_KEY"]), TOOL_VERSION)
    now = utcnow()
    strands: dict[str, Any] = {
        "source_analysis": {"summary": "account created 2019, posts from the area"},
        "technical_analysis": {"summary": "no re-encoding traces"},
        "content_analysis": {"summary": "landmarks match street view"},
    }
    try:
        with home.transaction("rev-a") as tx:
            for reviewer, status, conf in (("rev-a", "verified", 4), ("rev-b", "inconclusive", 2)):
                tx.conn.execute(
                    judgements.insert().values(
                        item_id=item_id,
                        reviewer=reviewer,
                        kind="review",
                        status=status,
                        confidence=conf,
                        rationale=f"{reviewer} reasoning",
                        strands=strands,
                        created_at=now,
                    )
                )
                tx.event("judgement.recorded", item_id=item_id)
            tx.conn.execute(items.update().where(items.c.id == item_id).values(status="disputed"))
            tx.conn.execute(
                tags.insert().values(item_id=item_id, tag="graphic violence", added_by="rev-a", added_at=now)
            )
            tx.conn.execute(
                notes.insert().values(
                    item_id=item_id,
                    kind="description",
                    author="rev-a",
                    body={"text": CAPTION},
                    created_at=now,
                )
            )
            tx.conn.execute(
                flags.insert().values(
                    input_sha256=sha,
                    detector="ela",
                    version="1.0",
                    label="inconclusive",
                    score=0.41,
                    threshold=0.5,
                    explanation="Error levels are even across the picture.",
                    details={},
                    created_at=now,
                )
            )
            tx.conn.execute(
                flags.insert().values(
                    input_sha256=sha,
                    detector="model_pack",
                    version="1.0",
                    label="no_indication",
                    score=1.5,
                    threshold=4.0,
                    explanation="Model pack test-pack: logit 1.50.",
                    model_sha256=MODEL_SHA,
                    details={"calibration": CALIBRATION},
                    created_at=now,
                )
            )
    finally:
        home.close()


MODEL_SHA = "5e06" * 16
CALIBRATION = {
    "kind": "case",
    "id": "custody 0123456789ab",
    "name": "case demo, 5 photos marked authentic by rev-a",
    "n": 5,
    "threshold": 4.0,
    "percentile": 40.0,
    "achieved_rate": 1 / 6,
}


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], RunWb]:
    tmp_path = tmp_path_factory.mktemp("report")
    wb = make_runner(tmp_path)
    wb_env = {"WB_HOME": str(tmp_path / "home"), "WB_KEY": str(tmp_path / "keys" / "signing.key")}
    wb("init")
    wb("case", "create", "demo", "--purpose", "p")
    stored = json_lines(
        wb("ingest", "--case", "demo", "--json", str(checkerboard(tmp_path / "c.png"))).stdout
    )[0]
    annotate(wb_env, str(stored["item_id"]), str(stored["sha256"]))
    out = tmp_path / "r.pdf"
    result = json_lines(wb("report", str(stored["item_id"]), "--out", str(out), "--json").stdout)[0]
    return out, {**stored, "report_id": result["report_id"], "report_sha256": result["sha256"]}, wb


def test_report_holds_hashes_reviewers_custody_and_the_caption(reported) -> None:
    out, info, wb = reported
    text = pdf_text(out)
    timeline = json_lines(wb("log", str(info["item_id"]), "--json").stdout)
    record_hashes = {e["artifact_sha256"] for e in timeline if e["artifact_sha256"]}
    for sha in record_hashes - {info["sha256"]}:
        if sha != hashlib.sha256(out.read_bytes()).hexdigest():
            assert sha in text  # the sidecar and every other file
    assert str(info["sha256"]) in text
    assert "Review by rev-a" in text and "Review by rev-b" in text and "DISPUTE" in text
    for event in timeline:
        if event["action"] != "report.generated":
            assert str(event["event_hash"]) in text and str(event["action"]) in text
    assert CAPTION in text.splitlines()
    assert "Automated indicator: ela 1.0" in text and "Error levels are even across the picture." in text
    assert "4 = high: Corroborated by several independent strands" in text


def test_report_hash_enters_the_custody_log(reported) -> None:
    out, info, wb = reported
    timeline = json_lines(wb("log", str(info["item_id"]), "--json").stdout)
    generated = [e for e in timeline if e["action"] == "report.generated"]
    assert [e["artifact_sha256"] for e in generated] == [hashlib.sha256(out.read_bytes()).hexdigest()]
    assert info["sha256"] != generated[0]["artifact_sha256"]


def test_every_page_has_the_footer(reported) -> None:
    out, info, _ = reported
    pages = [p for p in pdf_text(out).split("\f") if p.strip()]
    assert len(pages) >= 2
    for page in pages:
        assert f"Report {info['report_id']} · generated" in page


def test_graphic_item_thumbnail_is_blurred_and_labelled(reported, tmp_path: Path) -> None:
    out, _, _ = reported
    assert "CONTENT WARNING (graphic violence): blurred thumbnail" in pdf_text(out)
    subprocess.run(["pdfimages", "-png", str(out), str(tmp_path / "img")], check=True)
    images = sorted(tmp_path.glob("img-*.png"))
    assert len(images) == 1
    pixels = np.asarray(Image.open(images[0]).convert("L"), dtype=np.int16)
    # the checkerboard's 8-pixel squares jump 0 -> 255; nothing close to that may survive
    assert np.abs(np.diff(pixels, axis=1)).max() < 40 and pixels.std() < 40


def test_arabic_with_url_and_date_keeps_logical_order(tmp_path: Path) -> None:
    from archive.export.report import ReportData, render_report
    from archive.model import ItemRecord

    line = "مثال https://example.org/a?b=1 بتاريخ 2024-03-05 نص"
    record: dict[str, Any] = json.loads(
        json.dumps(
            {
                "item": {
                    "id": "x1",
                    "title": line,
                    "kind": "document",
                    "created_at": "t",
                    "sha256": "a" * 64,
                    "status": "unverified",
                    "classification": "restricted",
                },
                "artifacts": [],
                "derived": [],
                "sightings": [],
                "captures": [],
                "judgements": [],
                "flags": [],
                "tags": [],
                "notes": [],
                "consents": [],
            }
        )
    )
    pdf = render_report(ReportData("r1", "now", "t", {}, [ItemRecord.from_json(record)], [], {}))
    (tmp_path / "a.pdf").write_bytes(pdf)
    words = [w for w in pdf_text(tmp_path / "a.pdf").split() if w]
    wanted = line.split()
    start = words.index(wanted[0])
    # word order equals the stored order (poppler may drop a space at a direction change)
    assert "".join(words[start : start + len(wanted) + 2]).startswith("".join(wanted))


def test_each_flag_names_its_model_hash_and_the_calibration_it_used(reported) -> None:
    out, _info, _wb = reported
    text = " ".join(pdf_text(out).split())
    assert f"model weights SHA-256 {MODEL_SHA}" in text
    assert (
        "calibration: case custody 0123456789ab (case demo, 5 photos marked authentic by rev-a, n=5); "
        "percentile 40.0; indicator above 4.0; false-positive rate at most 16.7%"
    ) in text
