"""`wb capture --ytdlp` and the home's capture setting: the video yt-dlp fetched becomes a media item
of the case, byte for byte, with the yt-dlp facts beside the page."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from archive.home import Home
from tests.collectors.webfixtures import Site, serve, webm
from tests.conftest import PASSWORD, RunWb, admin_of, json_lines
from workbench import TOOL_VERSION
from workbench.services import auth
from workbench.services.auth import AccessDenied
from workbench.services.capture.run import capture_options, set_capture_options

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]


@pytest.fixture
def site(serve: Callable[..., Site], wb: RunWb, wb_env: dict[str, str]) -> tuple[Site, bytes]:
    clip = webm()
    s = serve(Site())
    s.add("/watch", "<!doctype html><title>w</title><video preload='none' src='/clip.webm'></video>")
    s.add("/clip.webm", clip, "video/webm")
    wb_env["WB_CAPTURE_ALLOW"] = f"127.0.0.1:{s.port}"
    wb("init")
    wb("case", "create", "c", "--purpose", "p")
    return s, clip


def _media(line: dict[str, object]) -> list[str]:
    arts = line["artifacts"]
    assert isinstance(arts, list)
    return [str(a["sha256"]) for a in arts if a["role"] == "media"]


def test_the_flag_turns_yt_dlp_on_for_the_run(site: tuple[Site, bytes], wb: RunWb) -> None:
    s, clip = site
    plain = json_lines(wb("capture", "--case", "c", "--json", s.url("/watch")).stdout)[0]
    # Without yt-dlp the capture still keeps the video the page names (fetched whole), but runs no yt-dlp.
    assert plain["status"] == "captured" and "ytdlp-info" not in {a["role"] for a in plain["artifacts"]}
    line = json_lines(wb("capture", "--case", "c", "--json", "--again", "--ytdlp", s.url("/watch")).stdout)[0]
    assert line["status"] == "captured", line
    assert _media(line) == [hashlib.sha256(clip).hexdigest()]
    assert "ytdlp-info" in {a["role"] for a in line["artifacts"]}
    assert wb("verify").returncode == 0


def test_the_home_setting_turns_it_on_for_every_capture(
    site: tuple[Site, bytes], wb: RunWb, wb_env: dict[str, str]
) -> None:
    s, clip = site
    home = Home.open(Path(wb_env["WB_HOME"]), Path(wb_env["WB_KEY"]), TOOL_VERSION)
    try:
        assert capture_options(home) == {"ytdlp": False}
        admin = admin_of(home)
        with home.transaction(admin.name, "test") as tx:
            analyst = auth.add_user(tx, admin, "ana", "analyst", PASSWORD)
        with pytest.raises(AccessDenied):
            set_capture_options(home, analyst, "test", ytdlp=True)  # admins only
        assert capture_options(home) == {"ytdlp": False}
        set_capture_options(home, admin, "test", ytdlp=True)
        assert capture_options(home) == {"ytdlp": True}
    finally:
        home.close()
    line = json_lines(wb("capture", "--case", "c", "--json", s.url("/watch")).stdout)[0]
    assert _media(line) == [hashlib.sha256(clip).hexdigest()]
