"""Video keyframes at shot changes, video-to-video matching with the time offset, stills from videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detectors.fingerprint import fingerprint_image
from detectors.neardup import NearDupIndex
from detectors.video import Limits, VideoRefused, keyframes, match_video, offset_of
from tests.detectors.test_fingerprint import jpeg, scene

FPS = 10
SHOT_SECONDS = 1.0
SHOTS = 8


def shots(size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """Frames (BGR) of a video made of distinct shots, each panning slowly."""
    frames = []
    for s in range(SHOTS):
        base = np.asarray(scene(100 + s, (size[0] + 40, size[1])))[:, :, ::-1]
        for i in range(int(FPS * SHOT_SECONDS)):
            frames.append(np.ascontiguousarray(base[:, i : i + size[0]]))
    return frames


def write(path: Path, frames: list[np.ndarray], codec: str, size: tuple[int, int] | None = None) -> Path:
    h, w = frames[0].shape[:2]
    out_size = size or (w, h)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), FPS, out_size)
    assert writer.isOpened(), f"OpenCV cannot write {codec}"
    for f in frames:
        writer.write(cv2.resize(f, out_size, interpolation=cv2.INTER_AREA) if size else f)
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    frames = shots()
    trim = int(2 * FPS)  # the copy starts 2 s into the original
    grab = frames[int(4.5 * FPS)]  # a still from the middle of the fifth shot
    still = folder / "still.jpg"
    Image.fromarray(grab[:, :, ::-1]).save(still, "JPEG", quality=85)
    return {
        "original": write(folder / "original.mp4", frames, "mp4v"),
        # Re-encoded with another codec, smaller, and cut: what a re-upload looks like.
        "copy": write(folder / "copy.avi", frames[trim:], "MJPG", (240, 180)),
        "other": write(folder / "other.mp4", shots((300, 240))[::-1], "mp4v"),
        "still": still,
    }


def test_keyframes_fall_at_shot_changes(videos: dict[str, Path]) -> None:
    kf = keyframes(videos["original"])
    times = [t for t, _c in kf.frames]
    for s in range(SHOTS):
        assert any(abs(t - s * SHOT_SECONDS) < 0.25 for t in times), f"no keyframe near shot {s}"
    assert kf.width == 320 and kf.height == 240 and kf.fps == pytest.approx(FPS)


def test_reencoded_cut_copy_matches_with_the_right_offset(videos: dict[str, Path]) -> None:
    idx = NearDupIndex()
    for name in ("original", "other"):
        for t, code in keyframes(videos[name]).frames:
            idx.add(name, {"frame": code}, t)
    found = match_video(idx, keyframes(videos["copy"]).frames, 10)
    runs = [m for m in found if m.kind == "video_run"]
    assert [m.ref for m in runs] == ["original"]
    assert runs[0].t == pytest.approx(2.0, abs=0.25)  # stored time minus query time


def test_a_still_from_a_video_matches_its_frame(videos: dict[str, Path]) -> None:
    idx = NearDupIndex()
    for t, code in keyframes(videos["original"]).frames:
        idx.add("original", {"frame": code}, t)
    still = fingerprint_image(videos["still"].read_bytes())
    found = idx.query(still.views, 10)
    assert found and found[0].ref == "original"
    assert found[0].t is not None and 4.0 - 0.25 <= found[0].t <= 4.5
    unrelated = fingerprint_image(jpeg(scene(999, (320, 240))))
    assert idx.query(unrelated.views, 10) == []


def test_limits_are_checked_before_decoding(videos: dict[str, Path]) -> None:
    with pytest.raises(VideoRefused, match="frame size"):
        keyframes(videos["original"], Limits(max_pixels=320 * 200))
    with pytest.raises(VideoRefused, match="over the limit"):
        keyframes(videos["original"], Limits(max_frames=10))


def test_not_a_video_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    with pytest.raises(VideoRefused):
        keyframes(junk)


def test_offset_needs_a_shared_run() -> None:
    assert offset_of([(0.0, 5.0, 2)], min_run=2) is None
    found = offset_of([(0.0, 5.0, 2), (1.0, 6.1, 4), (3.0, 8.0, 0), (2.0, 0.5, 8)], min_run=2)
    assert found is not None and found[0] == pytest.approx(5.0, abs=0.1) and found[1] == 3
