"""The item page's replay of a captured web page from its WACZ (``workbench.services.replay``), blurred like
any other media until revealed: the viewer draws the page through a CSS blur of the user's blur
setting, and "Reveal replay (logged)" takes the blur off and logs ``media.revealed`` of the WACZ."""

from __future__ import annotations

import streamlit as st

from workbench.app.pages.common import Ctx, guard
from workbench.services import access, replay
from workbench.services.access import ItemRow

__all__ = ["button", "render"]

HEIGHT = 640


def _open(ctx: Ctx, row: ItemRow) -> None:
    with guard():
        target = replay.replay_target(ctx.home, ctx.account, row.id)
        if target is None:
            st.session_state["replay"] = (row.id, None, None)
        else:
            st.session_state["replay"] = (row.id, target, None)


def _reveal(ctx: Ctx, row: ItemRow, target: replay.ReplayTarget) -> None:
    with guard():
        grant = replay.reveal(ctx.home, ctx.account, row.id, target)
        st.session_state["replay"] = (row.id, target, grant)


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
    _, target, grant = state
    st.subheader("Replay of the captured page")
    if target is None:
        st.text("This page has no WACZ to replay.")
        return
    viewer = replay.viewer_url(ctx.home, ctx.account, row.id, target, grant)
    if viewer.blurred:
        st.button("Reveal replay (logged)", key="replay_reveal", on_click=_reveal, args=(ctx, row, target))
    st.button("Close replay", key="replay_close", on_click=lambda: st.session_state.pop("replay", None))
    st.iframe(viewer.url, height=HEIGHT)
