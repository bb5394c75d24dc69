"""Video fingerprints: keyframes at shot changes, one pHash each, and matching on shared runs.

The container is probed before any frame is decoded: frame size, frame count, rate and duration
must be within limits, and decoding stops at a frame budget and a wall-clock budget. Frames are
sampled (about five a second); a keyframe is taken at the first sample, at every shot change (the
mean absolute difference of a 16x16 grey thumbnail jumps) and at least every ``FORCE_EVERY``
seconds. Each keyframe gets the same pHash as still images (``fingerprint.phash_of``), so a still
taken from a video matches the video's keyframe of that shot.

Two videos match when several keyframes agree on one time offset (a shared run): a re-encoded,
trimmed or re-uploaded copy keeps its shot changes, shifted by the trim.

``sample_frames`` decodes the same keyframes for the pixel detectors (``detectors.videoframes``),
thinned evenly to a cap in one pass, holding at most cap + 1 frames in memory.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from archive.errors import DetectorError
from archive.model import Fingerprint
from detectors.fingerprint import phash_of
from detectors.neardup import Match, NearDupIndex

__all__ = [
    "ALGO_VERSION",
    "KIND",
    "Frame",
    "FrameSample",
    "Keyframes",
    "Limits",
    "VideoRefused",
    "frames_from_value",
    "keyframes",
    "match_video",
    "offset_of",
    "sample_frames",
    "to_records",
]

KIND = "video_keyframes"
ALGO_VERSION = "wb-video/1 opencv cut16x16>12 5fps force10s phash"
SAMPLES_PER_SECOND = 5.0
CUT_THRESHOLD = 12.0  # mean absolute difference (0-255) between successive 16x16 thumbnails
FORCE_EVERY = 10.0
OFFSET_BIN = 0.5  # seconds


class VideoRefused(DetectorError):
    """The video was not decoded: over the limits, or not readable."""


@dataclass(frozen=True)
class Limits:
    """What a video may be before decoding starts, and how much decoding it may take."""

    max_pixels: int = 4096 * 2304
    max_frames: int = 4 * 3600 * 60
    max_seconds_of_video: float = 4 * 3600.0
    max_keyframes: int = 5000
    max_wall_seconds: float = 600.0


@dataclass(frozen=True)
class Keyframes:
    """Keyframes of one video: (time in seconds, 64-bit pHash), and what the container said."""

    frames: list[tuple[float, int]]
    fps: float
    frame_count: int
    width: int
    height: int


def _probe(cap: Any, limits: Limits) -> tuple[float, int, int, int]:
    import cv2

    if not cap.isOpened():
        raise VideoRefused("not a readable video")
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    if width <= 0 or height <= 0 or width * height > limits.max_pixels:
        raise VideoRefused(f"frame size {width}x{height} is outside the limit of {limits.max_pixels} pixels")
    if not 0 < fps <= 1000:
        raise VideoRefused(f"frame rate {fps} is not plausible")
    if count > limits.max_frames or count / fps > limits.max_seconds_of_video:
        raise VideoRefused(f"{count} frames ({count / fps:.0f} s) is over the limit")
    return fps, count, width, height


def keyframes(path: Path | str, limits: Limits = Limits()) -> Keyframes:
    """Keyframes at shot changes, after checking the container's frame size and count."""
    import cv2  # imported here: OpenCV is heavy, and only video work needs it

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)  # never the image-sequence fallback
    try:
        fps, count, width, height = _probe(cap, limits)
        return Keyframes(_scan(cap, fps, limits, count), fps, count, width, height)
    finally:
        cap.release()


def _walk(cap: Any, fps: float, limits: Limits, count: int) -> Iterator[tuple[int, float, Any, Any]]:
    """(frame index, time, grey frame, decoded frame) of each keyframe, in order.

    Raises ``VideoRefused`` when decoding outlasts ``limits.max_wall_seconds``.
    """
    import cv2

    step = max(1, round(fps / SAMPLES_PER_SECOND))
    started = time.monotonic()
    last_thumb: np.ndarray | None = None
    last_key = -FORCE_EVERY
    index = -1
    # The container's count may lie; decoding never goes past the declared count plus a margin.
    ceiling = min(limits.max_frames, count + round(fps * 2) if count > 0 else limits.max_frames)
    while index + 1 < ceiling and cap.grab():
        index += 1
        if index % step:
            continue
        if time.monotonic() - started > limits.max_wall_seconds:
            raise VideoRefused("decoding took longer than the time budget")
        ok, frame = cap.retrieve()
        if not ok or frame is None:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        thumb = cv2.resize(gray, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
        t = index / fps
        cut = last_thumb is None or float(np.abs(thumb - last_thumb).mean()) > CUT_THRESHOLD
        if cut or t - last_key >= FORCE_EVERY:
            yield index, round(t, 3), gray, frame
            last_key = t
        last_thumb = thumb


def _scan(cap: Any, fps: float, limits: Limits, count: int) -> list[tuple[float, int]]:
    frames: list[tuple[float, int]] = []
    for _index, t, gray, _frame in _walk(cap, fps, limits, count):
        frames.append((t, phash_of(Image.fromarray(gray))))
        if len(frames) >= limits.max_keyframes:
            break
    if not frames:
        raise VideoRefused("no frame could be decoded")
    return frames


@dataclass(frozen=True)
class Frame:
    """One decoded keyframe: its frame index, its time in seconds and its pixels (RGB, uint8)."""

    index: int
    t: float
    rgb: Any


@dataclass(frozen=True)
class FrameSample:
    """Up to ``cap`` keyframes spread over the video, with how many keyframes there were in all."""

    frames: list[Frame]
    keyframes_seen: int
    complete: bool  # False when the time budget or the keyframe limit stopped the scan early
    fps: float
    width: int
    height: int
    scanned_to: float = 0.0  # time of the last keyframe found, in seconds


def sample_frames(path: Path | str, limits: Limits = Limits(), cap: int = 12) -> FrameSample:
    """Decoded keyframes (the ones ``keyframes`` fingerprints), thinned evenly to at most ``cap``.

    The container is probed before decoding. At most ``cap + 1`` frames are held at a time: when
    the sample overflows, every second one is dropped and only every second keyframe is kept from
    then on, so the sample stays spread over the whole video without a second decoding pass.
    """
    import cv2

    video = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    kept: list[tuple[int, Frame]] = []
    stride, seen, complete, last = 1, 0, True, 0.0
    try:
        fps, count, width, height = _probe(video, limits)
        try:
            for k, (index, t, _gray, frame) in enumerate(_walk(video, fps, limits, count)):
                seen, last = k + 1, t
                if k % stride == 0:
                    kept.append((k, Frame(index, t, _rgb(frame))))
                if len(kept) > cap:
                    stride *= 2
                    kept = [(j, f) for j, f in kept if j % stride == 0]
                if seen >= limits.max_keyframes:
                    complete = False
                    break
        except VideoRefused:
            if not kept:
                raise
            complete = False  # out of time: analyse what was decoded, and say so
    finally:
        video.release()
    if not kept:
        raise VideoRefused("no frame could be decoded")
    return FrameSample([f for _k, f in kept], seen, complete, fps, width, height, last)


def _rgb(frame: Any) -> Any:
    if frame.ndim == 2:
        return np.ascontiguousarray(np.stack([frame] * 3, axis=2))
    return np.ascontiguousarray(frame[:, :, 2::-1])  # OpenCV decodes to BGR(A)


def to_records(sha256: str, kf: Keyframes) -> list[Fingerprint]:
    """One ``video_keyframes`` row: the keyframe list with the container facts."""
    value = {
        "fps": round(kf.fps, 3),
        "frame_count": kf.frame_count,
        "width": kf.width,
        "height": kf.height,
        "keyframes": [[t, f"{code:016x}"] for t, code in kf.frames],
    }
    return [Fingerprint(sha256, KIND, json.dumps(value, sort_keys=True), ALGO_VERSION)]


def frames_from_value(value: str) -> list[tuple[float, int]]:
    """(time, code) pairs from a stored ``video_keyframes`` value."""
    doc = json.loads(value)
    return [(float(t), int(h, 16)) for t, h in doc["keyframes"]]


def offset_of(pairs: Sequence[tuple[float, float, int]], min_run: int = 2) -> tuple[float, int, int] | None:
    """The time offset most matching keyframes agree on: (offset, frames agreeing, median distance).

    ``pairs`` are (query time, stored time, distance); the offset is stored minus query time.
    """
    if not pairs:
        return None
    votes = Counter(round((ts - tq) / OFFSET_BIN) for tq, ts, _d in pairs)
    bin_, _n = max(votes.items(), key=lambda kv: (kv[1], -abs(kv[0])))
    agreeing = [(tq, ts, d) for tq, ts, d in pairs if abs(round((ts - tq) / OFFSET_BIN) - bin_) <= 1]
    run = len({tq for tq, _ts, _d in agreeing})
    if run < min_run:
        return None
    offset = float(np.median([ts - tq for tq, ts, _d in agreeing]))
    return round(offset, 2), run, int(np.median([d for _tq, _ts, d in agreeing]))


def match_video(
    idx: NearDupIndex, frames: list[tuple[float, int]], radius: int, exclude: str | None = None
) -> list[Match]:
    """Stored videos sharing a run of keyframes (``t`` = offset) and stills matching a keyframe."""
    per_ref: dict[str, list[tuple[float, float, int]]] = {}
    stills: dict[str, Match] = {}
    for tq, code in frames:
        for m in idx.query({"frame": code}, radius, exclude):
            if m.t is None:  # a still image matched this keyframe
                if m.ref not in stills or m.distance < stills[m.ref].distance:
                    stills[m.ref] = Match(m.ref, m.distance, "video_frame", tq)
            else:
                per_ref.setdefault(m.ref, []).append((tq, m.t, m.distance))
    out = list(stills.values())
    for ref, pairs in per_ref.items():
        found = offset_of(pairs, min_run=min(2, len(frames)))
        if found is not None:
            offset, _run, dist = found
            out.append(Match(ref, dist, "video_run", offset))
    return sorted(out, key=lambda m: (m.distance, m.ref))
