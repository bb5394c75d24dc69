"""Running the detector suite on bytes, in a limited subprocess, and storing what it says.

1. Guard: the image's dimensions are read from its header (``detectors.imageio.probe``); a bomb is
   not handed to any detector: every detector gets a ``not_analysed`` flag with the reason.
2. Run: a child process (``workbench.services.analysis.child``) gets the bytes, runs the suite under a
   memory limit (RLIMIT_AS) and a per-file time limit, and answers with the flags as JSON. A crash,
   a kill or a timeout becomes ``not_analysed`` flags: never a score, never a crash of the caller.
   ``wb detect`` and the background job send all the files of a run to one child, so libraries and
   a learned model are loaded once. A video (sniffed from its magic bytes) gets the metadata
   detectors on its bytes and the frame-capable pixel detectors on its keyframes
   (``detectors.videoframes``), inside the same child and limits.
3. Store: flags go into the ``flags`` table; analysed keyframes and heatmaps become derived
   artifacts naming their parent hash and operation, each with a custody event. A flag never
   changes an item's status.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from archive import artifacts as art
from archive.db import flags as flags_table
from archive.db import items, settings, utcnow
from archive.home import Home, Transaction
from archive.model import Case, Flag
from detectors.base import Subject, flag_to_dict
from detectors.imageio import MAX_PIXELS, MAX_SIDE, ImageRefused, probe
from workbench.services.access import visible_clause
from workbench.services.analysis.child import (
    MAX_INPUT_BYTES,
    Analysis,
    Limits,
    Runner,
    all_not_analysed,
    run_media,
    run_suite,
)
from workbench.services.auth import Account, Perm, check_case

__all__ = [
    "MAX_INPUT_BYTES",
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

SETTINGS_KEY = "detectors"


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
    runner: Runner | None = None,
) -> Analysis:
    """Run the suite in a limited child process; every failure becomes ``not_analysed`` flags.

    ``keep_frames`` returns a video's analysed keyframes as PNG bytes, for ``store``. ``runner``
    reuses a child across files (its own limits apply); without it a child is started for this file.
    """
    settings_ = dict(settings_ or {})
    sha = Subject(data).sha256
    if why := _guard(data):
        return Analysis(sha, all_not_analysed(sha, settings_, only, why))
    if runner is not None:
        return runner.analyse(data, sha, settings_, only, keep_frames)
    with Runner(limits) as own:
        return own.analyse(data, sha, settings_, only, keep_frames)


def is_failure(flag: Flag) -> bool:
    """A ``not_analysed`` flag for a refusal or failure (not a detector that does not apply)."""
    return flag.label.value == "not_analysed" and not flag.details.get("not_applicable")


# -- storing ---------------------------------------------------------------------------------------


def store(
    home: Home,
    analysis: Analysis,
    actor: str,
    via: str,
    case_id: int,
    item_id: str,
    on_store: Callable[[Transaction, str], None] | None = None,
) -> Analysis:
    """Record flags and heatmaps with custody events; the item's status is not touched.
    ``on_store(tx, item_id)`` writes more in the same transaction (a job's step record)."""
    stored: list[Flag] = []
    with home.transaction(actor, via) as tx:
        if on_store is not None:
            on_store(tx, item_id)
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
            _record_flag(tx, flag, case_id, item_id, analysis.sha256)
            stored.append(flag)
    return Analysis(analysis.sha256, stored, frames=analysis.frames)


def _record_flag(tx: Transaction, flag: Flag, case_id: int, item_id: str, file_sha256: str) -> None:
    """One ``flags`` row and its ``flag.recorded`` event (ids, hashes and names only)."""
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
    details: dict[str, Any] = {
        "flag_id": (result.inserted_primary_key or [None])[0],
        "detector": flag.detector,
        "version": flag.version,
        "label": flag.label.value,
    }
    if flag.input_sha256 != file_sha256:  # a video's keyframe: name the frame analysed
        details["input_sha256"] = flag.input_sha256
    tx.event("flag.recorded", case_id=case_id, item_id=item_id, artifact_sha256=file_sha256, details=details)


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
    by: Account,
    via: str = "cli",
    only: list[str] | None = None,
    limits: Limits = Limits(),  # noqa: B008
    skip: Collection[str] = (),
    on_store: Callable[[Transaction, str], None] | None = None,
) -> Iterator[tuple[str, Analysis]]:
    """(Re)run the suite on the case's items that ``by`` may see (all of them when ``item_ids`` is
    empty); items it may not see are passed over as if absent. AccessDenied (logged) unless ``by`` may
    judge in the case. A background job passes the items it already analysed (``skip``) and records
    each new one in the transaction that stores its flags (``on_store``)."""
    check_case(home, by, Perm.JUDGE, case.id, via)
    query = select(items.c.id, items.c.sha256, items.c.kind).where(
        items.c.case_id == case.id, visible_clause(by, member_checked=True)
    )
    if item_ids:
        query = query.where(items.c.id.in_(item_ids))
    with home.reading() as conn:
        rows = conn.execute(query.order_by(items.c.created_at)).all()
    from workbench.services.models import with_case_calibration  # models imports this module

    settings_ = with_case_calibration(home, case.id, load_settings(home))  # the case's calibration, if any
    # One child for the run (libraries and a model load once), its working copies in the home's scratch.
    with Runner(limits, home.area("scratch")) as runner:
        for row in rows:
            if row.id in skip:
                continue
            with home.blobs.open(row.sha256) as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
            analysis = analyse_bytes(data, settings_, only, limits, keep_frames=True, runner=runner)
            yield row.id, store(home, analysis, by.name, via, case.id, row.id, on_store)
