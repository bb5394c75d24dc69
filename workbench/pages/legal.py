"""The legal view: verified items, read-only, with their full record and the access report."""

from __future__ import annotations

import streamlit as st

from workbench import access
from workbench.access import ItemFilter
from workbench.pages.common import TIME, Ctx, guard, open_item, table

__all__ = ["render"]

PAGE = 50


def render(ctx: Ctx) -> None:
    """Legal page."""
    st.header("Legal view: verified items (read-only)")
    if ctx.case is None:
        st.info("Choose a case first.")
        return
    page = int(st.number_input("Page", min_value=1, value=1, key="l_page"))
    with guard(), ctx.home.reading() as conn:
        rows, total = access.list_items(
            conn, ctx.account, ctx.case.id, ItemFilter(status=["verified"]), (page - 1) * PAGE, PAGE
        )
    st.text(f"{total} verified items")
    for row in rows:
        c1, c2, c3 = st.columns([4, 1, 1])
        c1.text(f"{row.id} · {row.classification} · {(row.title or '')[:60]}")
        c2.button("Open", key=f"l_open_{row.id}", on_click=open_item, args=(row.id,))
        if c3.button("Who viewed it", key=f"l_rep_{row.id}"):
            st.session_state["l_report"] = row.id
    target = st.session_state.get("l_report")
    if target:
        st.subheader("Access report")
        st.text(f"Item {target}")
        with guard():
            events = access.access_report(ctx.home, ctx.account, str(target))
            table(
                [
                    {"at": e.at.strftime(TIME), "who": e.actor, "via": e.via, "action": e.action}
                    for e in events
                ],
                key="l_report_table",
            )
