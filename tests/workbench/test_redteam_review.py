"""Red team after issue 11 was merged: paths that still named a hidden item (issue 11 review).

The world: case "demo" with a captured page that shows a survivor-identifying photo (the analyst
classified it and is assigned) and another, ordinary photo. "ana2" is an analyst member who is not
assigned; "legal" and "reviewer" are members who are not assigned either. Each test failed on the main
of 2026-12-06 07:40 UTC (commit dda8e75) and names what leaked there.

One home is shared by the module (tests that change visibility come last), services are called
directly with real files.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import items
from archive.home import Home
from collectors.outcome import CaptureSettings, StagedCapture
from tests.conftest import Account as AccountFixture
from tests.conftest import RunWb, json_lines
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world, store
from tests.workbench.test_redteam_visibility import (
    PAGE_URL,
    PHOTO_URL,
    SIBLING_URL,
    Page,
    _pdf_text,
    _staged,
    capture_page_with_photo,
)
from workbench import TOOL_VERSION
from workbench.services import access, auth, consent, deletion, jobs, records, review, timeline, viewing
from workbench.services.access import ItemFilter
from workbench.services.capture.run import capture_urls
from workbench.services.capture.store import store_staged
from workbench.services.export import reports
from workbench.services.export.packages import ExportRequest, export_package
from workbench.services.intake import ingest_paths

PHOTO_SEED, PHOTO_SIZE = 77, (96, 72)  # the bytes capture_page_with_photo gives the hidden photo


@dataclass
class Setup:
    w: World
    page: Page
    ana2: auth.Account
    tmp: Path


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("redteam-review")
    home = Home.init(tmp / "home", tmp / "keys" / "signing.key", TOOL_VERSION)
    try:
        w = make_world(home, reviews=2, n_items=1)
        page = capture_page_with_photo(w, tmp / "staged")
        with home.transaction("admin") as tx:
            ana2 = auth.add_user(tx, w.admin, "ana2", "analyst", PASSWORD)
            auth.add_member(tx, w.admin, w.case.id, "ana2")
        yield Setup(w, page, ana2, tmp)
    finally:
        home.close()


def test_ingest_of_a_hidden_photos_bytes_does_not_name_the_hidden_item(s: Setup) -> None:
    """Leaked: `wb ingest` of the same bytes by an unassigned analyst printed "duplicate <hidden id>"."""
    mine = s.tmp / "mine.png"
    mine.write_bytes(make_png(PHOTO_SEED, PHOTO_SIZE))
    [got] = list(ingest_paths(s.w.home, s.w.case, [str(mine)], s.ana2))
    assert got.status == "duplicate" and got.sha256 == s.page.photo_sha
    assert got.item_id is None and got.note == access.WITHHELD
    assert s.page.photo_id not in json.dumps(got.as_json())
    # The assigned analyst is told which item it is.
    [own] = list(ingest_paths(s.w.home, s.w.case, [str(mine)], s.w.analyst))
    assert own.item_id == s.page.photo_id


def test_job_list_shows_no_upload_row_of_a_withheld_duplicate(s: Setup) -> None:
    """The upload job's row for a withheld duplicate names no item: other accounts still must not get
    its file name (a sighting of the hidden photo), nor the uploader a row about an item it cannot see."""
    job = {"id": "j", "kind": "upload", "actor": "ana2", "params": {}, "result": {"results": [
        {"status": "duplicate", "item_id": None, "path": "zq-survivor-name.png", "note": access.WITHHELD},
        {"status": "refused", "item_id": None, "path": "empty.png", "reason": "empty file"},
    ]}}  # fmt: skip
    for who, rows in ((s.w.legal, []), (s.ana2, ["empty.png"])):  # another's refused file: not at all
        seen = jobs._as_seen(job, who, set())
        assert seen is not None and "zq-survivor-name" not in json.dumps(seen)
        assert [r["path"] for r in seen["result"]["results"]] == rows


def test_pending_deletion_requests_do_not_name_a_hidden_item(s: Setup) -> None:
    """Leaked: a request on the page (by the assigned analyst) listed, in `wb delete --pending` and the
    item page's open request, the hidden photo's id among the items it also erases."""
    made = deletion.request_deletion(s.w.home, s.w.analyst, s.page.page_id, "GDPR Art. 17", "cli")
    assert s.page.photo_id in made.item_ids  # its requester may see everything it takes
    try:
        for who in (s.w.legal, s.ana2):
            pending = deletion.pending_requests(s.w.home, who)
            assert [r.item_id for r in pending] == [s.page.page_id]
            assert pending[0].item_ids == (s.page.page_id, s.page.sibling_id)
            one = deletion.open_request(s.w.home, who, s.page.page_id, "cli")
            assert one is not None and s.page.photo_id not in one.item_ids
        # The approval still refuses an approver who may not see everything it would erase.
        with pytest.raises(auth.AccessDenied):
            deletion.approve_deletion(s.w.home, s.w.legal, s.page.page_id, "cli")
    finally:
        deletion.withdraw_deletion(s.w.home, s.w.analyst, s.page.page_id, "cli")


def test_capture_of_an_already_captured_page_withholds_its_hidden_media(s: Setup) -> None:
    """Leaked: `wb capture URL` of a page already in the case answered, to any member who may capture,
    with the stored capture record's file list: the hidden photo's hash among them."""
    for who in (s.ana2,):
        [got] = capture_urls(s.w.home, s.w.case, [PAGE_URL], who, CaptureSettings())
        assert got.skipped and got.item_id == s.page.page_id
        text = json.dumps(got.as_json()) + repr(got.artifacts)
        assert s.page.photo_sha not in text and PHOTO_URL not in text
        assert {"role": "media", "withheld": access.WITHHELD} in got.artifacts
    [own] = capture_urls(s.w.home, s.w.case, [PAGE_URL], s.w.analyst, CaptureSettings())
    assert s.page.photo_sha in json.dumps(own.as_json())


def test_capture_of_a_hidden_page_does_not_name_it(s: Setup) -> None:
    """Leaked: once the page itself is survivor-identifying, `wb capture URL` by an unassigned member
    gave its id, its capture id and its post details. (Changes the page's visibility: runs last.)"""
    access.classify(s.w.home, s.w.analyst, s.page.page_id, "survivor_identifying")
    [got] = capture_urls(s.w.home, s.w.case, [PAGE_URL], s.ana2, CaptureSettings())
    assert got.item_id is None and got.artifacts == [] and got.post == {}
    assert got.reason is not None and access.WITHHELD in got.reason
    assert s.page.page_id not in json.dumps(got.as_json())


def test_search_does_not_find_an_item_by_a_hidden_reviewers_method_step(s: Setup) -> None:
    """Leaked (blind review): the gallery's full-text search looked into every note of an item, so a
    reviewer who had not yet submitted found the item by words of the first reviewer's method step
    (which the Methodology tab hides from it), e.g. the tool that showed the photo was generated."""
    item = s.w.items[0]
    review.add_method_step(s.w.home, s.w.reviewer, item, "zqgenerator-check", "", "zqmidjourney artefacts")
    review.submit_review(
        s.w.home, s.w.reviewer, item, "false_or_misleading", 4, "generated", independent=True
    )

    def found(who: auth.Account) -> set[str]:
        with s.w.home.reading() as conn:
            rows, total = access.list_items(conn, who, s.w.case.id, ItemFilter(text="zqmidjourney"))
        assert total == len(rows)
        return {r.id for r in rows}

    assert found(s.w.reviewer) == {item}  # its author
    assert found(s.w.legal) == {item}  # legal staff never judge and see everything
    assert found(s.w.reviewer2) == set()  # blind until it has reviewed
    review.submit_review(
        s.w.home, s.w.reviewer2, item, "false_or_misleading", 3, "also generated", independent=True
    )
    assert found(s.w.reviewer2) == {item}


def test_item_page_description_is_blind_until_the_reader_has_reviewed(s: Setup) -> None:
    """Leaked (blind review): the item page showed the latest "distinctive features" description
    whoever wrote it, the first reviewer's too, while a report already left that reviewer's notes out."""
    item = store(s.w.home, s.w.case, make_png(5), "desc.png")
    viewing.set_description(s.w.home, s.w.analyst, item, "two people, a red door")
    viewing.set_description(s.w.home, s.w.reviewer, item, "zqsix fingers: generated")
    review.submit_review(
        s.w.home, s.w.reviewer, item, "false_or_misleading", 4, "generated", independent=True
    )

    def shown(who: auth.Account) -> str:
        with s.w.home.reading() as conn:
            return viewing.description(conn, who, item)

    assert shown(s.w.reviewer) == shown(s.w.legal) == "zqsix fingers: generated"
    assert shown(s.w.reviewer2) == "two people, a red door"  # the analyst's, who has not reviewed
    review.submit_review(s.w.home, s.w.reviewer2, item, "false_or_misleading", 3, "fake", independent=True)
    assert shown(s.w.reviewer2) == "zqsix fingers: generated"


def test_a_refusal_logs_no_text_typed_where_an_item_id_belongs(s: Setup, tmp_path: Path) -> None:
    """Leaked into the custody log (which erasure never touches and which must hold no personal text):
    a refusal recorded whatever was given as the item id, so a name typed into `wb log`, the Legal
    page's "who viewed it" field or `wb consent add` stayed in the log for good."""
    typed = "Zqjane Survivor-Doe"
    calls: list[Callable[[], object]] = [
        lambda: timeline.item_timeline(s.w.home, s.w.reviewer, typed),
        lambda: access.access_report(s.w.home, s.w.legal, typed),
        lambda: consent.add_consent(s.w.home, s.w.analyst, typed, "P-1", ["court"]),
        lambda: deletion.request_deletion(s.w.home, s.w.analyst, typed, "basis", "cli"),
        lambda: records.item_files(s.w.home, s.w.reviewer, typed),
    ]
    for call in calls:
        with pytest.raises(auth.AccessDenied):
            call()
    with s.w.home.reading() as conn:
        denied = [e for e in CustodyLog.events(conn) if e.action == "access.denied"]
    logged = json.dumps([[e.item_id, dict(e.details)] for e in denied[-len(calls) :]])
    assert "zqjane" not in logged.lower(), logged
    # A real item id is still named (the item's access report lists the attempts on it).
    with pytest.raises(auth.AccessDenied):
        timeline.item_timeline(s.w.home, s.w.reviewer, s.page.photo_id)
    with s.w.home.reading() as conn:
        assert [e.item_id for e in CustodyLog.events(conn) if e.action == "access.denied"][
            -1
        ] == s.page.photo_id


def test_cli_ingest_and_pending_erasures_name_no_hidden_member(
    wb: RunWb, wb_env: dict[str, str], account: AccountFixture, tmp_path: Path
) -> None:
    """The same two paths through `wb`, as a user types them: a zip's member classified
    survivor-identifying (the admin is assigned); an unassigned analyst ingests that member's bytes,
    an unassigned legal member lists the open erasure request on the zip (which takes its members).
    And `wb reviews` of the hidden member was refused without a trace in the custody log."""
    wb("init")
    wb("case", "create", "c1", "--purpose", "red team review")
    bundle, secret = tmp_path / "bundle.zip", make_png(61)
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("survivor.png", secret)
        z.writestr("street.png", make_png(62))
    got = {Path(str(r["path"])).name.rsplit("!", 1)[-1]: r for r in json_lines(
        wb("ingest", "--json", "--case", "c1", str(bundle)).stdout)}  # fmt: skip
    hidden, zip_id = str(got["survivor.png"]["item_id"]), str(got["bundle.zip"]["item_id"])
    wb("classify", hidden, "survivor_identifying")
    wb("delete", zip_id, "--reason", "GDPR Art. 17")
    ana, leg = account("ana", "analyst", "c1"), account("leg", "legal", "c1")

    again = tmp_path / "again.png"
    again.write_bytes(secret)
    line = json_lines(wb("ingest", "--json", "--case", "c1", str(again), env=ana).stdout)[0]
    assert line["status"] == "duplicate" and line["item_id"] is None and line["note"] == access.WITHHELD
    pending = wb("delete", "--pending", "--json", env=leg).stdout
    assert zip_id in pending and str(got["street.png"]["item_id"]) in pending
    assert hidden not in pending and hidden not in wb("delete", "--pending", env=leg).stdout

    def denials() -> list[tuple[str, str, str]]:
        db = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
        try:
            q = "SELECT actor, via, item_id FROM custody_events WHERE action='access.denied' ORDER BY seq"
            return [(str(a), str(v), str(i)) for a, v, i in db.execute(q)]
        finally:
            db.close()

    before = denials()
    assert "refused" in wb("reviews", hidden, env=ana, check=1).stderr
    assert denials() == [*before, ("ana", "cli", hidden)]


def test_a_visible_photo_does_not_name_the_hidden_page_it_was_seen_on(s: Setup, tmp_path: Path) -> None:
    """Leaked: once the page is survivor-identifying, the ordinary photo seen on it still gave an
    unassigned member the page's item id and title in its capture record (the Record tab), the page's
    address in its sightings' details (the Sightings tab), and all three in `wb report`."""
    access.classify(s.w.home, s.w.analyst, s.page.page_id, "survivor_identifying")  # as the test before
    with s.w.home.reading() as conn:
        page_title = str(conn.execute(select(items.c.title).where(items.c.id == s.page.page_id)).scalar_one())
    secrets = (s.page.page_id, PAGE_URL, page_title)
    for who in (s.w.reviewer, s.ana2):
        with s.w.home.reading() as conn:
            record = json.dumps(access.capture_records(conn, who, s.page.sibling_id))
        seen = json.dumps(records.item_sightings(s.w.home, who, s.page.sibling_id), default=str)
        report = tmp_path / f"{who.name}.pdf"
        reports.write_report(s.w.home, who, report, item_id=s.page.sibling_id)
        text = subprocess.run(
            ["pdftotext", "-raw", "-enc", "UTF-8", str(report), "-"], capture_output=True, check=True
        ).stdout.decode()
        for where, shown in (("record", record), ("sightings", seen), ("report", text)):
            assert not [x for x in secrets if x in shown], (who.name, where, shown)
        assert SIBLING_URL in seen  # the photo's own address stays
    with s.w.home.reading() as conn:  # the assigned analyst sees the page's facts
        assert PAGE_URL in json.dumps(access.capture_records(conn, s.w.analyst, s.page.sibling_id))


def test_an_export_of_a_visible_photo_does_not_carry_the_hidden_page_it_was_seen_on(
    s: Setup, tmp_path: Path
) -> None:
    """Leaked: an unassigned legal member's package of the ordinary photo (internal profile, to a
    court) carried the hidden page's address and id in the photo's sightings (record.json)."""
    access.classify(s.w.home, s.w.analyst, s.page.page_id, "survivor_identifying")  # as the tests before
    out = tmp_path / "package"
    req = ExportRequest(
        "demo", "internal", "ICC OTP", "court", "case file", out, s.w.legal, [s.page.sibling_id]
    )
    done = export_package(s.w.home, req)
    assert done.transfer_id is not None and [i["item_id"] for i in done.included] == [s.page.sibling_id]
    found = [
        (str(p.relative_to(out)), x)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".json", ".jsonl", ".csv", ".txt")
        for x in (s.page.page_id, PAGE_URL)
        if x in p.read_text(errors="replace")
    ]
    assert found == []


def test_a_pages_post_does_not_point_to_its_hidden_photo(s: Setup, tmp_path: Path) -> None:
    """Leaked: the capture record shown to an unassigned member withheld the hidden photo's fetched
    address, but the page's post still named the photo as the page states it (og:image, a resized
    variant, a relative path), a link to the photo on the web."""
    folder = tmp_path / "staged"
    folder.mkdir()
    photo, variant = make_png(70, (50, 40)), "https://cdn.example/zqsurvivor_600.png"
    staged = StagedCapture(
        "http://127.0.0.1:9/post/8",
        "captured",
        None,
        folder,
        {"final_url": "http://127.0.0.1:9/post/8", "title": "another post"},
        [
            _staged(folder, "screenshot", make_png(71, (120, 90)), "image/png"),
            _staged(folder, "media", photo, "image/png", "http://127.0.0.1:9/media/zqsurvivor.png"),
        ],
        post={
            "caption": "a street",
            "media_urls": [variant, "/media/zqsurvivor.png"],
            "opengraph": {"og:image": variant, "og:title": "another post"},
        },
    )
    result = store_staged(s.w.home, s.w.case, staged, "analyst", "cli", None)
    assert result.item_id is not None
    access.classify(s.w.home, s.w.analyst, result.stored_media[0].item_id, "survivor_identifying")
    with s.w.home.reading() as conn:
        shown = json.dumps(access.capture_records(conn, s.w.reviewer, result.item_id))
        full = json.dumps(access.capture_records(conn, s.w.analyst, result.item_id))
    assert "zqsurvivor" not in shown and "a street" in shown and "another post" in shown
    assert variant in full
    # `wb capture` of the same address answers from the stored record: the same holds there.
    [again] = capture_urls(s.w.home, s.w.case, ["http://127.0.0.1:9/post/8"], s.ana2, CaptureSettings())
    assert again.skipped and "zqsurvivor" not in json.dumps(again.as_json()) and again.post["caption"]


def test_a_hidden_reviewers_free_tag_is_not_shown_before_the_reader_reviews(s: Setup) -> None:
    """Blind review: a reviewer's free tag is a conclusion, hidden from another reviewer (on the item,
    in the gallery's tag filter and in a report) until that one submits; content warnings always show
    (they decide blurring)."""
    item = store(s.w.home, s.w.case, make_png(6), "tagged.png")
    access.tag_item(s.w.home, s.w.reviewer, item, "zqdeepfake")
    review.submit_review(
        s.w.home, s.w.reviewer, item, "false_or_misleading", 4, "generated", independent=True
    )
    access.tag_item(s.w.home, s.w.reviewer, item, "children")
    by_tag = ItemFilter(tags=("zqdeepfake",), item_ids=(item,))
    with s.w.home.reading() as conn:
        row = access.find_visible(conn, s.w.reviewer2, item)
        assert row is not None and row.tags == ("children",)
        assert access.list_items(conn, s.w.reviewer2, s.w.case.id, by_tag) == ([], 0)
        for who in (s.w.reviewer, s.w.legal):  # the tagger, and legal staff who never judge
            seen = access.find_visible(conn, who, item)
            assert seen is not None and seen.tags == ("children", "zqdeepfake")
    # `wb report` / the app's report leave it out as well.
    _, _, pdf = reports.report_pdf(s.w.home, s.w.reviewer2, item_id=item)
    (s.tmp / "blind-tags.pdf").write_bytes(pdf)
    shown = _pdf_text(s.tmp / "blind-tags.pdf")
    assert "zqdeepfake" not in shown and "children" in shown
    review.submit_review(s.w.home, s.w.reviewer2, item, "false_or_misleading", 3, "agreed", independent=True)
    with s.w.home.reading() as conn:
        row = access.find_visible(conn, s.w.reviewer2, item)
        assert row is not None and "zqdeepfake" in row.tags
        assert access.list_items(conn, s.w.reviewer2, s.w.case.id, by_tag)[1] == 1
