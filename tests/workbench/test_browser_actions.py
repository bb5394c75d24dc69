"""Journeys in real Chromium through `wb serve`'s app for the actions that used to need the CLI (issue 15):
assigning a sensitive item, a near-duplicate decision with the earliest known sighting, a redacted
copy and a report, a legal export that ends in a download, and one adjudication from a double click.

One server for the module; screenshots go to test-artifacts/browser/ (names start with "a").
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Download, Page, expect, sync_playwright
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import items, judgements
from archive.home import Home
from tests.workbench.app_fixtures import PASSWORD, World, make_world, store
from tests.workbench.browser_server import CHROMIUM, app_server, login, shot, wait_idle
from workbench import TOOL_VERSION
from workbench.services import access, review
from workbench.services.dedup import clusters as dedup

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = {"source_analysis": {"method": "account history", "note": "consistent"}}


@dataclass
class Setup:
    world: World
    base: str
    browser: Browser
    near: list[str]  # two near-duplicate photos in the order stored (the first is seen first)
    anchor: str  # the one with the smaller SHA-256, which names the cluster


def _photo(fmt: str, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), "RGB").resize(
        size, Image.Resampling.BILINEAR
    )
    buf = io.BytesIO()
    base.save(buf, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _near(home: Home, w: World) -> tuple[list[str], str]:
    made = [(_photo(f, s), f) for f, s in (("PNG", (320, 240)), ("JPEG", (300, 225)))]
    ids = [store(home, w.case, data, f"near.{fmt.lower()}") for data, fmt in made]
    with home.reading() as conn:
        shas = {i: str(conn.execute(select(items.c.sha256).where(items.c.id == i)).scalar_one()) for i in ids}
    for (_data, fmt), item_id in zip(made, ids, strict=True):
        dedup.on_stored(home, w.case, item_id, shas[item_id], f"image/{fmt.lower()}")
    return ids, min(ids, key=lambda i: shas[i])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("browser-actions")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    try:
        w = make_world(home, reviews=2, n_items=3)
        access.tag_item(home, w.analyst, w.items[0], "sexual violence")  # assigns the analyst only
        for who in (w.reviewer, w.reviewer2):  # items[1]: verified, for legal staff to export
            review.submit_review(home, who, w.items[1], "verified", 4, "agreed", SOURCE)
        review.submit_review(home, w.reviewer, w.items[2], "verified", 4, "looks right", SOURCE)
        review.submit_review(home, w.reviewer2, w.items[2], "false_or_misleading", 2, "looks staged")
        near, anchor = _near(home, w)
        with app_server(root / "home", root / "keys" / "signing.key") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            yield Setup(w, base, browser, near, anchor)
            browser.close()
    finally:
        home.close()


@pytest.fixture
def page(setup: Setup) -> Iterator[Page]:
    context = setup.browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


def _item(page: Page, setup: Setup, name: str, item_id: str) -> None:
    login(page, setup.base, name, PASSWORD, query=f"?item={item_id}")
    wait_idle(page)


def _choose(page: Page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} input").click()
    page.locator(f".st-key-{key} input").fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def _tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    wait_idle(page)


def test_an_analyst_assigns_a_reviewer_who_then_sees_the_item(setup: Setup, page: Page) -> None:
    w, item = setup.world, setup.world.items[0]
    _item(page, setup, "reviewer", item)
    expect(page.get_by_text("No such item, or you may not see it.")).to_be_visible(timeout=30_000)
    page.context.clear_cookies()
    _item(page, setup, "analyst", item)
    expect(page.get_by_text("Assigned: analyst", exact=True)).to_be_visible(timeout=30_000)
    _choose(page, "assign_name", "reviewer")
    page.get_by_role("button", name="Assign (logged)").click()
    expect(page.get_by_text("Assigned: analyst, reviewer", exact=True)).to_be_visible(timeout=30_000)
    wait_idle(page)
    shot(page, "a01-analyst-assigned-a-reviewer")
    page.context.clear_cookies()
    _item(page, setup, "reviewer", item)
    expect(page.get_by_text(f"Item {item}", exact=False).first).to_be_visible(timeout=30_000)
    expect(page.locator(".st-key-j_submit button")).to_be_visible()
    assert page.locator(".st-key-assign_name").count() == 0  # the reviewer role does not assign
    shot(page, "a02-assigned-reviewer-opens-the-item")
    with w.home.reading() as conn:
        actions = [(e.actor, e.action) for e in CustodyLog.events(conn, item_id=item)]
    assert ("analyst", "item.assigned") in actions and ("reviewer", "access.denied") in actions


def test_a_near_duplicate_is_confirmed_and_the_earliest_sighting_named(setup: Setup, page: Page) -> None:
    anchor = setup.anchor
    other = next(i for i in setup.near if i != anchor)
    _item(page, setup, "analyst", other)
    _tab(page, "Near-duplicates")
    page.get_by_role("button", name="Find near-duplicates").click()
    expect(page.get_by_text(f"Earliest known sighting: item {anchor},", exact=False)).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_text("Basis: when it was captured or ingested here", exact=False)).to_be_visible()
    shot(page, "a03-near-duplicate-pending")
    page.locator(f".st-key-dd_yes_{other} button").click()
    expect(page.get_by_text(f"confirmed: item {other}", exact=False)).to_be_visible(timeout=30_000)
    wait_idle(page)
    shot(page, "a04-near-duplicate-confirmed")
    page.context.clear_cookies()
    _item(page, setup, "legal", setup.near[0])  # the open item is itself the earliest; legal do not decide
    _tab(page, "Near-duplicates")
    page.get_by_role("button", name="Find near-duplicates").click()
    expect(page.get_by_text("Earliest known sighting: this item,", exact=False)).to_be_visible(timeout=30_000)
    assert page.locator("[class*='st-key-dd_']").count() == 0
    shot(page, "a05-earliest-is-this-item")


def _download(page: Page, click: Callable[[], object]) -> Download:
    with page.expect_download(timeout=60_000) as dl:
        click()
    return dl.value


def test_legal_redacts_reports_and_exports_to_a_download(setup: Setup, page: Page) -> None:
    w, item = setup.world, setup.world.items[1]
    _item(page, setup, "legal", item)
    _tab(page, "Redact and report")
    page.locator(".st-key-rd_faces label").click()  # untick "find faces": boxes only
    page.locator(".st-key-rd_boxes textarea").fill("0,0,32,24")
    page.get_by_role("button", name="Make a redacted copy (logged)").click()
    expect(page.get_by_text("Redacted copy stored; the original is unchanged")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Make a PDF report of this item (logged)").click()
    button = page.get_by_role("button", name="Download the report (PDF)")
    expect(button).to_be_visible(timeout=60_000)
    wait_idle(page)
    shot(page, "a06-legal-redacted-and-report")
    report = _download(page, button.click)
    assert report.suggested_filename.endswith(".pdf")
    assert open(report.path(), "rb").read(5) == b"%PDF-"
    page.get_by_role("button", name="Back to the gallery").click()
    page.get_by_test_id("stSidebar").get_by_text("Legal view").click()
    _choose(page, "x_rtype", "court")
    page.locator(".st-key-x_recipient input").fill("ICC OTP")
    page.locator(".st-key-x_purpose input").fill("case file")
    page.get_by_role("button", name="Export (background job)").click()
    link = page.get_by_role("link", name="Download the package (zip, logged)")
    expect(link).to_be_visible(timeout=180_000)  # progress first, refreshed every two seconds
    wait_idle(page)
    shot(page, "a07-legal-export-ready")
    href = link.get_attribute("href") or ""
    job_id = href.rsplit("/", 1)[-1]
    # The link opens a new tab; the same request made from this tab gives Playwright the download.
    package = _download(page, lambda: page.evaluate("u => { window.location.href = u }", href))
    names = zipfile.ZipFile(package.path()).namelist()
    assert "package/bagit.txt" in names and package.suggested_filename.startswith("package-")
    expect(page.get_by_text("package downloaded; removed from the server", exact=False)).to_be_visible(
        timeout=30_000
    )
    shot(page, "a08-legal-export-downloaded")
    assert not (w.home.root / "exports" / job_id).exists()
    assert page.request.get(href).status == 404  # once only
    with w.home.reading() as conn:
        actions = [(e.actor, e.action) for e in CustodyLog.events(conn)]
    assert ("legal", "export.downloaded") in actions and ("legal", "artifact.redacted") in actions


def test_a_package_link_serves_no_one_else(setup: Setup, page: Page) -> None:
    from workbench.services import jobs

    w = setup.world
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[1]]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    deadline = time.monotonic() + 180
    while (done := jobs.get_job(w.home, job_id)) is not None and done.status in ("queued", "running"):
        assert time.monotonic() < deadline, "the server's worker did not finish the export"
        time.sleep(0.5)  # the server's own worker runs it
    assert done is not None and done.result["package"] == "ready", done
    url = f"{setup.base}/api/export/{job_id}"
    assert page.request.get(url).status == 403  # no login
    for name in ("admin", "analyst", "reviewer2"):  # not the exporter; a role that does not export
        login(page, setup.base, name, PASSWORD)
        assert page.request.get(url).status == 404
        page.context.clear_cookies()
    assert (w.home.root / "exports" / job_id / "package.zip").is_file()  # still there for its owner


def test_the_adjudicator_sees_one_form_and_a_double_click_records_once(setup: Setup, page: Page) -> None:
    w, item = setup.world, setup.world.items[2]
    _item(page, setup, "admin", item)
    expect(page.locator(".st-key-a_submit button")).to_be_visible(timeout=30_000)
    assert page.locator(".st-key-j_submit").count() == 0  # no "your judgement" for the adjudicator
    page.locator(".st-key-a_rationale textarea").fill("The source analysis of the first review holds")
    page.locator(".st-key-a_rationale textarea").press("Tab")
    shot(page, "a09-adjudicator-one-form")
    page.locator(".st-key-a_submit button").dblclick()
    expect(page.get_by_text("Item is now: ", exact=False)).to_be_visible(timeout=30_000)
    wait_idle(page)
    shot(page, "a10-adjudicated-once")
    with w.home.reading() as conn:
        kinds = [
            str(k)
            for k in conn.execute(select(judgements.c.kind).where(judgements.c.item_id == item)).scalars()
        ]
    assert kinds.count("adjudication") == 1
