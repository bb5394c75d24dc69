"""Survivor-safe viewing: blurred greyscale thumbnails, settings with admin minimums (SEN-01..04)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import items
from archive.home import Home
from tests.workbench.app_fixtures import World, make_world
from workbench.services import access, viewing
from workbench.services.auth import AccessDenied
from workbench.services.viewing import Minimums


@pytest.fixture
def world(home: Home) -> World:
    return make_world(home, reviews=1, n_items=1)


def _sha(w: World) -> str:
    with w.home.reading() as conn:
        return str(conn.execute(select(items.c.sha256).where(items.c.id == w.items[0])).scalar_one())


def _local_variance(png: bytes) -> float:
    """Mean squared difference between neighbouring pixels: high for sharp detail, low when blurred."""
    a = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(np.mean(np.diff(a, axis=1) ** 2))


def test_default_thumbnail_is_blurred_and_greyscale(world: World) -> None:
    w = world
    with w.home.reading() as conn:
        vs = viewing.effective_settings(conn, w.analyst)
    assert vs.greyscale and vs.blur >= 30
    sharp = viewing.thumbnail_png(w.home, _sha(w), vs.thumb_px, 0, False)
    blurred = viewing.thumbnail_png(w.home, _sha(w), vs.thumb_px, vs.blur, vs.greyscale)
    assert sharp is not None and blurred is not None
    assert Image.open(io.BytesIO(blurred)).mode == "L"  # no colour at all: saturation 0
    assert _local_variance(blurred) < _local_variance(sharp) / 20


def test_reveal_is_logged_and_gives_the_sharp_picture(world: World) -> None:
    w = world
    png = viewing.revealed_png(w.home, w.analyst, w.items[0], _sha(w))
    assert png is not None and Image.open(io.BytesIO(png)).mode == "RGB"
    with w.home.reading() as conn:
        actions = [e.action for e in CustodyLog.events(conn, item_id=w.items[0])]
    assert actions[-1] == "media.revealed"
    with pytest.raises(AccessDenied):
        viewing.revealed_png(w.home, w.outsider, w.items[0], _sha(w))


def test_one_users_auto_reveal_does_not_affect_another_and_admin_minimum_wins(world: World) -> None:
    w = world
    viewing.set_user_settings(
        w.home, w.analyst, {"auto_reveal": ["dead bodies", "sexual violence"], "blur": 0}
    )
    with w.home.reading() as conn:
        mine = viewing.effective_settings(conn, w.analyst)
        theirs = viewing.effective_settings(conn, w.reviewer)
    assert not viewing.should_blur(mine, ("dead bodies",))
    assert viewing.should_blur(theirs, ("dead bodies",))
    # The default minimum "always blur sexual violence" overrides the analyst's own choice.
    assert viewing.should_blur(mine, ("sexual violence",))
    assert mine.blur == 30  # raised to the minimum blur
    viewing.set_minimums(w.home, w.admin, Minimums(min_blur=50, always_blur=("dead bodies",)))
    with w.home.reading() as conn:
        mine = viewing.effective_settings(conn, w.analyst)
    assert viewing.should_blur(mine, ("dead bodies",)) and mine.blur == 50
    with pytest.raises(AccessDenied):
        viewing.set_minimums(w.home, w.analyst, Minimums(min_blur=0))


def test_description_is_readable_without_revealing(world: World) -> None:
    w = world
    viewing.set_description(w.home, w.analyst, w.items[0], "Blue door, graffiti 'K7' left of frame")
    with w.home.reading() as conn:
        assert viewing.description(conn, w.reviewer, w.items[0]) == "Blue door, graffiti 'K7' left of frame"
    access.tag_item(w.home, w.analyst, w.items[0], "sexual violence")
    with w.home.reading() as conn, pytest.raises(AccessDenied):
        viewing.description(conn, w.reviewer, w.items[0])


def test_undecodable_media_gives_no_thumbnail(world: World, home: Home) -> None:
    from tests.workbench.app_fixtures import store

    bomb_header = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + (40000).to_bytes(4, "big") * 2
        + b"\x08\x02\x00\x00\x00"
    )
    item = store(home, world.case, bomb_header + b"\x00" * 64, "bomb.png")
    with home.reading() as conn:
        sha = str(conn.execute(select(items.c.sha256).where(items.c.id == item)).scalar_one())
    assert viewing.thumbnail_png(home, sha, 192, 70, True) is None
