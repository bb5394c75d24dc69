"""The hostile-input corpus through the analysis: a clear result for every case, never a crash or a score
for what was not decoded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archive.model import FlagLabel
from tests.conftest import SHARED, require_shared
from workbench.services.analysis.run import analyse_bytes, run_suite

PIXEL_DETECTORS = {"ela", "jpeg_grid", "copy_move", "noise"}
IN_PROCESS = {
    "exif_malformed",
    "exif_oversized",
    "exif_inconsistent",
    "xss",
    "polyglot",
    "empty",
    "wrong_extension",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    gen = require_shared(SHARED / "hostile") / "make_public_corpus.py"
    out = tmp_path_factory.mktemp("hostile")
    subprocess.run(
        [sys.executable, str(gen), "--seed", "0", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest["cases"]


def _cases(hostile: tuple[Path, list[dict[str, Any]]], categories: set[str]) -> list[tuple[str, bytes]]:
    root, cases = hostile
    return [(c["id"], (root / c["path"]).read_bytes()) for c in cases if c["category"] in categories]


@pytest.mark.hostile
def test_truncated_and_bomb_images_are_not_analysed_with_a_reason(
    hostile: tuple[Path, list[dict[str, Any]]],
) -> None:
    cases = _cases(hostile, {"truncated", "bomb"})
    assert len(cases) >= 4
    for case_id, data in cases:
        flags = {f.detector: f for f in analyse_bytes(data).flags}
        for name in PIXEL_DETECTORS:
            flag = flags[name]
            assert flag.label == FlagLabel.NOT_ANALYSED, (case_id, name, flag)
            assert flag.score is None and flag.reason, (case_id, name)


@pytest.mark.hostile
def test_malformed_metadata_polyglots_and_wrong_types_give_flags_not_crashes(
    hostile: tuple[Path, list[dict[str, Any]]],
) -> None:
    for case_id, data in _cases(hostile, IN_PROCESS):
        flags = run_suite(data, {})
        assert flags, case_id
        for flag in flags:
            assert flag.explanation, (case_id, flag.detector)
            if flag.label == FlagLabel.NOT_ANALYSED:
                assert flag.score is None and flag.reason and "detector failed" not in flag.reason, (
                    case_id,
                    flag,
                )


@pytest.mark.hostile
def test_trailing_data_and_future_dates_are_reported(hostile: tuple[Path, list[dict[str, Any]]]) -> None:
    found = {
        case_id: run_suite(data, {}, only=["metadata_traces"])[0]
        for case_id, data in _cases(hostile, {"polyglot", "exif_inconsistent"})
    }
    assert any("after the end of the image" in t for t in found["p_polyglot_zip"].details["other_traces"])
    assert any("after the end of the image" in t for t in found["p_polyglot_html"].details["other_traces"])
    assert any("future" in t for t in found["p_exif_future"].details["edit_traces"])
