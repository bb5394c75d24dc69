"""The EXIF thumbnail check: JPEGs whose IFD1 thumbnail is written here by exiftool (real tool, list args)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from archive.model import FlagLabel
from detectors.base import Subject
from detectors.metaread import exif_thumbnail, read_meta
from detectors.provenance import THUMB_DIFFERS, MetadataTracesDetector
from tests.detectors.conftest import textured

SIZE = (640, 480)


def with_thumbnail(tmp_path: Path, main: np.ndarray, thumb: Image.Image) -> bytes:
    """A JPEG of ``main`` whose EXIF IFD1 thumbnail is ``thumb`` (written with exiftool)."""
    exiftool = shutil.which("exiftool")
    assert exiftool, "exiftool is required (installed with the workbench)"
    photo, small = tmp_path / "photo.jpg", tmp_path / "thumb.jpg"
    Image.fromarray(main).save(photo, "JPEG", quality=90)
    thumb.save(small, "JPEG", quality=85)
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", f"-ThumbnailImage<={small}", str(photo)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = photo.read_bytes()
    stored = exif_thumbnail(read_meta(data))
    assert stored is not None and Image.open(io.BytesIO(stored)).size == thumb.size  # it is really there
    return data


def traces(data: bytes) -> tuple[FlagLabel, list[str]]:
    (flag,) = MetadataTracesDetector().detect(Subject(data))
    return flag.label, [t for t in flag.details["edit_traces"] if "thumbnail" in t]


def test_a_thumbnail_of_another_picture_is_flagged(tmp_path: Path) -> None:
    other = Image.fromarray(textured(*SIZE, seed=4)).resize((160, 120))
    label, found = traces(with_thumbnail(tmp_path, textured(*SIZE, seed=3), other))
    assert label == FlagLabel.INDICATOR and found == [THUMB_DIFFERS]


def test_a_thumbnail_that_matches_the_image_is_not_flagged(tmp_path: Path) -> None:
    main = textured(*SIZE, seed=3)
    label, found = traces(with_thumbnail(tmp_path, main, Image.fromarray(main).resize((160, 120))))
    assert label == FlagLabel.NO_INDICATION and found == []


def test_a_letterboxed_thumbnail_of_the_same_picture_is_not_flagged(tmp_path: Path) -> None:
    main = textured(*SIZE, seed=5)
    boxed = Image.new("RGB", (160, 160))
    boxed.paste(Image.fromarray(main).resize((160, 120)), (0, 20))  # black bars above and below
    label, found = traces(with_thumbnail(tmp_path, main, boxed))
    assert label == FlagLabel.NO_INDICATION and found == []


def test_a_region_edited_after_the_thumbnail_was_written_is_flagged(tmp_path: Path) -> None:
    before = textured(*SIZE, seed=3)
    after = before.copy()
    after[160:320, 213:426] = textured(*SIZE, seed=4)[160:320, 213:426]  # the middle ninth replaced
    label, found = traces(with_thumbnail(tmp_path, after, Image.fromarray(before).resize((160, 120))))
    assert label == FlagLabel.INDICATOR
    assert found == [THUMB_DIFFERS + " in one region (edited after the thumbnail was written?)"]
