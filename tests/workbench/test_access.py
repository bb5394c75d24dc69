"""Item visibility and the access log (CON-01, CON-04, AUD-01)."""

from __future__ import annotations

import pytest

from archive.custody import CustodyLog
from archive.db import notes, utcnow
from archive.home import Home
from tests.conftest import BOTH_ENGINES
from tests.workbench.app_fixtures import World, make_world
from workbench.services import access
from workbench.services.access import ItemFilter
from workbench.services.auth import AccessDenied, Account

pytestmark = BOTH_ENGINES


@pytest.fixture
def world(home: Home) -> World:
    return make_world(home, reviews=1, n_items=3)


def _ids(w: World, who: Account, flt: ItemFilter | None = None) -> tuple[set[str], int]:
    with w.home.reading() as conn:
        rows, total = access.list_items(conn, who, w.case.id, flt)
    return {r.id for r in rows}, total


def test_survivor_identifying_item_is_invisible_to_unassigned_users(world: World) -> None:
    w = world
    secret = w.items[0]
    assert access.classify(w.home, w.analyst, secret, "survivor_identifying") == "survivor_identifying"
    # The analyst who classified it keeps it; the reviewer does not see it listed, counted or by id.
    assert secret in _ids(w, w.analyst)[0]
    listed, total = _ids(w, w.reviewer)
    assert secret not in listed and total == 2
    with w.home.reading() as conn:
        with pytest.raises(AccessDenied):
            access.list_items(conn, w.outsider, w.case.id)
        assert access.find_visible(conn, w.reviewer, secret) is None
    with pytest.raises(AccessDenied, match="no such item"):
        access.open_item(w.home, w.reviewer, secret)
    # Even the admin must be assigned.
    assert secret not in _ids(w, w.admin)[0]
    access.assign(w.home, w.analyst, secret, "reviewer")
    assert secret in _ids(w, w.reviewer)[0]


def test_refused_lookup_by_id_is_logged(world: World) -> None:
    w = world
    access.classify(w.home, w.analyst, w.items[0], "survivor_identifying")
    with pytest.raises(AccessDenied):
        access.open_item(w.home, w.reviewer, w.items[0])
    with w.home.reading() as conn:
        denied = [e for e in CustodyLog.events(conn, item_id=w.items[0]) if e.action == "access.denied"]
    assert [(e.actor, e.details["permission"]) for e in denied] == [("reviewer", "read")]


def test_sexual_violence_tag_prompts_classification_and_hides_item(world: World) -> None:
    w = world
    target = w.items[1]
    access.classify(w.home, w.analyst, target, "public")
    result = access.tag_item(w.home, w.analyst, target, "Sexual  Violence")
    assert result.prompt_classification and result.tag == "sexual violence"
    assert result.classification == "restricted"
    assert target in _ids(w, w.analyst)[0]
    assert target not in _ids(w, w.reviewer)[0]
    # Searching for its title does not count it either.
    assert _ids(w, w.reviewer, ItemFilter(text="photo-1")) == (set(), 0)


def test_search_covers_titles_and_notes_and_filters_by_tag(world: World) -> None:
    w = world
    with w.home.transaction("analyst") as tx:
        tx.conn.execute(
            notes.insert().values(
                item_id=w.items[2], kind="description", author="analyst",
                body={"text": "A red van beside the Mosque_50% sign"}, created_at=utcnow(),
            )
        )  # fmt: skip
    assert _ids(w, w.analyst, ItemFilter(text="mosque_50%")) == ({w.items[2]}, 1)
    assert _ids(w, w.analyst, ItemFilter(text="photo-0"))[0] == {w.items[0]}
    # "%" and "_" are literal, not wildcards.
    assert _ids(w, w.analyst, ItemFilter(text="photo%"))[1] == 0
    access.tag_item(w.home, w.analyst, w.items[0], "dead bodies")
    assert _ids(w, w.analyst, ItemFilter(tags=["dead bodies"]))[0] == {w.items[0]}


def test_views_and_reveals_are_in_the_access_report(world: World) -> None:
    w = world
    access.open_item(w.home, w.analyst, w.items[0])
    access.log_access(w.home, w.analyst, w.items[0], "media.revealed")
    report = access.access_report(w.home, w.legal, w.items[0])
    assert [(e.actor, e.action) for e in report] == [
        ("analyst", "item.viewed"),
        ("analyst", "media.revealed"),
    ]
    with pytest.raises(AccessDenied):
        access.access_report(w.home, w.analyst, w.items[0])


def test_legal_cannot_tag_or_classify(world: World) -> None:
    w = world
    with pytest.raises(AccessDenied, match="legal role"):
        access.tag_item(w.home, w.legal, w.items[0], "children")
    with pytest.raises(AccessDenied):
        access.classify(w.home, w.legal, w.items[0], "public")
    with w.home.reading() as conn:
        assert access.item_tags(conn, w.legal, [w.items[0]]) == {}


def test_a_count_past_the_cap_reads_as_more_than(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # An exact count of a million-item case is a scan; past COUNT_CAP the gallery says "more than".
    monkeypatch.setattr(access, "COUNT_CAP", 2)
    ids, total = _ids(world, world.analyst)
    assert len(ids) == 3 and total == 3 and access.count_text(total) == "more than 2"
    monkeypatch.setattr(access, "COUNT_CAP", 3)
    assert _ids(world, world.analyst)[1] == 3 and access.count_text(3) == "3"
