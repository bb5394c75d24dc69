"""Where captures may go and by which route, as people set it: capture targets an admin allows
(`wb capture-target`, the Settings page) and a case's upstream proxy (`wb case set-proxy`, the Cases
page). Real CLI, real app (AppTest), real Chromium; the upstream is our own recording proxy."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from archive.custody import CustodyLog
from archive.home import Home
from tests.collectors.test_page_keeps import CLIP
from tests.collectors.upstream_proxy import RecordingProxy, recording_proxy
from tests.collectors.webfixtures import Site, serve
from tests.conftest import PASSWORD, RunWb, clean_env, init_home, json_lines, run_wb
from tests.workbench.app_fixtures import PASSWORD as APP_PASSWORD
from tests.workbench.app_fixtures import World, make_world
from workbench.services.auth import AccessDenied
from workbench.services.capture.network import allowed_targets, case_proxy

__all__ = ["serve"]

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
Demo = tuple[RunWb, dict[str, str], dict[str, str], dict[str, str]]  # wb, admin, analyst, outsider


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One home for the module: cases demo and other; an analyst of demo (a member without the admin
    role), an analyst of other only (not a member of demo). Tests change different settings."""
    root = tmp_path_factory.mktemp("net")
    admin = clean_env()
    admin.pop("WB_CAPTURE_ALLOW", None)
    admin.update(WB_HOME=str(root / "home"), WB_KEY=str(root / "key"), WB_SESSION=str(root / "s-admin"))
    init_home(admin)

    def wb(*args: str, check: int | None = 0, env: dict[str, str] | None = None) -> Any:
        return run_wb(env or admin, *args, check=check)

    envs = {}
    for name, case in (("ana", "demo"), ("out", "other")):
        wb("case", "create", case, "--purpose", "p")
        run_wb(admin, "user", "add", name, "--role", "analyst", "--password-stdin", input=PASSWORD)
        wb("member", "add", "--case", case, name)
        envs[name] = dict(admin, WB_SESSION=str(root / f"s-{name}"))
        run_wb(envs[name], "login", name, "--password-stdin", input=PASSWORD)
    return wb, admin, envs["ana"], envs["out"]


def _events(env: dict[str, str], action: str) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(Path(env["WB_HOME"]) / "archive.sqlite3")) as conn:
        rows = conn.execute(
            "select actor, via, details from custody_events where action = ? order by seq", (action,)
        ).fetchall()
    return [{"actor": a, "via": v, **json.loads(d)} for a, v, d in rows]


def test_only_an_admin_allows_or_removes_a_capture_target(demo: Demo) -> None:
    wb, wb_env, analyst, _ = demo
    refused = wb("capture-target", "allow", "127.0.0.1:8000", env=analyst, check=1)
    assert "refused" in refused.stderr
    wb("capture-target", "allow", "127.0.0.1:8000")
    assert json_lines(wb("capture-target", "list", "--json").stdout) == [{"target": "127.0.0.1:8000"}]
    # Targets name internal services and test servers: only their managers list them.
    assert "refused" in wb("capture-target", "list", env=analyst, check=1).stderr
    assert [e["permission"] for e in _events(wb_env, "access.denied") if e["actor"] == "ana"] == [
        "manage_capture"
    ] * 2
    allowed = _events(wb_env, "capture_target.allowed")
    assert allowed[0]["target_sha256"] == hashlib.sha256(b"127.0.0.1:8000").hexdigest()
    assert "127.0.0.1" not in json.dumps(allowed)  # the log keeps the hash, the setting the address
    wb("capture-target", "remove", "127.0.0.1:8000", env=analyst, check=1)
    wb("capture-target", "remove", "127.0.0.1:8000")
    assert json_lines(wb("capture-target", "list", "--json").stdout) == []
    assert len(_events(wb_env, "capture_target.removed")) == 1
    assert "not HOST:PORT" in wb("capture-target", "allow", "no-port", check=2).stderr
    assert "not an allowed" in wb("capture-target", "remove", "127.0.0.1:9", check=2).stderr


def test_only_an_admin_sets_a_case_proxy_and_only_members_see_it(demo: Demo) -> None:
    wb, wb_env, analyst, outsider = demo
    tor = "socks5h://127.0.0.1:9050"
    denied = len(_events(wb_env, "access.denied"))
    for who in (analyst, outsider):  # a member without the role, and a non-member
        wb("case", "set-proxy", "demo", tor, env=who, check=1)
    assert len(_events(wb_env, "access.denied")) == denied + 2
    assert "scheme must be" in wb("case", "set-proxy", "demo", "ftp://127.0.0.1:21", check=2).stderr
    wb("case", "set-proxy", "demo", tor)
    shown = json_lines(wb("case", "set-proxy", "demo", "--json", env=analyst).stdout)[0]
    assert shown["proxy"]["url"] == tor and shown["proxy"]["names_resolved_by"].startswith("the upstream")
    wb("case", "set-proxy", "demo", env=outsider, check=1)  # not a member: not even to read
    assert "no upstream proxy" in wb("case", "set-proxy", "other").stdout
    wb("case", "set-proxy", "demo", "--clear")
    assert json_lines(wb("case", "set-proxy", "demo", "--json").stdout)[0]["proxy"] is None
    assert [e["scheme"] for e in _events(wb_env, "case.proxy_set")] == ["socks5h"]
    assert len(_events(wb_env, "case.proxy_cleared")) == 1


@pytest.fixture
def upstream() -> Iterator[RecordingProxy]:
    yield from recording_proxy({})


@pytest.mark.browser
def test_a_refusal_says_how_to_allow_and_the_allowed_target_is_captured_through_the_case_proxy(
    demo: Demo, serve: Callable[..., Site], upstream: RecordingProxy
) -> None:
    wb, wb_env, analyst, _ = demo
    wb("case", "create", "field", "--purpose", "p")
    wb("member", "add", "--case", "field", "ana")
    site = serve(Site())
    site.add("/clip.avi", CLIP, "video/x-msvideo")
    site.add(
        "/post",
        "<!doctype html><meta charset=utf-8><title>post</title><video src=clip.avi preload=none></video>",
    )
    url = site.url("/post")
    first = json_lines(wb("capture", "--case", "field", "--json", url, env=analyst, check=1).stdout)[0]
    assert first["status"] == "refused"
    assert f"`wb capture-target allow 127.0.0.1:{site.port}`" in first["reason"]
    assert "Settings > Capture targets" in first["reason"]
    wb("capture-target", "allow", f"127.0.0.1:{site.port}")
    wb("case", "set-proxy", "field", f"socks5://127.0.0.1:{upstream.port}")
    done = json_lines(wb("capture", "--case", "field", "--json", url, env=analyst).stdout)[0]
    assert done["status"] == "captured", done
    assert f"CONNECT 127.0.0.1:{site.port}" in upstream.log
    media = [a for a in done["artifacts"] if a["role"] == "media"]
    assert [a["sha256"] for a in media] == [hashlib.sha256(CLIP).hexdigest()]
    blob = (
        Path(wb_env["WB_HOME"])
        / "blobs"
        / media[0]["sha256"][:2]
        / media[0]["sha256"][2:4]
        / media[0]["sha256"]
    )
    assert blob.read_bytes() == CLIP  # the video Chromium never fetched, stored byte for byte
    assert done["post"]["media_urls"] == [site.url("/clip.avi")]
    with contextlib.closing(sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")) as conn:
        record = json.loads(
            conn.execute("select record from captures where status = 'captured'").fetchone()[0]
        )
    assert record["upstream_proxy"]["url"] == f"socks5://127.0.0.1:{upstream.port}"
    assert "then the upstream proxy" in record["network_profile"]
    assert f"127.0.0.1:{site.port}" in record["budgets"]["allow_list"]


# -- the app ---------------------------------------------------------------------------------------


@pytest.fixture
def world(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    yield make_world(home, reviews=2, n_items=0)


def _page(name: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(APP_PASSWORD)
    at.button[0].click().run()
    at.sidebar.radio(key="nav").set_value(page).run()
    assert not at.exception, at.exception
    return at


def test_an_admin_allows_a_capture_target_on_the_settings_page(world: World) -> None:
    assert "t_target" not in [t.key for t in _page("analyst", "Settings").text_input]
    at = _page("admin", "Settings")
    at.text_input(key="t_target").input("127.0.0.1:8123")
    at.button(key="FormSubmitter:capture_targets-Allow target").click().run()
    assert not at.exception, at.exception
    assert allowed_targets(world.home) == ["127.0.0.1:8123"]
    assert "Allowed capture targets: 127.0.0.1:8123" in [str(t.value) for t in at.text]
    at.text_input(key="t_target").input("not a target")
    at.button(key="FormSubmitter:capture_targets-Allow target").click().run()
    assert [e.value for e in at.error] == ["Not saved"]


def test_an_admin_sets_a_case_proxy_on_the_cases_page(world: World) -> None:
    at = _page("admin", "Cases")
    at.text_input(key="x_url").input("socks5h://127.0.0.1:9050")
    at.button(key="FormSubmitter:case_proxy-Set proxy").click().run()
    assert not at.exception, at.exception
    found = case_proxy(world.home, world.case)
    assert found is not None and found.url == "socks5h://127.0.0.1:9050"
    at = _page("admin", "Cases")
    assert any("socks5h://127.0.0.1:9050" in str(t.value) for t in at.text)


@pytest.mark.browser
def test_the_app_s_capture_job_says_how_to_allow_a_refused_target(
    world: World, serve: Callable[..., Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.services import jobs

    monkeypatch.delenv("WB_CAPTURE_ALLOW", raising=False)
    site = serve(Site())
    job_id = jobs.submit(world.home, world.analyst, "capture", world.case.id, {"urls": [site.url("/x")]})
    done = jobs.run_job(world.home, job_id)
    assert done is not None and done.status == "done", done
    result = done.result["results"][0]
    assert result["status"] == "refused"
    assert f"`wb capture-target allow 127.0.0.1:{site.port}`" in result["reason"]
    assert "Settings > Capture targets in the app" in result["reason"]


def test_a_runs_own_targets_are_for_admins_and_logged(demo: Demo) -> None:
    """`wb capture --allow` and WB_CAPTURE_ALLOW pass the guard for one run only for an admin: an analyst
    member (its role captures) is refused before any capture, logged. (A non-member and a wrong role
    are refused the capture itself: test_redteam_cli.py, test_capture_refused_to_a_non_member...)"""
    wb, wb_env, analyst, _ = demo
    before = len(_events(wb_env, "access.denied"))
    captures_before = _count_captures(wb_env)
    url = "http://127.0.0.1:9/x"
    by_flag = wb("capture", "--case", "demo", "--allow", "127.0.0.1:9", url, env=analyst, check=1)
    assert "are for admins" in by_flag.stderr and "wb capture-target allow" in by_flag.stderr
    wb("capture", "--case", "demo", url, env=dict(analyst, WB_CAPTURE_ALLOW="127.0.0.1:9"), check=1)
    denied = _events(wb_env, "access.denied")[before:]
    assert [(e["actor"], e["permission"]) for e in denied] == [("ana", "manage_capture")] * 2
    assert _events(wb_env, "capture.run_targets") == []
    assert _count_captures(wb_env) == captures_before  # the module's home has earlier tests' captures


def _count_captures(wb_env: dict[str, str]) -> int:
    with contextlib.closing(sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")) as conn:
        return int(conn.execute("select count(*) from captures").fetchone()[0])


def test_an_admins_run_targets_are_logged_and_a_home_target_needs_no_admin(world: World) -> None:
    """In the service: an admin's run targets log `capture.run_targets` (hashes only); a target the
    home already allows is no bypass, so an analyst's run may name it."""
    from collectors.guard import Policy
    from collectors.web import CaptureSettings
    from workbench.services.capture.network import allow_target
    from workbench.services.capture.run import capture_urls

    w = world
    run = CaptureSettings(policy=Policy.from_settings(["127.0.0.1:7"], env={}))
    assert capture_urls(w.home, w.case, [], w.admin, run) == []
    with w.home.reading() as conn:
        logged = [e for e in CustodyLog.events(conn) if e.action == "capture.run_targets"]
    assert [(e.actor, e.details) for e in logged] == [
        ("admin", {"targets_sha256": [hashlib.sha256(b"127.0.0.1:7").hexdigest()]})
    ]
    with pytest.raises(AccessDenied):
        capture_urls(w.home, w.case, [], w.analyst, run)
    allow_target(w.home, w.admin, "127.0.0.1:7")
    assert capture_urls(w.home, w.case, [], w.analyst, run) == []


def test_the_staff_list_shows_an_account_only_the_people_of_its_cases(demo: Demo) -> None:
    """`wb user list`: an admin sees every account; an analyst itself and its cases' members, not the
    staff of cases it is not in (issue 11)."""
    wb, _, analyst, outsider = demo

    def names(env: dict[str, str] | None = None) -> set[str]:
        return {u["user"] for u in json_lines(wb("user", "list", "--json", env=env).stdout)}

    assert {"ana", "out"} <= names()
    assert "ana" in names(analyst) and "out" not in names(analyst)
    assert "out" in names(outsider) and "ana" not in names(outsider)
