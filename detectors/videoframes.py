"""A video's keyframes through the pixel detectors that make sense on decoded frames.

1. Sample: ``detectors.video.sample_frames`` takes the keyframes the fingerprinting takes (first
   frame, every shot change, at least one every 10 s), after probing the container's frame size,
   count and rate, thinned evenly to a cap (12 by default; setting ``video.max_keyframes``).
2. Encode: each frame becomes a PNG (lossless), so the keyframe stored as a derived artifact is
   exactly the pixels that were analysed, and anyone can rerun ``wb analyse`` on it.
3. Detect: detectors with ``on_frames = True`` (copy-move, noise, the learned classifier) run on
   each frame. Detectors that read JPEG compression history (ELA, grid, ghost, quantisation tables)
   would only measure the video codec, so they get a ``not_analysed`` flag marked not applicable.
4. Name: every frame flag carries ``details["keyframe"]`` (time in seconds, frame index, PNG
   SHA-256) and its explanation starts by saying which frame it was and that it was decoded from
   video, where codec compression hides or mimics editing traces.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from archive.model import Flag
from detectors.base import (
    MAX_EXPLANATION_WORDS,
    Detector,
    Subject,
    not_analysed,
    on_frames,
    run_detectors,
    word_count,
)
from detectors.video import Frame, FrameSample, Limits, VideoRefused, sample_frames

__all__ = [
    "DEFAULT_MAX_KEYFRAMES",
    "FRAME_QUALITY",
    "VIDEO_SUFFIXES",
    "AnalysedFrame",
    "analyse_video",
    "frame_note",
    "not_applicable",
]

DEFAULT_MAX_KEYFRAMES = 12
MAX_KEYFRAMES = 48  # held decoded at once: 48 frames of 4096x2304 RGB are 1.4 GB
# Container suffix for the temporary copy OpenCV reads, chosen from the sniffed type (never the name).
VIDEO_SUFFIXES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
    "video/webm": ".mkv",
    "video/mpeg": ".mpg",
    "video/3gpp": ".3gp",
    "video/3gpp2": ".3g2",
}
NOT_ON_FRAMES = (
    "does not apply to video frames: it measures JPEG compression history, and a decoded frame "
    "carries only the video codec's"
)


# Measured on keyframes (bench/indicators_video.py --size 14): 14 untouched corpus photos cropped
# to 1280x720, each as a control and with a copy-move, written as 1 s clips in mp4v and in MJPG.
FRAME_QUALITY = {
    "copy_move": (
        "On keyframes of 28 synthetic 720p clips (bench/indicators_video.py) it found 7 of 14 clones "
        "(9 of 14 as still JPEGs) and flagged none of 14 controls."
    ),
    "noise": (
        "On keyframes of 28 synthetic 720p clips (bench/indicators_video.py) it had no power (AUC 0.50) "
        "and flagged 1 of 14 controls."
    ),
}


@dataclass(frozen=True)
class AnalysedFrame:
    """A keyframe as analysed: its time, frame index, PNG bytes and their SHA-256."""

    t: float
    index: int
    png: bytes
    sha256: str
    decoder: str = ""


def frame_note(t: float, index: int) -> str:
    """The sentence every keyframe flag's explanation starts with."""
    return (
        f"Video keyframe at {t:.2f} s (frame {index}), decoded from the video: the codec's "
        "compression hides or mimics editing traces."
    )


def not_applicable(det: Detector, sha256: str, why: str = NOT_ON_FRAMES) -> Flag:
    """The flag for a detector that does not apply to this kind of file (not a failure)."""
    flag = not_analysed(det.name, det.version, sha256, why)
    return replace(flag, details={"not_applicable": True})


def _png(frame: Frame) -> tuple[bytes, Any]:
    from PIL import Image

    img = Image.fromarray(frame.rgb)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=3)  # lossless; level 3 is far quicker than 6, a little larger
    return buf.getvalue(), img


def _name(flag: Flag, af: AnalysedFrame, video_sha256: str, sample: FrameSample) -> Flag:
    measured = FRAME_QUALITY.get(flag.detector, "")
    text = " ".join(part for part in (frame_note(af.t, af.index), measured, flag.explanation) if part)
    if word_count(text) > MAX_EXPLANATION_WORDS:  # keep the frame and the error rates, lose the tail
        text = " ".join(text.split()[: MAX_EXPLANATION_WORDS - 3]) + " ... Not proof."
    keyframe = {"t": af.t, "frame_index": af.index, "sha256": af.sha256}
    details = dict(
        flag.details,
        keyframe=keyframe,
        video_sha256=video_sha256,
        keyframes_seen=sample.keyframes_seen,
        keyframes_analysed=len(sample.frames),
        scan_complete=sample.complete,
    )
    return replace(flag, explanation=text, details=details)


def _int(value: Any, default: int) -> int:
    """A setting as an integer; a missing or malformed value keeps the default."""
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _limits(section: Any, deadline: float) -> tuple[int, Limits]:
    """The keyframe cap and the decoding limits; settings may lower the defaults, never raise them."""
    cap, max_pixels = DEFAULT_MAX_KEYFRAMES, Limits().max_pixels
    if isinstance(section, Mapping):
        cap = max(1, min(_int(section.get("max_keyframes"), cap), MAX_KEYFRAMES))
        max_pixels = max(1, min(_int(section.get("max_pixels"), max_pixels), max_pixels))
    budget = max(1.0, (deadline - time.monotonic()) / 2)  # decoding gets half the time left
    return cap, Limits(max_pixels=max_pixels, max_wall_seconds=budget)


def analyse_video(
    path: Path,
    video_sha256: str,
    settings: Mapping[str, Any],
    dets: list[Detector],
    deadline: float,
) -> tuple[list[Flag], list[AnalysedFrame]]:
    """Flags of the pixel detectors ``dets`` on the video's keyframes, and the frames analysed.

    ``deadline`` (``time.monotonic()``) bounds the work: decoding gets half the time left, and
    frames not reached in time give a ``not_analysed`` flag per detector instead of a score.
    Settings ``video.max_keyframes`` and ``video.max_pixels`` may lower the cap and the frame size.
    """
    frame_dets = [d for d in dets if on_frames(d)]
    flags = [not_applicable(d, video_sha256) for d in dets if not on_frames(d)]
    if not frame_dets:
        return flags, []
    cap, limits = _limits(settings.get("video"), deadline)
    try:
        sample = sample_frames(path, limits, cap)
    except (VideoRefused, MemoryError) as exc:
        reason = str(exc) if isinstance(exc, VideoRefused) else "out of memory (the analysis's memory limit)"
        why = f"the video's keyframes were not decoded: {reason}"
        return flags + [not_analysed(d.name, d.version, video_sha256, why) for d in frame_dets], []
    import cv2

    done: list[AnalysedFrame] = []
    for frame in sample.frames:
        if time.monotonic() > deadline:
            break
        png, img = _png(frame)
        sha = hashlib.sha256(png).hexdigest()
        af = AnalysedFrame(frame.t, frame.index, png, sha, f"opencv {cv2.__version__}")
        subject = Subject(png, settings, _image=img, _sha256=af.sha256)
        flags.extend(_name(f, af, video_sha256, sample) for f in run_detectors(subject, frame_dets))
        done.append(af)
    if not sample.complete:
        why = (
            f"keyframes were found only up to {sample.scanned_to:.1f} s: the time or keyframe limit ended "
            "the scan, so the rest of the video was not analysed"
        )
        flags.extend(not_analysed(d.name, d.version, video_sha256, why) for d in frame_dets)
    if len(done) < len(sample.frames):
        why = (
            f"{len(sample.frames) - len(done)} of {len(sample.frames)} sampled keyframes were not "
            "analysed: the time limit ran out"
        )
        flags.extend(not_analysed(d.name, d.version, video_sha256, why) for d in frame_dets)
    return flags, done
