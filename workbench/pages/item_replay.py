"""The item page's replay of a captured web page from its WACZ (``workbench.replay``), blurred like
any other media until revealed: the viewer draws the page through a CSS blur of the user's blur
setting, and "Reveal replay (logged)" takes the blur off and logs ``media.revealed`` of the WACZ."""

from __future__ import annotations

import streamlit as st

from workbench import access, replay, viewing
from workbench.access import ItemRow
from workbench.pages.common import Ctx, guard

__all__ = ["button", "render"]

HEIGHT = 640


def _open(ctx: Ctx, row: ItemRow) -> None:
    with guard():
        target = replay.replay_target(ctx.home, ctx.account, row.id)
        if target is None:
            st.session_state["replay"] = (row.id, None, False)
        else:
            st.session_state["replay"] = (row.id, target, False)


def _reveal(ctx: Ctx, row: ItemRow, target: replay.ReplayTarget) -> None:
    with guard():
        access.log_access(ctx.home, ctx.account, row.id, "media.revealed", artifact_sha256=target.sha256)
        st.session_state["replay"] = (row.id, target, True)


def button(ctx: Ctx, row: ItemRow) -> None:
    """The button that opens the replay of a captured page (shown where the page's media may be)."""
    state = st.session_state.get("replay")
    if row.kind == access.PAGE_KIND and not (state and state[0] == row.id):
        st.button("Replay the captured page (offline, from its WACZ)", key="replay_open",
                  on_click=_open, args=(ctx, row))  # fmt: skip


def render(ctx: Ctx, row: ItemRow) -> None:
    """The replay, once opened: blurred (the user's blur setting) until revealed."""
    state = st.session_state.get("replay")
    if not state or state[0] != row.id:
        return
    _, target, sharp = state
    st.subheader("Replay of the captured page")
    if target is None:
        st.text("This page has no WACZ to replay.")
        return
    with ctx.home.reading() as conn:
        vs = viewing.effective_settings(conn, ctx.account)
    blur = 0 if sharp or not viewing.should_blur(vs, row.tags) else max(vs.blur, 1)
    if blur:
        st.button("Reveal replay (logged)", key="replay_reveal", on_click=_reveal, args=(ctx, row, target))
    st.button("Close replay", key="replay_close", on_click=lambda: st.session_state.pop("replay", None))
    st.iframe(replay.viewer_url(ctx.account, row.id, target, blur), height=HEIGHT)
