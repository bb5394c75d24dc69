"""PDF reports of an item or a case, made in the app and handed to the browser as a download.

``reports.report_pdf`` checks what the account may see (a report shows exactly that) and logs the
report's SHA-256 (``report.generated``); the bytes go to the browser through Streamlit's media
route, which needs a live login cookie, and are never written to the server's disk.
"""

from __future__ import annotations

import streamlit as st

from workbench.app.pages import media
from workbench.app.pages.common import Ctx, guard
from workbench.services.export import reports

__all__ = ["case_report", "item_report"]

_STATE = "report_pdf"


def _offer(scope: str, label: str) -> None:
    made = st.session_state.get(_STATE)
    if not made or made[0] != scope:
        return
    _scope, report_id, sha, pdf = made
    st.text(f"Report {report_id} · SHA-256 {sha} (recorded in the custody log)")
    media.download_button(
        label, pdf, file_name=f"report-{report_id}.pdf", mime="application/pdf", key=f"dl_{scope}"
    )


def _make(ctx: Ctx, scope: str, item_id: str | None, case_slug: str | None) -> None:
    with guard():
        report_id, sha, pdf = reports.report_pdf(
            ctx.home, ctx.account, item_id=item_id, case_slug=case_slug, via="app"
        )
        st.session_state[_STATE] = (scope, report_id, sha, pdf)


def item_report(ctx: Ctx, item_id: str) -> None:
    """A button that makes the item's report, then its download."""
    scope = f"item:{item_id}"
    if st.button("Make a PDF report of this item (logged)", key="report_item"):
        _make(ctx, scope, item_id, None)
    _offer(scope, "Download the report (PDF)")


def case_report(ctx: Ctx) -> None:
    """A button that makes the chosen case's report (the items this account may see), then its download."""
    if ctx.case is None:
        return
    scope = f"case:{ctx.case.id}"
    st.text("A PDF report of the case: every item you may see, with its record and custody events.")
    if st.button("Make a PDF report of this case (logged)", key="report_case"):
        _make(ctx, scope, None, ctx.case.slug)
    _offer(scope, "Download the case report (PDF)")
