"""Video items show their keyframes (stored by the background analysis), blurred by default, in the
gallery and on the item page; the same visibility as every other preview."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from archive.home import Home
from tests.detectors.conftest import clip
from tests.workbench.app_fixtures import PASSWORD, World, make_world
from workbench import TOOL_VERSION
from workbench.services import access, jobs, viewing
from workbench.services.auth import AccessDenied

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")


@dataclass
class Setup:
    w: World
    root: Path
    video: str


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("keyframes")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    w = make_world(home, reviews=1, n_items=0)
    video = clip(root / "clip.avi", "MJPG", shots=2)
    jobs.submit(
        home, w.analyst, "upload", w.case.id, jobs.save_uploads(home, [("clip.avi", video.read_bytes())])
    )
    upload = jobs.run_job(home)
    assert upload is not None and upload.result["analysis_job"]
    analysed = jobs.run_job(home)  # the analysis that follows every upload stores the keyframes
    assert analysed is not None and analysed.status == "done"
    [item] = [r["item_id"] for r in upload.result["results"]]
    yield Setup(w, root, item)
    home.close()


def test_keyframes_come_blurred_unless_asked_sharp(s: Setup) -> None:
    blurred = viewing.keyframe_previews(s.w.home, s.w.reviewer, s.video, 128, 60, True)
    sharp = viewing.keyframe_previews(s.w.home, s.w.reviewer, s.video, 128, 0, False)
    assert [t for t, _, _ in blurred] == [0.0, 1.0]
    assert [png for _, _, png in blurred] != [png for _, _, png in sharp]
    with s.w.home.reading() as conn:
        shown = viewing.display_artifact(conn, s.video)
    assert shown is not None and shown[0] == blurred[0][1]  # the gallery's picture: the first keyframe


def test_gallery_and_item_page_show_the_keyframes(s: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_HOME", str(s.root / "home"))
    monkeypatch.setenv("WB_KEY", str(s.root / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("reviewer")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert len(at.get("image")) == 1  # the video's card has a (blurred) picture
    at.button(key=f"open_{s.video}").click().run()
    assert not at.exception, at.exception
    texts = "\n".join(str(t.value) for t in at.text)
    assert "Keyframes (2, blurred until the video is revealed):" in texts


def test_keyframes_follow_the_items_visibility(s: Setup) -> None:
    with pytest.raises(AccessDenied):
        viewing.keyframe_previews(s.w.home, s.w.outsider, s.video, 128, 60, True)  # not a member
    access.tag_item(s.w.home, s.w.admin, s.video, "sexual violence")
    with pytest.raises(AccessDenied):
        viewing.keyframe_previews(s.w.home, s.w.reviewer, s.video, 128, 60, True)  # not assigned
