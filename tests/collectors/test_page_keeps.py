"""Capture keeps what the page shows: media the browser did not fetch whole, the encoding of pages
that name none, and post context on saved platform pages served from another host. One browser."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collectors.charset import decide
from collectors.guard import Policy, parse_allow
from collectors.platforms import extract_post
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.webfixtures import QuietHandler, Site, serve, serving

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]

Captures = dict[str, StagedCapture]
NAMES = "Олена Коваленко — café à Kharkiv, Łódź"
PAGES = Path(__file__).with_name("pages")
SAVED = {"x": "x_saved.html", "youtube": "youtube_saved.html"}


def avi() -> bytes:
    """A real five-frame Motion-JPEG AVI (made here): a container Chromium cannot play."""
    import cv2
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "v.avi")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))  # type: ignore[attr-defined]
        for i in range(5):
            writer.write(np.full((48, 64, 3), i * 40, np.uint8))
        writer.release()
        return Path(path).read_bytes()


CLIP = avi()
SOURCE_CLIP = CLIP + b"\0source"  # another file, so both are stored
SOUND = b"ID3\x04\0\0\0\0\0\0" + bytes(range(256)) * 8


class _Hangs(QuietHandler):
    """Answers nothing for 20 s: a popup opened here has no first response while the capture runs."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        time.sleep(20)


@pytest.fixture(scope="module")
def hanging() -> Iterator[int]:
    yield from serving(_Hangs)


@pytest.fixture(scope="module")
def runs(
    serve: Callable[..., Site], hanging: int, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Captures, Site, Site]:
    root = tmp_path_factory.mktemp("keeps")
    site = serve(Site())
    canary = serve(Site())  # never allow-listed: a medium the page names there is refused
    site.add("/clip.avi", CLIP, "video/x-msvideo")
    site.add("/other.avi", SOURCE_CLIP, "video/x-msvideo")
    site.add("/sound.mp3", SOUND, "audio/mpeg")
    site.add("/live.m3u8", "#EXTM3U\n#EXT-X-VERSION:3\nseg0.ts\n", "application/vnd.apple.mpegurl")
    site.add(
        "/video",
        "<!doctype html><meta charset=utf-8><title>v</title>"
        "<video src='/clip.avi' preload=none controls></video>"
        "<video controls><source src='/other.avi' type='video/x-msvideo'></video>"
        "<audio src='/sound.mp3' preload=none></audio>"
        f"<video src='http://127.0.0.1:{canary.port}/inside.mp4' preload=none></video>"
        f"<video src='http://localhost:{canary.port}/by-name.mp4' preload=none></video>"
        "<video src='/live.m3u8' preload=none></video>",
    )
    page = f"<!doctype html><title>{NAMES}</title><meta property='og:description' content='{NAMES}'>"
    page += f"<p>{NAMES}</p>"
    site.add("/nocharset", page, "text/html")
    site.add(
        "/gzipped", gzip.compress(page.encode("utf-8")), "text/html", headers={"Content-Encoding": "gzip"}
    )
    site.add(
        "/cp1251",
        "<!doctype html><title>Свідчення</title><p>Свідчення</p>".encode("cp1251"),
        "text/html; charset=windows-1251",
    )
    site.add("/opens", f"<title>o</title><script>window.open('http://127.0.0.1:{hanging}/never')</script>")
    for name, file in SAVED.items():
        site.add(f"/saved/{name}", (PAGES / file).read_bytes())
    settings = CaptureSettings(
        policy=Policy(parse_allow([f"127.0.0.1:{site.port}", f"127.0.0.1:{hanging}"])),
        capture_timeout=60,
        page_timeout=20,
        scroll_steps=1,
    )

    async def go() -> Captures:
        out: Captures = {}
        async with WebCollector(settings) as collector:
            for name in ("video", "nocharset", "gzipped", "cp1251", "saved/x", "saved/youtube", "opens"):
                out[name] = await collector.capture(
                    site.url(f"/{name}"), root / name, "analyst-a", "demo", "t"
                )
        return out

    return asyncio.run(go()), site, canary


def test_media_the_browser_never_fetched_are_stored_byte_for_byte(runs: tuple[Captures, Site, Site]) -> None:
    captures, site, _ = runs
    cap = captures["video"]
    assert cap.status == "captured", cap.reason
    # Chromium fetched none of them (preload=none, a container it cannot play): only the capture did.
    assert [p for p, _ in site.log].count("/clip.avi") == 1
    kept = {f.url: f for f in cap.files if f.role == "media"}
    for path, data in (("/clip.avi", CLIP), ("/other.avi", SOURCE_CLIP), ("/sound.mp3", SOUND)):
        f = kept[site.url(path)]
        assert f.path.read_bytes() == data and f.sha256 == hashlib.sha256(data).hexdigest()
    named = {e["url"]: e for e in cap.record["media_named"]}
    assert named[site.url("/clip.avi")]["kept"].startswith("fetched whole by the capture")
    assert named[site.url("/other.avi")]["tag"] == "source"
    assert site.url("/clip.avi") in cap.post["media_urls"]
    assert site.url("/sound.mp3") in cap.post["media_urls"]


def test_a_named_medium_on_a_refused_address_is_not_fetched(runs: tuple[Captures, Site, Site]) -> None:
    captures, _, canary = runs
    cap = captures["video"]
    assert canary.log == []
    inside = next(e for e in cap.record["media_named"] if "/inside.mp4" in e["url"])
    assert inside["kept"].startswith("not kept")
    # A name for an inside address passes the spelling check: the guard proxy refuses it.
    by_name = next(e for e in cap.record["media_named"] if "/by-name.mp4" in e["url"])
    assert by_name["kept"].startswith("not kept")
    assert any(f"localhost:{canary.port}" in r["target"] for r in cap.record["refused_requests"])


def test_a_streaming_playlist_is_listed_but_not_kept_as_a_medium(runs: tuple[Captures, Site, Site]) -> None:
    captures, site, _ = runs
    cap = captures["video"]
    playlist = next(e for e in cap.record["media_named"] if e["url"] == site.url("/live.m3u8"))
    assert (
        playlist["kept"] == "not kept: a streaming playlist (application/vnd.apple.mpegurl), not a media file"
    )
    assert site.url("/live.m3u8") not in {f.url for f in cap.files}
    assert site.url("/live.m3u8") in cap.post["media_urls"]


@pytest.mark.parametrize("name", ["nocharset", "gzipped"])
def test_a_utf8_page_without_charset_reads_as_utf8(runs: tuple[Captures, Site, Site], name: str) -> None:
    cap = runs[0][name]
    assert cap.status == "captured", cap.reason
    assert cap.record["title"] == NAMES
    assert cap.post["caption"] == NAMES
    text = next(f for f in cap.files if f.role == "text").path.read_text("utf-8")
    assert NAMES in text
    enc = cap.record["encoding"]
    assert enc["used"] == "UTF-8" and enc["browser_chose"].lower() != "utf-8" and enc["after"] == "UTF-8"
    assert "valid UTF-8" in enc["basis"]
    assert any("charset=utf-8 added" in t for t in cap.record["transformations"])
    # The evidence keeps the response as received: no charset in its header.
    content_type = dict((k.lower(), v) for k, v in cap.record["response_headers"])["content-type"]
    assert content_type == "text/html"


def test_a_declared_charset_is_followed_and_named(runs: tuple[Captures, Site, Site]) -> None:
    cap = runs[0]["cp1251"]
    assert cap.record["title"] == "Свідчення"
    assert cap.record["encoding"]["basis"] == "the Content-Type header names charset windows-1251"
    assert "transformation" not in cap.record["encoding"]


def test_a_saved_x_post_served_from_elsewhere_gives_its_author_title_and_date(
    runs: tuple[Captures, Site, Site],
) -> None:
    cap = runs[0]["saved/x"]
    post = cap.post
    assert cap.status == "captured", cap.reason
    assert post["platform"] == "x" and post["platform_chosen_by"] == "markup", post
    assert post["post_id"] == "1770000000000000042"
    assert post["handle"] == "mykola_sv" and post["display_name"] == "Микола Свідок"
    assert post["author"] == "Микола Свідок"  # not the page's "Trending · Who to follow" byline
    assert post["title"].startswith("Микола Свідок on X:")
    assert post["posted_at"] == "2024-03-19T12:24:31Z"
    assert post["caption"] == "Колона техніки на трасі М03 біля Ізюма, 14:20.\nВідео нижче."
    # The item's identity stays the URL the browser ended on; the page's claim is kept apart.
    assert post["canonical_url"].startswith("http://127.0.0.1:")


def test_a_saved_youtube_page_served_from_elsewhere_gives_its_author_title_and_date(
    runs: tuple[Captures, Site, Site],
) -> None:
    post = runs[0]["saved/youtube"].post
    assert post["platform"] == "youtube" and post["platform_chosen_by"] == "markup", post
    assert post["platform_url_claimed"] == "https://www.youtube.com/watch?v=Kh4rk1vX_02"
    assert post["post_id"] == "Kh4rk1vX_02" and post["handle"] == "KharkivWitness"
    assert post["author"] == post["display_name"] == "Харківський свідок"
    assert post["title"] == "Обстріл Харкова, 2 березня"
    assert post["posted_at"] == "2024-03-02T09:05:00Z"


def test_the_site_name_alone_chooses_the_adapter_and_the_record_says_so() -> None:
    html = (PAGES / "x_saved.html").read_text("utf-8")
    bare = "\n".join(ln for ln in html.splitlines() if "saved from url" not in ln)
    post = extract_post("http://127.0.0.1:8000/copy.html", bare)
    assert post["platform"] == "x" and post["platform_chosen_by"] == "markup"
    assert post["platform_evidence"] == "og:site_name is 'X (formerly Twitter)'"
    assert post["post_id"] == "1770000000000000042"  # from the post's own time link
    assert "platform_url_claimed" not in post


def test_a_page_that_names_no_platform_stays_generic() -> None:
    post = extract_post("http://127.0.0.1:8000/a", "<title>t</title><meta name=twitter:site content=@news>")
    assert post["platform"] == "web" and "platform_chosen_by" not in post


@pytest.mark.parametrize(
    ("content_type", "body", "browser", "used", "basis", "again"),
    [
        ("text/html", "é".encode(), "windows-1252", "UTF-8", "the bytes are valid UTF-8", True),
        ("text/html", "é".encode("latin-1"), "windows-1252", "windows-1252", "not valid UTF-8", False),
        ("text/html", b"\xef\xbb\xbf\xc3\xa9", "UTF-8", "UTF-8", "UTF-8 byte order mark", False),
        ("text/html", b"<meta charset=koi8-r>\xc3", "KOI8-R", "KOI8-R", "<meta> element", False),
        ("text/html", b"<p>plain</p>", "windows-1252", "windows-1252", "plain ASCII", False),
        ("image/png", "é".encode(), "windows-1252", "not text", "text encodings do not apply", False),
    ],
)
def test_the_encoding_decision_names_its_basis(
    content_type: str, body: bytes, browser: str, used: str, basis: str, again: bool
) -> None:
    found = decide(content_type, body, browser)
    assert (found.used, found.rerender) == (used, again)
    assert basis in found.basis


def test_a_popup_counts_before_its_first_response_arrives(runs: tuple[Captures, Site, Site]) -> None:
    # Playwright announces a popup only once its response starts loading; this one never answers.
    cap = runs[0]["opens"]
    assert cap.status == "captured", cap.reason
    assert len(cap.record["popups"]) == 1, cap.record["popups"]
    assert "had not loaded" in cap.record["popups"][0]["note"]
