"""The verification workflow: rationale, strands, blind independent review, disputes (VER-01..07)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from archive.db import items, judgements
from archive.home import Home
from tests.conftest import BOTH_ENGINES
from tests.workbench.app_fixtures import World, make_world
from workbench.services import review
from workbench.services.auth import AccessDenied
from workbench.services.review import ReviewError, StrandError

pytestmark = BOTH_ENGINES

SOURCE = {
    "source_analysis": {
        "method": "account history",
        "evidence_links": ["https://example.org/a"],
        "note": "ok",
    }
}


@pytest.fixture
def world(home: Home) -> World:
    return make_world(home, reviews=2, n_items=2)


def _status(w: World, item_id: str) -> str:
    with w.home.reading() as conn:
        return str(conn.execute(select(items.c.status).where(items.c.id == item_id)).scalar_one())


def test_rationale_is_required(world: World) -> None:
    with pytest.raises(ReviewError, match="rationale"):
        review.submit_review(world.home, world.analyst, world.items[0], "verified", 4, "  ", SOURCE)


def test_verified_is_impossible_with_all_strands_empty(world: World) -> None:
    with pytest.raises(ReviewError, match="source, technical or content"):
        review.submit_review(world.home, world.analyst, world.items[0], "verified", 4, "looks right", {})
    with world.home.reading() as conn:
        assert conn.execute(select(judgements)).first() is None


def test_geolocation_is_checked_and_stored(world: World) -> None:
    geo = {
        "content_analysis": {
            "method": "satellite match",
            "geolocation": {
                "lat": 50.45,
                "lon": 30.52,
                "radius_m": 150,
                "reference_imagery": [{"source": "Sentinel-2", "date": "2024-03-01"}],
            },
            "chronolocation": {
                "start": "2024-03-01T10:00",
                "end": "2024-03-01T12:00",
                "timezone": "Europe/Kyiv",
            },
        }
    }
    o = review.submit_review(
        world.home, world.analyst, world.items[0], "partially_verified", 3, "roof line", geo
    )
    with world.home.reading() as conn:
        stored = conn.execute(
            select(judgements.c.strands).where(judgements.c.id == o.judgement_id)
        ).scalar_one()
    assert stored["content_analysis"]["geolocation"]["radius_m"] == 150.0
    assert stored["content_analysis"]["chronolocation"]["timezone"] == "Europe/Kyiv"
    with pytest.raises(StrandError, match="lat"):
        review.validate_strands({"content_analysis": {"geolocation": {"lat": 95, "lon": 0, "radius_m": 1}}})


def test_second_reviewer_is_blind_until_submitting_then_item_is_disputed(world: World) -> None:
    w, item = world, world.items[0]
    first = review.submit_review(w.home, w.reviewer, item, "verified", 4, "A's reasons", SOURCE)
    assert first.item_status == "in_progress" and "awaiting independent review (1 of 2)" in first.state
    with w.home.reading() as conn:
        blind = review.reviews_for(conn, w.reviewer2, item)
    assert blind.visible == [] and blind.hidden == 1
    second = review.submit_review(
        w.home, w.reviewer2, item, "inconclusive", 2, "B's reasons", independent=True
    )
    assert second.item_status == "disputed" == _status(w, item)
    with w.home.reading() as conn:
        seen = review.reviews_for(conn, w.reviewer2, item)
    assert [(r.reviewer, r.status, r.rationale) for r in seen.visible] == [
        ("reviewer", "verified", "A's reasons"),
        ("reviewer2", "inconclusive", "B's reasons"),
    ]


def test_agreeing_reviews_make_verified_once_policy_met(world: World) -> None:
    w, item = world, world.items[1]
    review.submit_review(w.home, w.reviewer, item, "verified", 4, "A", SOURCE)
    assert _status(w, item) == "in_progress"
    review.submit_review(w.home, w.reviewer2, item, "verified", 5, "B", SOURCE, independent=True)
    assert _status(w, item) == "verified"


def test_adjudication_keeps_both_reviews_and_needs_an_outsider(world: World) -> None:
    w, item = world, world.items[0]
    review.submit_review(w.home, w.reviewer, item, "verified", 4, "A", SOURCE)
    review.submit_review(w.home, w.reviewer2, item, "false_or_misleading", 3, "B")
    with pytest.raises(ReviewError, match="not be one of the disputing"):
        review.adjudicate(w.home, w.reviewer, item, "verified", "mine wins")
    with pytest.raises(AccessDenied):
        review.adjudicate(w.home, w.analyst, item, "verified", "analysts do not adjudicate")
    out = review.adjudicate(w.home, w.admin, item, "partially_verified", "location yes, date no")
    assert out.item_status == "partially_verified"
    with w.home.reading() as conn:
        rows = conn.execute(select(judgements.c.reviewer, judgements.c.kind, judgements.c.rationale)).all()
    assert [tuple(r) for r in rows] == [
        ("reviewer", "review", "A"),
        ("reviewer2", "review", "B"),
        ("admin", "adjudication", "location yes, date no"),
    ]


def test_legal_cannot_judge_and_independent_review_refuses_a_repeat(world: World) -> None:
    w = world
    with pytest.raises(AccessDenied):
        review.submit_review(w.home, w.legal, w.items[0], "verified", 4, "x", SOURCE)
    review.submit_review(w.home, w.reviewer, w.items[0], "in_progress", 2, "started")
    with pytest.raises(ReviewError, match="already reviewed"):
        review.submit_review(w.home, w.reviewer, w.items[0], "verified", 4, "again", SOURCE, independent=True)


def test_method_steps_keep_their_order(world: World) -> None:
    w = world
    for n in range(3):
        review.add_method_step(
            w.home, w.analyst, w.items[0], f"tool{n}", f"query{n}", f"result{n}", "2024-05-01"
        )
    with w.home.reading() as conn:
        steps = review.method_steps(conn, w.analyst, w.items[0])
    assert [s.tool for s in steps] == ["tool0", "tool1", "tool2"]


def test_custody_log_does_not_leak_a_pending_review(world: World) -> None:
    from archive.custody import CustodyLog

    w, item = world, world.items[0]
    review.submit_review(w.home, w.reviewer, item, "false_or_misleading", 4, "A", SOURCE)
    with w.home.reading() as conn:
        events = [
            e
            for e in CustodyLog.events(conn, item_id=item)
            if e.action.startswith(("judgement", "item.status"))
        ]
    assert [e.action for e in events] == ["judgement.recorded", "item.status_changed"]
    assert "false_or_misleading" not in repr([dict(e.details) for e in events])
