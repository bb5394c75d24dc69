"""Search in the languages of the material (LNG-01, LNG-02), on SQLite and on PostgreSQL: Cyrillic in any
case, Arabic with or without its vowel marks, text in NFC or NFD."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import text

from archive.db import notes, utcnow
from archive.fold import fold
from archive.home import Home
from tests.conftest import BOTH_ENGINES
from tests.workbench.app_fixtures import World, make_png, make_world, store
from workbench.services import access
from workbench.services.access import ItemFilter

pytestmark = BOTH_ENGINES


def nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


@pytest.fixture
def world(home: Home) -> World:
    w = make_world(home, reviews=1, n_items=0)
    titles = {
        "kharkiv": "Харків обстріл.png",  # NFC
        "kyiv": nfd("КИЇВ вокзал.png"),  # decomposed: И + combining breve, І + combining diaeresis
        "school": "مَدْرَسَة.png",  # with harakat
        "ahmad": "شهادة.png",
        "strasse": "Hauptstraße.png",
    }
    w.items = [store(home, w.case, make_png(i), name) for i, name in enumerate(titles.values())]
    with home.transaction("analyst") as tx:
        # A note in JSON: PostgreSQL must keep it as UTF-8 text for the search to read it.
        tx.conn.execute(
            notes.insert().values(
                item_id=w.items[3], kind="description", author="analyst",
                body={"text": "شهادة أحمد عن القصف"}, created_at=utcnow(),
            )
        )  # fmt: skip
    return w


def _found(w: World, words: str) -> set[str]:
    with w.home.reading() as conn:
        rows, total = access.list_items(conn, w.analyst, w.case.id, ItemFilter(text=words))
    assert total == len(rows)
    return {r.id for r in rows}


def test_cyrillic_is_found_in_any_case_and_either_normal_form(world: World) -> None:
    kharkiv, kyiv = world.items[0], world.items[1]
    for words in ("Харків", "харків", "ХАРКІВ", nfd("харків обстріл")):
        assert _found(world, words) == {kharkiv}, words
    for words in ("Київ", "київ", nfd("київ"), "КИЇВ ВОКЗАЛ"):
        assert _found(world, words) == {kyiv}, words
    # Only Arabic marks are dropped: ї is not і, й is not и.
    assert _found(world, "Киів") == set()


def test_arabic_is_found_with_or_without_vowel_marks(world: World) -> None:
    school, testimony = world.items[2], world.items[3]
    assert _found(world, "مدرسة") == {school}
    assert _found(world, "مَدْرَسَة") == {school}
    assert _found(world, nfd("مَدْرَسَة")) == {school}
    # In a note; hamza on the alef folds too ("أحمد" as "احمد"), and tatweel is ignored.
    assert _found(world, "احمد") == {testimony}
    assert _found(world, "القـصف") == {testimony}


def test_full_case_folding_and_literal_wildcards(world: World) -> None:
    assert _found(world, "HAUPTSTRASSE") == {world.items[4]}
    assert _found(world, "straße") == {world.items[4]}
    assert _found(world, "Харк_в") == set()


SAMPLES = [
    "Харків",
    nfd("Йосип Київ"),
    "مَدْرَسَة أُمّ",
    "ﻻ",  # a presentation-form ligature: left as it is by both
    "İstanbul ΣΟΦΟΣ",
    "Straße ǅemal",
    "e\u0301te\u0301",
]


def test_the_database_folds_as_python_does(home: Home) -> None:
    with home.reading() as conn:
        got = [conn.execute(text("SELECT wb_fold(:t)"), {"t": s}).scalar_one() for s in SAMPLES]
    assert got == [fold(s) for s in SAMPLES]
    assert fold("ХАРКІВ") == fold("харків") and fold("أحمد") == fold("احمد")
