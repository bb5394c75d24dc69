"""Generator watermarks: the invisible DWT-DCT mark of Stable Diffusion's reference scripts and SDXL.

Stable Diffusion's reference txt2img scripts and diffusers' SDXL pipeline embed a message with the
``invisible-watermark`` package (MIT), method ``dwtDct``: the image's U channel (YUV) goes through
one Haar wavelet step; in each 4x4 block of the approximation the largest coefficient (after the
first) is quantised so that its magnitude modulo 36 falls in the upper or lower half, one bit per
block, the message repeating over the blocks. The messages:

- SD v1 (CompVis scripts): the bytes "StableDiffusionV1", 136 bits;
- SD 2 (Stability-AI scripts): the bytes "SDV2", 32 bits;
- SDXL (diffusers): the 48 bits 0xB3EC907BB19E. diffusers hands RGB arrays to an encoder that expects
  BGR, so both channel orders are tried.

The decoding below is the package's own rule, vectorised (one pass per channel order, folded for each
message length; a test checks it against the package's decoder bit for bit). A match is reported
with the probability that chance alone gives that many matching bits (binomial, p = 0.5, multiplied
by the six tries). Re-encoding, resizing or cropping destroys the mark: a miss means nothing.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from archive.model import Flag, FlagLabel
from detectors.base import Subject, make_flag

__all__ = ["MESSAGES", "Watermark", "chance", "decode_blocks", "fold"]

SCALE = 36.0  # the package's default scale for the U channel
MESSAGES: dict[str, list[int]] = {
    "Stable Diffusion v1 (reference scripts)": [
        int(b) for b in "".join(f"{c:08b}" for c in b"StableDiffusionV1")
    ],
    "Stable Diffusion 2 (reference scripts)": [int(b) for b in "".join(f"{c:08b}" for c in b"SDV2")],
    "SDXL (diffusers)": [int(b) for b in bin(0xB3EC907BB19E)[2:]],
}
ORDERS = ("BGR (as the scripts write)", "RGB (as diffusers hands it over)")
TRIES = len(MESSAGES) * len(ORDERS)
INDICATOR_P = 1e-6  # chance of so many matching bits, after the six tries
INCONCLUSIVE_P = 1e-3
MAX_PIXELS = 4_200_000  # generators write 0.25-4 MP; larger images are not their output as written
MIN_BLOCKS = 4  # every bit of the longest message must be read from at least this many blocks


def chance(matching: int, bits: int) -> float:
    """P(at least ``matching`` of ``bits`` fair coin flips agree), the chance of a match this good."""
    return sum(math.comb(bits, k) for k in range(matching, bits + 1)) / 2.0**bits


def decode_blocks(rgb: Any, order: str) -> Any:
    """One bit per 4x4 block of the U channel's Haar approximation, in the package's block order."""
    import cv2
    import numpy as np

    bgr = rgb[:, :, ::-1] if order.startswith("BGR") else rgb  # what the encoder took as "BGR"
    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr[:rows, :cols]), cv2.COLOR_BGR2YUV)
    u = yuv[:, :, 1].astype(np.float64)
    # One Haar step's approximation, as pywt.dwt2(u, "haar")[0] gives it (2x2 sums / 2), 20x quicker.
    approx = (u[0::2, 0::2] + u[0::2, 1::2] + u[1::2, 0::2] + u[1::2, 1::2]) / 2.0
    br, bc = approx.shape[0] // 4, approx.shape[1] // 4
    blocks = approx[: br * 4, : bc * 4].reshape(br, 4, bc, 4).transpose(0, 2, 1, 3).reshape(br * bc, 16)
    rest = np.abs(blocks[:, 1:])
    value = rest[np.arange(rest.shape[0]), rest.argmax(axis=1)]
    return (value % SCALE) > 0.5 * SCALE


def fold(block_bits: Any, length: int) -> list[int]:
    """The message of ``length`` bits: per bit, the majority over the blocks that repeat it."""
    import numpy as np

    n = block_bits.shape[0]
    sums = np.bincount(np.arange(n) % length, weights=block_bits.astype(float), minlength=length)
    counts = np.bincount(np.arange(n) % length, minlength=length)
    return [int(v) for v in (sums / counts * 255 > 127)]


class Watermark:
    name: ClassVar[str] = "watermark"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = False  # a video codec destroys the mark
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "invisible DWT-DCT watermarks of Stable Diffusion v1/2 and SDXL"
    quality: ClassVar[str] = (
        "finds a clean mark (tests: 132 of 136 bits); a JPEG, resized or cropped copy loses it: "
        "a miss means nothing"
    )

    def detect(self, subject: Subject) -> list[Flag]:
        rgb = subject.rgb()
        height, width = rgb.shape[:2]
        if height * width > MAX_PIXELS:
            return [self._not_searched(subject, width, height)]
        longest = max(len(m) for m in MESSAGES.values())
        if (height // 8) * (width // 8) < MIN_BLOCKS * longest:
            return [self._not_searched(subject, width, height)]
        best: tuple[float, str, str, int, int] | None = None
        for order in ORDERS:
            blocks = decode_blocks(rgb, order)
            for label, message in MESSAGES.items():
                got = fold(blocks, len(message))
                matching = sum(a == b for a, b in zip(got, message, strict=True))
                p = min(1.0, chance(matching, len(message)) * TRIES)
                if best is None or p < best[0]:
                    best = (p, label, order, matching, len(message))
        assert best is not None
        p, label, order, matching, bits = best
        details = {
            "generator": label,
            "channel_order": order,
            "matching_bits": matching,
            "bits": bits,
            "p_chance": p,
        }
        if p <= INDICATOR_P:
            verdict, text = (
                FlagLabel.INDICATOR,
                (
                    f"Invisible watermark of {label} found: {matching} of {bits} bits match ({order}). "
                    "Chance "
                    f"alone gives so many matching bits with probability {p:.1e} (six messages and channel "
                    "orders tried). The mark is written by the generator's reference code; anyone running "
                    "that code can add it to any image, and its absence proves nothing. Not proof."
                ),
            )
        elif p <= INCONCLUSIVE_P:
            verdict, text = (
                FlagLabel.INCONCLUSIVE,
                (
                    f"A weak trace of the {label} watermark: {matching} of {bits} bits match ({order}); "
                    "chance "
                    f"gives this with probability {p:.1e}. Too weak to rely on; a damaged mark or chance."
                ),
            )
        else:
            verdict, text = (
                FlagLabel.NO_INDICATION,
                (
                    f"No generator watermark found (best: {matching} of {bits} bits of {label}, as chance "
                    "gives). A miss means nothing: most generators write no such mark, and a re-encoded, "
                    "resized or cropped copy loses it."
                ),
            )
        return [make_flag(self, subject, text, label=verdict, details=details)]

    def _not_searched(self, subject: Subject, width: int, height: int) -> Flag:
        text = (
            f"Not searched for a generator watermark: the image is {width}x{height} pixels, not a size "
            "Stable Diffusion writes (0.25-4 MP), and a resized copy would have lost the mark anyway. "
            "This says nothing either way."
        )
        return make_flag(self, subject, text, label=FlagLabel.INFORMATION, details={"searched": False})
