"""yt-dlp's wiring, tested on a local <video> page (platform extractors cannot be reached offline):
off by default, on behind the setting, its traffic through the capture's guard proxy, its file
byte for byte as served."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from collectors.ytdlp import command
from tests.collectors.webfixtures import Site, serve, webm

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]

Captures = dict[str, StagedCapture]
CLIP: list[bytes] = []  # the one clip the module serves (a new webm() differs in its muxing date)


def _watch(src: str) -> str:
    # preload=none: the browser leaves the video alone, so only yt-dlp can have fetched it.
    return f"<!doctype html><title>watch</title><video preload='none' controls src='{src}'></video>"


@pytest.fixture(scope="module")
def runs(serve: Callable[..., Site], tmp_path_factory: pytest.TempPathFactory) -> tuple[Captures, Site, Site]:
    root = tmp_path_factory.mktemp("ytdlp")
    site, canary = serve(Site()), serve(Site())
    CLIP.append(webm())
    canary.add("/inside.webm", CLIP[0], "video/webm")
    site.add("/watch", _watch("/clip.webm"))
    site.add("/clip.webm", CLIP[0], "video/webm")
    site.add("/inside", _watch(canary.url("/inside.webm")))
    policy = Policy(parse_allow([f"127.0.0.1:{site.port}"]))
    base = CaptureSettings(policy=policy, capture_timeout=120, page_timeout=20, scroll_steps=1)

    async def go() -> Captures:
        out: Captures = {}
        async with WebCollector(base) as plain:
            out["off"] = await plain.capture(site.url("/watch"), root / "off", "analyst-a", "demo", "wb/t")
        async with WebCollector(CaptureSettings(**{**base.__dict__, "ytdlp": True})) as collector:
            for name in ("watch", "inside"):
                out[name] = await collector.capture(
                    site.url(f"/{name}"), root / name, "analyst-a", "demo", "wb/t"
                )
        return out

    return asyncio.run(go()), site, canary


def test_off_by_default(runs: tuple[Captures, Site, Site]) -> None:
    cap = runs[0]["off"]
    assert cap.status == "captured"
    assert "ytdlp" not in cap.record
    assert cap.record["budgets"]["ytdlp"] is False
    assert not any(s["step"] == "ytdlp" for s in cap.record["steps"])


def test_the_video_is_fetched_whole_and_byte_for_byte(runs: tuple[Captures, Site, Site]) -> None:
    cap = runs[0]["watch"]
    assert cap.status == "captured", cap.reason
    run = cap.record["ytdlp"]
    assert run["status"] == "ok", run
    want = hashlib.sha256(CLIP[0]).hexdigest()
    media = [f for f in cap.files if f.role == "media"]
    assert [f.sha256 for f in media] == [want]
    assert Path(media[0].path).read_bytes() == CLIP[0]
    assert run["fetched"][0]["sha256"] == want and run["version"]
    assert "ytdlp-info" in {f.role for f in cap.files}


def test_its_traffic_passes_the_capture_guard(runs: tuple[Captures, Site, Site]) -> None:
    captures, _, canary = runs
    cap = captures["inside"]
    assert cap.status == "captured"  # the page itself is fine
    assert cap.record["ytdlp"]["status"] == "failed"
    assert canary.log == []  # yt-dlp went through the proxy, which refused the unlisted port
    refused = [r["target"] for r in cap.record["refused_requests"]]
    assert any(str(canary.port) in t for t in refused)


def test_the_command_is_a_list_with_the_url_after_the_options_end() -> None:
    cmd = command("-o /etc/passwd", Path("/tmp/x"), "http://127.0.0.1:1", 10)
    assert cmd[-2:] == ["--", "-o /etc/passwd"]
    for option in ("--ignore-config", "--no-plugin-dirs", "--no-playlist", "--proxy"):
        assert option in cmd
    assert cmd[cmd.index("--fixup") + 1] == "never"
