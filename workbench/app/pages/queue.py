"""The reviewer queue: items awaiting an independent review, disputed items, items with indicators."""

from __future__ import annotations

import streamlit as st

from workbench.app.pages import bidi
from workbench.app.pages.common import Ctx, guard, open_item
from workbench.services import access, review, titles
from workbench.services.access import ItemFilter, ItemRow

__all__ = ["render"]


def _section(ctx: Ctx, title: str, rows: list[ItemRow], total: int, prefix: str) -> None:
    st.subheader(f"{title} ({access.count_text(total)})")
    if not rows:
        st.text("(none)")
    with ctx.home.reading() as conn:
        names = {row.id: titles.display_title(conn, ctx.account, row, 60) for row in rows}
    for row in rows:
        c1, c2 = st.columns([4, 1])
        with c1:
            bidi.text(names[row.id], reveal=True)
            st.text(f"{row.id} · {row.status}")
        c2.button("Open", key=f"{prefix}_{row.id}", on_click=open_item, args=(row.id,))


def render(ctx: Ctx) -> None:
    """Queue page."""
    st.header("Review queue")
    if ctx.case is None:
        st.info("Choose a case first.")
        return
    with guard(), ctx.home.reading() as conn:
        waiting, _ = access.list_items(
            conn, ctx.account, ctx.case.id, ItemFilter(status=["in_progress"]), 0, 200
        )
        mine = [r for r in waiting if not review.reviews_for(conn, ctx.account, r.id).own_submitted]
        _section(ctx, "Awaiting your independent review", mine, len(mine), "q_wait")
        disputed, n = access.list_items(
            conn, ctx.account, ctx.case.id, ItemFilter(status=["disputed"]), 0, 50
        )
        _section(ctx, "Disputed: awaiting adjudication", disputed, n, "q_disp")
        flt = ItemFilter(status=["unverified", "in_progress"], flag_labels=["indicator"])
        flagged, n = access.list_items(conn, ctx.account, ctx.case.id, flt, 0, 50)
        _section(ctx, "With automated indicators", flagged, n, "q_flag")
