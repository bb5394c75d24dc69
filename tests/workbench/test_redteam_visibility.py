"""Red team: visibility follows the bytes, and blind review holds (issue 11).

Each test names one path by which, on the main of 2026-12-05, an account saw content of an item
hidden from it (a survivor-identifying photo it is not assigned to, or a case it is not a member of)
or another reviewer's conclusions before submitting its own; each failed there. The app is run with
AppTest, the CLI in its own process as a logged-in account, services with real homes and files.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from archive.custody import CustodyLog
from archive.db import items, match_decisions
from archive.home import Home
from collectors.outcome import StagedCapture
from collectors.recorder import StagedFile
from tests.conftest import Account, RunWb, json_lines
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world
from tests.workbench.test_dedup import make_files
from workbench.app.pages.common import Ctx
from workbench.app.pages.item_record import near_duplicates
from workbench.services import access, auth, jobs, review, viewing
from workbench.services.access import ItemFilter
from workbench.services.auth import AccessDenied
from workbench.services.capture.store import store_staged
from workbench.services.dedup import clusters as dedup
from workbench.services.export.packages import ExportRequest, export_package
from workbench.services.intake import ingest_paths

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
PAGE_URL = "http://127.0.0.1:9/post/7"
PHOTO_URL = "http://127.0.0.1:9/media/survivor.png"
SIBLING_URL = "http://127.0.0.1:9/media/street.png"
WITHHELD = "restricted content withheld"  # what the app shows in place of withheld content
PNG_MAGIC = b"\x89PNG"
SOURCE = {"source_analysis": {"method": "account history", "note": "consistent"}}


# -- the app's world -----------------------------------------------------------------------------


@pytest.fixture
def world(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")  # jobs are run by the test itself
    yield make_world(home, reviews=2, n_items=1)


def login(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(t.value) for t in at.text)


def _everything(at: AppTest) -> str:
    """Every text, code block and table cell on the page."""
    parts = [_texts(at), *(str(c.value) for c in at.code)]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [html.unescape(str(h.proto.body)) for h in at.get("html")]  # titles, captions (dir="auto")
    return "\n".join(parts)


def _member(w: World, name: str, role: str) -> auth.Account:
    with w.home.transaction("admin") as tx:
        made = auth.add_user(tx, w.admin, name, role, PASSWORD)
        auth.add_member(tx, w.admin, w.case.id, name)
    return made


def _denials(home: Home) -> list[dict[str, Any]]:
    with home.reading() as conn:
        events = CustodyLog.events(conn)
        return [dict(e.details, actor=e.actor) for e in events if e.action == "access.denied"]


# -- a captured page that shows a survivor-identifying photo -------------------------------------


@dataclass
class Page:
    page_id: str
    photo_id: str
    files: dict[str, str]  # role -> SHA-256 of the page's files
    photo_sha: str
    sibling_id: str  # another photo of the same page, not restricted


def _staged(folder: Path, name: str, data: bytes, mime: str, url: str | None = None) -> StagedFile:
    path = folder / name
    path.write_bytes(data)
    role = name.split("-")[0]  # "media-2": a second medium
    return StagedFile(role, path, hashlib.sha256(data).hexdigest(), len(data), mime, url)


def capture_page_with_photo(w: World, folder: Path) -> Page:
    """A page capture stored the way `wb capture` stores one (the browser's part is staged by hand):
    the photo is in the page's WACZ and screenshot and becomes its own item, then is classified
    survivor-identifying by the analyst (who stays assigned)."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = make_png(77, (96, 72))
    wacz = io.BytesIO()
    with zipfile.ZipFile(wacz, "w") as z:
        z.writestr("archive/data.warc", b"WARC/1.1\r\n\r\n" + photo)
    staged = StagedCapture(
        PAGE_URL,
        "captured",
        None,
        folder,
        {"final_url": PAGE_URL, "title": "a post"},
        [
            _staged(folder, "screenshot", make_png(78, (200, 150)), "image/png"),
            _staged(folder, "html", f"<html><img src='{PHOTO_URL}'></html>".encode(), "text/html"),
            _staged(folder, "wacz", wacz.getvalue(), "application/zip"),
            _staged(folder, "media", photo, "image/png", PHOTO_URL),
            _staged(folder, "media-2", make_png(79, (64, 48)), "image/png", SIBLING_URL),
        ],
    )
    result = store_staged(w.home, w.case, staged, "analyst", "cli", None)
    assert result.item_id and len(result.stored_media) == 2, result
    photo_item, sibling = result.stored_media
    access.classify(w.home, w.analyst, photo_item.item_id, "survivor_identifying")
    files = {f.role: f.sha256 for f in staged.files if f.role != "media"}
    return Page(result.item_id, photo_item.item_id, files, photo_item.sha256, sibling.item_id)


def test_page_holding_a_hidden_photo_is_not_revealed_or_downloaded(world: World, tmp_path: Path) -> None:
    page = capture_page_with_photo(world, tmp_path / "staged")
    with world.home.reading() as conn:
        assert access.withheld_members(conn, world.reviewer, page.page_id) == [page.photo_id]
        assert access.withheld_members(conn, world.analyst, page.page_id) == []
        # A photo does not hold the page it was seen on.
        assert access.withheld_members(conn, world.reviewer, world.items[0]) == []
    for who in (world.reviewer, world.legal, world.outsider):  # unassigned members, a non-member
        with pytest.raises(AccessDenied):
            viewing.revealed_png(world.home, who, page.page_id, page.files["screenshot"])
        for sha in page.files.values():  # what the file route asks before it serves a file
            with pytest.raises(AccessDenied):
                access.log_access(world.home, who, page.page_id, "media.downloaded", artifact_sha256=sha)
    assert viewing.revealed_png(world.home, world.analyst, page.page_id, page.files["screenshot"])
    access.log_access(
        world.home, world.analyst, page.page_id, "media.downloaded", artifact_sha256=page.files["wacz"]
    )
    withheld = [d for d in _denials(world.home) if d.get("reason") == "withheld"]
    assert {d["actor"] for d in withheld} == {"reviewer", "legal"}  # the outsider is refused earlier
    with world.home.reading() as conn:
        seen = json.dumps(access.capture_records(conn, world.reviewer, page.page_id))
        full = json.dumps(access.capture_records(conn, world.analyst, page.page_id))
    assert page.photo_sha not in seen and PHOTO_URL not in seen and access.WITHHELD in seen
    assert page.photo_sha in full and PHOTO_URL in full
    # The other photo of the page holds neither page nor photo, but shares the capture record.
    with world.home.reading() as conn:
        assert access.withheld_members(conn, world.reviewer, page.sibling_id) == []
        shared = json.dumps(access.capture_records(conn, world.reviewer, page.sibling_id))
    assert SIBLING_URL in shared and page.photo_sha not in shared and PHOTO_URL not in shared


def test_search_does_not_find_a_page_by_its_hidden_photo(world: World, tmp_path: Path) -> None:
    page = capture_page_with_photo(world, tmp_path / "staged")

    def found(who: auth.Account, text: str) -> set[str]:
        with world.home.reading() as conn:
            rows, total = access.list_items(conn, who, world.case.id, ItemFilter(text=text))
        assert total == len(rows)
        return {r.id for r in rows}

    # The capture record (shared by the page and its photos) lists the photo's address.
    assert found(world.analyst, "media/survivor") == {page.page_id, page.photo_id, page.sibling_id}
    assert found(world.reviewer, "media/survivor") == set()
    assert found(world.reviewer, "a post") == {page.page_id}  # the page is found by its own title


def test_zip_holding_a_hidden_member_is_not_downloaded(world: World, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("inner/survivor.png", make_png(91))
        z.writestr("street.png", make_png(92))
    results = list(ingest_paths(world.home, world.case, [str(bundle)], world.analyst))
    by_name = {str(r.path).rsplit("/", 1)[-1].rsplit("!", 1)[-1]: r for r in results}
    zip_item, secret = by_name["bundle.zip"], by_name["survivor.png"]
    assert zip_item.item_id and secret.item_id and zip_item.sha256
    access.classify(world.home, world.analyst, secret.item_id, "survivor_identifying")
    with world.home.reading() as conn:
        assert access.withheld_members(conn, world.reviewer, zip_item.item_id) == [secret.item_id]
        assert access.withheld_members(conn, world.reviewer, str(by_name["street.png"].item_id)) == []
    with pytest.raises(AccessDenied):
        access.log_access(
            world.home, world.reviewer, zip_item.item_id, "media.downloaded", artifact_sha256=zip_item.sha256
        )
    access.log_access(
        world.home, world.analyst, zip_item.item_id, "media.downloaded", artifact_sha256=zip_item.sha256
    )
    street = str(by_name["street.png"].item_id)
    out = tmp_path / "package"
    req = ExportRequest(
        "demo", "internal", "Court X", "court", "trial", out, world.legal, [zip_item.item_id, street]
    )
    result = export_package(world.home, req)
    assert [(w.item_id, w.reason) for w in result.withheld] == [(zip_item.item_id, "restricted_content")]
    shipped = {p.name for p in out.rglob("*") if p.is_file()}
    assert not any(zip_item.sha256 in name for name in shipped)


def test_app_shows_a_page_holding_a_hidden_photo_as_withheld(world: World, tmp_path: Path) -> None:
    page = capture_page_with_photo(world, tmp_path / "staged")
    at = login("reviewer")
    # Gallery: the plain photo and the page's other photo have thumbnails; the page has none.
    assert "3 items · page 1 of 1" in _texts(at) and f"[{WITHHELD}]" in _texts(at)
    assert len(at.get("image")) == 2
    at.button(key=f"open_{page.page_id}").click().run()
    assert not at.exception, at.exception
    shown = _everything(at)
    assert f"Item {page.page_id}" in shown and WITHHELD in shown
    assert not [b for b in at.button if b.key in ("reveal", "reveal_video")]
    assert len(at.get("image")) == 0  # no screenshot thumbnail, however blurred
    assert page.photo_sha not in shown and PHOTO_URL not in shown and page.photo_id not in shown
    assigned = login("analyst")
    assigned.button(key=f"open_{page.page_id}").click().run()
    assert assigned.button(key="reveal") is not None and WITHHELD not in _everything(assigned)


# -- near-duplicates -----------------------------------------------------------------------------


def _variants() -> list[bytes]:
    """Three encodings of one picture: near-duplicates of each other."""
    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), "RGB")
    out = []
    for fmt, size in (("PNG", (320, 240)), ("JPEG", (320, 240)), ("JPEG", (300, 225))):
        buf = io.BytesIO()
        base.resize(size, Image.Resampling.BILINEAR).save(
            buf, fmt, **({"quality": 80} if fmt == "JPEG" else {})
        )
        out.append(buf.getvalue())
    return out


def _near_world(w: World, tmp_path: Path) -> tuple[str, list[str]]:
    """Three near-duplicate photos; the one whose SHA-256 is smallest (it names the cluster) is hidden.
    Returns (hidden id, the visible ids in SHA-256 order)."""
    paths = []
    for n, data in enumerate(sorted(_variants(), key=lambda d: hashlib.sha256(d).hexdigest())):
        suffix = "png" if data.startswith(PNG_MAGIC) else "jpg"
        paths.append(tmp_path / f"near-{n}.{suffix}")
        paths[-1].write_bytes(data)
    ids = [str(r.item_id) for r in ingest_paths(w.home, w.case, [str(p) for p in paths], w.analyst)]
    access.classify(w.home, w.analyst, ids[0], "survivor_identifying")
    assigned = {m.item_id for m in near_duplicates(Ctx(w.home, w.analyst, w.case), ids[1])}
    assert assigned == {ids[0], ids[2]}
    return ids[0], ids[1:]


def _sha(home: Home, item_id: str) -> str:
    with home.reading() as conn:
        return str(conn.execute(select(items.c.sha256).where(items.c.id == item_id)).scalar_one())


def test_app_near_duplicate_panel_neither_lists_nor_names_a_hidden_item(world: World, tmp_path: Path) -> None:
    hidden, visible = _near_world(world, tmp_path)
    at = login("reviewer")
    at.button(key=f"open_{visible[0]}").click().run()
    at.button(key="find_near").click().run()
    assert not at.exception, at.exception
    near = next(d.value for d in at.dataframe if "distance (bits)" in d.value.columns)
    assert sorted(near["item"]) == sorted([f"{visible[0]} (this item)", visible[1]])
    # The cluster is named after the smallest SHA-256 the reviewer may see, not the hidden photo's.
    assert f"Cluster {dedup.cluster_id_of(_sha(world.home, visible[0]))}" in _everything(at)
    assert hidden not in _everything(at)


def test_gallery_near_duplicate_filter_does_not_confirm_a_hidden_id(world: World, tmp_path: Path) -> None:
    hidden, visible = _near_world(world, tmp_path)
    at = login("reviewer")
    at.text_input(key="g_cluster").input(hidden).run()
    assert "0 items · page 1 of 1" in _texts(at)  # what an id that does not exist gives
    at.text_input(key="g_cluster").input("0" * 20).run()
    assert "0 items · page 1 of 1" in _texts(at)
    at.text_input(key="g_cluster").input(visible[0]).run()
    assert "2 items · page 1 of 1" in _texts(at) and hidden not in _everything(at)


# name -> (role, case): ana is a member not assigned to the copy, olga no member of c1
ROLES = {
    "ana": ("analyst", "c1"),
    "olga": ("analyst", "other"),
    "lena": ("legal", "c1"),
    "rita": ("reviewer", "c1"),
    "rob": ("reviewer", "c1"),
}


@dataclass
class Cli:
    files: dict[str, Path]
    ids: dict[str, str]
    make: Account
    made: dict[str, dict[str, str]]

    def __getitem__(self, name: str) -> dict[str, str]:
        """The environment of a logged-in account (made on first use: each costs three `wb` runs)."""
        if name not in self.made:
            role, case = ROLES[name]
            self.made[name] = self.make(name, role, case)
        return self.made[name]


@pytest.fixture
def cli(wb: RunWb, account: Account, tmp_path: Path) -> Cli:
    """Case c1 (two reviews needed) with a plain photo, its survivor-identifying near-duplicate and an
    unrelated photo. The first admin classified the copy, so is assigned to it."""
    wb("init")
    wb("case", "create", "c1", "--purpose", "red team", "--reviews", "2")
    wb("case", "create", "other", "--purpose", "somebody else's case")
    files = make_files(tmp_path / "in")
    ids = {
        Path(str(r["path"])).stem: str(r["item_id"])
        for r in json_lines(wb("ingest", "--json", "--case", "c1", *map(str, files.values())).stdout)
    }
    wb("classify", ids["copy"], "survivor_identifying")
    return Cli(files, ids, account, {})


def test_cli_similar_and_dedup_keep_a_hidden_near_duplicate_out(wb: RunWb, cli: Cli) -> None:
    ids, copy = cli.ids, str(cli.files["copy"])
    full = json_lines(wb("dedup", "--case", "c1", "--json").stdout)
    assert [{m["item_id"] for m in c["members"]} for c in full] == [{ids["original"], ids["copy"]}]
    hits = json_lines(wb("similar", "--case", "c1", copy, "--json", env=cli["ana"]).stdout)
    assert [h["item_id"] for h in hits] == [ids["original"]]
    # The only cluster has one visible member: it is not listed, counted or hinted at.
    assert wb("dedup", "--case", "c1", "--json", env=cli["ana"]).stdout == ""
    assert "0 cluster(s)" in wb("dedup", "--case", "c1", env=cli["ana"]).stdout
    for args in (("similar", "--case", "c1", copy), ("dedup", "--case", "c1")):
        refused = wb(*args, env=cli["olga"], check=1)
        assert "refused" in refused.stderr and ids["copy"] not in refused.stdout


def test_cli_dedup_decisions_need_the_role_and_both_items(
    wb: RunWb, wb_env: dict[str, str], cli: Cli
) -> None:
    ids = cli.ids
    (cluster,) = json_lines(wb("dedup", "--case", "c1", "--json").stdout)
    cid = str(cluster["cluster_id"])
    pending = next(m["item_id"] for m in cluster["members"] if m["decision"] == "pending")
    anchor = next(m["item_id"] for m in cluster["members"] if m["decision"] == "anchor")
    for who in ("ana", "olga"):  # an unassigned member and a non-member: the hidden copy is refused
        wb("dedup", "confirm", cid, ids["copy"], env=cli[who], check=1)
    if anchor == ids["copy"]:  # a cluster named after the hidden copy does not exist for ana
        assert "no cluster" in wb("dedup", "reject", cid, ids["original"], env=cli["ana"], check=2).stderr
    lena = cli["lena"]
    wb("assign", ids["copy"], "lena")  # lena sees both: only her role stands in the way
    wb("dedup", "confirm", cid, pending, env=lena, check=1)  # legal staff do not judge
    with sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3") as conn:
        assert conn.execute(f"SELECT count(*) FROM {match_decisions.name}").fetchone() == (0,)
    wb("dedup", "confirm", cid, pending)  # the assigned admin may


# -- the job list --------------------------------------------------------------------------------


def _upload_hidden(w: World, name: str) -> str:
    params = jobs.save_uploads(w.home, [(name, make_png(55))])
    jobs.submit(w.home, w.analyst, "upload", w.case.id, params)
    done = jobs.run_job(w.home)
    assert done is not None and done.status == "done", done
    item_id = str(done.result["results"][0]["item_id"])
    access.classify(w.home, w.analyst, item_id, "survivor_identifying")
    return item_id


def test_job_list_shows_no_hidden_item_or_its_file_name(world: World) -> None:
    secret = _upload_hidden(world, "amira-survivor.png")
    _member(world, "ana2", "analyst")  # a member of the case, not assigned to the upload
    at = login("ana2")
    at.sidebar.radio(key="nav").set_value("Capture").run()
    assert not at.exception, at.exception
    shown = _everything(at)
    assert "amira" not in shown and secret not in shown
    with world.home.reading() as conn:
        ana2 = auth.account_by_name(conn, "ana2")
    assert ana2 is not None
    listed = json.dumps(jobs.list_jobs(world.home, ana2, world.case.id), default=str)
    assert "amira" not in listed and secret not in listed
    mine = jobs.list_jobs(world.home, world.analyst, world.case.id)
    assert any(r.get("item_id") == secret for j in mine for r in j.result.get("results", []))
    with pytest.raises(AccessDenied):
        jobs.list_jobs(world.home, world.outsider, world.case.id)


# -- wb log, wb report, wb redact ----------------------------------------------------------------


def _pdf_text(path: Path) -> str:
    out = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return out.stdout.decode("utf-8")


def _first_review(wb: RunWb, cli: Cli, item: str) -> None:
    """rita reviews first and notes a method step; rob has not reviewed yet."""
    wb(
        "review", item, "--status", "verified", "--confidence", "4", "--rationale", "SECRET-RATIONALE-RITA",
        "--source-analysis", json.dumps(SOURCE["source_analysis"]), env=cli["rita"],
    )  # fmt: skip
    wb("method-step", item, "--tool", "reverse search", "--result", "SECRET-STEP-RITA", env=cli["rita"])


def test_wb_log_is_blind_until_the_reader_has_reviewed(wb: RunWb, cli: Cli) -> None:
    item = cli.ids["original"]
    _first_review(wb, cli, item)
    blind = json_lines(wb("log", item, "--json", env=cli["rob"]).stdout)
    assert blind and {e["actor"] for e in blind}.isdisjoint({"rita"})
    assert not {e["action"] for e in blind} & {"judgement.recorded", "item.status_changed"}
    wb("review", item, "--status", "unverified", "--confidence", "3", "--rationale", "mine", env=cli["rob"])
    after = json_lines(wb("log", item, "--json", env=cli["rob"]).stdout)
    assert "rita" in {e["actor"] for e in after}
    # A hidden item's log is refused, like an absent one, to an unassigned member and a non-member.
    for who in ("ana", "olga"):
        refused = wb("log", cli.ids["copy"], env=cli[who], check=1)
        assert refused.stdout == "" and "refused" in refused.stderr


def test_wb_report_is_blind_until_the_reader_has_reviewed(wb: RunWb, cli: Cli, tmp_path: Path) -> None:
    item = cli.ids["original"]
    _first_review(wb, cli, item)
    wb("report", item, "--out", str(tmp_path / "rob.pdf"), env=cli["rob"])
    text = _pdf_text(tmp_path / "rob.pdf")
    assert "SECRET-RATIONALE-RITA" not in text and "SECRET-STEP-RITA" not in text and "rita" not in text
    assert "1 review(s) by others hidden" in text
    wb("report", item, "--out", str(tmp_path / "lena.pdf"), env=cli["lena"])  # legal staff see it all
    assert "SECRET-RATIONALE-RITA" in _pdf_text(tmp_path / "lena.pdf")


def test_wb_report_needs_membership_and_leaves_hidden_items_out(wb: RunWb, cli: Cli, tmp_path: Path) -> None:
    ids = cli.ids
    for args in ((ids["original"],), ("--case", "c1")):
        out = tmp_path / "olga.pdf"
        wb("report", *args, "--out", str(out), env=cli["olga"], check=1)
        assert not out.exists()
    wb("report", ids["copy"], "--out", str(tmp_path / "ana-copy.pdf"), env=cli["ana"], check=1)
    wb("report", "--case", "c1", "--out", str(tmp_path / "ana.pdf"), env=cli["ana"])
    text = _pdf_text(tmp_path / "ana.pdf")
    assert ids["original"] in text and ids["copy"] not in text
    assert "Items in this report: 2" in text  # the original and the unrelated photo


def test_wb_redact_needs_the_role_membership_and_the_item(wb: RunWb, cli: Cli) -> None:
    ids = cli.ids
    box = ("--box", "10,10,20,20")
    wb("redact", ids["original"], *box, env=cli["olga"], check=1)  # not a member
    wb("redact", ids["original"], *box, env=cli["ana"], check=1)  # analysts do not prepare sharing
    wb("redact", ids["copy"], *box, env=cli["lena"], check=1)  # legal, not assigned to the copy
    done = json_lines(wb("redact", ids["original"], *box, "--json", env=cli["lena"]).stdout)
    assert done[0]["item_id"] == ids["original"]


# -- custody and methodology tabs ----------------------------------------------------------------


def test_custody_and_methodology_tabs_are_blind_until_the_reader_has_reviewed(world: World) -> None:
    item = world.items[0]
    review.submit_review(world.home, world.reviewer, item, "verified", 4, "SECRET-RATIONALE-A", SOURCE)
    review.add_method_step(world.home, world.reviewer, item, "reverse search", "q", "SECRET-STEP-A")
    at = login("reviewer2")
    at.button(key=f"open_{item}").click().run()
    assert not at.exception, at.exception
    custody = next(d.value for d in at.dataframe if "event hash" in d.value.columns)
    assert "reviewer" not in set(custody["actor"])
    assert not {"judgement.recorded", "item.status_changed"} & set(custody["action"])
    shown = _everything(at)
    assert "SECRET-STEP-A" not in shown and "SECRET-RATIONALE-A" not in shown
    assert "hidden until you submit your own review" in shown
    review.submit_review(world.home, world.reviewer2, item, "verified", 3, "mine", SOURCE)
    at = login("reviewer2")
    at.button(key=f"open_{item}").click().run()
    custody = next(d.value for d in at.dataframe if "event hash" in d.value.columns)
    assert "reviewer" in set(custody["actor"]) and "SECRET-STEP-A" in _everything(at)
