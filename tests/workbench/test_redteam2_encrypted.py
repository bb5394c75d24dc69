"""Red team, encryption at rest (issue 12): no plain copy of an item reaches the disk while it is worked on.

The analysis child wrote a video whole, and the parent made the keyframes' folder, in the system's temporary
folder (on disk on most machines; a child killed at its time or memory limit leaves them there for good).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, json_lines, run_wb
from tests.detectors.conftest import clip


def _watch(folder: Path, stop: threading.Event, seen: set[str]) -> None:
    """Note every name that appears in ``folder`` while the analysis runs."""
    while not stop.is_set():
        with os.scandir(folder) as entries:
            seen.update(e.name for e in entries)
        stop.wait(0.002)


def test_analysing_a_video_of_an_encrypted_home_writes_nothing_to_the_temporary_folder(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "system-tmp"  # stands for /tmp: a folder on disk
    tmp.mkdir()
    env = clean_env()
    env.update(
        WB_HOME=str(tmp_path / "home"),
        WB_KEY=str(tmp_path / "cfg" / "signing.key"),
        WB_SESSION=str(tmp_path / "cfg" / "session"),
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        TMPDIR=str(tmp),
    )
    run_wb(env, "init", "--encrypt", "--admin", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "case", "create", "c1", "--purpose", "video")
    video = clip(tmp_path / "zqwitness.avi", "MJPG", shots=2)
    (row,) = json_lines(run_wb(env, "ingest", "--json", "--case", "c1", str(video)).stdout)
    assert row["status"] == "stored"
    seen: set[str] = set()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(tmp, stop, seen))
    watcher.start()
    try:
        (done,) = json_lines(run_wb(env, "detect", "--json", "--case", "c1").stdout)
    finally:
        stop.set()
        watcher.join()
    assert any(f.get("keyframe") for f in done["flags"])  # the video's frames were analysed
    assert not [n for n in seen if n.startswith(("wb-video-", "wb-frames-"))], seen
    assert not list(tmp.iterdir())
