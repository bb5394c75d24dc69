"""Viewing settings (per user, protective defaults), admin minimums and accounts."""

from __future__ import annotations

import streamlit as st

from workbench.app.pages.common import Ctx, guard, table
from workbench.services import auth, sessions, viewing
from workbench.services.access import CONTENT_WARNINGS
from workbench.services.auth import Perm, can

__all__ = ["render"]


def _own(ctx: Ctx) -> None:
    with ctx.home.reading() as conn:
        vs = viewing.effective_settings(conn, ctx.account)
        mins = viewing.get_minimums(conn)
    with st.form("viewing"):
        st.text("Your viewing settings (they never change anyone else's)")
        blur = st.slider("Blur strength", 0, 100, vs.blur, key="v_blur")
        grey = st.checkbox("Greyscale", vs.greyscale, key="v_grey")
        mute = st.checkbox("Start videos muted", vs.mute, key="v_mute")
        px = st.select_slider("Thumbnail size", viewing.THUMB_SIZES, vs.thumb_px, key="v_px")
        auto = st.multiselect("Show unblurred in lists", CONTENT_WARNINGS, list(vs.auto_reveal), key="v_auto")
        remind = st.number_input(
            "Break reminder after N reveals (0: never)", 0, 1000, vs.reveal_reminder, key="v_rem"
        )
        if st.form_submit_button("Save my settings"):
            with guard():
                viewing.set_user_settings(
                    ctx.home,
                    ctx.account,
                    {
                        "blur": blur,
                        "greyscale": grey,
                        "mute": mute,
                        "thumb_px": px,
                        "auto_reveal": auto,
                        "reveal_reminder": remind,
                    },
                )
                st.rerun()
    st.text(
        f"Admin minimums: blur at least {mins.min_blur}; always blurred: {', '.join(mins.always_blur) or '-'}"
    )


def _own_password(ctx: Ctx) -> None:
    """Anyone changes their own password (the current one first); every session of theirs ends."""
    with st.form("own_password", clear_on_submit=True):
        st.text("Change my password (you will log in again, everywhere)")
        current = st.text_input("Current password", type="password", key="o_current")
        new = st.text_input("New password (10+ characters)", type="password", key="o_new")
        again = st.text_input("New password again", type="password", key="o_again")
        if not st.form_submit_button("Change my password"):
            return
    if new != again:
        st.error("The two new passwords differ.")
        return
    with guard():
        sessions.reset_password(ctx.home, ctx.account, ctx.account.name, new, via="app", current=current)
        st.rerun()


def _minimums(ctx: Ctx) -> None:
    with ctx.home.reading() as conn:
        mins = viewing.get_minimums(conn)
    with st.form("minimums"):
        st.text("Minimums for everyone (admins)")
        min_blur = st.slider("Minimum blur strength", 0, 100, mins.min_blur, key="n_blur")
        force = st.checkbox("Force greyscale", mins.force_greyscale, key="n_grey")
        always = st.multiselect("Always blur", CONTENT_WARNINGS, list(mins.always_blur), key="n_always")
        if st.form_submit_button("Save minimums"):
            with guard():
                viewing.set_minimums(ctx.home, ctx.account, viewing.Minimums(min_blur, force, tuple(always)))
                st.rerun()


def _accounts(ctx: Ctx) -> None:
    users = sessions.list_accounts(ctx.home, ctx.account, "app")
    table([{"user": u.name, "role": u.role.value, "active": u.active} for u in users], key="users")
    with st.form("add_user", clear_on_submit=True):
        st.text("Add an account")
        name = st.text_input("User name", key="u_name")
        role = st.selectbox("Role", [r.value for r in auth.Role], key="u_role")
        password = st.text_input("Initial password (10+ characters)", type="password", key="u_pw")
        if st.form_submit_button("Add account"):
            with guard():
                sessions.add_account(ctx.home, ctx.account, name.strip(), role, password, via="app")
    with st.form("set_role"):
        st.text("Change a role (audited)")
        who = st.selectbox("User", [u.name for u in users], key="r_user")
        role = st.selectbox("New role", [r.value for r in auth.Role], key="r_role")
        if st.form_submit_button("Change role"):
            with guard(), ctx.home.transaction(ctx.account.name, "app") as tx:
                auth.set_role(tx, ctx.account, who, role)
    _sessions(ctx, [u.name for u in users if u.active])


def _sessions(ctx: Ctx, names: list[str]) -> None:
    """Deactivate, reset a password, end sessions: each ends the account's sessions everywhere at once."""
    others = [n for n in names if n != ctx.account.name]
    with st.form("deactivate"):
        st.text("Deactivate an account (its sessions end at once, in the app and the CLI)")
        who = st.selectbox("User", others, key="d_user")
        if st.form_submit_button("Deactivate") and who:
            with guard():
                sessions.deactivate_user(ctx.home, ctx.account, who, via="app")
                st.success(f"{who} is deactivated")
    with st.form("reset_password", clear_on_submit=True):
        st.text("Set a new password (the account's sessions end)")
        who = st.selectbox("User", names, key="p_user")
        password = st.text_input("New password (10+ characters)", type="password", key="p_password")
        if st.form_submit_button("Set password") and who:
            with guard():
                sessions.reset_password(ctx.home, ctx.account, who, password, via="app")
                st.success(f"the password of {who} is changed")
    with st.form("revoke"):
        st.text("End every session of an account (it must log in again)")
        who = st.selectbox("User", names, key="s_user")
        if st.form_submit_button("End sessions") and who:
            with guard():
                ended = sessions.revoke_sessions(ctx.home, ctx.account, who, via="app")
                st.success(f"{ended} session(s) of {who} ended")


def _capture(ctx: Ctx) -> None:
    from workbench.services.capture.run import capture_options, set_capture_options

    with st.form("capture_options"):
        st.text("Capture (admins): yt-dlp fetches platform video whole, through the same capture guard")
        ytdlp = st.checkbox("Also fetch video with yt-dlp", capture_options(ctx.home)["ytdlp"], key="c_ytdlp")
        if st.form_submit_button("Save capture settings"):
            with guard():
                set_capture_options(ctx.home, ctx.account, "app", ytdlp=ytdlp)
                st.rerun()


def _capture_targets(ctx: Ctx) -> None:
    """Addresses the capture guard refuses that an admin lets captures reach (a local test server)."""
    from workbench.services.capture.network import allow_target, list_targets, remove_target

    with st.form("capture_targets", clear_on_submit=True):
        st.text(
            "Capture targets (admins): HOST:PORT pairs captures may reach although the guard refuses them"
        )
        target = st.text_input("HOST:PORT, e.g. 127.0.0.1:8000", key="t_target")
        allow_it, remove_it = st.columns(2)
        if allow_it.form_submit_button("Allow target"):
            with guard():
                allow_target(ctx.home, ctx.account, target, via="app")
                st.success(f"captures may now reach {target.strip()}")
        if remove_it.form_submit_button("Remove target"):
            with guard():
                remove_target(ctx.home, ctx.account, target, via="app")
                st.success(f"{target.strip()} is no longer an allowed capture target")
    with guard():
        st.text(f"Allowed capture targets: {', '.join(list_targets(ctx.home, ctx.account, 'app')) or '-'}")


def render(ctx: Ctx) -> None:
    """Settings page."""
    st.header("Settings")
    _own(ctx)
    _own_password(ctx)
    if can(ctx.account, Perm.SET_MINIMUMS):
        _minimums(ctx)
    if can(ctx.account, Perm.MANAGE_USERS):
        _accounts(ctx)
        _capture(ctx)
    if can(ctx.account, Perm.MANAGE_CAPTURE):
        _capture_targets(ctx)
