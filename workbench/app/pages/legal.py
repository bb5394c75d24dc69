"""The legal view: verified items, read-only, with their full record and the access report."""

from __future__ import annotations

import streamlit as st

from archive.errors import InvalidRequest
from workbench.app.pages import legal_packages, reports_page
from workbench.app.pages.common import TIME, Ctx, guard, open_item, table
from workbench.services import access, jobs
from workbench.services.access import ItemFilter
from workbench.services.export.packages import PROFILES, RECIPIENT_TYPES, check_profile

__all__ = ["render"]

PAGE = 50


def _export_form(ctx: Ctx, item_ids: list[str]) -> None:
    """Export the verified items listed on this page (only items this user can see) as a package."""
    assert ctx.case is not None
    with st.form("l_export"):
        st.text(f"Export the {len(item_ids)} verified items on this page as an evidence package")
        profile = st.selectbox("Profile", list(PROFILES), key="x_profile")
        recipient_type = st.selectbox("Recipient type", list(RECIPIENT_TYPES), key="x_rtype")
        recipient = st.text_input("Recipient", key="x_recipient")
        purpose = st.text_input("Purpose", key="x_purpose")
        if st.form_submit_button("Export (background job)"):
            with guard():
                if not recipient.strip() or not purpose.strip():
                    raise InvalidRequest("give the recipient and the purpose")
                check_profile(str(profile), str(recipient_type))  # said here, not only when the job runs
                params = {
                    "profile": profile,
                    "recipient": recipient,
                    "recipient_type": recipient_type,
                    "purpose": purpose,
                    "item_ids": item_ids,
                }
                jobs.submit(ctx.home, ctx.account, jobs.JobKind.EXPORT, ctx.case.id, params)
                st.success("Export queued: its progress and then its download appear below")


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
    st.text(f"{access.count_text(total)} verified items")
    for row in rows:
        c1, c2, c3 = st.columns([4, 1, 1])
        c1.text(f"{row.id} · {row.classification} · {(row.title or '')[:60]}")
        c2.button("Open", key=f"l_open_{row.id}", on_click=open_item, args=(row.id,))
        if c3.button("Who viewed it", key=f"l_rep_{row.id}"):
            st.session_state["l_report"] = row.id
    if rows:
        _export_form(ctx, [r.id for r in rows])
    st.subheader("Your exports")
    legal_packages.exports(ctx)
    st.subheader("Transfer register")
    legal_packages.transfers(ctx)
    st.subheader("Case report")
    reports_page.case_report(ctx)
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
