"""Journeys through the running app in real Chromium (`streamlit run` on 127.0.0.1), one server for all.

Screenshots of each step go to test-artifacts/browser/.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from playwright.sync_api import Request as PwRequest
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import captures, judgements, sightings, utcnow
from archive.home import Home
from archive.ingest import Ingestor
from archive.metadata import ExifReader
from archive.model import IncomingFile
from tests.workbench.app_fixtures import PASSWORD, World, make_world, store
from tests.workbench.browser_server import CHROMIUM, Canary, LocalSite, app_server, login, shot, wait_idle
from workbench import TOOL_VERSION
from workbench.services import access, review
from workbench.services.auth import AccessDenied
from workbench.services.capture import network as capture_network
from workbench.services.capture import profiles

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = {"source_analysis": {"method": "account history", "note": "consistent"}}


@dataclass
class Setup:
    world: World
    base: str
    browser: Browser
    canary: Canary
    hostile_item: str
    secret_item: str
    noisy_item: str
    site: LocalSite


def _noisy_png() -> bytes:
    """Sharp detail everywhere, so that blur shows in the pixels."""
    rng = np.random.default_rng(7)
    img = Image.fromarray(rng.integers(0, 255, (192, 256, 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _payloads(port: int) -> str:
    return (f"<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>"
            f"![leak](http://127.0.0.1:{port}/markdown.png) <b>bold</b>")  # fmt: skip


def _hostile_item(home: Home, w: World, canary: int) -> str:
    payload = _payloads(canary)
    img = Image.new("RGB", (64, 48), (200, 40, 40))
    exif = img.getexif()
    exif[0x010E] = payload  # ImageDescription
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    data = buf.getvalue()
    reader = ExifReader()
    try:
        offer = IncomingFile(name=payload, open=lambda: io.BytesIO(data), size=len(data))
        result = Ingestor(home, reader).ingest(w.case, offer, "analyst")
    finally:
        reader.close()
    assert result.item_id
    with home.transaction("analyst") as tx:
        tx.conn.execute(
            captures.insert().values(
                id="cap-hostile",
                case_id=w.case.id,
                requested_url=f"http://127.0.0.1:{canary}/post",
                status="captured",
                started_at=utcnow(),
                record={"post": {"caption": payload, "og:image": f"http://127.0.0.1:{canary}/og.png"}},
            )
        )
        tx.conn.execute(sightings.insert().values(
            item_id=result.item_id, source="url", seen_at=utcnow(), url=f"http://127.0.0.1:{canary}/post",
            account=payload, platform="generic", capture_id="cap-hostile", details={}))  # fmt: skip
    return result.item_id


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("browser")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    canary = Canary()
    site = LocalSite(
        b"<html><head><title>Market shelling, 3 March</title><meta property='og:title' content='Market'>"
        b"</head><body><p>Caption: smoke over the market</p><img src='/photo.png'></body></html>",
        _noisy_png(),
    )
    try:
        w = make_world(home, reviews=2, n_items=5)
        hostile = _hostile_item(home, w, canary.port)
        noisy = store(home, w.case, _noisy_png(), "noise.png")
        access.classify(home, w.analyst, w.items[4], "survivor_identifying")
        review.submit_review(home, w.analyst, w.items[1], "verified", 4, "ANALYST-RATIONALE-SECRET", SOURCE)
        for who in (w.reviewer, w.reviewer2):
            review.submit_review(home, who, w.items[2], "verified", 4, "agreed", SOURCE)
        capture_network.allow_target(home, w.admin, f"127.0.0.1:{site.port}")
        with app_server(root / "home", root / "keys" / "signing.key") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            yield Setup(w, base, browser, canary, hostile, w.items[4], noisy, site)
            browser.close()
    finally:
        canary.close()
        site.close()
        home.close()


@pytest.fixture
def page(setup: Setup) -> Iterator[Page]:
    context = setup.browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


def _open(page: Page, item_id: str) -> None:
    page.locator(f".st-key-open_{item_id} button").click()
    expect(page.get_by_text(f"Item {item_id}", exact=False).first).to_be_visible(timeout=30_000)
    wait_idle(page)


def _pixels(png: bytes) -> tuple[float, float]:
    """(mean saturation 0-255, mean squared neighbour difference) of a screenshot."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    sat = np.asarray(img.convert("HSV"), dtype=float)[..., 1].mean()
    grey = np.asarray(img.convert("L"), dtype=float)
    return float(sat), float(np.mean(np.diff(grey, axis=1) ** 2))


def test_analyst_sees_blurred_media_reveals_it_and_records_a_judgement(setup: Setup, page: Page) -> None:
    w, item = setup.world, setup.noisy_item
    login(page, setup.base, "analyst", PASSWORD)
    wait_idle(page)
    shot(page, "01-analyst-gallery")
    _open(page, item)
    img = page.locator("[data-testid='stImage'] img").first
    blurred_src = img.get_attribute("src") or ""
    blurred = img.screenshot()
    shot(page, "02-analyst-item-blurred")
    page.locator(".st-key-reveal button").click()
    expect(page.locator(".st-key-reblur button")).to_be_visible(timeout=30_000)
    expect(img).not_to_have_attribute("src", blurred_src, timeout=30_000)
    wait_idle(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].every(i => i.complete)"
    )
    sharp = img.screenshot()
    shot(page, "03-analyst-item-revealed")
    sat_b, detail_b = _pixels(blurred)
    sat_s, detail_s = _pixels(sharp)
    assert sat_b < 1.0 < sat_s  # greyscale until revealed
    assert detail_b < detail_s / 10  # blurred until revealed
    page.locator(".st-key-j_rationale textarea").fill("Same file as the first upload by the account")
    page.locator(".st-key-sa_method input").fill("reverse image search")
    page.locator(".st-key-sa_method input").press("Tab")
    page.locator(".st-key-j_submit button").click()
    expect(page.get_by_text("Judgement recorded")).to_be_visible(timeout=30_000)
    shot(page, "04-analyst-judgement-recorded")
    with w.home.reading() as conn:
        actions = [e.action for e in CustodyLog.events(conn, item_id=item) if e.actor == "analyst"]
        rows = conn.execute(
            select(judgements.c.reviewer, judgements.c.rationale).where(judgements.c.item_id == item)
        ).all()
    assert "item.viewed" in actions and "media.revealed" in actions
    assert [tuple(r) for r in rows] == [("analyst", "Same file as the first upload by the account")]


def test_second_reviewer_is_blind_until_submitting_then_sees_disputed(setup: Setup, page: Page) -> None:
    item = setup.world.items[1]
    login(page, setup.base, "reviewer", PASSWORD)
    _open(page, item)
    expect(page.get_by_text("1 earlier review(s) hidden")).to_be_visible()
    assert "ANALYST-RATIONALE-SECRET" not in page.content()
    shot(page, "05-reviewer-blind")
    page.locator(".st-key-j_status input").click()
    page.locator(".st-key-j_status input").fill("inconclusive")
    page.get_by_role("option", name="inconclusive", exact=True).click()
    wait_idle(page)
    page.locator(".st-key-j_rationale textarea").fill("Cannot confirm the date")
    page.locator(".st-key-j_rationale textarea").press("Tab")
    page.locator(".st-key-j_submit button").click()
    expect(page.get_by_text("Review state: disputed", exact=False)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("ANALYST-RATIONALE-SECRET")).to_be_visible()
    shot(page, "06-reviewer-disputed")


def test_legal_browses_verified_items_and_cannot_change_anything(setup: Setup, page: Page) -> None:
    w = setup.world
    login(page, setup.base, "legal", PASSWORD)
    page.get_by_test_id("stSidebar").get_by_text("Legal view").click()
    expect(page.get_by_text("1 verified items", exact=True)).to_be_visible(timeout=30_000)
    shot(page, "07-legal-verified")
    page.locator(f".st-key-l_open_{w.items[2]} button").click()
    expect(page.get_by_text("Read-only: your role does not record judgements.")).to_be_visible(timeout=30_000)
    assert page.locator(".st-key-j_submit").count() == 0
    shot(page, "08-legal-item-read-only")
    with pytest.raises(AccessDenied):
        review.submit_review(w.home, w.legal, w.items[2], "false_or_misleading", 1, "x")
    with pytest.raises(AccessDenied):
        access.tag_item(w.home, w.legal, w.items[2], "children")


def test_unassigned_user_cannot_find_a_survivor_identifying_item(setup: Setup, page: Page) -> None:
    w, secret = setup.world, setup.secret_item
    login(page, setup.base, "reviewer2", PASSWORD)
    wait_idle(page)
    assert secret not in page.content()
    total_line = page.get_by_text("items · page", exact=False).first.inner_text()
    with w.home.reading() as conn:
        all_live = len(access.list_items(conn, w.analyst, w.case.id)[0])
    assert total_line.startswith(f"{all_live - 1} items")  # not counted
    page.locator(".st-key-g_text input").fill("photo-4")
    page.locator(".st-key-g_text input").press("Enter")
    expect(page.get_by_text("0 items · page 1 of 1")).to_be_visible(timeout=30_000)
    shot(page, "09-unassigned-search")
    page.goto(f"{setup.base}/?item={secret}")  # still logged in: the login survives a page load
    expect(page.get_by_text("No such item, or you may not see it.")).to_be_visible(timeout=30_000)
    shot(page, "10-unassigned-by-id")
    with w.home.reading() as conn:
        denied = [e for e in CustodyLog.events(conn, item_id=secret) if e.action == "access.denied"]
    assert [e.actor for e in denied] == ["reviewer2"]


def test_hostile_title_caption_and_exif_run_no_script_and_call_no_one(setup: Setup, page: Page) -> None:
    dialogs: list[str] = []
    elsewhere: list[str] = []

    def on_dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    def on_request(r: PwRequest) -> None:
        if not r.url.startswith((setup.base, "data:", "blob:")):
            elsewhere.append(r.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    login(page, setup.base, "analyst", PASSWORD)
    wait_idle(page)
    _open(page, setup.hostile_item)
    page.get_by_role("tab", name="Record").click()
    page.get_by_role("tab", name="Sightings").click()
    wait_idle(page)
    shot(page, "11-hostile-item")
    expect(page.get_by_text("<script>window.__xss=2</script>", exact=False).first).to_be_attached()
    assert page.evaluate("() => window.__xss === undefined")
    assert page.locator("b:text('bold')").count() == 0  # shown as text, not HTML
    assert dialogs == []
    assert setup.canary.hits == []
    assert elsewhere == []  # no third party, no canary: nothing but the app itself


def test_served_pages_carry_the_content_security_policy(setup: Setup, page: Page) -> None:
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    response = page.goto(setup.base + "/")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in csp
    assert "script-src 'self' 'sha256-" in csp and "unsafe-eval" not in csp and "default-src 'self'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    # The app's own scripts, styles, fonts and images run under that policy: nothing of it is blocked.
    login(page, setup.base, "analyst", PASSWORD)
    wait_idle(page)
    _open(page, setup.noisy_item)
    page.get_by_role("tab", name="Record").click()
    wait_idle(page)
    assert blocked == []


def test_download_link_serves_sniffed_type_with_nosniff_and_is_logged(setup: Setup, page: Page) -> None:
    w, item = setup.world, setup.world.items[3]
    login(page, setup.base, "analyst", PASSWORD)
    _open(page, item)
    href = page.get_by_role("link", name="Download original (logged)").get_attribute("href")
    assert href and "/api/file/" in href
    got = page.request.get(href)
    assert got.status == 200 and got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"].startswith("sandbox")
    forged = href[:-4] + ("0000" if not href.endswith("0000") else "1111")
    assert page.request.get(forged).status == 404
    with w.home.reading() as conn:
        downloads = [e.actor for e in CustodyLog.events(conn, item_id=item) if e.action == "media.downloaded"]
    assert downloads == ["analyst"]


def test_analyst_captures_a_local_page_in_the_background(setup: Setup, page: Page) -> None:
    url = f"http://127.0.0.1:{setup.site.port}/post.html"
    login(page, setup.base, "analyst", PASSWORD)
    page.get_by_test_id("stSidebar").get_by_text("Capture").click()
    page.locator(".st-key-cap_urls textarea").fill(url)
    page.get_by_role("button", name="Capture", exact=True).click()
    expect(page.get_by_text("Capture queued")).to_be_visible(timeout=30_000)
    shot(page, "12-capture-queued")
    # The jobs list refreshes itself every two seconds while the worker's child process captures.
    expect(page.get_by_text("capture · done", exact=False)).to_be_visible(timeout=180_000)
    wait_idle(page)
    shot(page, "13-capture-done")
    keyed = page.locator("[class*='st-key-jo_']").first  # st-key-jo_<job id>_<item id>; the label is a title
    item_id = str(keyed.get_attribute("class")).split("st-key-jo_")[1].split()[0].split("_")[1]
    open_button = keyed.locator("button")
    open_button.click()
    expect(page.get_by_text("Reveal (logged)")).to_be_visible(timeout=30_000)
    wait_idle(page)
    shot(page, "14-captured-item-blurred")
    page.locator(".st-key-reveal button").click()
    expect(page.locator(".st-key-reblur button")).to_be_visible(timeout=30_000)
    wait_idle(page)
    shot(page, "15-captured-item-revealed")
    with setup.world.home.reading() as conn:
        actions = [e.action for e in CustodyLog.events(conn, item_id=item_id)]
    assert "item.viewed" in actions and "media.revealed" in actions
    # After the reveal, only the revealed picture's fetch through /media (media.served, once).
    assert set(actions[actions.index("media.revealed") + 1 :]) <= {"media.served"}


def test_admin_names_a_browser_profile_for_a_case_by_upload(setup: Setup, page: Page, tmp_path: Path) -> None:
    w = setup.world
    secret = "journey-session-value-77"
    state = {
        "cookies": [{"name": "sid", "value": secret, "domain": ".example.org", "path": "/"}],
        "origins": [],
    }
    upload = tmp_path / "state.json"
    upload.write_text(json.dumps(state), encoding="utf-8")
    login(page, setup.base, "admin", PASSWORD)
    page.get_by_test_id("stSidebar").get_by_text("Cases").click()
    wait_idle(page)
    page.locator(".st-key-p_file input[type=file]").set_input_files(str(upload))
    expect(page.get_by_text("state.json")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Set profile").click()
    expect(page.get_by_text("profile ", exact=False).last).to_contain_text("example.org", timeout=30_000)
    wait_idle(page)
    shot(page, "16-admin-case-profile")
    assert secret not in page.content()
    found = profiles.profile_of(w.home, w.case)
    assert found is not None and found.cookie_domains == ("example.org",)
    profiles.clear_profile(w.home, w.case, w.admin)  # later captures in this module run without it
