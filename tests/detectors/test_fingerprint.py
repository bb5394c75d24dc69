"""Perceptual fingerprints: imagehash-compatible bits, golden values, robust views, guarded decoding."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from detectors.fingerprint import (
    ALGO_VERSION,
    ImageFingerprints,
    content_box,
    fingerprint_image,
    hamming,
    phash_of,
    to_records,
)
from detectors.imageio import ImageRefused
from detectors.neardup import NearDupIndex
from tests.conftest import CORPUS, require_shared

DUPLICATE, RELATED = 10, 12


def scene(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A photo-like test image: smooth gradients, shapes and noise, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(0.5, 3, 3)
        base[..., c] = 128 + 80 * np.sin(xx / w * fx * np.pi + ph) * np.cos(yy / h * fy * np.pi)
    img = Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        x1, y1 = x0 + int(rng.integers(30, w // 3)), y0 + int(rng.integers(30, h // 3))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return img


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def best(a: ImageFingerprints, b: ImageFingerprints) -> int:
    idx = NearDupIndex()
    idx.add("b", b.views)
    found = idx.query(a.views, 64)
    return found[0].distance if found else 64


def test_phash_bits_are_imagehash_bits() -> None:
    for seed in range(5):
        img = scene(seed).convert("L")
        assert f"{phash_of(img):016x}" == str(imagehash.phash(img))


def test_draft_decode_stays_close_to_full_decode() -> None:
    data = jpeg(scene(7, (3000, 2000)))
    fast = fingerprint_image(data).views["phash"]
    full = int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)
    assert hamming(fast, full) <= 4


def test_resized_recompressed_cropped_copy_is_found_and_unrelated_is_not() -> None:
    original = scene(1, (1200, 900))
    w, h = original.size
    # 5% of the area cut from the edges, resized to a third, recompressed at quality 60.
    variant = original.crop((int(w * 0.02), int(h * 0.03), w - int(w * 0.01), h - int(h * 0.01)))
    variant = variant.resize((variant.width // 3, variant.height // 3), Image.Resampling.BILINEAR)
    a = fingerprint_image(jpeg(original))
    b = fingerprint_image(jpeg(variant, 60))
    other = fingerprint_image(jpeg(scene(2, (1200, 900))))
    assert best(b, a) <= DUPLICATE
    assert best(other, a) > RELATED


def test_mirrored_copy_matches_through_the_mirror_view() -> None:
    original = scene(3)
    a = fingerprint_image(jpeg(original))
    b = fingerprint_image(jpeg(ImageOps.mirror(original)))
    assert hamming(a.views["phash"], b.views["phash"]) > RELATED
    assert hamming(a.views["phash_mirror"], b.views["phash"]) <= 4


def screenshot(img: Image.Image) -> Image.Image:
    """The picture pasted into a phone screenshot: white bars, a status line and a caption."""
    canvas = Image.new("RGB", (img.width + 40, img.height + 300), "white")
    canvas.paste(img, (20, 140))
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 10), "12:11                 87%", fill="black")
    draw.ellipse((10, 40, 60, 90), fill="grey")
    draw.text((70, 60), "user_1269", fill="black")
    draw.text((10, img.height + 160), "BREAKING 06:18", fill="black")
    return canvas


def test_screenshot_border_is_trimmed_before_hashing() -> None:
    original = scene(4, (600, 450))
    shot = screenshot(original)
    box = content_box(shot.convert("L"))
    assert abs(box[0] - 20) <= 3 and abs(box[1] - 140) <= 3
    a = fingerprint_image(jpeg(original))
    b = fingerprint_image(jpeg(shot))
    assert hamming(a.views["phash"], b.views["phash"]) > DUPLICATE
    assert hamming(a.views["phash"], b.views["phash_trim"]) <= 4


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header declaring a huge picture, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.hostile
def test_decompression_bomb_is_refused_not_decoded() -> None:
    with pytest.raises(ImageRefused):
        fingerprint_image(bomb_png(29_000, 29_000))


def test_truncated_jpeg_is_refused() -> None:
    data = jpeg(scene(5))
    with pytest.raises(ImageRefused):
        fingerprint_image(data[: len(data) // 2])


def test_records_name_their_algorithm_version() -> None:
    rows = to_records("ab" * 32, fingerprint_image(jpeg(scene(6))))
    kinds = {r.kind for r in rows}
    assert {"phash", "phash_mirror", "phash_trim", "phash_c80", "phash_w85_11", "dhash", "pdq"} <= kinds
    assert all(len(r.algo_version) <= 64 for r in rows)  # the column's width
    assert all(r.algo_version for r in rows)
    assert next(r for r in rows if r.kind == "phash").algo_version == ALGO_VERSION
    assert len(next(r for r in rows if r.kind == "pdq").value) == 64


def test_heic_is_fingerprinted_through_pillow_heif() -> None:
    pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    scene(8, (320, 240)).save(buf, "HEIF", quality=90)
    a = fingerprint_image(buf.getvalue())
    b = fingerprint_image(jpeg(scene(8, (320, 240))))
    assert hamming(a.views["phash"], b.views["phash"]) <= 6


# Golden values (imagehash tests/test_hash_is_constant.py style): a library upgrade that changes
# stored fingerprints must fail here, so that ALGO_VERSION is bumped and the index rebuilt.
@pytest.mark.corpus
@pytest.mark.parametrize(
    "name",
    sorted(
        ["photos_exif/ianare__canon_hdr_YES.jpg", "photos_exif/mei__Nikon_D70.jpg", "near_dups/v0004.webp"]
    ),
)
def test_golden_fingerprints_are_constant(name: str) -> None:
    path: Path = require_shared(CORPUS) / name
    with path.open("rb") as f:
        fp = fingerprint_image(f)
    expected = GOLDEN[name]
    assert {k: f"{v:016x}" for k, v in fp.views.items()} == expected["views"]
    assert fp.pdq == expected["pdq"]


GOLDEN: dict[str, dict[str, object]] = {
    "photos_exif/ianare__canon_hdr_YES.jpg": {
        "views": {
            "phash": "d8cc3ab2e56618b9",
            "phash_mirror": "8c982fe7b0324dec",
            "phash_trim": "c97299333299574b",
            "phash_c80": "dbcd10b2e74518b9",
            "phash_c64": "dbc910b2e76514ba",
            "phash_w85_00": "904b37e46f13b0cb",
            "phash_w85_01": "90cb77b4e44f31b0",
            "phash_w85_02": "908b1b35e4ee4f34",
            "phash_w85_10": "db4d30b66518b9c9",
            "phash_w85_11": "dbcd10b2e76510ba",
            "phash_w85_12": "dbcd4010bae76716",
            "phash_w85_20": "cd6e3ab1600e9de4",
            "phash_w85_21": "cdc62a99f1621a9d",
            "phash_w85_22": "cdcc4e1ab1f1621b",
        },
        "pdq": "330e15ec26a4f364c57a0506ab26cef854d9094ee38ce6f31873b326e7ae46d9",
    },
    "photos_exif/mei__Nikon_D70.jpg": {
        "views": {
            "phash": "e61668916199cd77",
            "phash_mirror": "b3433de536cc9a22",
            "phash_trim": "e6166ef466338368",
            "phash_c80": "e61678946899ce37",
            "phash_c64": "e4265cfc78986c39",
            "phash_w85_00": "a56cf961139a6786",
            "phash_w85_01": "e52c79a0719a583f",
            "phash_w85_02": "e52c5db865339259",
            "phash_w85_10": "f676b86008cf7383",
            "phash_w85_11": "e6167cbc28896e35",
            "phash_w85_12": "e6174e9d6630c96c",
            "phash_w85_20": "f2578efe0cc530d0",
            "phash_w85_21": "f2532f972e8d2710",
            "phash_w85_22": "f2136a94723acd4e",
        },
        "pdq": "2f1b4996c59291f854ccdca76ac5e7e13a60c8f73859f1dc1dc31ac6858b5a34",
    },
    "near_dups/v0004.webp": {
        "views": {
            "phash": "915f7e6087562c69",
            "phash_mirror": "d40e6b35d2037d3c",
            "phash_trim": "81d97f60a3d53662",
            "phash_c80": "981f776a83d62a68",
            "phash_c64": "d899756a80c76a6e",
            "phash_w85_00": "913f6ce48d78538a",
            "phash_w85_01": "919f6f6087ac6478",
            "phash_w85_02": "939b3f602287bc65",
            "phash_w85_10": "d81b76a2d46f2895",
            "phash_w85_11": "d81b776a80d72a6a",
            "phash_w85_12": "98991d7eaad09762",
            "phash_w85_20": "cd0833b1d22f6dd4",
            "phash_w85_21": "dd083a37d0522b6f",
            "phash_w85_22": "cdcc087fbdd0823a",
        },
        "pdq": "52b3ad0ee13154a6a3db285a152cf0e58adc07cb7c1ae2b5c1f01f03e0bfe0fd",
    },
}
