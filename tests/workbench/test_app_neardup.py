"""Near-duplicates on the item page come from workbench.services.dedup.clusters and never show hidden
items."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from sqlalchemy import select

from archive.db import items
from archive.home import Home
from tests.workbench.app_fixtures import make_world, store
from workbench.app.pages.common import Ctx
from workbench.app.pages.item_record import near_duplicates
from workbench.services import access
from workbench.services.dedup import clusters as dedup


def _photo(fmt: str, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), "RGB").resize(
        size, Image.Resampling.BILINEAR
    )
    buf = io.BytesIO()
    base.save(buf, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return buf.getvalue()


def test_near_duplicates_are_listed_only_when_visible(home: Home) -> None:
    w = make_world(home, reviews=1, n_items=0)
    ids = [store(home, w.case, _photo(fmt, size), f"v.{fmt.lower()}") for fmt, size in
           (("PNG", (320, 240)), ("JPEG", (320, 240)), ("JPEG", (300, 225)))]  # fmt: skip
    with home.reading() as conn:
        for item_id in ids:
            sha, kind = conn.execute(select(items.c.sha256, items.c.kind).where(items.c.id == item_id)).one()
            mime = "image/png" if item_id == ids[0] else "image/jpeg"
            dedup.on_stored(home, w.case, item_id, sha, mime)
    analyst_view = {m.item_id for m in near_duplicates(Ctx(home, w.analyst, w.case), ids[0])}
    assert analyst_view == {ids[1], ids[2]}
    access.classify(home, w.analyst, ids[2], "survivor_identifying")
    reviewer_view = {m.item_id for m in near_duplicates(Ctx(home, w.reviewer, w.case), ids[0])}
    assert reviewer_view == {ids[1]}
