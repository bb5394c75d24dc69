"""Copy-move and noise on video keyframes against the same pictures as still JPEGs.

    .venv/bin/python bench/indicators_video.py --size 14      # untouched photos used (max 20)

From each untouched JPEG of ../shared/corpus/photos_exif (cropped to 16:9, 1280x720) the benchmark
makes a control and a copy-move (a block of 1/5 of each side pasted elsewhere, as in
``indicators.py``'s synthetic set), and saves each twice: as a still JPEG at quality 92 (the
baseline, measured in the same run) and as a one-second clip (25 fps) in MPEG-4 Part 2 (``mp4v``)
and in Motion JPEG (``MJPG``), written by OpenCV. The clips go through ``detectors.videoframes``
exactly as ``wb analyse`` runs them. Reported per detector and form: AUC, recall and false-positive
rate at the detector's threshold.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from indicators import CORPUS, _jpeg, _load, _positive, _score, auc, untouched_photos  # noqa: E402

from archive.model import Flag  # noqa: E402
from detectors.base import Detector, Subject  # noqa: E402
from detectors.forensics.copymove import CopyMove  # noqa: E402
from detectors.forensics.noise import NoiseLevel  # noqa: E402
from detectors.videoframes import analyse_video  # noqa: E402

SIZE = (1280, 720)
FPS = 25


def _frames(photos: list[Path], rng: np.random.Generator) -> list[tuple[str, np.ndarray, int]]:
    """(name, RGB frame, label): a control and a copy-move per photo."""
    import cv2

    out = []
    for path in photos:
        arr = _load(path)
        if arr is None:
            continue
        h, w = arr.shape[:2]
        ch = min(h, w * 9 // 16)
        cw = ch * 16 // 9
        y, x = (h - ch) // 2, (w - cw) // 2
        frame = cv2.resize(arr[y : y + ch, x : x + cw], SIZE, interpolation=cv2.INTER_AREA)
        fh, fw = frame.shape[:2]
        rh, rw = fh // 5, fw // 5
        y0, x0 = int(rng.integers(0, fh // 2 - rh)), int(rng.integers(0, fw // 2 - rw))
        y1, x1 = int(rng.integers(fh // 2, fh - rh)), int(rng.integers(fw // 2, fw - rw))
        moved = frame.copy()
        moved[y1 : y1 + rh, x1 : x1 + rw] = frame[y0 : y0 + rh, x0 : x0 + rw]
        out += [(f"control:{path.name}", frame, 0), (f"copymove:{path.name}", moved, 1)]
    return out


def _clip(folder: Path, name: str, frame: np.ndarray, codec: str) -> Path:
    import cv2

    path = folder / f"{abs(hash(name)) % 10**8}.{'avi' if codec == 'MJPG' else 'mp4'}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), FPS, SIZE)
    bgr = np.ascontiguousarray(frame[:, :, ::-1])
    for _ in range(FPS):
        writer.write(bgr)
    writer.release()
    return path


def _summary(rows: list[tuple[int, Flag]]) -> str:
    pos = [_score(f) for label, f in rows if label == 1]
    neg = [_score(f) for label, f in rows if label == 0]
    value = auc(pos, neg)
    recall = sum(_positive(f) for label, f in rows if label == 1) / max(1, len(pos))
    fpr = sum(_positive(f) for label, f in rows if label == 0) / max(1, len(neg))
    shown = "-" if value is None else f"{value:.2f}"
    return f"AUC {shown}  recall {recall:.2f} ({len(pos)}+)  FPR {fpr:.2f} ({len(neg)}-)"


def run(size: int) -> None:
    """Score every frame as a still and as clips; print one line per detector and form."""
    import cv2

    cv2.setNumThreads(1)
    photos = [p for p in untouched_photos() if p.suffix.lower() in (".jpg", ".jpeg")][:size]
    samples = _frames(photos, np.random.default_rng(5))
    dets: list[Detector] = [CopyMove(), NoiseLevel()]
    rows: dict[tuple[str, str], list[tuple[int, Flag]]] = {}
    secs: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="wb-bench-video-") as tmp:
        for name, frame, label in samples:
            start = time.perf_counter()
            subject = Subject(_jpeg(frame, 92))
            for det in dets:
                rows.setdefault((det.name, "still JPEG q92"), []).append((label, det.detect(subject)[0]))
            secs["still JPEG q92"] = secs.get("still JPEG q92", 0.0) + time.perf_counter() - start
            for codec in ("mp4v", "MJPG"):
                start = time.perf_counter()
                path = _clip(Path(tmp), f"{codec}:{name}", frame, codec)
                flags, _frames_done = analyse_video(path, "0" * 64, {}, dets, time.monotonic() + 120)
                form = f"keyframe of a {codec} clip"
                for det in dets:
                    first: Any = next(f for f in flags if f.detector == det.name)
                    rows.setdefault((det.name, form), []).append((label, first))
                secs[form] = secs.get(form, 0.0) + time.perf_counter() - start
    print(f"{len(samples)} frames from {len(photos)} untouched photos, {SIZE[0]}x{SIZE[1]}")
    for (det_name, form), found in sorted(rows.items()):
        print(f"  {det_name:10} {form:26} {_summary(found)}")
    base = secs["still JPEG q92"]
    for form, total in secs.items():
        print(f"  time, {form:26} {total:6.1f} s ({total / base:.2f}x the stills)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=14, help="untouched photos used (each gives 2 frames)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} is absent: the benchmark reads the shared corpus beside the checkout")
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 200 * 1024 * 1024:
        sys.exit(f"only {free // (1024 * 1024)} MB free: the benchmark needs 200 MB of working space")
    run(args.size)


if __name__ == "__main__":
    main()
