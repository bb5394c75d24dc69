"""Seeing what was captured, in real Chromium against the running app (one server for the module):
a captured page replayed from its WACZ (offline, blurred until revealed, nothing fetched beyond the app,
the page's own scripts never run), and right-to-left text and bidi overrides as they render.

Screenshots go to test-artifacts/browser/ (seeing-*.png).
"""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, expect, sync_playwright
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import flags, items, sightings, utcnow
from archive.home import Home
from collectors.outcome import CaptureSettings
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world, store
from tests.workbench.browser_server import CHROMIUM, app_server, login, shot, wait_idle
from workbench import TOOL_VERSION
from workbench.services import access, replay
from workbench.services.auth import AccessDenied
from workbench.services.capture import network as capture_network
from workbench.services.capture.run import capture_urls

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE_TEXT = "Residents gathered at the market before the shelling"
SCRIPT_MARK = "SCRIPT-RAN-IN-REPLAY"
ARABIC = "قصف السوق في حلب، ٣ آذار https://example.org/a?b=1 2026"
OVERRIDE_NAME = "photo\u202egnp.exe"


class Site:
    """A captured page's origin on 127.0.0.1 that counts every request it is sent."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits
        page = (
            "<html><head><title>Market, 3 March</title></head><body>"
            f"<h1>Market report</h1><p>{PAGE_TEXT}</p><img src='/photo.png' width=64>"
            f"<script>document.body.insertAdjacentText('beforeend', '{SCRIPT_MARK}');"
            "fetch('/beacon-from-script')</script></body></html>"
        ).encode()
        files = {"/post.html": (page, "text/html; charset=utf-8"), "/photo.png": (make_png(3), "image/png")}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body, kind = files.get(self.path.split("?")[0], (b"not found", "text/plain"))
                self.send_response(200 if self.path.split("?")[0] in files else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Setup:
    w: World
    base: str
    browser: Browser
    site: Site
    page_id: str
    rtl_item: str


def _capture(home: Home, w: World, site: Site) -> str:
    capture_network.allow_target(home, w.admin, f"127.0.0.1:{site.port}")
    [got] = capture_urls(
        home, w.case, [f"http://127.0.0.1:{site.port}/post.html"], w.analyst, CaptureSettings()
    )
    assert got.status == "captured" and got.item_id, got
    return got.item_id


def _rtl_item(home: Home, w: World) -> str:
    item = store(home, w.case, make_png(11), OVERRIDE_NAME)
    with home.transaction("admin") as tx:
        tx.conn.execute(sightings.insert().values(
            item_id=item, source="url", seen_at=utcnow(), url="http://127.0.0.1:9/ar", platform="generic",
            details={"caption": ARABIC}))  # fmt: skip
    return item


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not (replay.replay_dir() / "sw.js").is_file():
        pytest.fail("ReplayWeb.page is not vendored: run scripts/setup.sh (it needs npm)")
    root = tmp_path_factory.mktemp("seeing")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    site = Site()
    w = make_world(home, reviews=2, n_items=1)
    page_id = _capture(home, w, site)
    rtl = _rtl_item(home, w)
    with app_server(root / "home", root / "keys" / "signing.key") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        yield Setup(w, base, browser, site, page_id, rtl)
        browser.close()
    site.server.shutdown()
    home.close()


def _replayed(page: Page) -> Frame:
    """The frame in which the service worker replays the captured page."""
    for _ in range(120):
        for frame in page.frames:
            if "/replay/w/" in frame.url and PAGE_TEXT in (frame.content() or ""):
                return frame
        page.wait_for_timeout(500)
    raise AssertionError(f"no replay frame: {[f.url for f in page.frames]}")


def _shot(page: Page, name: str) -> None:
    """The replay as the analyst sees it (Streamlit scrolls inside the page, so the element is taken)."""
    from tests.workbench.browser_server import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("iframe[src^='/wb/replay']").screenshot(path=str(ARTIFACTS / f"{name}.png"))
    shot(page, name + "-page")


def test_replay_shows_the_captured_page_offline_blurred_until_revealed(s: Setup) -> None:
    context = s.browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    login(page, s.base, "analyst", PASSWORD, f"?item={s.page_id}")
    hits_before = len(s.site.hits)
    page.get_by_role("button", name="Replay the captured page (offline, from its WACZ)").click()
    frame = _replayed(page)
    assert SCRIPT_MARK not in frame.locator("body").inner_text()  # the page's scripts never ran
    blurred = page.locator("iframe[src^='/wb/replay']")
    assert "blur=0&" not in str(blurred.get_attribute("src"))
    style = blurred.content_frame.locator("replay-web-page").get_attribute("style") or ""
    assert "blur(" in style  # blurred like any other media
    page.wait_for_timeout(1000)
    _shot(page, "seeing-replay-blurred")
    page.get_by_role("button", name="Reveal replay (logged)").click()
    sharp = page.locator("iframe[src^='/wb/replay?'][src*='blur=0&']")
    expect(sharp).to_have_count(1, timeout=30_000)
    assert "blur(" not in (sharp.content_frame.locator("replay-web-page").get_attribute("style") or "")
    frame = _replayed(page)
    page.wait_for_timeout(1000)
    _shot(page, "seeing-replay-revealed")
    outside = [u for u in requests if not u.startswith((s.base, "data:", "blob:", "about:"))]
    assert outside == [], outside  # nothing beyond the app on 127.0.0.1, not even the captured site
    assert s.site.hits[hits_before:] == []
    context.close()
    target = replay.replay_target(s.w.home, s.w.analyst, s.page_id)
    assert target is not None
    with s.w.home.reading() as conn:
        logged = [(e.action, e.artifact_sha256) for e in CustodyLog.events(conn, item_id=s.page_id)]
    # The WACZ came through the authenticated file route (logged), and the reveal was logged.
    assert ("media.downloaded", target.sha256) in logged and ("media.revealed", target.sha256) in logged


def test_replay_pages_carry_a_policy_that_allows_nothing_from_outside(s: Setup) -> None:
    with urllib.request.urlopen(f"{s.base}/replay/sw.js") as r:
        policy = r.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in policy and "default-src 'self'" in policy and "*" not in policy
    assert "script-src 'none'" in replay.CONTENT_CSP and "connect-src 'none'" in replay.CONTENT_CSP
    with pytest.raises(urllib.error.HTTPError) as refused:  # no viewer without a login
        urllib.request.urlopen(f"{s.base}/wb/replay?source=1.a.{'0' * 64}.1.{'0' * 64}&url=http://x/")
    assert refused.value.code == 403
    source, evil = f"1.a.{'0' * 64}.9.{'0' * 64}", 'http://x/"><script>alert(1)</script>'
    hostile = replay.viewer_html(source, evil, 0, replay.signature(source, evil, 0))
    assert hostile is not None and "<script>alert" not in hostile and "&quot;&gt;&lt;script&gt;" in hostile


def test_the_replays_blur_is_decided_by_the_server_and_a_reveal_is_logged(s: Setup) -> None:
    """The viewer's blur comes from the account's settings, or from its own logged reveal: `blur=0`
    typed into the viewer's address is refused (it once unblurred without a logged reveal)."""
    w = s.w
    target = replay.replay_target(w.home, w.analyst, s.page_id)
    assert target is not None
    blurred = replay.viewer_url(w.home, w.analyst, s.page_id, target)
    assert blurred.blurred and "&blur=0&" not in blurred.url
    q = dict(urllib.parse.parse_qsl(blurred.url.split("?", 1)[1]))
    assert replay.viewer_html(q["source"], q["url"], int(q["blur"]), q["sig"]) is not None
    assert replay.viewer_html(q["source"], q["url"], 0, q["sig"]) is None  # the address edited
    with w.home.reading() as conn:
        before = len([e for e in CustodyLog.events(conn, item_id=s.page_id) if e.action == "media.revealed"])
    grant = replay.reveal(w.home, w.analyst, s.page_id, target)
    with w.home.reading() as conn:
        after = len([e for e in CustodyLog.events(conn, item_id=s.page_id) if e.action == "media.revealed"])
    assert after == before + 1
    assert not replay.viewer_url(w.home, w.analyst, s.page_id, target, grant).blurred
    # The grant is this account's, for this file: another account's view, or a forged grant, stays blurred.
    assert replay.viewer_url(w.home, w.reviewer, s.page_id, target, grant).blurred
    forged = grant[:-1] + ("1" if grant.endswith("0") else "0")  # one character changed, always
    assert replay.viewer_url(w.home, w.analyst, s.page_id, target, forged).blurred
    with pytest.raises(AccessDenied):  # not a member: no reveal, a logged refusal
        replay.reveal(w.home, w.outsider, s.page_id, target)


def test_replay_access_non_member_unassigned_member_and_withheld(s: Setup) -> None:
    w = s.w
    assert replay.replay_target(w.home, w.reviewer, s.page_id) is not None
    with pytest.raises(AccessDenied):
        replay.replay_target(w.home, w.outsider, s.page_id)  # not a member of the case
    access.tag_item(w.home, w.admin, s.page_id, "sexual violence")
    with pytest.raises(AccessDenied):
        replay.replay_target(w.home, w.reviewer, s.page_id)  # a member, not assigned
    access.assign(w.home, w.admin, s.page_id, "reviewer")
    assert replay.replay_target(w.home, w.reviewer, s.page_id) is not None
    # The page shows a photo now hidden from the reviewer: its WACZ holds it, so it is withheld.
    with w.home.reading() as conn:
        [photo] = [i for i in access.held_items(conn, s.page_id) if i != s.page_id]
    access.tag_item(w.home, w.admin, photo, "sexual violence")
    with pytest.raises(AccessDenied, match=access.WITHHELD):
        replay.replay_target(w.home, w.reviewer, s.page_id)
    access.assign(w.home, w.admin, photo, "reviewer")
    assert replay.replay_target(w.home, w.reviewer, s.page_id) is not None


def test_rtl_caption_and_bidi_override_file_name_render_readably(s: Setup) -> None:
    context = s.browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, s.base, "analyst", PASSWORD, f"?item={s.rtl_item}")
    # The file name's right-to-left override is shown as a mark, not obeyed ("photoexe.png").
    title = page.locator("div.wb-text", has_text="[U+202E RLO]")
    expect(title.first).to_have_text("photo[U+202E RLO]gnp.exe", timeout=30_000)
    page.get_by_role("tab", name="Translations").click()
    caption = page.locator("div.wb-text[dir='auto']", has_text="قصف السوق")
    expect(caption.first).to_be_visible(timeout=30_000)
    assert caption.first.evaluate("e => getComputedStyle(e).direction") == "rtl"
    box = page.locator("textarea[aria-label='Translation']")
    box.fill("ترجمة تجريبية")
    expect(box).to_have_attribute("dir", "auto", timeout=30_000)  # Streamlit's own input, given dir="auto"
    assert box.evaluate("e => e.matches(':dir(rtl)')")
    wait_idle(page)
    page.locator("div.wb-text", has_text="قصف السوق").first.scroll_into_view_if_needed()
    shot(page, "seeing-rtl-caption")
    context.close()


def _flag(home: Home, item_id: str) -> None:
    with home.reading() as conn:
        sha = conn.execute(select(items.c.sha256).where(items.c.id == item_id)).scalar_one()
    with home.transaction("analyst") as tx:
        tx.conn.execute(flags.insert().values(
            input_sha256=sha, detector="noise", version="1.0", label="inconclusive", score=0.41234,
            threshold=0.5, created_at=utcnow(),
            explanation="Noise levels differ between regions of the image; " * 6))  # fmt: skip


def test_record_tab_reads_in_sections_and_indicators_fit_without_scrolling(s: Setup) -> None:
    _flag(s.w.home, s.page_id)
    context = s.browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, s.base, "reviewer", PASSWORD, f"?item={s.page_id}")
    page.get_by_role("tab", name="Record").click()
    for name in ("Request", "Response", "Network", "Versions", "Transformations"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("requested_url")).to_have_count(0)  # no raw JSON until asked
    page.get_by_text("Show the raw capture record (JSON)").first.click()
    raw = page.locator("[data-testid='stCode']").filter(has_text='"requested_url"')
    expect(raw.first).to_be_attached(timeout=30_000)
    wait_idle(page)
    shot(page, "seeing-record-sections")
    page.get_by_role("tab", name="Indicators").click()
    panel = page.get_by_role("tabpanel", name="Indicators")
    grid = panel.locator("[data-testid='stDataFrame'] .dvn-scroller").first
    expect(grid).to_be_visible(timeout=30_000)
    assert grid.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "the indicators table scrolls sideways"
    expect(page.get_by_text("noise: Noise levels differ").first).to_be_visible(timeout=30_000)
    wait_idle(page)
    grid.scroll_into_view_if_needed()
    shot(page, "seeing-indicators")
    context.close()
