"""A video's keyframes through the frame-capable pixel detectors, each flag naming its keyframe."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive.model import Flag, FlagLabel
from archive.sniff import sniff
from detectors.base import MAX_EXPLANATION_WORDS, Detector, word_count
from detectors.forensics.copymove import CopyMove
from detectors.forensics.ela import ElaLens
from detectors.forensics.noise import NoiseLevel
from detectors.videoframes import AnalysedFrame, analyse_video
from tests.detectors.conftest import CLIP_FPS, CLIP_SIZE, CLONE_DST, CLONE_SRC, clip

VIDEO_SHA = "ab" * 32


def run(path: Path, settings: dict[str, object] | None = None) -> tuple[list[Flag], list[AnalysedFrame]]:
    dets: list[Detector] = [CopyMove(), NoiseLevel(), ElaLens()]
    return analyse_video(path, VIDEO_SHA, settings or {}, dets, time.monotonic() + 120)


@pytest.fixture(scope="module")
def pasted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three one-second shots in MJPG/AVI; the second shot (1.0-2.0 s) holds a copy-move."""
    return clip(tmp_path_factory.mktemp("v") / "pasted.avi", "MJPG", shots=3, pasted_shot=1)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip(tmp_path_factory.mktemp("v") / "clean.mp4", "mp4v", shots=3)


def test_the_test_containers_are_videos_to_the_archive(pasted: Path, clean: Path) -> None:
    assert sniff(pasted.read_bytes()[:4096]) == "video/x-msvideo"
    assert sniff(clean.read_bytes()[:4096]) == "video/mp4"


def test_copy_move_flag_lands_on_the_pasted_shots_keyframe(pasted: Path) -> None:
    flags, frames = run(pasted)
    moves = [f for f in flags if f.detector == "copy_move"]
    assert [f.details["keyframe"]["t"] for f in moves] == [0.0, 1.0, 2.0]  # one per shot
    hits = [f for f in moves if f.label == FlagLabel.INDICATOR]
    assert [f.details["keyframe"]["t"] for f in hits] == [1.0]
    (hit,) = hits
    assert hit.details["keyframe"]["frame_index"] == CLIP_FPS
    want = np.subtract(CLONE_DST, CLONE_SRC)
    assert np.allclose(np.abs(hit.details["shift"]), want, atol=4)
    assert "Video keyframe at 1.00 s (frame 10)" in hit.explanation
    assert "decoded from the video" in hit.explanation
    assert hit.heatmap_sha256 is None and "heatmap_png" in hit.details  # stored later, parent = frame
    assert len(frames) == 3


def test_nothing_pasted_gives_no_copy_move_indicator(clean: Path) -> None:
    flags, frames = run(clean)
    moves = [f for f in flags if f.detector == "copy_move"]
    assert len(moves) == len(frames) == 3
    assert all(f.label == FlagLabel.NO_INDICATION for f in moves)


def test_each_flag_names_the_png_frame_it_analysed(pasted: Path) -> None:
    flags, frames = run(pasted)
    by_sha = {f.sha256: f for f in frames}
    for flag in flags:
        if flag.detector in ("copy_move", "noise"):
            frame = by_sha[flag.input_sha256]
            assert flag.details["keyframe"] == {
                "t": frame.t,
                "frame_index": frame.index,
                "sha256": frame.sha256,
            }
            assert flag.details["video_sha256"] == VIDEO_SHA
            assert word_count(flag.explanation) <= MAX_EXPLANATION_WORDS
    for frame in frames:
        assert hashlib.sha256(frame.png).hexdigest() == frame.sha256
        assert Image.open(io.BytesIO(frame.png)).size == CLIP_SIZE


def test_jpeg_history_detectors_are_marked_not_applicable_to_frames(pasted: Path) -> None:
    flags, _frames = run(pasted)
    (ela,) = [f for f in flags if f.detector == "ela"]
    assert ela.label == FlagLabel.NOT_ANALYSED and ela.score is None
    assert ela.details["not_applicable"] is True and "JPEG compression history" in (ela.reason or "")


def test_keyframes_are_capped_and_spread(pasted: Path) -> None:
    flags, frames = run(pasted, {"video": {"max_keyframes": 2}})
    assert [f.t for f in frames] == [0.0, 2.0]  # first and last of three, not the first two
    assert {f.details["keyframes_seen"] for f in flags if "keyframe" in f.details} == {3}


def test_a_video_over_the_frame_size_limit_is_not_analysed_with_a_reason(pasted: Path) -> None:
    flags, frames = run(pasted, {"video": {"max_pixels": 320 * 240}})
    assert frames == []
    moves = [f for f in flags if f.detector in ("copy_move", "noise")]
    assert len(moves) == 2
    for f in moves:
        assert f.label == FlagLabel.NOT_ANALYSED and f.score is None
        assert "480x360" in (f.reason or "")


def test_an_unreadable_video_is_not_analysed_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 8)
    flags, frames = run(bad)
    assert frames == []
    moves = [f for f in flags if f.detector == "copy_move"]
    assert len(moves) == 1 and moves[0].label == FlagLabel.NOT_ANALYSED and moves[0].score is None
    assert "not decoded" in (moves[0].reason or "")


@pytest.mark.model
def test_the_learned_detector_scores_each_keyframe_and_names_its_model(pasted: Path, tmp_path: Path) -> None:
    from detectors.learned import LearnedClassifier
    from tests.detectors.test_learned import settings_for, tiny_model

    folder = tiny_model(tmp_path / "model")
    dets: list[Detector] = [LearnedClassifier()]
    flags, frames = analyse_video(pasted, VIDEO_SHA, settings_for(folder), dets, time.monotonic() + 120)
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert [f.details["keyframe"]["t"] for f in flags] == [f.t for f in frames] == [0.0, 1.0, 2.0]
    assert all(f.model_sha256 == weights and f.score is not None for f in flags)
    assert all(f.explanation.startswith("Video keyframe at") for f in flags)


@pytest.mark.hostile
def test_truncated_videos_are_analysed_as_far_as_they_decode_or_not_at_all(
    pasted: Path, clean: Path, tmp_path: Path
) -> None:
    cut_mp4 = tmp_path / "cut.mp4"  # OpenCV writes the index (moov) last: half a file has none
    cut_mp4.write_bytes(clean.read_bytes()[: clean.stat().st_size // 2])
    flags, frames = run(cut_mp4)
    assert frames == []
    moves = [f for f in flags if f.detector == "copy_move"]
    assert len(moves) == 1 and moves[0].label == FlagLabel.NOT_ANALYSED and moves[0].score is None
    cut_avi = tmp_path / "cut.avi"  # Motion JPEG frames before the cut still decode
    cut_avi.write_bytes(pasted.read_bytes()[: pasted.stat().st_size // 2])
    flags, frames = run(cut_avi)
    assert frames and max(f.t for f in frames) < 1.5  # nothing from the lost second half
    assert all("keyframe" in f.details for f in flags if f.detector == "copy_move")


def test_the_sampled_frames_are_the_fingerprinting_keyframes(tmp_path: Path) -> None:
    from detectors.video import keyframes, sample_frames

    long = clip(tmp_path / "long.avi", "MJPG", shots=7)
    times = [t for t, _code in keyframes(long).frames]
    assert len(times) == 7
    assert [f.t for f in sample_frames(long, cap=12).frames] == times
    thinned = [f.t for f in sample_frames(long, cap=3).frames]
    assert len(thinned) <= 3 and thinned[0] == 0.0 and set(thinned) <= set(times)
    assert thinned[-1] >= times[len(times) // 2]  # spread over the video, not the first three


def test_a_scan_stopped_by_a_limit_says_how_far_it_got(pasted: Path) -> None:
    from detectors.video import Limits, sample_frames

    whole = sample_frames(pasted)
    assert whole.complete and whole.scanned_to == 2.0
    part = sample_frames(pasted, Limits(max_keyframes=2))
    assert not part.complete and part.scanned_to == 1.0 and [f.t for f in part.frames] == [0.0, 1.0]
