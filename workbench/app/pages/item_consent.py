"""The item page's consent tab: the item's consent records, and recording or withdrawing one (CON-02).

Everything goes through ``workbench.services.consent``, which checks the role, the case membership and the
item's visibility, and logs refusals; the form is only hidden from roles that may not use it.
Pseudonyms are shown as text in a table (never markdown).
"""

from __future__ import annotations

import streamlit as st

from workbench.app.pages.common import Ctx, guard, table
from workbench.services import consent
from workbench.services.access import ItemRow

__all__ = ["render"]


def _rows(records: list[consent.Consent]) -> list[dict[str, str]]:
    return [
        {
            "id": str(r.id),
            "subject": r.subject,
            "given on": r.given_on[:10],
            "scopes": ", ".join(r.scopes or []) or "(none)",
            "hide": ", ".join(r.hidden) or "-",
            "withdrawn on": (r.withdrawn_on or "-")[:10],
            "recorded by": r.recorded_by,
        }
        for r in records
    ]


def _add_form(ctx: Ctx, row: ItemRow) -> None:
    with st.form("consent_add", clear_on_submit=True):
        subject = st.text_input("Subject: a pseudonym such as P-001, never a name", key="consent_subject")
        scopes = st.multiselect("Recipient types it covers", list(consent.SCOPES), key="consent_scopes")
        hide = st.multiselect("Identity to hide", list(consent.IDENTITY_OPTIONS), key="consent_hide")
        given = st.text_input("Given on (YYYY-MM-DD; empty: today)", key="consent_given")
        if st.form_submit_button("Record consent"):
            with guard():
                consent.add_consent(
                    ctx.home, ctx.account, row.id, subject.strip(), scopes,
                    given_on=given.strip() or None, hide=hide, via="app",
                )  # fmt: skip
                st.rerun()


def _withdraw_form(ctx: Ctx, row: ItemRow, records: list[consent.Consent]) -> None:
    open_subjects = sorted({r.subject for r in records if not r.withdrawn_on})
    if not open_subjects:
        return
    with st.form("consent_withdraw"):
        subject = st.selectbox("Subject", open_subjects, key="consent_withdraw_subject")
        if st.form_submit_button("Record withdrawal (blocks every export of this item)"):
            with guard():
                consent.withdraw_consent(ctx.home, ctx.account, row.id, str(subject), via="app")
                st.rerun()


def render(ctx: Ctx, row: ItemRow) -> None:
    """The consent records of the item; the forms for analysts, legal staff and admins."""
    records: list[consent.Consent] = []
    with guard():
        records = consent.list_consents(ctx.home, ctx.account, row.id, via="app")
    st.text(consent.consent_state(records))
    if records:
        table(_rows(records), key="consent_records")
    if not consent.may_change(ctx.account):
        st.text("Consent is recorded by analysts, legal staff and admins.")
        return
    _add_form(ctx, row)
    _withdraw_form(ctx, row, records)
