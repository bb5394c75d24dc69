"""Every file case of the shared hostile corpus ends stored or clearly refused, and nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED, RunWb, json_lines, require_shared

pytestmark = pytest.mark.hostile

FILE_CATEGORIES = {
    "truncated",
    "bomb",
    "exif_malformed",
    "exif_oversized",
    "exif_inconsistent",
    "xss",
    "polyglot",
    "empty",
    "wrong_extension",
    "filename",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    generator = require_shared(SHARED / "hostile" / "make_public_corpus.py")
    out = tmp_path_factory.mktemp("hostile")
    subprocess.run(
        [sys.executable, str(generator), "--seed", "0", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    cases = json.loads((out / "manifest.json").read_text())["cases"]
    return out, [c for c in cases if c["category"] in FILE_CATEGORIES]


def test_hostile_files_are_stored_or_refused_with_reasons_and_the_archive_verifies(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path, hostile: tuple[Path, list[dict[str, object]]]
) -> None:
    corpus, cases = hostile
    assert len(cases) >= 20
    wb("init")
    wb("case", "create", "hostile", "--purpose", "robustness")
    (tmp_path / "before.txt").write_text("evidence already in the archive\n")
    wb("ingest", "--case", "hostile", str(tmp_path / "before.txt"))
    before = {p for p in tmp_path.rglob("*")}
    paths = [str(corpus / str(c["path"])) for c in cases]
    proc = wb("ingest", "--case", "hostile", "--json", *paths, check=None)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = json_lines(proc.stdout)
    by_path: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        assert line["status"] in ("stored", "duplicate", "refused"), line
        if line["status"] == "refused":
            assert line["reason"], line
        by_path.setdefault(str(line["path"]).split("!", 1)[0], []).append(line)
    assert set(by_path) == set(paths), "every input gets an answer"
    ids = {str(c["id"]): str(corpus / str(c["path"])) for c in cases}
    assert by_path[ids["p_empty"]][0]["status"] == "refused"
    assert by_path[ids["p_text_as_png"]][0]["status"] == "refused"
    assert by_path[ids["p_png_as_jpeg"]][0]["mime"] == "image/png"
    assert by_path[ids["p_png_as_jpeg"]][0]["note"]
    zip_lines = by_path[ids["p_zip_names"]]
    assert all(line["status"] == "refused" for line in zip_lines[1:]) and len(zip_lines) == 4
    for name in (
        "p_trunc_jpeg_half",
        "p_png_bomb",
        "p_polyglot_html",
        "p_polyglot_zip",
        "p_fn_dash",
        "p_fn_rtl",
    ):
        assert by_path[ids[name]][0]["status"] == "stored", name
    after = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in after if Path(wb_env["WB_HOME"]) not in p.parents]
    assert outside == [], "nothing is written outside the archive home"
    assert not any(p.name in ("up.txt", "outside.jpg", "abs.jpg", "twice.jpg") for p in tmp_path.rglob("*"))
    assert not any(p.name == "up.txt" for p in corpus.rglob("*"))
    assert not Path("/abs.jpg").exists()
    wb("verify")


def test_impossible_exif_values_reach_the_sidecar_as_warnings(
    wb: RunWb, wb_env: dict[str, str], hostile: tuple[Path, list[dict[str, object]]]
) -> None:
    corpus, cases = hostile
    wanted = {str(c["id"]): corpus / str(c["path"]) for c in cases if c["category"] == "exif_inconsistent"}
    wb("init")
    wb("case", "create", "hostile", "--purpose", "robustness")
    lines = json_lines(wb("ingest", "--case", "hostile", "--json", *map(str, wanted.values())).stdout)
    import sqlite3

    conn = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
    for line in lines:
        (side,) = conn.execute(
            "SELECT sha256 FROM artifacts WHERE parent_sha256=? AND operation='metadata-sidecar'",
            (line["sha256"],),
        ).fetchone()
        sidecar = json.loads((Path(wb_env["WB_HOME"]) / "blobs" / side[:2] / side[2:4] / side).read_text())
        assert sidecar["warnings"], line["path"]
