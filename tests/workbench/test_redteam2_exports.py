"""Red team, the app's actions (issue 15): one export download, to the exporter, of what may still leave;
translations that follow the visibility of the text they translate.

One home for the module (services called as the file route calls them; each test queues its own export).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.custody import CustodyLog
from archive.home import Home
from collectors.outcome import StagedCapture
from collectors.recorder import StagedFile
from tests.workbench.app_fixtures import World, make_png, make_world
from workbench import TOOL_VERSION
from workbench.services import access, consent, jobs, review, translations
from workbench.services.capture.store import store_staged
from workbench.services.export import files as package_files

SOURCE = {"source_analysis": {"method": "account history", "note": "consistent"}}


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("rt2x")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    world = make_world(home, reviews=2, n_items=4)
    for item_id in world.items:
        for who in (world.reviewer, world.reviewer2):
            review.submit_review(home, who, item_id, "verified", 4, "agreed", SOURCE)
    yield world
    home.close()


def _packaged(w: World, item_id: str) -> str:
    """A finished export of one item by legal staff, its package ready for the download."""
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [item_id]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    done = jobs.run_job(w.home, job_id)
    assert done is not None and done.result["package"] == "ready" and done.result["included"] == 1, done
    return job_id


def _downloads(w: World) -> int:
    with w.home.reading() as conn:
        return sum(e.action == "export.downloaded" for e in CustodyLog.events(conn))


def test_a_package_is_handed_out_once_even_before_its_bytes_are_removed(w: World) -> None:
    """A double click (or a second tab) asks again while the first response is still being sent:
    the file route removes the bytes only after the response, so the package must be taken at once."""
    job_id = _packaged(w, w.items[0])
    before = _downloads(w)
    first = package_files.open_package(w.home, w.legal, job_id)
    assert first is not None and first.path.is_file()
    assert package_files.open_package(w.home, w.legal, job_id) is None
    assert _downloads(w) == before + 1
    package_files.remove(w.home, job_id)  # what the file route does once the bytes are sent
    job = jobs.get_job(w.home, job_id)
    assert job is not None and job.result["package"] == "downloaded"


def test_a_package_whose_consent_was_withdrawn_since_is_not_handed_out(w: World) -> None:
    item = w.items[1]
    access.tag_item(w.home, w.admin, item, "sexual violence")
    access.assign(w.home, w.admin, item, "legal")
    consent.add_consent(w.home, w.admin, item, "P-101", ["court"], via="app")
    job_id = _packaged(w, item)
    consent.withdraw_consent(w.home, w.admin, item, "P-101", via="app")
    assert package_files.open_package(w.home, w.legal, job_id) is None
    assert not (w.home.area("exports") / job_id).exists()  # the survivor's photo leaves the server
    job = jobs.get_job(w.home, job_id)
    assert job is not None and job.result["package"] == "withdrawn"


def test_a_package_holding_an_item_hidden_from_the_exporter_since_is_not_handed_out(w: World) -> None:
    item = w.items[2]
    job_id = _packaged(w, item)
    access.classify(w.home, w.admin, item, "survivor_identifying")  # legal is not assigned to it
    with w.home.reading() as conn:
        assert access.find_visible(conn, w.legal, item) is None
    assert package_files.open_package(w.home, w.legal, job_id) is None
    assert not (w.home.area("exports") / job_id).exists()


def test_the_exporter_still_gets_an_unchanged_package(w: World, tmp_path: Path) -> None:
    job_id = _packaged(w, w.items[3])
    found = package_files.open_package(w.home, w.legal, job_id)
    assert found is not None and found.path.read_bytes()[:2] == b"PK"


# -- translations: a translated caption of a page hidden since ---------------------------------------

PAGE_URL = "http://127.0.0.1:9/post/1"
CAPTION = "zqcaption the survivor's own words"


def _page_with_photo(w: World, folder: Path) -> tuple[str, str]:
    """A captured page (its post's caption) that shows one photo; (page item, photo item)."""
    folder.mkdir(parents=True, exist_ok=True)

    def staged(name: str, data: bytes, mime: str, url: str | None = None) -> StagedFile:
        (folder / name).write_bytes(data)
        return StagedFile(name, folder / name, hashlib.sha256(data).hexdigest(), len(data), mime, url)

    capture = StagedCapture(
        PAGE_URL, "captured", None, folder, {"final_url": PAGE_URL, "title": "a post"},
        [staged("screenshot", make_png(90, (120, 90)), "image/png"),
         staged("html", b"<html><img src='/p.png'></html>", "text/html"),
         staged("media", make_png(91, (64, 48)), "image/png", "http://127.0.0.1:9/p.png")],
        post={"caption": CAPTION},
    )  # fmt: skip
    result = store_staged(w.home, w.case, capture, "analyst", "cli", None)
    assert result.item_id and len(result.stored_media) == 1, result
    return result.item_id, result.stored_media[0].item_id


def test_a_translated_caption_of_a_page_hidden_since_is_not_shown(w: World, tmp_path: Path) -> None:
    page, photo = _page_with_photo(w, tmp_path / "staged")
    (source,) = [s for s in translations.item_sources(w.home, w.analyst, photo) if s.text == CAPTION]
    translations.add_translation(w.home, w.analyst, photo, source.ref, "en", "zqtranslated words")
    assert "zqtranslated" in str(translations.item_translations(w.home, w.reviewer, photo))
    access.classify(w.home, w.admin, page, "survivor_identifying")  # the reviewer is not assigned
    assert CAPTION not in str(translations.item_sources(w.home, w.reviewer, photo))  # the caption is withheld
    shown = str(translations.item_translations(w.home, w.reviewer, photo))
    assert "zqcaption" not in shown and "zqtranslated" not in shown, shown
    assert "zqtranslated" in str(translations.item_translations(w.home, w.admin, photo))  # assigned: shown


# -- the queue: a message sent again while its job runs ----------------------------------------------


def test_a_message_replayed_while_its_job_runs_does_not_start_a_second_run(w: World) -> None:
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[3]]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    jobs.set_progress(w.home, job_id, 0.1, status="running")  # a live worker has it, just now
    before = jobs.get_job(w.home, job_id)
    assert before is not None
    with pytest.raises(jobs.JobBusy):  # the queue retries it later, when the job is done or its worker dead
        jobs.run_delivered(w.home, job_id)
    assert jobs.run_delivered(w.home, job_id, last_try=True) is None  # the last retry is just acked
    after = jobs.get_job(w.home, job_id)
    assert after is not None
    assert (after.status, after.attempts, after.progress) == ("running", before.attempts, 0.1)


def test_a_job_whose_worker_fell_silent_is_taken_again(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[3]]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    jobs.set_progress(w.home, job_id, 0.1, status="running")
    monkeypatch.setenv("WB_QUEUE_HEARTBEAT_S", "0")  # silent for longer than the heartbeat: its worker died
    done = jobs.run_delivered(w.home, job_id)
    assert done is not None and done.status == "done", done
