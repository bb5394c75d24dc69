"""Running the detector suite on bytes, in a limited subprocess, and storing what it says.

1. Guard: the image's dimensions are read from its header (``detectors.imageio.probe``); a bomb is
   not handed to any detector: every detector gets a ``not_analysed`` flag with the reason.
2. Run: a child process (``python -m workbench.analysis``) gets the bytes on stdin, runs the suite
   under a memory limit (RLIMIT_AS) and a time limit, and prints flags as JSON. A crash, a kill or
   a timeout becomes ``not_analysed`` flags: never a score, never a crash of the caller. A video
   (sniffed from its magic bytes) gets the metadata detectors on its bytes and the frame-capable
   pixel detectors on its keyframes (``detectors.videoframes``), inside the same child and limits.
3. Store: flags go into the ``flags`` table; analysed keyframes and heatmaps become derived
   artifacts naming their parent hash and operation, each with a custody event. A flag never
   changes an item's status.
"""

from __future__ import annotations

import base64
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archive import artifacts as art
from archive.db import flags as flags_table
from archive.db import items, settings, utcnow
from archive.home import Home, Transaction
from archive.model import Case, Flag
from archive.sniff import sniff
from detectors.base import Subject, flag_from_dict, flag_to_dict, not_analysed, registry, run_detectors
from detectors.imageio import MAX_PIXELS, MAX_SIDE, ImageRefused, probe
from detectors.videoframes import VIDEO_SUFFIXES, AnalysedFrame, analyse_video

__all__ = [
    "Analysis",
    "Limits",
    "analyse_bytes",
    "analyse_items",
    "is_failure",
    "load_settings",
    "run_media",
    "run_suite",
    "store",
]

MAX_INPUT_BYTES = 500 * 1024 * 1024
SETTINGS_KEY = "detectors"
CHILD_SHARE = 0.8  # of the time limit, for the child's own work; the rest covers start-up and output


@dataclass(frozen=True)
class Limits:
    """Per-analysis limits for the child process."""

    seconds: float = 120.0
    memory_mb: int = 4096


@dataclass
class Analysis:
    """The flags for one input; ``heatmaps`` maps a flag's index to PNG bytes not yet stored.

    ``frames`` are a video's analysed keyframes (PNG bytes only when they are to be stored).
    """

    sha256: str
    flags: list[Flag]
    heatmaps: dict[int, bytes] = field(default_factory=dict)
    frames: list[AnalysedFrame] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        keys = (
            "detector",
            "version",
            "score",
            "threshold",
            "label",
            "explanation",
            "model_sha256",
            "heatmap_sha256",
            "reason",
            "inconclusive_band",
        )
        out = []
        for flag in self.flags:
            full = flag_to_dict(flag)
            row = {k: full[k] for k in keys}
            for extra in ("fact", "keyframe"):
                if extra in flag.details:
                    row[extra] = flag.details[extra]
            out.append(row)
        return {"sha256": self.sha256, "flags": out}


def load_settings(home: Home | None) -> dict[str, Any]:
    """Detector settings: the home's ``settings['detectors']`` merged under environment overrides."""
    found: dict[str, Any] = {}
    if home is not None:
        with home.reading() as conn:
            row = conn.execute(select(settings.c.value).where(settings.c.key == SETTINGS_KEY)).first()
        if row is not None and isinstance(row.value, dict):
            found = dict(row.value)
    if model_dir := os.environ.get("WB_MODEL_DIR"):
        found.setdefault("learned", {})["model_dir"] = model_dir
        found["learned"].setdefault("enabled", True)
    return found


def _all_not_analysed(
    sha256: str, settings_: Mapping[str, Any], only: list[str] | None, why: str
) -> list[Flag]:
    return [not_analysed(d.name, d.version, sha256, why) for d in registry().suite(settings_, only)]


def _guard(data: bytes) -> str | None:
    """Why the bytes must not be decoded, or None. Non-images pass (C2PA reads video too)."""
    if len(data) > MAX_INPUT_BYTES:
        return f"file is larger than the analysis limit of {MAX_INPUT_BYTES} bytes"
    try:
        _fmt, width, height = probe(io.BytesIO(data))
    except ImageRefused as exc:
        return str(exc) if "bomb" in str(exc) else None
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        return f"image is {width}x{height} pixels, over the decoding budget of {MAX_PIXELS} pixels"
    return None


def analyse_bytes(
    data: bytes,
    settings_: Mapping[str, Any] | None = None,
    only: list[str] | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing the default is safe
    keep_frames: bool = False,
) -> Analysis:
    """Run the suite in a limited child process; every failure becomes ``not_analysed`` flags.

    ``keep_frames`` returns a video's analysed keyframes as PNG bytes, for ``store``.
    """
    settings_ = dict(settings_ or {})
    sha = Subject(data).sha256
    if why := _guard(data):
        return Analysis(sha, _all_not_analysed(sha, settings_, only, why))
    request = json.dumps(
        {
            "settings": settings_,
            "only": only,
            "memory_mb": limits.memory_mb,
            "seconds": limits.seconds,
            "keep_frames": keep_frames,
        }
    )
    env = dict(
        os.environ,
        WB_ANALYSIS_REQUEST=request,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "workbench.analysis"],
            input=data,
            capture_output=True,
            timeout=limits.seconds,
            env=env,
        )
    except subprocess.TimeoutExpired:
        why = f"the analysis exceeded its time limit of {limits.seconds:g} s"
        return Analysis(sha, _all_not_analysed(sha, settings_, only, why))
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        why = (
            f"the analysis process failed (exit {proc.returncode}; memory limit "
            f"{limits.memory_mb} MB?): {tail[0][:200]}"
        )
        return Analysis(sha, _all_not_analysed(sha, settings_, only, why))
    return _parse(sha, proc.stdout)


def _limit_memory(megabytes: int) -> None:
    """Cap this (child) process's address space. Set by the child itself rather than through
    ``preexec_fn``, which is unsafe when the parent has threads (the app's job runner does)."""
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _parse(sha: str, stdout: bytes) -> Analysis:
    payload = json.loads(stdout.decode("utf-8"))
    result = Analysis(sha, [])
    for i, raw in enumerate(payload["flags"]):
        details = dict(raw.get("details") or {})
        if png := details.pop("heatmap_png_b64", None):
            result.heatmaps[i] = base64.b64decode(png)
        result.flags.append(flag_from_dict(dict(raw, details=details)))
    for fr in payload.get("frames") or []:
        png = base64.b64decode(fr["png_b64"]) if fr.get("png_b64") else b""
        result.frames.append(
            AnalysedFrame(float(fr["t"]), int(fr["frame_index"]), png, str(fr["sha256"]), str(fr["decoder"]))
        )
    return result


def is_failure(flag: Flag) -> bool:
    """A ``not_analysed`` flag for a refusal or failure (not a detector that does not apply)."""
    return flag.label.value == "not_analysed" and not flag.details.get("not_applicable")


def _broken(sha256: str, only: list[str] | None) -> list[Flag]:
    return [
        not_analysed(name, "?", sha256, f"the detector could not be loaded: {why}")
        for name, why in registry().broken.items()
        if not only or name in only
    ]


def run_suite(data: bytes, settings_: Mapping[str, Any], only: list[str] | None = None) -> list[Flag]:
    """The suite on an image in this process (the child's body; also used by the benchmark)."""
    subject = Subject(data, settings_)
    return run_detectors(subject, registry().suite(settings_, only)) + _broken(subject.sha256, only)


def run_media(
    data: bytes, settings_: Mapping[str, Any], only: list[str] | None = None, seconds: float = 120.0
) -> tuple[list[Flag], list[AnalysedFrame]]:
    """The suite on an image, or on a video's bytes and keyframes, within ``seconds``."""
    deadline = time.monotonic() + seconds
    mime = sniff(data[:4096])
    if not mime.startswith("video/"):
        return run_suite(data, settings_, only), []
    subject = Subject(data, settings_)
    dets = registry().suite(settings_, only)
    flags = run_detectors(subject, [d for d in dets if not d.needs_pixels])
    with tempfile.TemporaryDirectory(prefix="wb-video-") as tmp:
        # OpenCV reads from a path; the name comes from the sniffed type, never from the input.
        path = Path(tmp) / f"video{VIDEO_SUFFIXES.get(mime, '.bin')}"
        path.write_bytes(data)
        pixel = [d for d in dets if d.needs_pixels]
        more, frames = analyse_video(path, subject.sha256, settings_, pixel, deadline)
    return flags + more + _broken(subject.sha256, only), frames


def _child() -> int:
    started = time.monotonic()
    request = json.loads(os.environ.get("WB_ANALYSIS_REQUEST", "{}"))
    _limit_memory(int(request.get("memory_mb") or Limits().memory_mb))
    data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    seconds = float(request.get("seconds") or Limits().seconds) * CHILD_SHARE
    left = max(0.1, seconds - (time.monotonic() - started))
    flags, frames = run_media(data, request.get("settings") or {}, request.get("only"), left)
    out = []
    for flag in flags:
        row = flag_to_dict(flag)
        if isinstance(png := row["details"].pop("heatmap_png", None), bytes):
            row["details"]["heatmap_png_b64"] = base64.b64encode(png).decode()
        out.append(row)
    keep = bool(request.get("keep_frames"))
    shown = [
        {
            "t": f.t,
            "frame_index": f.index,
            "sha256": f.sha256,
            "decoder": f.decoder,
            "png_b64": base64.b64encode(f.png).decode() if keep else None,
        }
        for f in frames
    ]
    sys.stdout.write(json.dumps({"flags": out, "frames": shown}))
    return 0


# -- storing ---------------------------------------------------------------------------------------


def store(home: Home, analysis: Analysis, actor: str, via: str, case_id: int, item_id: str) -> Analysis:
    """Record flags and heatmaps with custody events; the item's status is not touched."""
    stored: list[Flag] = []
    with home.transaction(actor, via) as tx:
        _store_frames(tx, home, analysis, case_id, item_id)
        for i, flag in enumerate(analysis.flags):
            if i in analysis.heatmaps:
                # The heatmap's parent is what was analysed: the file, or a video's keyframe.
                put = art.attach_derived(
                    tx,
                    home.blobs,
                    analysis.heatmaps[i],
                    "image/png",
                    case_id=case_id,
                    item_id=item_id,
                    parent_sha256=flag.input_sha256,
                    operation=f"heatmap:{flag.detector}",
                    role="heatmap",
                    parameters={"detector": flag.detector, "version": flag.version},
                )
                flag = replace(flag, heatmap_sha256=put.sha256)
            row = flag_to_dict(flag)
            result = tx.conn.execute(
                flags_table.insert().values(
                    input_sha256=flag.input_sha256,
                    detector=flag.detector,
                    version=flag.version,
                    label=flag.label.value,
                    score=flag.score,
                    threshold=flag.threshold,
                    model_sha256=flag.model_sha256,
                    heatmap_sha256=flag.heatmap_sha256,
                    explanation=flag.explanation,
                    reason=flag.reason,
                    created_at=utcnow(),
                    details=dict(row["details"], inconclusive_band=row["inconclusive_band"]),
                )
            )
            tx.event(
                "flag.recorded",
                case_id=case_id,
                item_id=item_id,
                artifact_sha256=analysis.sha256,
                details={
                    "flag_id": (result.inserted_primary_key or [None])[0],
                    "detector": flag.detector,
                    "version": flag.version,
                    "label": flag.label.value,
                },
            )
            stored.append(flag)
    return Analysis(analysis.sha256, stored, frames=analysis.frames)


def _store_frames(tx: Transaction, home: Home, analysis: Analysis, case_id: int, item_id: str) -> None:
    """Each analysed keyframe as a derived artifact of the video (operation ``keyframe``)."""
    for fr in analysis.frames:
        if not fr.png:
            continue
        put = art.attach_derived(
            tx,
            home.blobs,
            fr.png,
            "image/png",
            case_id=case_id,
            item_id=item_id,
            parent_sha256=analysis.sha256,
            operation="keyframe",
            role="keyframe",
            parameters={"t": fr.t, "frame_index": fr.index, "decoder": fr.decoder, "format": "png"},
        )
        if put.sha256 != fr.sha256:  # the flags name this hash: a mismatch must not be stored
            raise ValueError(f"keyframe at {fr.t} s hashed {put.sha256}, the analysis said {fr.sha256}")


def analyse_items(
    home: Home,
    case: Case,
    item_ids: list[str],
    actor: str,
    via: str = "cli",
    only: list[str] | None = None,
    limits: Limits = Limits(),  # noqa: B008
) -> Iterator[tuple[str, Analysis]]:
    """(Re)run the suite on a case's live items (all of them when ``item_ids`` is empty)."""
    query = select(items.c.id, items.c.sha256, items.c.kind).where(
        items.c.case_id == case.id, items.c.deleted_at.is_(None)
    )
    if item_ids:
        query = query.where(items.c.id.in_(item_ids))
    with home.reading() as conn:
        rows = conn.execute(query.order_by(items.c.created_at)).all()
    settings_ = load_settings(home)
    for row in rows:
        with home.blobs.open(row.sha256) as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
        analysis = analyse_bytes(data, settings_, only, limits, keep_frames=True)
        yield row.id, store(home, analysis, actor, via, case.id, row.id)


if __name__ == "__main__":
    sys.exit(_child())
