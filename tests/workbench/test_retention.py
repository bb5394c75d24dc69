"""Retention and review (RET-01): review dates, the due queue, decisions, and who may make them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from archive.custody import CustodyLog
from archive.db import item_artifacts, items, utcnow
from archive.home import Home
from tests.conftest import PASSWORD as CLI_PASSWORD
from tests.conftest import clean_env, init_home, json_lines, run_wb
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world, store
from workbench import TOOL_VERSION
from workbench.services import access, auth, deletion, retention
from workbench.services.auth import AccessDenied

PAST = retention.parse_date("2020-01-02")
APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("retention")
    saved = {k: os.environ.get(k) for k in ("WB_HOME", "WB_KEY", "WB_JOBS_WORKER")}
    os.environ.update(WB_HOME=str(folder / "home"), WB_KEY=str(folder / "key"), WB_JOBS_WORKER="0")
    home = Home.init(folder / "home", folder / "key", TOOL_VERSION)
    try:
        made = make_world(home, reviews=1, n_items=1)
        with home.transaction("admin") as tx:
            auth.add_user(tx, made.admin, "legal-out", "legal", PASSWORD)  # legal, not a member
        yield made
    finally:
        home.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _decisions(home: Home, case_id: int) -> list[dict[str, object]]:
    with home.reading() as conn:
        return [
            dict(e.details)
            for e in CustodyLog.events(conn)
            if e.action == "case.review_decided" and e.case_id == case_id
        ]


def test_a_case_gets_the_default_review_date_of_its_category(world: World) -> None:
    retention.set_review_period(world.home, world.admin, "sv", 30)
    case = retention.create_case(world.home, world.admin, "sv-case", "purpose", 1, category="sv")
    assert case.retention_until is not None
    assert case.retention_until.date() == (utcnow() + timedelta(days=30)).date()
    plain = retention.create_case(world.home, world.admin, "plain", "purpose", 1)
    assert (
        plain.retention_until is not None
        and plain.retention_until.date() == (utcnow() + timedelta(days=365)).date()
    )
    with pytest.raises(AccessDenied):
        retention.set_review_period(world.home, world.legal, "sv", 10)


def test_a_one_day_period_puts_the_case_in_the_queue_two_days_later_with_every_file_kept(
    world: World,
) -> None:
    retention.set_review_period(world.home, world.admin, "brief", 1)
    case = retention.create_case(world.home, world.admin, "brief-case", "purpose", 1, category="brief")
    item = store(world.home, case, make_png(5), "kept.png")
    today = utcnow().date()
    assert "brief-case" not in [c.slug for c in retention.due_cases(world.home, world.admin, today)]
    later = today + timedelta(days=2)  # the test's clock, moved forward
    assert "brief-case" in [c.slug for c in retention.due_cases(world.home, world.admin, later)]
    with world.home.reading() as conn:
        assert conn.execute(select(items.c.deleted_at).where(items.c.id == item)).scalar() is None
        hashes = [
            r[0]
            for r in conn.execute(select(item_artifacts.c.sha256).where(item_artifacts.c.item_id == item))
        ]
    assert hashes and all(world.home.blobs.exists(h) for h in hashes)


def test_the_queue_lists_a_case_whose_date_has_passed_to_those_who_may_see_it(world: World) -> None:
    retention.set_review_date(world.home, world.admin, "demo", PAST)
    assert [c.slug for c in retention.due_cases(world.home, world.admin)] == ["demo"]
    assert [c.slug for c in retention.due_cases(world.home, world.analyst)] == ["demo"]  # a member
    assert retention.due_cases(world.home, world.outsider) == []  # not a member: not even named
    assert retention.due_cases(world.home, world.account("legal-out")) == []


@pytest.mark.parametrize("who", ["analyst", "reviewer", "outsider", "legal-out"])
def test_only_legal_or_admin_members_decide_or_move_the_date(world: World, who: str) -> None:
    account = world.account(who)
    later = utcnow() + timedelta(days=400)
    with pytest.raises(AccessDenied):
        retention.decide_review(world.home, account, "demo", keep_until=later)
    with pytest.raises(AccessDenied):
        retention.set_review_date(world.home, account, "demo", later)


def test_keep_until_moves_the_date_and_records_the_decision(world: World) -> None:
    retention.set_review_date(world.home, world.admin, "demo", PAST)
    later = retention.parse_date((utcnow() + timedelta(days=200)).date().isoformat())
    done = retention.decide_review(world.home, world.legal, "demo", keep_until=later)
    assert done.decision == "keep" and retention.due_cases(world.home, world.legal) == []
    assert _decisions(world.home, world.case.id)[-1] == {"decision": "keep", "keep_until": done.keep_until}


def test_the_app_queue_lists_a_due_case_and_records_keep_until(world: World) -> None:
    retention.set_review_date(world.home, world.admin, "demo", PAST)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("legal")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    at.sidebar.radio(key="nav").set_value("Cases").run()
    assert not at.exception, at.exception
    due = next(d.value for d in at.dataframe if "days_overdue" in d.value.columns)
    assert list(due["case"]) == ["demo"]
    later = (utcnow() + timedelta(days=90)).date()
    at.date_input(key="r_until").set_value(later)
    at.button(key="FormSubmitter:review_case-Keep until this date").click().run()
    assert not at.exception, at.exception
    assert _decisions(world.home, world.case.id)[-1] == {"decision": "keep", "keep_until": later.isoformat()}
    assert retention.due_cases(world.home, world.legal) == []


def test_erase_goes_through_the_two_person_deletion_and_nothing_is_erased_before(world: World) -> None:
    home = world.home
    hidden = store(home, world.case, make_png(99), "hidden.png")
    access.classify(home, world.admin, hidden, "survivor_identifying")  # legal is not assigned to it
    retention.set_review_date(home, world.admin, "demo", PAST)
    done = retention.decide_review(home, world.legal, "demo", erase_reason="purpose fulfilled (Art. 5(1)(e))")
    assert world.items[0] in done.requests and hidden not in done.requests + done.skipped
    logged = _decisions(home, world.case.id)[-1]
    assert logged["decision"] == "erase" and logged["requests"] == len(done.requests)
    assert "purpose" not in str(logged)  # the reason's hash only
    with home.reading() as conn:
        assert conn.execute(select(items.c.deleted_at).where(items.c.id == world.items[0])).scalar() is None
    deletion.approve_deletion(home, world.admin, world.items[0])  # the second account
    with home.reading() as conn:
        assert (
            conn.execute(select(items.c.deleted_at).where(items.c.id == world.items[0])).scalar() is not None
        )
        assert conn.execute(select(items.c.deleted_at).where(items.c.id == hidden)).scalar() is None


def test_wb_case_due_and_review(tmp_path: Path) -> None:
    env = clean_env()
    env.update(WB_HOME=str(tmp_path / "home"), WB_KEY=str(tmp_path / "key"), WB_SESSION=str(tmp_path / "s"))
    init_home(env)
    run_wb(env, "case", "create", "old", "--purpose", "p", "--review-on", "2020-01-02")
    run_wb(env, "case", "create", "new", "--purpose", "p")
    assert (
        "is not a date"
        in run_wb(env, "case", "create", "bad", "--purpose", "p", "--review-on", "soon", check=2).stderr
    )
    due = json_lines(run_wb(env, "case", "due", "--json").stdout)
    assert [d["case"] for d in due[:-1]] == ["old"] and due[0]["review_on"] == "2020-01-02"
    run_wb(env, "user", "add", "ana", "--role", "analyst", "--password-stdin", input=CLI_PASSWORD)
    run_wb(env, "member", "add", "--case", "old", "ana")
    ana = dict(env, WB_SESSION=str(tmp_path / "ana"))
    run_wb(ana, "login", "ana", "--password-stdin", input=CLI_PASSWORD)
    # A member in the wrong role (non-members and legal outsiders: test_only_legal_or_admin_members...).
    assert (
        "not permitted" in run_wb(ana, "case", "review", "old", "--keep-until", "2099-01-01", check=1).stderr
    )
    run_wb(env, "case", "review", "old", "--keep-until", "2099-01-01")
    assert json_lines(run_wb(env, "case", "due", "--json").stdout) == [{"summary": {"due": 0}}]
