"""`wb capture` end to end: real Chromium, real archive, pages served here on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.collectors.webfixtures import ARABIC, UKRAINIAN, Site, gps_jpeg, png, serve, webm
from tests.conftest import init_home

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "tests" / "collectors" / "pages"


def page_html(site: Site) -> str:
    return f"""<!doctype html><html lang="uk"><head><meta charset="utf-8"><title>{UKRAINIAN}</title>
<meta property="og:description" content="{ARABIC}"></head><body>
<p id="uk">{UKRAINIAN}</p><p id="ar" dir="rtl">{ARABIC}</p>
<img src="/photo.jpg" alt="">
<video src="/clip.webm" preload="auto" muted></video>
<div style="height:6000px"></div>
<img loading="lazy" src="/lazy.png" alt="">
</body></html>"""


class Env:
    def __init__(self, root: Path, site: Site) -> None:
        self.root = root
        self.site = site
        self.env = dict(os.environ)
        self.env.update(
            WB_HOME=str(root / "home"),
            WB_KEY=str(root / "key" / "k"),
            WB_SESSION=str(root / "session"),
            WB_CAPTURE_ALLOW=f"127.0.0.1:{site.port}",
        )

    def wb(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
        )
        if check is not None and proc.returncode != check:
            raise AssertionError(f"wb {args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def db(self) -> contextlib.closing[sqlite3.Connection]:
        conn = sqlite3.connect(self.root / "home" / "archive.sqlite3")
        conn.row_factory = sqlite3.Row
        return contextlib.closing(conn)

    def blob(self, sha: str) -> Path:
        return self.root / "home" / "blobs" / sha[:2] / sha[2:4] / sha


@pytest.fixture(scope="module")
def captured(
    serve: Callable[..., Site], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Env, list[dict[str, Any]]]:
    site = serve(Site())
    site.add("/page.html", page_html(site))
    site.add("/photo.jpg", gps_jpeg(), "image/jpeg")
    site.add("/clip.webm", webm(), "video/webm")
    site.add("/lazy.png", png((10, 200, 10)), "image/png")
    social = (PAGES / "mastodon_status.html").read_text("utf-8")  # reconstructed page, see that file
    site.add("/@jon/111999888777666555", social)
    site.add("/r1", b"", status=302, headers={"Location": "/r2"})
    site.add("/r2", b"", status=302, headers={"Location": "/page.html"})
    env = Env(tmp_path_factory.mktemp("capture"), site)
    init_home(env.env)
    env.wb("case", "create", "demo", "--purpose", "test")
    proc = env.wb(
        "capture",
        "--case",
        "demo",
        "--json",
        "--concurrency",
        "2",
        site.url("/r1"),
        site.url("/@jon/111999888777666555"),
        f"http://127.0.0.1:{site.port + 1 if site.port < 65535 else 1}/x",
        check=1,
    )
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["status"] for x in lines].count("captured") == 2, (lines, proc.stderr)
    return env, lines


def test_capture_stores_page_representations_and_record(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    roles = {a["role"] for a in ok["artifacts"]}
    assert {"screenshot", "html", "mhtml", "text", "warc", "wacz", "record", "manifest", "media"} <= roles
    assert ok["final_url"] == env.site.url("/page.html") != ok["requested_url"]
    with env.db() as conn:
        row = conn.execute("select record from captures where id = ?", (ok["capture_id"],)).fetchone()
    record = json.loads(row["record"])
    for key in (
        "requested_url",
        "final_url",
        "http_status",
        "title",
        "started_at",
        "ended_at",
        "utc_offset",
        "collector_id",
        "case",
        "tool_version",
        "playwright",
        "browser",
        "user_agent",
        "viewport",
        "network_profile",
        "launch_flags",
        "steps",
        "transformations",
    ):
        assert record[key] not in (None, "", [], {}), key
    assert record["started_at"].endswith("Z") and record["ended_at"].endswith("Z")
    assert [h["status"] for h in record["redirect_chain"]] == [302, 302]
    from importlib.metadata import version

    assert record["playwright"] == version("playwright")
    chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout
    assert record["browser"].split("/")[1] in chromium
    assert record["title"] == UKRAINIAN


def test_embedded_media_archived_byte_for_byte_with_gps(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    media = {a["sha256"] for a in ok["artifacts"] if a["role"] == "media"}
    for path in ("/photo.jpg", "/clip.webm", "/lazy.png"):
        assert hashlib.sha256(env.site.routes[path][2]).hexdigest() in media, path
    jpeg = env.blob(hashlib.sha256(env.site.routes["/photo.jpg"][2]).hexdigest())
    tags = subprocess.run(
        ["exiftool", "-j", "-n", "-GPSLatitude", "-GPSLongitude", "--", str(jpeg)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    gps = json.loads(tags)[0]
    assert round(gps["GPSLatitude"], 3) == round(49 + 59 / 60 + 30 / 3600, 3)


def test_page_text_keeps_arabic_and_ukrainian(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    text_sha = next(a["sha256"] for a in ok["artifacts"] if a["role"] == "text")
    text = env.blob(text_sha).read_text("utf-8")
    assert UKRAINIAN in text and ARABIC in text


def test_wacz_passes_wacz_validate(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    wacz = env.blob(next(a["sha256"] for a in ok["artifacts"] if a["role"] == "wacz"))
    tool = Path(sys.executable).parent / "wacz"
    proc = subprocess.run([str(tool), "validate", "-f", str(wacz)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_canary_port_refused_and_archive_verifies(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    env, lines = captured
    refused = [x for x in lines if x["status"] == "refused"]
    assert len(refused) == 1 and "loopback" in refused[0]["reason"]
    assert env.wb("verify").returncode == 0


def test_manifest_checks_and_a_flipped_byte_is_named(
    captured: tuple[Env, list[dict[str, Any]]], tmp_path: Path
) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    manifest = env.blob(next(a["sha256"] for a in ok["artifacts"] if a["role"] == "manifest"))
    check = subprocess.run(
        ["sha256sum", "-c", str(manifest)], cwd=env.root / "home", capture_output=True, text=True
    )
    assert check.returncode == 0 and "FAILED" not in check.stdout
    copy = Env(tmp_path, env.site)
    shutil.copytree(env.root / "home", tmp_path / "home")
    shutil.copytree(env.root / "key", tmp_path / "key")
    shutil.copy(env.root / "session", tmp_path / "session")  # the same login, on the copied home
    victim = copy.blob(next(a["sha256"] for a in ok["artifacts"] if a["role"] == "media"))
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    proc = copy.wb("verify", check=1)
    assert victim.name in proc.stdout


def test_resume_skips_and_again_adds_capture_and_sighting(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    again = json.loads(env.wb("capture", "--case", "demo", "--json", env.site.url("/r1")).stdout)
    assert again["capture_id"] == ok["capture_id"] and "skipped" in again["reason"]
    fresh = json.loads(env.wb("capture", "--case", "demo", "--json", "--again", env.site.url("/r1")).stdout)
    assert fresh["capture_id"] != ok["capture_id"] and fresh["item_id"] == ok["item_id"]
    with env.db() as conn:
        caps = conn.execute("select capture_id from sightings where item_id = ?", (ok["item_id"],)).fetchall()
    assert {ok["capture_id"], fresh["capture_id"]} <= {r["capture_id"] for r in caps}


def test_post_context_is_kept_apart_from_the_collector(captured: tuple[Env, list[dict[str, Any]]]) -> None:
    """CAP-05: the source account and the capturing analyst are different fields; caption byte-identical."""
    env, lines = captured
    social = next(x for x in lines if "/@jon/" in x["url"])
    assert social["status"] == "captured" and social["post"]["platform"] == "mastodon"
    assert social["post"]["caption"] == "Road closed at the checkpoint."
    with env.db() as conn:
        sighting = conn.execute(
            "select account, platform, posted_at from sightings where capture_id = ? and item_id = ?",
            (social["capture_id"], social["item_id"]),
        ).fetchone()
        record = json.loads(
            conn.execute("select record from captures where id = ?", (social["capture_id"],)).fetchone()[0]
        )
    assert sighting["account"] == "jon@social.example" and sighting["platform"] == "mastodon"
    assert sighting["posted_at"].startswith("2024-03-02T12:30:00")
    assert record["collector_id"] == "analyst-a" != sighting["account"]


def test_url_file_with_comments_resumes_without_a_browser(
    captured: tuple[Env, list[dict[str, Any]]], tmp_path: Path
) -> None:
    env, lines = captured
    ok = next(x for x in lines if x["status"] == "captured" and x["url"].endswith("/r1"))
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# today's list\n\n{env.site.url('/r1')}\n", encoding="utf-8")
    proc = env.wb("capture", "--case", "demo", "--file", str(urls))
    assert "skipped" in proc.stdout and ok["item_id"] in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "1 captured, 0 refused, 0 failed"


@pytest.mark.parametrize(
    "args",
    [
        ("capture", "--case", "no-such-case", "http://127.0.0.1:9/"),
        ("capture", "--case", "demo"),
        ("capture", "--case", "demo", "--allow", "not-a-pair", "http://127.0.0.1:9/"),
        ("capture", "--case", "demo", "--concurrency", "0", "http://127.0.0.1:9/"),
    ],
)
def test_usage_errors_exit_2_and_change_nothing(
    captured: tuple[Env, list[dict[str, Any]]], args: tuple[str, ...]
) -> None:
    env, _ = captured
    with env.db() as conn:
        before = conn.execute("select count(*) from captures").fetchone()[0]
    proc = env.wb(*args, check=2)
    assert proc.stderr.strip()
    with env.db() as conn:
        assert conn.execute("select count(*) from captures").fetchone()[0] == before
