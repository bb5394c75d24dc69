"""Running the detector suite on bytes, in a limited subprocess, and storing what it says.

1. Guard: the image's dimensions are read from its header (``detectors.imageio.probe``); a bomb is
   not handed to any detector: every detector gets a ``not_analysed`` flag with the reason.
2. Run: a child process (``python -m workbench.analysis``) gets the bytes on stdin, runs the suite
   under a memory limit (RLIMIT_AS) and a time limit, and prints flags as JSON. A crash, a kill or
   a timeout becomes ``not_analysed`` flags: never a score, never a crash of the caller.
3. Store: flags go into the ``flags`` table; heatmaps become derived artifacts naming their parent
   hash and operation, each with a custody event. A flag never changes an item's status.
"""

from __future__ import annotations

import base64
import io
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from archive import artifacts as art
from archive.db import flags as flags_table
from archive.db import items, settings, utcnow
from archive.home import Home
from archive.model import Case, Flag
from detectors.base import Subject, flag_from_dict, flag_to_dict, not_analysed, registry
from detectors.imageio import MAX_PIXELS, MAX_SIDE, ImageRefused, probe

__all__ = ["Analysis", "Limits", "analyse_bytes", "analyse_items", "load_settings", "run_suite", "store"]

MAX_INPUT_BYTES = 500 * 1024 * 1024
MIN_SIDE = 64  # pixel statistics on smaller images are noise
SETTINGS_KEY = "detectors"


@dataclass(frozen=True)
class Limits:
    """Per-analysis limits for the child process."""

    seconds: float = 120.0
    memory_mb: int = 4096


@dataclass
class Analysis:
    """The flags for one input; ``heatmaps`` maps a flag's index to PNG bytes not yet stored."""

    sha256: str
    flags: list[Flag]
    heatmaps: dict[int, bytes] = field(default_factory=dict)

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
            if "fact" in flag.details:
                row["fact"] = flag.details["fact"]
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
) -> Analysis:
    """Run the suite in a limited child process; every failure becomes ``not_analysed`` flags."""
    settings_ = dict(settings_ or {})
    sha = Subject(data).sha256
    if why := _guard(data):
        return Analysis(sha, _all_not_analysed(sha, settings_, only, why))
    request = json.dumps({"settings": settings_, "only": only, "memory_mb": limits.memory_mb})
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
    return result


def run_suite(data: bytes, settings_: Mapping[str, Any], only: list[str] | None = None) -> list[Flag]:
    """The suite in this process (the child's body; also used by the benchmark)."""
    subject = Subject(data, settings_)
    flags: list[Flag] = []
    for det in registry().suite(settings_, only):
        try:
            if det.needs_pixels and min(subject.image().size) < MIN_SIDE:
                why = f"the image is {subject.image().size[0]}x{subject.image().size[1]} pixels, too small"
                flags.append(not_analysed(det.name, det.version, subject.sha256, why))
                continue
            flags.extend(det.detect(subject))
        except ImageRefused as exc:
            flags.append(not_analysed(det.name, det.version, subject.sha256, str(exc)))
        except Exception as exc:  # stage boundary: one failing detector does not stop the others
            why = f"the detector failed: {type(exc).__name__}: {str(exc)[:200]}"
            flags.append(not_analysed(det.name, det.version, subject.sha256, why))
    for name, why in registry().broken.items():
        if not only or name in only:
            flags.append(not_analysed(name, "?", subject.sha256, f"the detector could not be loaded: {why}"))
    return flags


def _child() -> int:
    request = json.loads(os.environ.get("WB_ANALYSIS_REQUEST", "{}"))
    _limit_memory(int(request.get("memory_mb") or Limits().memory_mb))
    data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    flags = run_suite(data, request.get("settings") or {}, request.get("only"))
    out = []
    for flag in flags:
        row = flag_to_dict(flag)
        if isinstance(png := row["details"].pop("heatmap_png", None), bytes):
            row["details"]["heatmap_png_b64"] = base64.b64encode(png).decode()
        out.append(row)
    sys.stdout.write(json.dumps({"flags": out}))
    return 0


# -- storing ---------------------------------------------------------------------------------------


def store(home: Home, analysis: Analysis, actor: str, via: str, case_id: int, item_id: str) -> Analysis:
    """Record flags and heatmaps with custody events; the item's status is not touched."""
    stored: list[Flag] = []
    with home.transaction(actor, via) as tx:
        for i, flag in enumerate(analysis.flags):
            if i in analysis.heatmaps:
                op = f"heatmap:{flag.detector}"
                put = art.store_derived(
                    tx.conn,
                    home.blobs,
                    analysis.heatmaps[i],
                    "image/png",
                    parent_sha256=analysis.sha256,
                    operation=op,
                    parameters={"detector": flag.detector, "version": flag.version},
                )
                art.link(tx.conn, item_id, put.sha256, "heatmap")
                tx.event(
                    "artifact.derived",
                    case_id=case_id,
                    item_id=item_id,
                    artifact_sha256=put.sha256,
                    before_sha256=analysis.sha256,
                    after_sha256=put.sha256,
                    details={"operation": op},
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
    return Analysis(analysis.sha256, stored)


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
        analysis = analyse_bytes(data, settings_, only, limits)
        yield row.id, store(home, analysis, actor, via, case.id, row.id)


if __name__ == "__main__":
    sys.exit(_child())
