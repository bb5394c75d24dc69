"""Cases: list, create (with a purpose and a review policy), members."""

from __future__ import annotations

from datetime import date

import streamlit as st

from workbench.app.pages import reports_page
from workbench.app.pages.common import Ctx, guard, table, visible_cases
from workbench.services import auth, retention, sessions
from workbench.services import cases as case_service
from workbench.services.auth import Perm, can
from workbench.services.capture import profiles

__all__ = ["render"]


def _create(ctx: Ctx) -> None:
    with st.form("new_case", clear_on_submit=True):
        st.text("New case")
        slug = st.text_input("Short name (a-z, 0-9, - and _)", key="c_slug")
        purpose = st.text_area("Purpose (required: why this case collects)", key="c_purpose")
        reviews = st.number_input("Independent reviews needed for 'verified'", 1, 10, 2, key="c_reviews")
        if st.form_submit_button("Create case"):
            with guard():
                case_service.create_case(ctx.home, ctx.account, slug.strip(), purpose, int(reviews), "app")
                st.rerun()


def _members(ctx: Ctx) -> None:
    cases = visible_cases(ctx.home, ctx.account)
    if not cases:
        return
    users = [u.name for u in sessions.list_accounts(ctx.home, ctx.account, "app")]
    with st.form("add_member"):
        st.text("Add a member to a case")
        case = st.selectbox("Case", cases, format_func=lambda c: c.slug, key="m_case")
        user = st.selectbox("User", users, key="m_user")
        if st.form_submit_button("Add member") and case is not None:
            with guard(), ctx.home.transaction(ctx.account.name, "app") as tx:
                auth.add_member(tx, ctx.account, case.id, user)


def _profile(ctx: Ctx) -> None:
    """A case's logged-in browser profile for captures (workbench.services.capture.profiles): set,
    shown by hash, cleared."""
    cases = visible_cases(ctx.home, ctx.account)
    if not cases:
        return
    with st.form("case_profile", clear_on_submit=True):
        st.text("Browser profile for a case's captures (Playwright storage_state JSON; never shared)")
        case = st.selectbox("Case", cases, format_func=lambda c: c.slug, key="p_case")
        upload = st.file_uploader("storage_state file", type=["json"], key="p_file")
        set_it, clear_it = st.columns(2)
        if set_it.form_submit_button("Set profile") and case is not None and upload is not None:
            with guard():
                profiles.set_profile(
                    ctx.home, case, upload.getvalue()[: profiles.MAX_PROFILE_BYTES + 1], ctx.account, "app"
                )
        if clear_it.form_submit_button("Clear profile") and case is not None:
            with guard():
                profiles.clear_profile(ctx.home, case, ctx.account, "app")
    for c in cases:
        try:
            found = profiles.profile_of(ctx.home, c)
        except profiles.ProfileError as exc:
            st.text(f"{c.slug}: {exc}")
            continue
        if found is not None:
            st.text(f"{c.slug}: profile {found.sha256[:16]} for {', '.join(found.cookie_domains) or '-'}")


def _due(ctx: Ctx) -> None:
    """The "due for review" queue: cases past their review date; legal and admin members decide."""
    due = retention.due_cases(ctx.home, ctx.account)
    st.subheader("Due for review")
    if not due:
        st.text("No case is past its review date.")
        return
    table([retention.case_summary(c).as_json() for c in due], key="due_cases")
    if not can(ctx.account, Perm.RETENTION):
        st.text("Legal staff and admins decide at review: keep until a date, or erase.")
        return
    with st.form("review_case"):
        case = st.selectbox("Case", due, format_func=lambda c: c.slug, key="r_case")
        until = st.date_input("Keep until", key="r_until")
        reason = st.text_input("Or erase: the legal basis", key="r_reason")
        keep, erase = st.columns(2)
        if keep.form_submit_button("Keep until this date") and case is not None:
            with guard():
                when = retention.parse_date(until.isoformat()) if isinstance(until, date) else None
                retention.decide_review(ctx.home, ctx.account, case.slug, keep_until=when, via="app")
                st.rerun()
        if erase.form_submit_button("Erase (opens deletion requests)") and case is not None:
            with guard():
                done = retention.decide_review(
                    ctx.home, ctx.account, case.slug, erase_reason=reason, via="app"
                )
                st.text(f"{len(done.requests)} deletion request(s) opened: a second account approves each.")


def _proxy(ctx: Ctx) -> None:
    """A case's upstream proxy for captures (SEC-03: a VPN's or Tor's SOCKS port the investigator runs)."""
    from workbench.services.capture import network as capture_network

    cases = visible_cases(ctx.home, ctx.account)
    if not cases:
        return
    with st.form("case_proxy", clear_on_submit=True):
        st.text("Upstream proxy for a case's captures (behind the capture guard, which checks every address)")
        case = st.selectbox("Case", cases, format_func=lambda c: c.slug, key="x_case")
        url = st.text_input("socks5h://127.0.0.1:9050 (Tor), socks5:// or http://HOST:PORT", key="x_url")
        set_it, clear_it = st.columns(2)
        if set_it.form_submit_button("Set proxy") and case is not None:
            with guard():  # a bad URL is a ValueError (GuardError), shown as "Not saved"
                capture_network.set_case_proxy(ctx.home, case, url, ctx.account, "app")
        if clear_it.form_submit_button("Clear proxy") and case is not None:
            with guard():
                capture_network.clear_case_proxy(ctx.home, case, ctx.account, "app")
    for c in cases:
        with guard():
            found = capture_network.describe_case_proxy(ctx.home, c, ctx.account, "app")
            if found is not None:
                st.text(f"{c.slug}: {found.profile()}")


def render(ctx: Ctx) -> None:
    """Cases this account may open; admins create cases and manage members."""
    st.header("Cases")
    rows = []
    for c in visible_cases(ctx.home, ctx.account):
        with ctx.home.reading() as conn:
            members = ", ".join(m.name for m in auth.list_members(conn, c.id))
        rows.append(
            {
                "case": c.slug,
                "purpose": c.purpose,
                "reviews needed": c.review_policy,
                "members": members,
                "review on": retention.case_summary(c).review_on or "",
            }
        )
    table(rows, key="cases")
    _due(ctx)
    if can(ctx.account, Perm.MANAGE_CASES):
        _create(ctx)
        _members(ctx)
        _profile(ctx)
        _proxy(ctx)
    else:
        st.text("Only admins create cases and add members.")
    if ctx.case is not None:
        st.subheader("Case report")
        st.text(f"Of the case chosen in the sidebar: {ctx.case.slug}")
        reports_page.case_report(ctx)
