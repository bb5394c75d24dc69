"""Translations (LNG-03): separate records beside the original, with BCP 47 tags, human or machine,
by whom and when; shown in the app, carried into reports and packages, erased with the item."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from archive.custody import CustodyLog
from archive.db import custody_events, sightings, translations, utcnow
from archive.home import Home
from tests.conftest import Account as AccountFactory
from tests.conftest import RunWb, json_lines
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world
from workbench import TOOL_VERSION
from workbench.services import access, deletion, review
from workbench.services import translations as tr
from workbench.services.auth import AccessDenied, Account
from workbench.services.export import packages as export
from workbench.services.export import reports

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
CAPTION = "Обстріл ринку в Харкові, 3 березня"
ENGLISH = "Shelling of the market in Kharkiv, 3 March"
MACHINE = "Market shelling in Kharkiv, March 3"


@dataclass
class Setup:
    w: World
    root: Path
    item: str  # a photo with a Ukrainian caption
    secret: str  # tagged sexual violence, assigned to nobody but its tagger's admin


def _caption(home: Home, item_id: str, caption: str) -> None:
    with home.transaction("admin") as tx:
        tx.conn.execute(sightings.insert().values(
            item_id=item_id, source="url", seen_at=utcnow(), url="http://127.0.0.1:9/post",
            platform="generic", details={"caption": caption}))  # fmt: skip


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("translations")
    home = Home.init(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    w = make_world(home, reviews=2, n_items=3)
    _caption(home, w.items[0], CAPTION)
    _caption(home, w.items[1], "نص سري")
    access.tag_item(home, w.admin, w.items[1], "sexual violence")
    yield Setup(w, root, w.items[0], w.items[1])
    home.close()


def _denials(home: Home) -> int:
    with home.reading() as conn:
        q = select(func.count()).select_from(custody_events).where(custody_events.c.action == "access.denied")
        return int(conn.execute(q).scalar_one())


def test_a_human_and_a_machine_translation_are_kept_beside_the_verbatim_original(s: Setup) -> None:
    w = s.w
    [source] = tr.item_sources(w.home, w.analyst, s.item)
    assert source.text == CAPTION and source.ref.startswith("caption:sighting:")
    tr.add_translation(w.home, w.analyst, s.item, source.ref, "en-GB", ENGLISH, source_lang="UK")
    tr.add_translation(
        w.home, w.reviewer, s.item, source.ref, "en", MACHINE, translator_type="machine",
        translator="Argos Translate 1.9 (uk-en, run locally)",
    )  # fmt: skip
    found = tr.item_translations(w.home, w.legal, s.item)
    assert [(t.target_lang, t.translator_type, t.translator, t.recorded_by) for t in found] == [
        ("en-GB", "human", "analyst", "analyst"),
        ("en", "machine", "Argos Translate 1.9 (uk-en, run locally)", "reviewer"),
    ]
    assert all(t.source_text == CAPTION and t.created_at for t in found)
    assert found[0].source_lang == "uk"  # canonical form of the tag typed
    with w.home.reading() as conn:
        events = [e for e in CustodyLog.events(conn, item_id=s.item) if e.action == "translation.recorded"]
    assert len(events) == 2 and CAPTION not in json.dumps([e.details for e in events], ensure_ascii=False)


@pytest.mark.parametrize("tag", ["", "english", "xx-YY", "ar-", "en_US"])
def test_a_tag_that_is_not_bcp47_is_refused_and_nothing_is_stored(s: Setup, tag: str) -> None:
    w = s.w
    ref = tr.item_sources(w.home, w.analyst, s.item)[0].ref
    with w.home.reading() as conn:
        before = conn.execute(select(func.count()).select_from(translations)).scalar_one()
    with pytest.raises(tr.TranslationError, match="BCP 47"):
        tr.add_translation(w.home, w.analyst, s.item, ref, tag, "text")
    with pytest.raises(tr.TranslationError, match="tool"):
        tr.add_translation(w.home, w.analyst, s.item, ref, "en", "text", translator_type="machine")
    with w.home.reading() as conn:
        assert conn.execute(select(func.count()).select_from(translations)).scalar_one() == before


def _refused(s: Setup, who: Account, item_id: str, write: bool) -> None:
    before = _denials(s.w.home)
    with pytest.raises(AccessDenied):
        if write:
            tr.add_translation(s.w.home, who, item_id, "caption:sighting:1", "en", "x")
        else:
            tr.item_translations(s.w.home, who, item_id)
    assert _denials(s.w.home) == before + 1


def test_access_non_member_unassigned_member_and_wrong_role_are_refused_and_logged(s: Setup) -> None:
    w = s.w
    for write in (False, True):
        _refused(s, w.outsider, s.item, write)  # not a member of the case
        _refused(s, w.reviewer, s.secret, write)  # a member, not assigned to a sexual-violence item
    _refused(s, w.legal, s.item, True)  # legal staff read, they do not annotate
    assert tr.item_translations(w.home, w.legal, s.item)  # but they read
    with pytest.raises(AccessDenied):
        tr.item_sources(w.home, w.outsider, s.item)


def test_blind_review_hides_a_translation_of_a_hidden_reviewers_note(s: Setup) -> None:
    w = s.w
    item = w.items[2]
    review.submit_review(w.home, w.reviewer, item, "verified", 4, "REVIEWER-ONE-RATIONALE", {
        "source_analysis": {"method": "account history", "note": "consistent"}})  # fmt: skip
    review.add_method_step(w.home, w.reviewer, item, "map", "skyline", "Compared the skyline")
    [note] = [x for x in tr.item_sources(w.home, w.reviewer, item) if x.ref.startswith("note:")]
    tr.add_translation(w.home, w.reviewer, item, note.ref, "uk", "Порівняв обриси міста")
    assert not [x for x in tr.item_sources(w.home, w.reviewer2, item) if x.ref == note.ref]
    assert tr.item_translations(w.home, w.reviewer2, item) == []
    with pytest.raises(tr.TranslationError):  # nor may it be translated by someone it is hidden from
        tr.add_translation(w.home, w.reviewer2, item, note.ref, "en", "x")
    assert len(tr.item_translations(w.home, w.reviewer, item)) == 1


def _pdf_text(path: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return done.stdout.decode()


def test_report_and_package_carry_the_original_and_both_labelled_translations(s: Setup) -> None:
    w = s.w
    if not tr.item_translations(w.home, w.legal, s.item):
        test_a_human_and_a_machine_translation_are_kept_beside_the_verbatim_original(s)
    out = s.root / "item-report.pdf"
    reports.write_report(w.home, w.legal, out, item_id=s.item, via="app")
    text = " ".join(_pdf_text(out).split())
    for wanted in (CAPTION, ENGLISH, MACHINE, "MACHINE translation by the tool Argos Translate 1.9",
                   "Human translation by analyst", "Translation into en-GB"):  # fmt: skip
        assert wanted in text, wanted
    req = export.ExportRequest("demo", "internal", "ICC OTP", "court", "test", s.root / "bag", w.legal,
                               item_ids=[s.item], report=False)  # fmt: skip
    export.export_package(w.home, req)
    record = json.loads((s.root / "bag" / "data" / "items" / s.item / "record.json").read_text("utf-8"))
    assert {t["text"] for t in record["translations"]} == {ENGLISH, MACHINE}
    assert {t["source_text"] for t in record["translations"]} == {CAPTION}


def test_the_translations_tab_shows_originals_beside_translations_and_records_one(
    s: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WB_HOME", str(s.root / "home"))
    monkeypatch.setenv("WB_KEY", str(s.root / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("analyst")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    at.button(key=f"open_{s.item}").click().run()
    assert not at.exception, at.exception
    shown = "\n".join(str(h.proto.body) for h in at.get("html"))
    assert 'dir="auto" style="white-space: pre-wrap' in shown and CAPTION in shown
    at.text_input(key="tr_target").input("fr")
    at.text_area(key="tr_text").input("<b>Bombardement</b> du marché")
    at.button(key="FormSubmitter:translation_add-Record translation").click().run()
    assert not at.exception, at.exception
    shown = "\n".join(str(h.proto.body) for h in at.get("html"))
    assert "&lt;b&gt;Bombardement&lt;/b&gt; du marché" in shown and "<b>" not in shown
    assert "fr · human translation by analyst" in shown


def test_erasure_of_the_item_removes_its_translations(s: Setup) -> None:
    w = s.w
    if not tr.item_translations(w.home, w.legal, s.item):
        test_a_human_and_a_machine_translation_are_kept_beside_the_verbatim_original(s)
    deletion.request_deletion(w.home, w.analyst, s.item, "consent withdrawn")
    deletion.approve_deletion(w.home, w.legal, s.item)
    with w.home.reading() as conn:
        left = conn.execute(select(translations.c.text).where(translations.c.item_id == s.item)).all()
    assert left == []


def test_wb_translation_lists_texts_and_records_a_machine_translation(
    wb: RunWb, account: AccountFactory, tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "c1", "--purpose", "test")
    photo = tmp_path / "p.png"
    photo.write_bytes(make_png(5))
    [stored] = json_lines(wb("ingest", "--case", "c1", str(photo), "--json").stdout)
    item = stored["item_id"]
    wb("method-step", item, "--tool", "map", "--result", "Порівняв обриси міста")
    [source] = json_lines(wb("translation", "list", item, "--json").stdout)
    assert source["source_ref"].startswith("note:") and "Порівняв" in source["text"]
    ref = source["source_ref"]
    wb("translation", "add", item, "--of", ref, "--lang", "en", "--text", "Compared the skyline",
       "--machine", "Argos Translate 1.9 (local)")  # fmt: skip
    listed = json_lines(wb("translation", "list", item, "--json").stdout)
    assert [(t["translator_type"], t["translator"]) for t in listed[1:]] == [
        ("machine", "Argos Translate 1.9 (local)")
    ]
    bad = wb(
        "translation", "add", item, "--of", source["source_ref"], "--lang", "english", "--text", "x", check=2
    )
    assert "BCP 47" in bad.stderr
    outsider = account("outsider", "analyst")  # not a member of the case: refused, exit 1
    assert "refused" in wb("translation", "list", item, env=outsider, check=1).stderr
