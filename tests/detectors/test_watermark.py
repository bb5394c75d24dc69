"""Generator watermarks: a mark embedded here with invisible-watermark is found; a JPEG copy is not."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from archive.model import FlagLabel
from detectors.base import MAX_EXPLANATION_WORDS, Subject, run_detectors, word_count
from detectors.watermark import MESSAGES, Watermark, chance, decode_blocks, fold
from tests.detectors.conftest import encode, textured

SD1 = b"StableDiffusionV1"
SDXL_BITS = [int(b) for b in bin(0xB3EC907BB19E)[2:]]


def marked_sd1(rgb: np.ndarray) -> np.ndarray:
    """As the SD v1 reference script does: RGB -> BGR, encode, back to RGB."""
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    enc.set_watermark("bytes", SD1)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return np.ascontiguousarray(enc.encode(bgr, "dwtDct")[:, :, ::-1])


def detect(data: bytes):
    (flag,) = run_detectors(Subject(data), [Watermark()])
    return flag


def test_an_sd1_mark_embedded_here_is_found_with_the_chance_stated() -> None:
    flag = detect(encode(marked_sd1(textured(384, 384, seed=3))))
    assert flag.label == FlagLabel.INDICATOR
    assert flag.details["generator"].startswith("Stable Diffusion v1")
    assert flag.details["matching_bits"] >= 120 and flag.details["p_chance"] < 1e-20
    assert "probability" in flag.explanation and "absence proves nothing" in flag.explanation
    assert word_count(flag.explanation) <= MAX_EXPLANATION_WORDS


def test_a_jpeg_copy_is_not_claimed_and_a_miss_says_it_means_nothing() -> None:
    arr = marked_sd1(textured(384, 384, seed=3))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    flag = detect(buf.getvalue())
    assert flag.label != FlagLabel.INDICATOR
    plain = detect(encode(textured(256, 256, seed=4)))
    assert plain.label == FlagLabel.NO_INDICATION and "A miss means nothing" in plain.explanation


def test_sdxl_bits_handed_over_in_rgb_order_as_diffusers_does_are_found() -> None:
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    enc.set_watermark("bits", SDXL_BITS)
    rgb = textured(384, 384, seed=5)
    marked = np.ascontiguousarray(enc.encode(rgb.copy(), "dwtDct"))  # RGB given where BGR is expected
    flag = detect(encode(marked))
    assert flag.label == FlagLabel.INDICATOR
    assert flag.details["generator"] == "SDXL (diffusers)" and flag.details["channel_order"].startswith("RGB")


def test_the_vectorised_decoder_reads_the_same_bits_as_the_package() -> None:
    from imwatermark import WatermarkDecoder

    rgb = marked_sd1(textured(384, 320, seed=7))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    for length in {len(m) for m in MESSAGES.values()}:
        theirs = [int(b) for b in WatermarkDecoder("bits", length).decode(bgr, "dwtDct")]
        assert fold(decode_blocks(rgb, "BGR"), length) == theirs


def test_chance_is_the_binomial_tail() -> None:
    assert chance(0, 8) == 1.0 and chance(8, 8) == 1 / 256
    assert abs(chance(4, 8) - 163 / 256) < 1e-12


def test_images_that_no_generator_writes_are_not_searched() -> None:
    flag = detect(encode(textured(2600, 1700, seed=1)))
    assert flag.label == FlagLabel.INFORMATION and flag.details["searched"] is False
