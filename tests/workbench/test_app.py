"""The app's pages, run headless with Streamlit's AppTest against a real archive home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from archive.custody import CustodyLog
from archive.db import items, judgements
from archive.home import Home
from tests.workbench.app_fixtures import PASSWORD, World, make_png, make_world
from workbench.services import access, jobs, review, viewing

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
SOURCE = {"source_analysis": {"method": "account history", "note": "consistent"}}


# These pages run on PostgreSQL too: the app finds the database through home.json, no WB_DATABASE_URL.
ON_BOTH_ENGINES = pytest.mark.both_engines


@pytest.fixture
def world(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")  # jobs are run by the test itself
    yield make_world(home, reviews=2, n_items=3)


def _texts(at: AppTest) -> str:
    return "\n".join(str(t.value) for t in at.text)


def login(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_login_refuses_a_wrong_password(world: World) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("analyst")
    at.text_input(key="login_password").input("wrong password!")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    assert "Signed in" not in _texts(at)


@ON_BOTH_ENGINES
def test_gallery_lists_visible_items_with_blurred_thumbnails(world: World) -> None:
    access.classify(world.home, world.analyst, world.items[0], "survivor_identifying")
    at = login("reviewer")
    texts = _texts(at)
    assert "Signed in: reviewer (reviewer)" in texts
    assert "2 items · page 1 of 1" in texts
    assert world.items[0] not in texts and world.items[1] in texts
    assert len(at.get("image")) == 2


@ON_BOTH_ENGINES
def test_search_box_filters_server_side(world: World) -> None:
    at = login("analyst")
    at.text_input(key="g_text").input("photo-2").run()
    texts = _texts(at)
    assert "1 items · page 1 of 1" in texts and world.items[2] in texts


@ON_BOTH_ENGINES
def test_item_page_logs_view_and_reveal(world: World) -> None:
    at = login("analyst")
    at.button(key=f"open_{world.items[1]}").click().run()
    assert not at.exception, at.exception
    assert f"Item {world.items[1]} · image · unverified" in _texts(at)
    at.button(key="reveal").click().run()
    assert at.button(key="reblur") is not None
    with world.home.reading() as conn:
        actions = [e.action for e in CustodyLog.events(conn, item_id=world.items[1])]
    assert actions[-2:] == ["item.viewed", "media.revealed"]
    at.button(key="back").click().run()  # navigation re-blurs
    assert "revealed" not in at.session_state


@ON_BOTH_ENGINES
def test_judgement_form_records_a_review(world: World) -> None:
    at = login("reviewer")
    at.button(key=f"open_{world.items[0]}").click().run()
    at.selectbox(key="j_status").select("verified").run()
    at.text_area(key="j_rationale").input("Matches the original upload").run()
    at.text_input(key="sa_method").input("reverse image search").run()
    at.button(key="j_submit").click().run()
    assert not at.exception, at.exception
    with world.home.reading() as conn:
        rows = conn.execute(select(judgements.c.reviewer, judgements.c.status)).all()
    assert [tuple(r) for r in rows] == [("reviewer", "verified")]
    assert "Review state: awaiting independent review (1 of 2)" in _texts(at)


def test_second_reviewer_sees_hidden_count_not_the_first_review(world: World) -> None:
    review.submit_review(
        world.home, world.reviewer, world.items[0], "verified", 4, "SECRET-RATIONALE-A", SOURCE
    )
    at = login("reviewer2")
    at.button(key=f"open_{world.items[0]}").click().run()
    texts = _texts(at)
    assert "1 earlier review(s) hidden" in texts and "SECRET-RATIONALE-A" not in texts


def test_legal_user_has_no_judgement_form(world: World) -> None:
    at = login("legal")
    at.button(key=f"open_{world.items[0]}").click().run()
    assert "Read-only: your role does not record judgements." in _texts(at)
    assert not [b for b in at.button if b.key == "j_submit"]
    with world.home.reading() as conn:
        assert (
            conn.execute(select(items.c.status).where(items.c.id == world.items[0])).scalar_one()
            == "unverified"
        )


def _go(at: AppTest, page: str) -> AppTest:
    at.sidebar.radio(key="nav").set_value(page).run()
    assert not at.exception, at.exception
    return at


def test_cases_page_lets_an_admin_create_a_case(world: World) -> None:
    at = _go(login("admin"), "Cases")
    at.text_input(key="c_slug").input("second")
    at.text_area(key="c_purpose").input("Document shelling of a market")
    at.button(key="FormSubmitter:new_case-Create case").click().run()
    assert not at.exception, at.exception
    cases = at.dataframe[0].value
    assert list(cases["case"]) == ["demo", "second"]


def test_cases_page_offers_no_creation_to_analysts(world: World) -> None:
    at = _go(login("analyst"), "Cases")
    assert "Only admins create cases and add members." in _texts(at)


def test_settings_page_saves_own_viewing_settings(world: World) -> None:
    at = _go(login("analyst"), "Settings")
    at.multiselect(key="v_auto").set_value(["dead bodies"])
    at.button(key="FormSubmitter:viewing-Save my settings").click().run()
    with world.home.reading() as conn:
        assert viewing.effective_settings(conn, world.analyst).auto_reveal == ("dead bodies",)
        assert viewing.effective_settings(conn, world.reviewer).auto_reveal == ()


def test_admins_turn_yt_dlp_on_for_captures_and_analysts_cannot(world: World) -> None:
    from workbench.services.capture.run import capture_options

    assert "Also fetch video with yt-dlp" not in [c.label for c in _go(login("analyst"), "Settings").checkbox]
    at = _go(login("admin"), "Settings")
    at.checkbox(key="c_ytdlp").check()
    at.button(key="FormSubmitter:capture_options-Save capture settings").click().run()
    assert not at.exception, at.exception
    assert capture_options(world.home) == {"ytdlp": True}


def test_capture_page_queues_a_capture_job(world: World) -> None:
    at = _go(login("analyst"), "Capture")
    at.text_area(key="cap_urls").input("https://example.org/post/1\n\nhttps://example.org/post/2")
    at.button(key="FormSubmitter:capture_urls-Capture").click().run()
    assert not at.exception, at.exception
    queued = jobs.list_jobs(world.home, world.analyst, world.case.id)
    assert [(j.kind, j.status, j.params["urls"]) for j in queued] == [
        ("capture", "queued", ["https://example.org/post/1", "https://example.org/post/2"])
    ]


def test_a_finished_upload_names_its_item_by_the_file_name(world: World) -> None:
    params = jobs.save_uploads(world.home, [("field-photo.png", make_png(7))])
    jobs.submit(world.home, world.analyst, "upload", world.case.id, params)
    done = jobs.run_job(world.home)
    assert done is not None and done.status == "done"
    item_id = done.result["results"][0]["item_id"]
    at = _go(login("analyst"), "Capture")
    shown = "\n".join(str(h.proto.body) for h in at.get("html"))  # the row beside the job's Open button
    assert ">field-photo.png</div>" in shown and f">{item_id}</div>" not in shown


@ON_BOTH_ENGINES
def test_queue_page_lists_disputed_items(world: World) -> None:
    review.submit_review(world.home, world.reviewer, world.items[0], "verified", 4, "A", SOURCE)
    review.submit_review(world.home, world.reviewer2, world.items[0], "inconclusive", 2, "B")
    review.submit_review(world.home, world.reviewer2, world.items[1], "inconclusive", 2, "B")
    at = _go(login("reviewer"), "Review queue")
    texts = _texts(at)
    assert any(t.startswith(f"{world.items[0]} · disputed") for t in texts.splitlines())
    assert any(t.startswith(f"{world.items[1]} · in_progress") for t in texts.splitlines())


@ON_BOTH_ENGINES
def test_legal_view_lists_verified_items_and_the_access_report(world: World) -> None:
    for who in (world.reviewer, world.reviewer2):
        review.submit_review(world.home, who, world.items[2], "verified", 4, "ok", SOURCE)
    access.open_item(world.home, world.analyst, world.items[2])
    at = _go(login("legal"), "Legal view")
    assert "1 verified items" in _texts(at)
    at.button(key=f"l_rep_{world.items[2]}").click().run()
    report = at.dataframe[-1].value
    assert list(zip(report["who"], report["action"], strict=True)) == [("analyst", "item.viewed")]


def test_item_page_shows_warning_label_id_and_metadata_while_blurred(world: World) -> None:
    access.tag_item(world.home, world.analyst, world.items[0], "dead bodies")
    at = login("analyst")
    at.button(key=f"open_{world.items[0]}").click().run()
    assert [w.value for w in at.warning] == ["Content warning"]
    texts = _texts(at)
    assert "dead bodies" in texts and f"Item {world.items[0]}" in texts
    shown = "\n".join(str(h.proto.body) for h in at.get("html"))  # the title: dir="auto", escaped
    assert ">Title</div>" in shown and 'dir="auto"' in shown and ">photo-0.png</div>" in shown
    assert at.button(key="reveal") is not None and "revealed" not in at.session_state
    record = next(d.value for d in at.dataframe if "field" in d.value.columns)  # readable, not revealed
    assert world.items[0] in list(record["value"])


def test_analyses_are_queued_as_a_background_job(world: World) -> None:
    at = login("reviewer")
    at.button(key=f"open_{world.items[0]}").click().run()
    at.button(key="analyse").click().run()
    assert not at.exception, at.exception
    queued = jobs.list_jobs(world.home, world.reviewer, world.case.id)
    assert [(j.kind, j.params) for j in queued] == [("analyse", {"item_ids": [world.items[0]]})]


def test_serve_binds_loopback_without_usage_stats_or_error_details() -> None:
    from workbench.app.serve import streamlit_args

    args = streamlit_args(8599)
    flags = dict(zip(args[2::2], args[3::2], strict=True))
    assert args[1].endswith("asgi.py")
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8599"
    assert flags["--browser.gatherUsageStats"] == "false" and flags["--client.showErrorDetails"] == "false"


def test_a_video_keyframe_indicator_says_where_in_the_video_it_looked(world: World) -> None:
    from archive.db import flags, utcnow

    with world.home.reading() as conn:
        sha = conn.execute(select(items.c.sha256).where(items.c.id == world.items[0])).scalar_one()
    with world.home.transaction("analyst") as tx:
        tx.conn.execute(
            flags.insert().values(
                input_sha256=sha,
                detector="copy_move",
                version="1.1",
                label="indicator",
                score=0.9,
                threshold=0.5,
                explanation="Video keyframe at 12.40 s (frame 310), decoded from the video",
                details={"keyframe": {"t": 12.4, "frame_index": 310, "sha256": sha}},
                created_at=utcnow(),
            )
        )
    at = login("analyst")
    at.button(key=f"open_{world.items[0]}").click().run()
    assert not at.exception, at.exception
    table_ = next(d.value for d in at.dataframe if "automated indicator" in d.value.columns)
    assert list(table_["video frame"]) == ["12.40 s (frame 310)"]


def test_the_item_page_lists_the_ai_generation_signals_apart(world: World) -> None:
    from archive.db import flags, utcnow

    with world.home.reading() as conn:
        sha = conn.execute(select(items.c.sha256).where(items.c.id == world.items[0])).scalar_one()
    common = {"input_sha256": sha, "version": "1.0", "created_at": utcnow()}
    with world.home.transaction("analyst") as tx:
        tx.conn.execute(
            flags.insert().values(
                **common,
                detector="watermark",
                label="indicator",
                explanation="SD v1 watermark.",
                details={"generator": "SD v1", "matching_bits": 131, "bits": 136, "p_chance": 1e-30},
            )
        )
        tx.conn.execute(
            flags.insert().values(
                **common,
                detector="model_pack",
                label="inconclusive",
                score=9.6,
                threshold=25.0,
                explanation="Model pack tiny.",
                model_sha256="5e06" * 16,
                details={
                    "pack": "tiny-ladeda-wildrf",
                    "pack_version": "e734562",
                    "task": "ai_generated",
                    "calibration": {
                        "percentile": 85.0,
                        "reference": "84 untouched photos",
                        "threshold": 25.0,
                    },
                },
            )
        )

    def status() -> str:
        with world.home.reading() as conn:
            return str(conn.execute(select(items.c.status).where(items.c.id == world.items[0])).scalar_one())

    before = status()
    at = login("analyst")
    at.button(key=f"open_{world.items[0]}").click().run()
    assert not at.exception, at.exception
    view = next(d.value for d in at.dataframe if "AI-generation signal" in d.value.columns)
    found = dict(zip(view["AI-generation signal"], view["found"], strict=True))
    assert found["generator watermark"] == "found"
    assert found["AI-generation model score: tiny-ladeda-wildrf e734562"] == "inconclusive"
    assert found["C2PA declared source type"] == "not analysed"  # each signal stands alone
    texts = _texts(at)
    assert (
        "generator watermark: SD v1: 131 of 136 bits match. Strength: chance of such a match 1.0e-30" in texts
    )
    assert "percentile 85.0 among 84 untouched photos" in texts and "not a verdict" in texts
    assert status() == before  # a view, never a status change
