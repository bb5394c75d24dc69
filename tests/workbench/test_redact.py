"""`wb redact`: solid fill where the face was, no metadata in the copy, the original untouched."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.ExifTags import IFD

from detectors.faces import cascade_path
from tests.conftest import RunWb, json_lines
from tests.workbench.test_export_cli import make_runner
from workbench.services.redact import RedactError, parse_box


def photo_with_gps_and_serial(path: Path) -> Path:
    """Noise (so every pixel differs) with a bright 'face' square, camera make/model/serial and GPS."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, (120, 160, 3)).astype(np.uint8)
    pixels[30:70, 50:90] = (230, 190, 160)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif.get_ifd(IFD.Exif)[0xA431] = "SN123456789"
    exif.get_ifd(IFD.GPSInfo).update({1: "N", 2: (50.0, 0.0, 0.0), 3: "E", 4: (36.0, 14.0, 0.0)})
    Image.fromarray(pixels).save(path, "JPEG", exif=exif, quality=95)
    return path


def exif_tags(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", str(path)], capture_output=True, check=True, text=True
    )
    tags: dict[str, Any] = json.loads(out.stdout)[0]
    return tags


def blob(home: Path, sha: str) -> Path:
    found = [p for p in (home / "blobs").rglob(sha) if p.is_file()]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunWb, Path]:
    root = tmp_path_factory.mktemp("redact")
    # The drawn test face is found by Haar, not by CenterFace (the default, tested on a real face in
    # tests/detectors/test_faces_centerface.py): these runs choose Haar.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WB_FACE_DETECTOR", "haar")
        return make_runner(root), root


@pytest.fixture(scope="module")
def item(env: tuple[RunWb, Path]) -> dict[str, Any]:
    wb, tmp_path = env
    wb("init")
    wb("case", "create", "demo", "--purpose", "p")
    src = photo_with_gps_and_serial(tmp_path / "face.jpg")
    assert any("GPS" in k for k in exif_tags(src)) and "ExifIFD:SerialNumber" in exif_tags(src)
    return json_lines(wb("ingest", "--case", "demo", "--json", str(src)).stdout)[0]


def test_box_is_filled_uniformly_metadata_is_gone_and_the_original_is_untouched(
    env: tuple[RunWb, Path], item: dict[str, Any]
) -> None:
    wb, root = env
    home = root / "home"
    original = blob(home, str(item["sha256"]))
    result = json_lines(wb("redact", str(item["item_id"]), "--box", "50,30,40,40", "--json").stdout)[0]
    assert result["parent_sha256"] == item["sha256"] and result["boxes"] == [[50, 30, 40, 40]]
    copy = blob(home, str(result["sha256"]))
    pixels = np.asarray(Image.open(copy).convert("RGB"))
    region = pixels[30:70, 50:90]
    assert (region == 0).all()  # replaced, not blurred: one value everywhere
    assert not (pixels[0:30] == 0).all()  # the rest of the picture is still there
    tags = exif_tags(copy)
    assert not [k for k in tags if "GPS" in k or "Serial" in k or k.endswith((":Make", ":Model"))]
    assert hashlib.sha256(original.read_bytes()).hexdigest() == item["sha256"]
    timeline = json_lines(wb("log", str(item["item_id"]), "--json").stdout)
    redacted = [e for e in timeline if e["action"] == "artifact.redacted"]
    assert redacted and redacted[0]["before_sha256"] == item["sha256"]
    assert redacted[0]["after_sha256"] == result["sha256"]
    wb("verify")


def test_the_redacted_copy_travels_in_a_partner_package(
    env: tuple[RunWb, Path], item: dict[str, Any], tmp_path: Path
) -> None:
    wb = env[0]
    result = json_lines(wb("redact", str(item["item_id"]), "--box", "0,0,10,10", "--json").stdout)[0]
    out = tmp_path / "pkg"
    wb(
        "export",
        "--case",
        "demo",
        "--profile",
        "internal",
        "--recipient",
        "Org",
        "--recipient-type",
        "court",  # the internal profile goes only to internal, court and UN-mechanism recipients
        "--purpose",
        "p",
        "--out",
        str(out),
    )
    record = json.loads((out / "data" / "items" / str(item["item_id"]) / "record.json").read_text())
    redacted = [a for a in record["artifacts"] if a["role"] == "redacted" and a["sha256"] == result["sha256"]]
    assert redacted[0]["operation"] == "redaction" and redacted[0]["parent_sha256"] == item["sha256"]
    assert redacted[0]["parameters"]["boxes"] == [[0, 0, 10, 10]]
    assert record["files"][result["sha256"]].startswith(f"data/items/{item['item_id']}/files/redacted-")


def drawn_face(path: Path) -> Path:
    """A face drawn with OpenCV (skin oval, eyes, brows, nose, mouth) that its frontal cascade finds."""
    import cv2

    img = np.full((400, 400, 3), 200, np.uint8)
    cv2.ellipse(img, (200, 200), (84, 110), 0, 0, 360, (150, 170, 210), -1)
    for dx in (-1, 1):
        ex, ey = 200 + dx * 36, 176
        cv2.ellipse(img, (ex, ey), (18, 9), 0, 0, 360, (40, 40, 40), -1)
        cv2.rectangle(img, (ex - 22, ey - 22), (ex + 22, ey - 16), (60, 60, 60), -1)
    cv2.rectangle(img, (194, 190), (206, 224), (120, 140, 180), -1)
    cv2.ellipse(img, (200, 250), (28, 8), 0, 0, 360, (60, 60, 120), -1)
    rgb = cv2.GaussianBlur(img, (9, 9), 3)[:, :, ::-1]
    exif = Image.Exif()
    exif.get_ifd(IFD.GPSInfo).update({1: "N", 2: (50.0, 0.0, 0.0), 3: "E", 4: (36.0, 14.0, 0.0)})
    Image.fromarray(np.ascontiguousarray(rgb)).save(path, "JPEG", exif=exif, quality=95)
    return path


def test_faces_are_found_automatically_and_filled(env: tuple[RunWb, Path], item: dict[str, Any]) -> None:
    wb, tmp_path = env  # the item fixture has made the home and the case
    assert cascade_path() is not None, "the pinned OpenCV 4 wheel ships its Haar cascades"
    src = drawn_face(tmp_path / "drawn-face.jpg")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    face = json_lines(wb("ingest", "--case", "demo", "--json", str(src)).stdout)[0]
    result = json_lines(wb("redact", str(face["item_id"]), "--faces", "--json").stdout)[0]
    assert result["faces_found"] >= 1
    copy = next(p for p in tmp_path.rglob(str(result["sha256"])) if p.is_file())
    pixels = np.asarray(Image.open(copy).convert("RGB"))
    centre = pixels[160:240, 170:230]  # eyes, nose and mouth of the drawn face
    assert (centre == centre[0, 0]).all(), "the face region is one solid colour"
    assert not any("GPS" in k for k in exif_tags(copy))
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before == face["sha256"]


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "-1,0,5,5", "0,0,0,5"])
def test_bad_boxes_are_refused(bad: str) -> None:
    with pytest.raises(RedactError):
        parse_box(bad)


def test_a_box_outside_the_picture_redacts_nothing_and_says_so(
    env: tuple[RunWb, Path], item: dict[str, Any]
) -> None:
    wb = env[0]
    proc = wb("redact", str(item["item_id"]), "--box", "5000,5000,10,10", check=2)
    assert "nothing to redact" in proc.stderr


def test_partner_package_needs_and_then_ships_the_redacted_copy(
    env: tuple[RunWb, Path], tmp_path: Path
) -> None:
    wb = env[0]
    src = photo_with_gps_and_serial(tmp_path / "second.jpg")
    Image.open(src).rotate(180).save(src, "JPEG", quality=90)  # other bytes, so a new item
    item = json_lines(wb("ingest", "--case", "demo", "--json", str(src)).stdout)[0]
    item_id, original = str(item["item_id"]), str(item["sha256"])
    wb("consent", "add", item_id, "--subject", "P-002", "--scope", "partner", "--hide", "face")
    args = ["--case", "demo", "--items", item_id, "--profile", "partner", "--recipient", "Org"]
    args += ["--recipient-type", "partner", "--purpose", "p", "--json"]
    blocked = json_lines(wb("export", *args, "--out", str(tmp_path / "a"), check=1).stdout)
    assert blocked[0]["reason"] == "needs_redaction"
    copy = json_lines(wb("redact", item_id, "--box", "50,30,40,40", "--json").stdout)[0]["sha256"]
    wb("export", *args, "--out", str(tmp_path / "b"))
    bag = tmp_path / "b"
    shipped = {p.name.split(".")[0] for p in (bag / "data" / "items" / item_id).rglob("*.*")}
    assert copy in shipped and original not in shipped
    row = json.loads((bag / "data" / "items.json").read_text())["items"][0]
    assert (row["sha256"], row["file_sha256"], row["file_is"]) == (original, copy, "redacted copy")
    assert not list(bag.rglob("sidecar-*"))  # metadata sidecars stay home in partner packages
    wb("verify-package", str(bag))
