"""Videos through `wb analyse` and `wb detect`: keyframe flags, stored keyframes, the JSON contract."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select

from archive.db import artifacts, custody_events, flags, item_artifacts, items
from archive.home import Home
from tests.conftest import RunWb, json_lines
from tests.detectors.conftest import clip
from tests.workbench.test_analysis import INTERFACE_KEYS


def test_wb_analyse_video_gives_keyframe_flags_in_the_interface_shape(tmp_path: Path, wb: RunWb) -> None:
    video = clip(tmp_path / "clip.avi", "MJPG", shots=2, pasted_shot=1)
    (row,) = json_lines(wb("analyse", "--json", str(video)).stdout)
    assert row["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert all(INTERFACE_KEYS <= set(f) for f in row["flags"])
    moves = [f for f in row["flags"] if f["detector"] == "copy_move"]
    assert [(f["keyframe"]["t"], f["keyframe"]["frame_index"]) for f in moves] == [(0.0, 0), (1.0, 10)]
    assert [f["label"] for f in moves] == ["no_indication", "indicator"]
    assert {f["detector"] for f in row["flags"]} >= {"c2pa", "metadata_traces", "noise", "ela"}


def test_wb_detect_stores_each_analysed_keyframe_as_a_derived_artifact(
    tmp_path: Path, wb: RunWb, wb_env: dict[str, str]
) -> None:
    from archive.home import Home
    from workbench import TOOL_VERSION

    video = clip(tmp_path / "clip.avi", "MJPG", shots=2, pasted_shot=1)
    wb("init")
    wb("case", "create", "demo", "--purpose", "test")
    (ingested,) = json_lines(wb("ingest", "--json", "--case", "demo", str(video)).stdout)
    (row,) = json_lines(wb("detect", "--json", "--case", "demo").stdout)
    assert row["sha256"] == ingested["sha256"]
    home = Home.open(Path(wb_env["WB_HOME"]), Path(wb_env["WB_KEY"]), TOOL_VERSION)
    try:
        with home.reading() as conn:
            frames = conn.execute(select(artifacts).where(artifacts.c.operation == "keyframe")).all()
            links = conn.execute(select(item_artifacts).where(item_artifacts.c.role == "keyframe")).all()
            heat = conn.execute(select(artifacts).where(artifacts.c.operation == "heatmap:copy_move")).all()
            moves = conn.execute(select(flags).where(flags.c.detector == "copy_move")).all()
            derived = conn.execute(
                select(custody_events.c.artifact_sha256).where(custody_events.c.action == "artifact.derived")
            ).all()
            mime = conn.execute(
                select(artifacts.c.mime).where(artifacts.c.sha256 == ingested["sha256"])
            ).scalar_one()
            status = conn.execute(select(items.c.status)).scalar_one()
        for fr in frames:
            with home.blobs.open(fr.sha256) as fh:
                assert hashlib.sha256(fh.read()).hexdigest() == fr.sha256
    finally:
        home.close()
    assert mime == "video/x-msvideo" and status == "unverified"
    assert sorted(f.parameters["t"] for f in frames) == [0.0, 1.0]
    assert all(f.parent_sha256 == ingested["sha256"] for f in frames)
    assert {ln.sha256 for ln in links} == {f.sha256 for f in frames}
    assert {f.sha256 for f in frames} <= {e.artifact_sha256 for e in derived}
    # The copy-move flag on the pasted shot names that keyframe, and its heatmap derives from it.
    (hit,) = [m for m in moves if m.label == "indicator"]
    (frame,) = [f for f in frames if f.sha256 == hit.input_sha256]
    assert frame.parameters["t"] == 1.0 and hit.details["keyframe"]["t"] == 1.0
    assert [h.parent_sha256 for h in heat] == [frame.sha256]
    assert hit.heatmap_sha256 == heat[0].sha256
    wb("verify")


def test_an_unreadable_video_gets_not_analysed_flags_and_exit_1(tmp_path: Path, wb: RunWb) -> None:
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 8)
    done = wb("analyse", "--json", str(bad), check=1)
    (row,) = json_lines(done.stdout)
    (move,) = [f for f in row["flags"] if f["detector"] == "copy_move"]
    assert move["label"] == "not_analysed" and move["score"] is None and move["reason"]


def test_an_uploaded_video_is_analysed_in_the_background_with_its_keyframes(
    home: Home, tmp_path: Path
) -> None:
    from tests.workbench.app_fixtures import make_world
    from workbench.services import jobs

    w = make_world(home, reviews=1, n_items=0)
    video = clip(tmp_path / "clip.avi", "MJPG", shots=2, pasted_shot=1)
    params = jobs.save_uploads(w.home, [("clip.avi", video.read_bytes())])
    jobs.submit(w.home, w.analyst, "upload", w.case.id, params)
    upload = jobs.run_job(w.home)
    assert upload is not None and upload.result["analysis_job"]
    analysed = jobs.run_job(w.home)
    assert analysed is not None and analysed.status == "done"
    with w.home.reading() as conn:
        frames = conn.execute(select(artifacts).where(artifacts.c.operation == "keyframe")).all()
        hits = conn.execute(
            select(flags.c.input_sha256, flags.c.details).where(
                flags.c.detector == "copy_move", flags.c.label == "indicator"
            )
        ).all()
    video_sha = hashlib.sha256(video.read_bytes()).hexdigest()
    assert sorted(f.parameters["t"] for f in frames) == [0.0, 1.0]
    assert all(f.parent_sha256 == video_sha for f in frames)
    (hit,) = hits
    assert hit.details["keyframe"]["t"] == 1.0 and hit.details["video_sha256"] == video_sha
