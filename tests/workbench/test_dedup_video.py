"""Videos in a case: a re-encoded cut copy and a still from the video cluster with the video."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from archive.home import Home
from tests.conftest import admin_of
from tests.detectors.test_fingerprint import jpeg, scene
from tests.detectors.test_video import FPS, shots, write
from tests.workbench.test_dedup import ingest, new_case
from workbench.services.dedup import clusters as dedup


def test_video_copy_and_still_join_the_video_cluster(home: Home, tmp_path: Path) -> None:
    frames = shots()
    original = write(tmp_path / "original.mp4", frames, "mp4v")
    copy = write(tmp_path / "copy.avi", frames[2 * FPS :], "MJPG", (240, 180))
    still = tmp_path / "still.jpg"
    Image.fromarray(frames[int(4.5 * FPS)][:, :, ::-1]).save(still, "JPEG", quality=85)
    unrelated = tmp_path / "unrelated.jpg"
    unrelated.write_bytes(jpeg(scene(4242, (320, 240))))
    case = new_case(home)
    ids = ingest(home, case, original, copy, still, unrelated)
    (cluster,) = dedup.clusters(home, admin_of(home), case)
    by_item = {m.item_id: m for m in cluster.members}
    assert set(by_item) == {ids["original"], ids["copy"], ids["still"]}
    assert by_item[ids["copy"]].match in ("video_run", "video_frame")
    assert by_item[ids["still"]].match == "video_frame"
    hits = dedup.similar(home, admin_of(home), case, copy)
    run = next(h for h in hits if h.item_id == ids["original"])
    assert run.match == "video_run" and run.t is not None and abs(run.t - 2.0) <= 0.25
