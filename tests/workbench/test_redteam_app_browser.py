"""Red-team journeys against the app's sessions, in real Chromium against the app as `wb serve` starts it.

Each test plays an attack or a promise from issue 11 (sessions): replaying a Streamlit session id,
a file link after logout, Streamlit's /media without a session, revealed media past the idle
timeout, a reload, a DNS-rebound Host, the first run. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import select
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from archive.custody import CustodyLog
from archive.db import sessions as sessions_table
from archive.db import users
from archive.home import Home
from tests.conftest import clean_env, run_wb
from tests.workbench.app_fixtures import PASSWORD, World, make_world
from tests.workbench.browser_server import CHROMIUM, app_server, free_port, login, shot, wait_idle
from workbench import TOOL_VERSION
from workbench.app.main import SESSION_CHECK_S
from workbench.services.auth import DEFAULT_IDLE_MINUTES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Records the page's Streamlit messages (to learn its session id) and, when ``window.__forceSid`` is
# set before the page's script runs, presents that session id when the page connects, as a browser
# that learnt someone else's id would.
SPY = """
(() => {
  const Orig = window.WebSocket;
  window.__messages = [];
  class Spy extends Orig {
    constructor(url, protocols) {
      const forced = window.__forceSid;
      super(url, forced ? [protocols[0], protocols[1], forced] : protocols);
      this.addEventListener('message', (e) => {
        if (e.data instanceof ArrayBuffer && window.__messages.length < 20) {
          let s = ''; for (const b of new Uint8Array(e.data)) s += String.fromCharCode(b);
          window.__messages.push(btoa(s));
        }
      });
    }
  }
  window.WebSocket = Spy;
})();
"""


@dataclass
class Setup:
    world: World
    base: str
    port: int
    log: Path
    pw: Playwright
    browser: Browser


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("redteam")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    try:
        w = make_world(home, reviews=2, n_items=2)
        with app_server(root / "home", root / "keys" / "signing.key") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            yield Setup(w, base, int(base.rsplit(":", 1)[1]), root / "streamlit.log", pw, browser)
            browser.close()
    finally:
        home.close()


@pytest.fixture
def context(setup: Setup) -> Iterator[BrowserContext]:
    ctx = setup.browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()


def _login_form(page: Page) -> None:
    expect(page.locator(".st-key-login_name input")).to_be_visible(timeout=30_000)


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    _login_form(page)
    wait_idle(page)


def _session_id(page: Page) -> str:
    """The Streamlit session id the server gave this page (from its NewSession message)."""
    page.wait_for_function("() => window.__messages.length > 0")
    for b64 in page.evaluate("() => window.__messages"):
        msg = ForwardMsg.FromString(base64.b64decode(b64))
        if msg.WhichOneof("type") == "new_session":
            return str(msg.new_session.initialize.session_id)
    raise AssertionError("no new_session message seen")


def _denials(home: Home, actor: str) -> int:
    with home.reading() as conn:
        return sum(1 for e in CustodyLog.events(conn) if e.actor == actor and e.action == "access.denied")


def _actions(home: Home, item_id: str, actor: str) -> list[str]:
    with home.reading() as conn:
        return [e.action for e in CustodyLog.events(conn, item_id=item_id) if e.actor == actor]


def test_reload_keeps_the_login_in_an_httponly_strict_cookie(setup: Setup, context: BrowserContext) -> None:
    page = context.new_page()
    login(page, setup.base, "analyst", PASSWORD)
    cookie = next(c for c in context.cookies() if c["name"] == "wb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie").find("wb_session") == -1  # no script can read it
    page.reload()
    expect(page.get_by_text("Signed in: analyst")).to_be_visible(timeout=30_000)
    shot(page, "rt-01-reload-keeps-login")
    _log_out(page)
    assert "wb_session" not in [c["name"] for c in context.cookies()]
    digest = hashlib.sha256(cookie["value"].encode()).hexdigest()
    with setup.world.home.reading() as conn:
        ended = conn.execute(
            select(sessions_table.c.end_reason).where(sessions_table.c.token_sha256 == digest)
        ).scalar_one()
    assert ended == "logout"  # the server session ended too, not only the cookie


def test_another_browsers_streamlit_session_id_is_worthless(setup: Setup) -> None:
    victim = setup.browser.new_context()
    attacker = setup.browser.new_context()
    try:
        victim.add_init_script(SPY)
        vpage = victim.new_page()
        login(vpage, setup.base, "analyst", PASSWORD)
        wait_idle(vpage)
        sid = _session_id(vpage)
        assert len(sid) == 36
        attacker.add_init_script(f"window.__forceSid = {sid!r};")
        attacker.add_init_script(SPY)
        apage = attacker.new_page()
        apage.goto(setup.base)
        _login_form(apage)
        wait_idle(apage)
        shot(apage, "rt-02-session-id-replay")
        assert "Signed in" not in apage.content()
        # The victim is still logged in (its own cookie), and the server log never names the id.
        vpage.reload()
        expect(vpage.get_by_text("Signed in: analyst")).to_be_visible(timeout=30_000)
        log = setup.log.read_text(errors="replace")
        assert "<session>" in log and sid not in log  # the reconnect was logged, without the id
    finally:
        attacker.close()
        victim.close()


def _download_link(page: Page, base: str, item_id: str) -> str:
    login(page, base, "analyst", PASSWORD, f"?item={item_id}")
    link = page.get_by_role("link", name="Download original (logged)")
    expect(link).to_be_visible(timeout=30_000)
    href = link.get_attribute("href")
    assert href and "/api/file/" in href
    return href


def test_another_site_cannot_log_a_browser_in_as_someone_else(setup: Setup) -> None:
    """Login CSRF: an attacker's own fresh login code, sent to a victim from another page, is refused."""
    attacker, victim = setup.browser.new_context(), setup.browser.new_context()
    try:
        page = attacker.new_page()
        page.route("**/wb/session?*", lambda route: route.abort())  # the attacker keeps the code unused
        page.goto(setup.base)
        page.locator(".st-key-login_name input").fill("legal")
        page.locator(".st-key-login_password input").fill(PASSWORD)
        with page.expect_request("**/wb/session?*") as handed:
            page.get_by_role("button", name="Log in").click()
        code_url = handed.value.url
        vpage = victim.new_page()
        vpage.set_content(f'<a id="go" href="{code_url}">a harmless link</a>')
        vpage.click("#go")
        _login_form(vpage)
        assert "wb_session" not in [c["name"] for c in victim.cookies()]
        assert "Signed in" not in vpage.content()
    finally:
        attacker.close()
        victim.close()


def test_file_link_dies_with_logout_and_serves_no_other_account(
    setup: Setup, context: BrowserContext
) -> None:
    w = setup.world
    page = context.new_page()
    href = _download_link(page, setup.base, w.items[0])
    # The link opens in a new tab; the SameSite=Strict cookie goes with it (same-origin navigation).
    with context.expect_event("response", lambda r: "/api/file/" in r.url) as opened:
        page.get_by_role("link", name="Download original (logged)").click()
    assert opened.value.status == 200 and opened.value.headers["cache-control"] == "no-store"
    assert _actions(w.home, w.items[0], "analyst").count("media.downloaded") == 1
    got = page.request.get(href)
    assert got.status == 200
    assert _actions(w.home, w.items[0], "analyst").count("media.downloaded") == 2
    other = setup.browser.new_context()
    try:
        login(other.new_page(), setup.base, "reviewer", PASSWORD)
        assert other.request.get(href).status == 404  # the link was made for the analyst
        assert "access.denied" in _actions(w.home, w.items[0], "reviewer")
    finally:
        other.close()
    _log_out(page)
    refused = page.request.get(href)
    assert refused.status == 403 and refused.headers["cache-control"] == "no-store"
    assert _actions(w.home, w.items[0], "analyst").count("media.downloaded") == 2


def test_streamlit_media_needs_a_live_session_and_is_never_stored(
    setup: Setup, context: BrowserContext
) -> None:
    page = context.new_page()
    login(page, setup.base, "analyst", PASSWORD, f"?item={setup.world.items[1]}")
    drawn = "els => els.map(e => e.complete && e.naturalWidth > 0)"
    expect(page.locator("[data-testid='stImage'] img").first).to_be_visible(timeout=30_000)
    page.wait_for_function(
        f"() => ({drawn})([...document.querySelectorAll('[data-testid=stImage] img')]).every(x => x)"
    )
    page.locator(".st-key-reveal button").click()
    expect(page.locator(".st-key-reblur button")).to_be_visible(timeout=30_000)
    wait_idle(page)
    srcs = page.locator("[data-testid='stImage'] img").evaluate_all("els => els.map(e => e.src)")
    media = [s for s in srcs if "/media/" in s]
    assert media, srcs
    item = setup.world.items[1]
    mine = page.request.get(media[0])
    assert mine.status == 200 and mine.headers["cache-control"] == "no-store"
    # The revealed bytes went to the analyst: logged once for this reveal, not once per fetch.
    assert page.request.get(media[0]).status == 200
    assert _actions(setup.world.home, item, "analyst").count("media.served") == 1
    stranger = setup.pw.request.new_context()
    try:
        assert stranger.get(media[0]).status == 403
    finally:
        stranger.dispose()
    # Another live login that learnt the URL (a member of the case who may see the item, a
    # non-member) is refused: the file was made for the analyst's page; each refusal is logged.
    for name in ("reviewer", "outsider"):
        other = setup.browser.new_context()
        try:
            login(other.new_page(), setup.base, name, PASSWORD)
            before = _denials(setup.world.home, name)
            assert other.request.get(media[0]).status == 403, name
            assert _denials(setup.world.home, name) == before + 1
        finally:
            other.close()
    _log_out(page)
    assert page.request.get(media[0]).status == 403
    page.go_back()  # the browser's history does not bring the revealed picture back
    _login_form(page)
    expect(page.locator(".st-key-reblur button")).to_have_count(0)


def test_revealed_media_reblurs_at_the_idle_timeout_without_a_click(
    setup: Setup, context: BrowserContext
) -> None:
    w = setup.world
    page = context.new_page()
    page.clock.install()
    login(page, setup.base, "reviewer2", PASSWORD, f"?item={w.items[0]}")
    page.locator(".st-key-reveal button").click()
    expect(page.locator(".st-key-reblur button")).to_be_visible(timeout=30_000)
    wait_idle(page)
    shot(page, "rt-03-revealed-before-idle")
    # The server sees no activity for longer than the idle timeout ...
    with w.home.db.begin() as conn:
        uid = conn.execute(select(users.c.id).where(users.c.name == "reviewer2")).scalar_one()
        live = sessions_table.c.user_id == uid, sessions_table.c.ended_at.is_(None)
        last = conn.execute(select(sessions_table.c.last_active).where(*live)).scalar_one()
        idle = timedelta(minutes=DEFAULT_IDLE_MINUTES + 1)
        conn.execute(sessions_table.update().where(*live).values(last_active=last - idle))
    # ... and the browser's clock moves on; nobody clicks.
    page.clock.fast_forward((SESSION_CHECK_S + 1) * 1000)
    _login_form(page)
    expect(page.get_by_text("You were logged out.")).to_be_visible()
    expect(page.get_by_text("Your session ended after inactivity: please log in again.")).to_be_visible()
    expect(page.locator(".st-key-reblur button")).to_have_count(0)
    expect(page.locator("[data-testid='stImage']")).to_have_count(0)
    shot(page, "rt-04-reblurred-after-idle")


def test_deactivation_in_settings_ends_an_open_page_without_a_click(setup: Setup) -> None:
    admin, victim = setup.browser.new_context(), setup.browser.new_context()
    try:
        vpage = victim.new_page()
        vpage.clock.install()
        login(vpage, setup.base, "outsider", PASSWORD)
        expect(vpage.get_by_text("ask an administrator to add you", exact=False)).to_be_visible()
        apage = admin.new_page()
        login(apage, setup.base, "admin", PASSWORD)
        apage.locator(".st-key-nav").get_by_text("Settings").click()
        expect(apage.locator(".st-key-d_user input")).to_be_visible(timeout=30_000)
        wait_idle(apage)
        apage.locator(".st-key-d_user input").click()
        apage.locator(".st-key-d_user input").fill("outsider")
        apage.get_by_role("option", name="outsider", exact=True).click()
        wait_idle(apage)
        apage.get_by_role("button", name="Deactivate").click()
        expect(apage.get_by_text("outsider is deactivated")).to_be_visible(timeout=30_000)
        shot(apage, "rt-06-admin-deactivates")
        vpage.clock.fast_forward((SESSION_CHECK_S + 1) * 1000)
        _login_form(vpage)
        expect(vpage.get_by_text("This account is no longer active.")).to_be_visible()
        shot(vpage, "rt-07-deactivated-page")
    finally:
        admin.close()
        victim.close()


def test_unknown_host_header_is_refused(setup: Setup) -> None:
    def status(host: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", setup.port, timeout=30)
        try:
            conn.request("GET", "/", headers={"Host": host})
            return conn.getresponse().status
        finally:
            conn.close()

    def upgrade(host: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", setup.port, timeout=30)
        try:
            conn.request("GET", "/_stcore/stream", headers={
                "Host": host, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
                "Sec-WebSocket-Protocol": "streamlit, PLACEHOLDER_AUTH_TOKEN",
            })  # fmt: skip
            return conn.getresponse().status
        finally:
            conn.close()

    assert upgrade(f"127.0.0.1:{setup.port}") == 101
    assert upgrade(f"rebind.example:{setup.port}") == 403  # the page connection too
    assert status(f"127.0.0.1:{setup.port}") == 200
    assert status(f"localhost:{setup.port}") == 200
    assert status(f"rebind.example:{setup.port}") == 400
    assert status(f"127.0.0.1:{setup.port + 1}") == 400
    # A page whose name was re-bound to 127.0.0.1 (DNS rebinding) gets nothing from the app.
    rebound = setup.pw.chromium.launch(
        executable_path=CHROMIUM, args=["--host-resolver-rules=MAP rebind.example 127.0.0.1"]
    )
    try:
        page = rebound.new_page()
        response = page.goto(f"http://rebind.example:{setup.port}/")
        assert response is not None and response.status == 400
        assert "Log in" not in page.content()
    finally:
        rebound.close()


@contextmanager
def _wb_serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """`wb serve` as `make run` starts it; yields the base URL once the app answers."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            while not _healthy(base):
                assert proc.poll() is None, log.read_text()
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def test_first_run_makes_the_first_admin_from_this_machine_only(tmp_path: Path, setup: Setup) -> None:
    env = clean_env()
    env.update(WB_HOME=str(tmp_path / "home"), WB_KEY=str(tmp_path / "keys" / "signing.key"))
    run_wb(env, "init")  # no terminal: no prompt, no account
    log = tmp_path / "serve.log"
    with _wb_serve(env, log) as base:
        assert "No account exists yet: open that address in a browser on this machine" in log.read_text()
        # A request a proxy relays for another machine is not "this machine".
        relayed = setup.browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.7"})
        try:
            page = relayed.new_page()
            page.goto(base)
            expect(
                page.get_by_text("No account exists yet. Create the first admin on the server")
            ).to_be_visible(timeout=30_000)
            assert page.locator(".st-key-first_name input").count() == 0
        finally:
            relayed.close()
        local = setup.browser.new_context()
        try:
            page = local.new_page()
            page.goto(base)
            page.locator(".st-key-first_name input").fill("boss")
            page.locator(".st-key-first_password input").fill(PASSWORD)
            page.locator(".st-key-first_again input").fill(PASSWORD)
            page.get_by_role("button", name="Create the administrator and log in").click()
            expect(page.get_by_text("Signed in: boss (admin)")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("create one on the Cases page", exact=False)).to_be_visible()
            shot(page, "rt-05-first-run-admin")
        finally:
            local.close()
        late = setup.browser.new_context()
        try:
            page = late.new_page()
            page.goto(base)
            _login_form(page)
            assert page.locator(".st-key-first_name input").count() == 0
        finally:
            late.close()
    home = Home.open(tmp_path / "home", tmp_path / "keys" / "signing.key", TOOL_VERSION)
    try:
        with home.reading() as conn:
            events = [(e.action, e.actor, e.via) for e in CustodyLog.events(conn)]
    finally:
        home.close()
    assert ("user.created", "boss", "app") in events and ("session.started", "boss", "app") in events
