"""What the CLI does, done in the app (issue 15): assignment, near-duplicate decisions with the earliest
known sighting, consent, redaction, reports, the transfer register, export downloads, adjudication.

Each action runs through the real app (Streamlit AppTest) on a real home; each is also tried as a
non-member, an unassigned member (sexual-violence item) and a role that may not, through the same
service the page calls: one logged refusal each.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from archive.custody import CustodyLog
from archive.db import items, judgements, sightings
from archive.errors import InvalidRequest
from archive.home import Home
from tests.workbench.app_fixtures import PASSWORD, World, make_world, store
from workbench.services import access, assignment, auth, consent, jobs, review
from workbench.services.auth import AccessDenied, Account
from workbench.services.dedup import clusters as dedup
from workbench.services.export import files as package_files
from workbench.services.export import packages as export
from workbench.services.export import reports

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
SOURCE = {"source_analysis": {"method": "account history", "note": "consistent"}}


@pytest.fixture
def world(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")  # jobs are run by the test itself
    yield make_world(home, reviews=2, n_items=2)


def login(name: str, item_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    if item_id is not None:
        at.session_state["item_id"] = item_id
        at.run()
        assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(t.value) for t in at.text)


def _keys(at: AppTest) -> set[str]:
    return {str(w.key) for kind in ("button", "selectbox", "text_area", "checkbox") for w in at.get(kind)}


def _actions(home: Home, item_id: str | None = None) -> list[tuple[str, str]]:
    with home.reading() as conn:
        return [(e.actor, e.action) for e in CustodyLog.events(conn, item_id=item_id)]


def _denied(home: Home, name: str) -> int:
    return _actions(home).count((name, "access.denied"))


def _refused(home: Home, who: Account, call: Callable[[], object]) -> None:
    """The call (a zero-argument lambda over a service) is refused, and the refusal logged once."""
    before = _denied(home, who.name)
    with pytest.raises(AccessDenied):
        call()
    assert _denied(home, who.name) == before + 1


def _member(w: World, name: str, role: str, member: bool = True) -> Account:
    with w.home.transaction("admin") as tx:
        made = auth.add_user(tx, w.admin, name, role, PASSWORD)
        if member:
            auth.add_member(tx, w.admin, w.case.id, name)
    return made


def _sensitive(w: World, item_id: str) -> None:
    """The analyst tags the item sexual violence (and is thereby assigned to it)."""
    access.tag_item(w.home, w.analyst, item_id, "sexual violence")


# -- assignment -------------------------------------------------------------------------------------


def test_an_analyst_assigns_a_reviewer_who_can_then_review_the_item(world: World) -> None:
    w = world
    _sensitive(w, w.items[0])
    assert login("reviewer", w.items[0]).error[0].value == "No such item, or you may not see it."
    at = login("analyst", w.items[0])
    assert "Assigned: analyst" in _texts(at)
    at.selectbox(key="assign_name").select("reviewer")
    at.button(key="FormSubmitter:assign-Assign (logged)").click().run()
    assert not at.exception, at.exception
    assert "Assigned: analyst, reviewer" in _texts(at) and "reviewer may now open this item." in _texts(at)
    assert ("analyst", "item.assigned") in _actions(w.home, w.items[0])
    at = login("reviewer", w.items[0])
    assert f"Item {w.items[0]}" in _texts(at) and "j_submit" in _keys(at)


def test_assignment_is_refused_to_outsiders_unassigned_members_and_reviewers(world: World) -> None:
    w = world
    _sensitive(w, w.items[0])
    assign = access.assign
    _refused(w.home, w.outsider, lambda: assign(w.home, w.outsider, w.items[0], "outsider"))
    _refused(w.home, w.outsider, lambda: assignment.assignment(w.home, w.outsider, w.items[0]))
    analyst2 = _member(w, "analyst2", "analyst")  # a member who may assign, not assigned to this item
    _refused(w.home, analyst2, lambda: assign(w.home, analyst2, w.items[0], "analyst2"))
    _refused(w.home, analyst2, lambda: assignment.assignment(w.home, analyst2, w.items[0]))
    assign(w.home, w.analyst, w.items[0], "reviewer")
    _refused(w.home, w.reviewer, lambda: assign(w.home, w.reviewer, w.items[0], "reviewer2"))
    at = login("reviewer", w.items[0])  # assigned, but the reviewer role does not assign
    assert "Assigned: analyst, reviewer" in _texts(at) and "assign_name" not in _keys(at)
    with pytest.raises(InvalidRequest, match="not a member"):
        assign(w.home, w.analyst, w.items[0], "outsider")
    assert _actions(w.home, w.items[0]).count(("analyst", "item.assigned")) == 2  # self, then reviewer


# -- near-duplicates ----------------------------------------------------------------------------------


def _photo(fmt: str, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), "RGB").resize(
        size, Image.Resampling.BILINEAR
    )
    buf = io.BytesIO()
    base.save(buf, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _near(w: World) -> list[str]:
    """Three near-duplicate photos, fingerprinted; their ids in SHA-256 order (the first anchors)."""
    made = [(_photo(f, s), f) for f, s in (("PNG", (320, 240)), ("JPEG", (320, 240)), ("JPEG", (300, 225)))]
    ids = [store(w.home, w.case, data, f"near.{fmt.lower()}") for data, fmt in made]
    with w.home.reading() as conn:
        shas = {i: conn.execute(select(items.c.sha256).where(items.c.id == i)).scalar_one() for i in ids}
    for (_data, fmt), item_id in zip(made, ids, strict=True):
        dedup.on_stored(w.home, w.case, item_id, shas[item_id], f"image/{fmt.lower()}")
    return sorted(ids, key=lambda i: shas[i])


def _near_table(at: AppTest) -> dict[str, str]:
    found = next(d.value for d in at.dataframe if "distance (bits)" in d.value.columns)
    return dict(zip(found["item"], found["decision"], strict=True))


def test_near_duplicate_tab_confirms_rejects_and_names_the_earliest_sighting(world: World) -> None:
    w = world
    anchor, one, two = _near(w)
    at = login("analyst", anchor)
    at.button(key="find_near").click().run()
    assert not at.exception, at.exception
    assert _near_table(at) == {f"{anchor} (this item)": "anchor", one: "pending", two: "pending"}
    texts = _texts(at)
    assert "Earliest known sighting: this item, " in texts
    assert "Basis: when it was captured or ingested here (no posting time known)" in texts
    with w.home.transaction("analyst") as tx:  # the candidate was posted long before
        tx.conn.execute(
            sightings.update()
            .where(sightings.c.item_id == one)
            .values(posted_at=datetime(2020, 1, 2, tzinfo=UTC))
        )
    at.button(key=f"dd_yes_{one}").click().run()
    at.button(key=f"dd_no_{two}").click().run()
    assert not at.exception, at.exception
    assert _near_table(at) == {f"{anchor} (this item)": "anchor", one: "confirmed"}
    assert f"Earliest known sighting: item {one}, 2020-01-02" in _texts(at)
    assert "Basis: the platform's posting time" in _texts(at)
    assert ("analyst", "dedup.confirmed") in _actions(w.home, one)
    assert ("analyst", "dedup.rejected") in _actions(w.home, two)
    at = login("reviewer", one)  # the open item is itself the earliest
    at.button(key="find_near").click().run()
    assert "Earliest known sighting: this item, 2020-01-02" in _texts(at)


def test_near_duplicate_decisions_are_refused_to_outsiders_unassigned_members_and_legal(world: World) -> None:
    w = world
    anchor, one, two = _near(w)
    cluster = dedup.item_cluster(w.home, w.analyst, anchor)
    assert cluster is not None
    cid = cluster.cluster_id
    _refused(w.home, w.outsider, lambda: dedup.item_cluster(w.home, w.outsider, anchor))
    _refused(w.home, w.outsider, lambda: dedup.decide(w.home, w.outsider, cid, one, "confirmed", via="app"))
    _sensitive(w, two)
    _refused(w.home, w.reviewer, lambda: dedup.decide(w.home, w.reviewer, cid, two, "rejected", via="app"))
    _refused(w.home, w.legal, lambda: dedup.decide(w.home, w.legal, cid, one, "confirmed", via="app"))
    at = login("legal", anchor)  # legal staff see the cluster but are not offered a decision
    at.button(key="find_near").click().run()
    assert _near_table(at) == {f"{anchor} (this item)": "anchor", one: "pending"}  # the hidden one left out
    assert not {k for k in _keys(at) if k.startswith("dd_")}


# -- consent -----------------------------------------------------------------------------------------


def test_consent_is_recorded_and_withdrawn_in_the_app(world: World) -> None:
    w = world
    at = login("analyst", w.items[0])
    at.text_input(key="consent_subject").input("P-001")
    at.multiselect(key="consent_scopes").set_value(["court"])
    at.button(key="FormSubmitter:consent_add-Record consent").click().run()
    assert not at.exception, at.exception
    at.button(
        key="FormSubmitter:consent_withdraw-Record withdrawal (blocks every export of this item)"
    ).click()
    at.run()
    assert not at.exception, at.exception
    acts = _actions(w.home, w.items[0])
    assert ("analyst", "consent.recorded") in acts and ("analyst", "consent.withdrawn") in acts
    assert "consent withdrawn" in _texts(login("legal", w.items[0]))
    assert "consent_subject" not in {str(t.key) for t in login("reviewer", w.items[0]).text_input}


# -- redaction and reports ---------------------------------------------------------------------------


def test_legal_staff_make_a_redacted_copy_in_the_app(world: World) -> None:
    w = world
    at = login("legal", w.items[0])
    at.checkbox(key="rd_faces").uncheck()
    at.text_area(key="rd_boxes").input("0,0,10,10\n20,20,5,5")
    at.button(key="FormSubmitter:redact-Make a redacted copy (logged)").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Redacted copy stored; the original is unchanged"]
    assert "2 boxes filled" in _texts(at)
    assert ("legal", "artifact.redacted") in _actions(w.home, w.items[0])
    at.text_area(key="rd_boxes").input("ten,0,1,1")
    at.button(key="FormSubmitter:redact-Make a redacted copy (logged)").click().run()
    assert "Not saved" in [e.value for e in at.error] and "is not x,y,w,h" in _texts(at)


def test_redaction_is_refused_to_outsiders_unassigned_legal_staff_and_analysts(world: World) -> None:
    from workbench.services import redact

    w = world
    outsider_legal = _member(w, "legal-out", "legal", member=False)
    box = [(0, 0, 4, 4)]
    _refused(
        w.home, outsider_legal, lambda: redact.redact_item(w.home, outsider_legal, w.items[0], boxes=box)
    )
    _refused(w.home, w.analyst, lambda: redact.redact_item(w.home, w.analyst, w.items[0], boxes=box))
    _sensitive(w, w.items[1])
    _refused(w.home, w.legal, lambda: redact.redact_item(w.home, w.legal, w.items[1], boxes=box))
    at = login("analyst", w.items[0])
    assert "Redacted copies are made by legal staff and admins." in _texts(at)
    assert "rd_boxes" not in _keys(at)


def test_item_and_case_reports_are_made_in_the_app_and_logged(world: World) -> None:
    w = world
    at = login("reviewer", w.items[0])
    at.button(key="report_item").click().run()
    assert not at.exception, at.exception
    scope, report_id, sha, pdf = at.session_state["report_pdf"]
    assert scope == f"item:{w.items[0]}" and pdf.startswith(b"%PDF") and f"Report {report_id}" in _texts(at)
    with w.home.reading() as conn:
        logged = [e for e in CustodyLog.events(conn, item_id=w.items[0]) if e.action == "report.generated"]
    assert [(e.actor, e.artifact_sha256) for e in logged] == [("reviewer", sha)]
    at = login("analyst")
    at.sidebar.radio(key="nav").set_value("Cases").run()
    at.button(key="report_case").click().run()
    assert not at.exception, at.exception
    assert at.session_state["report_pdf"][0] == f"case:{w.case.id}"


def test_reports_are_refused_to_outsiders_and_unassigned_members(world: World) -> None:
    w = world  # any role that reads may make a report (it shows what that role sees): no wrong role
    _refused(w.home, w.outsider, lambda: reports.report_pdf(w.home, w.outsider, case_slug="demo"))
    _refused(w.home, w.outsider, lambda: reports.report_pdf(w.home, w.outsider, item_id=w.items[0]))
    _sensitive(w, w.items[1])
    _refused(w.home, w.reviewer, lambda: reports.report_pdf(w.home, w.reviewer, item_id=w.items[1]))
    _, _, pdf = reports.report_pdf(w.home, w.reviewer, case_slug="demo")  # of what the reviewer sees
    assert pdf.startswith(b"%PDF")


# -- exports: progress, the download, the transfer register ------------------------------------------


def _verified(w: World, item_id: str) -> None:
    for who in (w.reviewer, w.reviewer2):
        review.submit_review(w.home, who, item_id, "verified", 4, "agreed", SOURCE)


def test_legal_export_ends_in_a_download_that_leaves_the_server(world: World) -> None:
    w = world
    _verified(w, w.items[0])
    at = login("legal")
    at.sidebar.radio(key="nav").set_value("Legal view").run()
    at.text_input(key="x_recipient").input("ICC OTP")
    at.text_input(key="x_purpose").input("case file")
    at.selectbox(key="x_profile").select("partner")  # a partner package may not go to the media:
    at.selectbox(key="x_rtype").select("media")  # said in the form, before anything is queued
    at.button(key="FormSubmitter:l_export-Export (background job)").click().run()
    assert "the partner profile may not go to a media recipient: choose the profile public" in _texts(at)
    assert package_files.export_jobs(w.home, w.legal, w.case.id) == []
    at.selectbox(key="x_profile").select("internal")
    at.selectbox(key="x_rtype").select("court")
    at.button(key="FormSubmitter:l_export-Export (background job)").click().run()
    assert not at.exception, at.exception
    (job,) = package_files.export_jobs(w.home, w.legal, w.case.id)
    done = jobs.run_job(w.home, job.id)
    assert done is not None and done.status == "done" and done.progress == 1.0, done
    at.run()
    assert "package ready: download it once (it is then removed from the server)" in _texts(at)
    register = next(d.value for d in at.dataframe if "recipient" in d.value.columns)
    assert list(register["recipient"]) == ["ICC OTP"] and list(register["register row"]) == ["intact"]
    found = package_files.open_package(w.home, w.legal, job.id)
    assert found is not None and found.path.read_bytes()[:2] == b"PK"
    assert ("legal", "export.downloaded") in _actions(w.home)
    package_files.remove(w.home, job.id)  # what the file route does once the bytes are sent
    assert not (w.home.root / "exports" / job.id).exists()
    assert package_files.open_package(w.home, w.legal, job.id) is None
    at.run()
    assert "package downloaded; removed from the server" in _texts(at)


def test_an_unfetched_package_expires(world: World) -> None:
    w = world
    _verified(w, w.items[0])
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[0]]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    left = w.home.area("exports") / job_id / "bag"  # as a worker that died mid-way leaves it
    left.mkdir(parents=True)
    (left / "bagit.txt").write_text("partial")
    done = jobs.run_job(w.home, job_id)
    assert done is not None and done.result["package"] == "ready", done  # run again from scratch
    assert package_files.sweep(w.home) == 0
    assert (
        package_files.sweep(w.home, now=datetime.now(UTC).timestamp() + package_files.PACKAGE_TTL_S + 60) == 1
    )
    assert package_files.open_package(w.home, w.legal, job_id) is None
    job = jobs.get_job(w.home, job_id)
    assert job is not None and job.result["package"] == "expired"


def test_packages_and_the_register_are_refused_to_others(world: World) -> None:
    w = world
    _verified(w, w.items[0])
    _verified(w, w.items[1])
    access.tag_item(w.home, w.admin, w.items[1], "sexual violence")  # the admin is assigned, legal is not
    params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
              "purpose": "case file", "item_ids": [w.items[0]]}  # fmt: skip
    job_id = jobs.submit(w.home, w.legal, "export", w.case.id, params)
    jobs.run_job(w.home, job_id)
    outsider_legal = _member(w, "legal-out", "legal", member=False)
    _refused(w.home, outsider_legal, lambda: package_files.open_package(w.home, outsider_legal, job_id))
    _refused(w.home, w.admin, lambda: package_files.open_package(w.home, w.admin, job_id))  # not the exporter
    _refused(w.home, w.analyst, lambda: package_files.open_package(w.home, w.analyst, job_id))
    _refused(w.home, outsider_legal, lambda: export.list_transfers(w.home, outsider_legal, "demo", via="app"))
    _refused(w.home, w.analyst, lambda: export.list_transfers(w.home, w.analyst, "demo", via="app"))
    other = export.ExportRequest("demo", "internal", "Court Y", "court", "trial", w.home.root / "x", w.admin,
                                 (w.items[1],))  # fmt: skip
    consent.add_consent(w.home, w.admin, w.items[1], "P-002", ["court"], via="app")
    assert export.export_package(w.home, other).transfer_id  # only the admin (assigned) sees this item
    rows = export.list_transfers(w.home, w.legal, "demo", via="app")
    assert [r.items_restricted for r in rows] == [0, 1]
    assert w.items[1] not in str(rows)
    assert package_files.open_package(w.home, w.legal, job_id) is not None  # the exporter still may


# -- adjudication ------------------------------------------------------------------------------------


def _dispute(w: World, item_id: str) -> None:
    review.submit_review(w.home, w.reviewer, item_id, "verified", 4, "looks right", SOURCE)
    review.submit_review(w.home, w.reviewer2, item_id, "false_or_misleading", 2, "looks staged")


def test_the_adjudicator_sees_one_form_and_a_disputing_reviewer_only_their_own(world: World) -> None:
    w = world
    _dispute(w, w.items[0])
    at = login("admin", w.items[0])
    assert "a_submit" in _keys(at) and "j_submit" not in _keys(at)
    at.selectbox(key="a_status").select("verified")
    at.text_area(key="a_rationale").input("The first review's source analysis holds")
    at.button(key="a_submit").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Adjudication recorded"]
    with w.home.reading() as conn:
        kinds = [
            r.kind for r in conn.execute(select(judgements.c.kind).where(judgements.c.item_id == w.items[0]))
        ]
    assert kinds == ["review", "review", "adjudication"]
    assert "You adjudicated this item: you are not one of its reviewers." in _texts(at)
    assert "j_submit" not in _keys(at)  # nor a review afterwards
    _dispute(w, w.items[1])
    at = login("reviewer", w.items[1])
    assert "j_submit" in _keys(at) and "a_submit" not in _keys(at)


def test_a_stale_adjudication_is_discarded_and_keeps_what_was_typed(world: World) -> None:
    w = world
    _dispute(w, w.items[0])
    at = login("admin", w.items[0])
    at.text_area(key="a_rationale").input("Resolved after checking the source")
    # Meanwhile the first reviewer changes their mind: the form the admin sees is out of date.
    review.submit_review(w.home, w.reviewer, w.items[0], "inconclusive", 2, "not sure now")
    review.submit_review(w.home, w.reviewer2, w.items[0], "false_or_misleading", 2, "still staged")
    at.button(key="a_submit").click().run()
    assert not at.exception, at.exception
    assert [x.value for x in at.warning] == ["Discarded: nothing was recorded. What you typed is kept below."]
    assert at.text_area(key="a_rationale").value == "Resolved after checking the source"
    with w.home.reading() as conn:
        assert "adjudication" not in {r.kind for r in conn.execute(select(judgements.c.kind))}
    at.button(key="a_submit").click().run()  # now against what is shown: recorded
    assert [s.value for s in at.success] == ["Adjudication recorded"]


def test_a_double_submitted_judgement_is_recorded_once(world: World) -> None:
    w = world
    with w.home.reading() as conn:
        basis = review.reviews_for(conn, w.reviewer, w.items[0]).last_id
    review.submit_review(
        w.home, w.reviewer, w.items[0], "false_or_misleading", 3, "staged", expect_last=basis
    )
    with pytest.raises(review.StaleForm):
        review.submit_review(
            w.home, w.reviewer, w.items[0], "false_or_misleading", 3, "staged", expect_last=basis
        )
    with w.home.reading() as conn:
        assert len(conn.execute(select(judgements.c.id)).all()) == 1
    _sensitive(w, w.items[1])
    _refused(
        w.home, w.reviewer, lambda: review.adjudicate(w.home, w.reviewer, w.items[1], "inconclusive", "x")
    )
    _refused(
        w.home, w.outsider, lambda: review.adjudicate(w.home, w.outsider, w.items[0], "inconclusive", "x")
    )
    _refused(w.home, w.analyst, lambda: review.adjudicate(w.home, w.analyst, w.items[0], "inconclusive", "x"))


def test_an_export_tells_how_far_it_has_come(world: World) -> None:
    w = world
    _verified(w, w.items[0])
    _verified(w, w.items[1])
    told: list[tuple[float, str]] = []
    req = export.ExportRequest(
        "demo",
        "internal",
        "ICC OTP",
        "court",
        "case file",
        w.home.root / "pkg",
        w.legal,
        tuple(w.items),
        progress=lambda done, stage: told.append((done, stage)),
    )
    assert export.export_package(w.home, req).transfer_id
    values = [d for d, _ in told]
    assert values == sorted(values) and 0 < values[0] and values[-1] <= 0.8
    assert "copying files into the package (1 so far)" in [s for _, s in told]
