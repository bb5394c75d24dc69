"""Pixel forensics on images made in the test, where the manipulation and its place are known."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from archive.model import Flag, FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, Subject, word_count
from detectors.forensics.copymove import CopyMove, Finding, _chained, _is_lattice
from detectors.forensics.ela import ElaLens
from detectors.forensics.ghost import JpegGhost
from detectors.forensics.jpeg_grid import JpegGrid, grid_phases
from detectors.forensics.noise import NoiseLevel
from detectors.forensics.quant import QuantTables, ijg_quality
from tests.detectors.conftest import decode, encode, textured


def only(flags: list[Flag]) -> Flag:
    assert len(flags) == 1
    flag = flags[0]
    assert flag.explanation and word_count(flag.explanation) <= MAX_EXPLANATION_WORDS
    return flag


def heatmap_of(flag: Flag) -> Image.Image:
    png = flag.details["heatmap_png"]
    assert isinstance(png, bytes)
    return Image.open(io.BytesIO(png))


def test_copy_move_made_here_is_found_at_its_offset() -> None:
    arr = textured()
    forged = arr.copy()
    forged[300:400, 400:520] = arr[80:180, 60:180]  # shift (+340, +220)
    flag = only(CopyMove().detect(Subject(encode(forged))))
    assert flag.label == FlagLabel.INDICATOR
    dx, dy = flag.details["shift"]
    assert abs(abs(dx) - 340) <= 4 and abs(abs(dy) - 220) <= 4
    heat = np.asarray(heatmap_of(flag).convert("L").resize((640, 480)), dtype=np.float32)
    assert heat[300:400, 400:520].mean() > heat[0:60, 560:640].mean()


def test_untouched_image_has_no_copy_move() -> None:
    flag = only(CopyMove().detect(Subject(encode(textured(seed=2)))))
    assert flag.label == FlagLabel.NO_INDICATION


def test_repeated_texture_is_not_flagged_as_copy_move() -> None:
    rng = np.random.default_rng(5)
    tile = textured(96, 96, seed=3)
    arr = np.tile(tile, (5, 7, 1))[:480, :640].astype(np.float32)
    arr += rng.normal(0, 2, arr.shape)  # a camera's noise differs between the repeats
    flag = only(CopyMove().detect(Subject(encode(np.clip(arr, 0, 255).astype(np.uint8)))))
    assert flag.label != FlagLabel.INDICATOR
    assert flag.details["inliers"] < 8 or flag.details.get("lattice_suppressed") is True


def test_three_repeats_of_one_shift_are_a_lattice() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 50, (30, 2)).astype(np.float32)
    shift = np.array([100.0, 0.0], np.float32)
    src = np.vstack([a, a + shift])  # A->B and B->C: the middle copy is both target and source
    dst = src + shift
    finding = Finding((100.0, 0.0), len(src), src, dst, False, 1.0)
    assert _chained(finding)
    single = Finding((100.0, 0.0), len(a), a, a + shift, False, 1.0)
    assert not _chained(single)
    assert _is_lattice((100.0, 0.0), 30, [((100.0, 0.0), np.arange(30)), ((200.0, 0.0), np.arange(15))])


def test_ela_is_a_lens_with_a_heatmap_and_no_score() -> None:
    flag = only(ElaLens().detect(Subject(encode(textured(), "JPEG", quality=85))))
    assert flag.label == FlagLabel.INFORMATION and flag.score is None
    assert heatmap_of(flag).size[0] > 0


def test_grid_offset_reveals_a_crop_after_compression() -> None:
    once = decode(encode(textured(), "JPEG", quality=70))
    cropped = once[2:, 3:]
    gx, gy, strength = grid_phases(cropped.astype(np.float32).mean(axis=2))
    assert (gx, gy) == (5, 6) and strength > 0.08
    flag = only(JpegGrid().detect(Subject(encode(cropped))))
    assert flag.details["grid_offset"] == [5, 6]


def test_pasted_region_with_its_own_grid_raises_the_grid_score() -> None:
    base = decode(encode(textured(768, 512, seed=4), "JPEG", quality=70))
    donor = decode(encode(textured(768, 512, seed=6), "JPEG", quality=70))
    forged = base.copy()
    forged[128:384, 256:576] = donor[131:387, 261:581]  # the donor's grid lands 5 and 3 pixels off
    clean_flag = only(JpegGrid().detect(Subject(encode(base))))
    forged_flag = only(JpegGrid().detect(Subject(encode(forged))))
    assert forged_flag.score is not None and clean_flag.score is not None
    assert forged_flag.score > clean_flag.score + 0.1
    assert forged_flag.label == FlagLabel.INDICATOR


def noisy(region_sigma: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:512, 0:768]
    arr = 60 + 100 * (xx / 768) + 20 * np.sin(yy / 40.0)
    arr = np.repeat(arr[:, :, None], 3, axis=2) + rng.normal(0, 2, (512, 768, 1))
    arr[128:384, 192:576] += rng.normal(0, region_sigma, (256, 384, 1))
    out: np.ndarray = np.clip(arr, 0, 255).astype(np.uint8)
    return out


def test_region_with_foreign_noise_is_found() -> None:
    flag = only(NoiseLevel().detect(Subject(encode(noisy(10.0)))))
    even = only(NoiseLevel().detect(Subject(encode(noisy(0.0)))))
    # The band is set high (no untouched corpus photo reaches it): a quarter of the image is needed.
    assert flag.label in (FlagLabel.INDICATOR, FlagLabel.INCONCLUSIVE)
    assert flag.score is not None and even.score is not None and flag.score > even.score + 0.1
    heat = np.asarray(heatmap_of(flag).convert("L").resize((768, 512)), dtype=np.float32)
    assert heat[160:352, 224:544].mean() > heat[20:120, 20:200].mean()


def test_even_noise_gives_no_noise_indication() -> None:
    flag = only(NoiseLevel().detect(Subject(encode(noisy(0.0)))))
    assert flag.label == FlagLabel.NO_INDICATION


def test_camera_claim_with_standard_tables_is_an_indicator() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    data = encode(textured(), "JPEG", quality=83, exif=exif)
    flag = only(QuantTables().detect(Subject(data)))
    assert flag.label == FlagLabel.INDICATOR
    assert flag.details["ijg_quality"] == 83


def test_standard_tables_without_camera_claim_are_no_indication() -> None:
    flag = only(QuantTables().detect(Subject(encode(textured(), "JPEG", quality=60))))
    assert flag.label == FlagLabel.NO_INDICATION and flag.details["ijg_quality"] == 60


def test_custom_tables_are_not_ijg() -> None:
    tables = {0: list(range(1, 65)), 1: list(range(2, 66))}
    assert ijg_quality(tables) is None


def test_jpeg_ghost_of_a_low_quality_paste_scores_above_the_untouched_image() -> None:
    arr = textured(512, 384, seed=8)
    low = decode(encode(arr, "JPEG", quality=60))
    forged = arr.copy()
    forged[96:288, 128:384] = low[96:288, 128:384]
    clean = only(JpegGhost().detect(Subject(encode(arr, "JPEG", quality=95))))
    ghost = only(JpegGhost().detect(Subject(encode(forged, "JPEG", quality=95))))
    assert ghost.score is not None and clean.score is not None
    assert ghost.score > clean.score
    heat = np.asarray(heatmap_of(ghost).convert("L").resize((512, 384)), dtype=np.float32)
    assert heat[96:288, 128:384].mean() > heat[300:384, 0:100].mean()
