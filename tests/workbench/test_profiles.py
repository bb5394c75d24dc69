"""A case's browser profile: captures in that case log in with it, no other case sees it, and its
secrets stay out of the evidence (record, WARC, custody log)."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.collectors.webfixtures import Site, serve
from tests.conftest import RunWb, json_lines

__all__ = ["serve"]

SECRET = "s3cr3t-session-token-4242"


def state_file(path: Path, port: int, value: str = SECRET) -> Path:
    state = {
        "cookies": [
            {
                "name": "session",
                "value": value,
                "domain": "127.0.0.1",
                "path": "/",
                "expires": -1,
                "httpOnly": True,
                "secure": False,
                "sameSite": "Lax",
            }
        ],
        "origins": [],
    }
    path.write_text(json.dumps(state), encoding="utf-8")
    return path


@pytest.fixture
def two_cases(wb: RunWb, wb_env: dict[str, str], serve: Callable[..., Site]) -> tuple[RunWb, Site]:
    site = serve(Site())
    site.add("/members", "<title>members</title><p>only for members</p>")
    site.add("/public", "<title>public</title><p>for all</p>")
    wb_env["WB_CAPTURE_ALLOW"] = f"127.0.0.1:{site.port}"
    wb("init")
    wb("case", "create", "alpha", "--purpose", "p")
    wb("case", "create", "beta", "--purpose", "p")
    return wb, site


def _cookies_sent(site: Site, path: str) -> list[str]:
    return [h.get("cookie", "") for p, h in site.log if p == path]


def _all_text(home: Path) -> str:
    conn = sqlite3.connect(home / "archive.sqlite3")
    try:
        rows = conn.execute("select record from captures").fetchall()
        events = conn.execute("select * from custody_events").fetchall()
        settings = conn.execute("select * from settings").fetchall()
    finally:
        conn.close()
    return json.dumps([rows, [list(e) for e in events], settings], default=str)


@pytest.mark.browser
def test_captures_in_the_case_log_in_with_its_profile_and_no_other_case_does(
    two_cases: tuple[RunWb, Site], wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb, site = two_cases
    state = state_file(tmp_path / "state.json", site.port)
    shown = json_lines(wb("case", "profile", "alpha", "--set", str(state), "--json").stdout)[0]
    assert shown["profile"]["cookie_domains"] == ["127.0.0.1"]
    assert SECRET not in json.dumps(shown)

    got = json_lines(wb("capture", "--case", "alpha", "--json", site.url("/members")).stdout)[0]
    assert got["status"] == "captured", got
    assert _cookies_sent(site, "/members") == [f"session={SECRET}"]
    wb("capture", "--case", "beta", "--json", site.url("/public"))
    assert _cookies_sent(site, "/public") == [""]

    home = Path(wb_env["WB_HOME"])
    assert SECRET not in _all_text(home)
    conn = sqlite3.connect(home / "archive.sqlite3")
    try:
        (text,) = conn.execute("select record from captures where requested_url like '%members'").fetchone()
    finally:
        conn.close()
    record: dict[str, Any] = json.loads(text)
    assert record["budgets"]["storage_state"]["cookie_domains"] == ["127.0.0.1"]
    assert any("Cookie" in t for t in record["transformations"])
    warc = next(a for a in got["artifacts"] if a["role"] == "warc")["sha256"]
    blob = home / "blobs" / warc[:2] / warc[2:4] / warc
    assert SECRET.encode() not in gzip.decompress(blob.read_bytes())
    assert b"[redacted" in gzip.decompress(blob.read_bytes())
    profile = home / "profiles" / "case-1.json"
    assert oct(profile.stat().st_mode & 0o777) == "0o600"
    assert wb("verify").returncode == 0


def test_one_profile_is_never_named_for_two_cases(two_cases: tuple[RunWb, Site], tmp_path: Path) -> None:
    wb, site = two_cases
    state = state_file(tmp_path / "state.json", site.port)
    wb("case", "profile", "alpha", "--set", str(state))
    refused = wb("case", "profile", "beta", "--set", str(state), check=2)
    assert "never shared" in refused.stderr
    assert json_lines(wb("case", "profile", "beta", "--json").stdout)[0]["profile"] is None


def test_bad_profiles_are_refused_with_a_reason(two_cases: tuple[RunWb, Site], tmp_path: Path) -> None:
    wb, _ = two_cases
    cases = {
        "notjson.json": b"\xff\xfe not json",
        "list.json": b"[1, 2]",
        "empty.json": b'{"cookies": [], "origins": []}',
        "badcookie.json": b'{"cookies": [{"name": 1}], "origins": []}',
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        proc = wb("case", "profile", "alpha", "--set", str(path), check=2)
        assert name in proc.stderr and ("storage_state" in proc.stderr or "cookie" in proc.stderr), (
            proc.stderr
        )
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(6 << 20)
    assert "larger than" in wb("case", "profile", "alpha", "--set", str(big), check=2).stderr
    assert wb("case", "profile", "alpha", "--set", str(tmp_path / "missing.json"), check=2).stderr


def test_clearing_forgets_the_profile_and_a_changed_file_is_refused(
    two_cases: tuple[RunWb, Site], wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb, site = two_cases
    wb("case", "profile", "alpha", "--set", str(state_file(tmp_path / "s.json", site.port)))
    stored = Path(wb_env["WB_HOME"]) / "profiles" / "case-1.json"
    stored.write_text(stored.read_text().replace(SECRET, "tampered"), encoding="utf-8")
    assert "changed on disk" in wb("capture", "--case", "alpha", site.url("/public"), check=2).stderr
    assert site.log == []  # nothing was fetched with a profile nobody set
    wb("case", "profile", "alpha", "--clear")
    assert not stored.exists()
    assert json_lines(wb("case", "profile", "alpha", "--json").stdout)[0]["profile"] is None
    assert os.listdir(stored.parent) == []


def test_a_profile_the_browser_would_refuse_is_refused_when_set(
    two_cases: tuple[RunWb, Site], tmp_path: Path
) -> None:
    # Each of these passes a naive shape check but makes Chromium refuse the whole context, so
    # every capture in the case would fail; the reason names the field, never the cookie's value.
    wb, _ = two_cases
    base = {"name": "sid", "value": SECRET, "domain": "127.0.0.1", "path": "/"}
    bad = {
        "nopath": {k: v for k, v in base.items() if k != "path"},
        "samesite": {**base, "sameSite": "Bogus"},
        "expires": {**base, "expires": "tomorrow"},
        "control": {**base, "value": SECRET + "\n"},
        "secure": {**base, "secure": "yes"},
    }
    for name, cookie in bad.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"cookies": [cookie], "origins": []}), encoding="utf-8")
        proc = wb("case", "profile", "alpha", "--set", str(path), check=2)
        assert "cookie" in proc.stderr and SECRET not in proc.stderr, (name, proc.stderr)
    assert json_lines(wb("case", "profile", "alpha", "--json").stdout)[0]["profile"] is None


def test_the_same_session_reformatted_is_still_never_named_for_two_cases(
    two_cases: tuple[RunWb, Site], tmp_path: Path
) -> None:
    # Re-indenting the file, reordering its keys or touching an expiry changes the file's hash but
    # not the session: the same cookies must still be refused for a second case.
    wb, site = two_cases
    first = state_file(tmp_path / "state.json", site.port)
    wb("case", "profile", "alpha", "--set", str(first))
    state = json.loads(first.read_text(encoding="utf-8"))
    state["cookies"][0]["expires"] = 4102444800
    again = tmp_path / "again.json"
    again.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    refused = wb("case", "profile", "beta", "--set", str(again), check=2)
    assert "never shared" in refused.stderr
    other = state_file(tmp_path / "other.json", site.port, value="another-account-token")
    assert wb("case", "profile", "beta", "--set", str(other)).returncode == 0
