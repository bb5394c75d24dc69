"""The item gallery: server-side pagination and filters, blurred thumbnails with warnings as text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import streamlit as st

from archive.model import FlagLabel, Status
from workbench.app.pages import bidi, media
from workbench.app.pages.common import Ctx, guard, open_item
from workbench.services import access, auth, titles, viewing
from workbench.services.access import CONTENT_WARNINGS, ItemFilter, ItemRow
from workbench.services.auth import AccessDenied
from workbench.services.dedup import clusters as dedup

__all__ = ["render"]

PAGE_SIZE = 24
COLUMNS = 4


@st.cache_data(ttl=60, show_spinner=False)
def _platforms(home_root: str, case_id: int, account_name: str) -> list[str]:
    """Platforms of the case's items this account may see (cached for a minute per account)."""
    from workbench.app.pages.common import get_home

    home = get_home()
    with home.reading() as conn:
        account = auth.account_by_name(conn, account_name)
        return [] if account is None else access.platforms(conn, account, case_id)


def _day(d: Any, end: bool) -> datetime | None:
    if not isinstance(d, date):
        return None
    return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)


def filters(ctx: Ctx, prefix: str = "g") -> ItemFilter:
    """The filter widgets; returns the filter they describe."""
    assert ctx.case is not None
    platforms = _platforms(str(ctx.home.root), ctx.case.id, ctx.account.name)
    text = st.text_input("Search captured text, captions and notes", key=f"{prefix}_text")
    c1, c2, c3 = st.columns(3)
    status = c1.multiselect("Status", [s.value for s in Status], key=f"{prefix}_status")
    # Only the fixed warning categories are offered (plus any tag typed): listing the case's tags
    # would reveal tags of items this user may not see.
    chosen_tags = c2.multiselect(
        "Tags and content warnings", list(CONTENT_WARNINGS), key=f"{prefix}_tags", accept_new_options=True
    )
    flag_labels = c3.multiselect(
        "Automated indicators",
        [FlagLabel.INDICATOR.value, FlagLabel.INCONCLUSIVE.value],
        key=f"{prefix}_flags",
    )
    c4, c5, c6 = st.columns(3)
    platform = c4.selectbox("Platform", ["(any)", *platforms], key=f"{prefix}_platform")
    since = c5.date_input("Stored from", value=None, key=f"{prefix}_since")
    until = c6.date_input("Stored until", value=None, key=f"{prefix}_until")
    cluster_of = st.text_input("Near-duplicates of item (id)", key=f"{prefix}_cluster")
    return ItemFilter(
        status=status,
        platform=None if platform == "(any)" else platform,
        since=_day(since, False),
        until=_day(until, True),
        tags=chosen_tags,
        flag_labels=flag_labels,
        item_ids=_cluster_ids(ctx, cluster_of.strip()) if cluster_of.strip() else None,
        text=text or None,
    )


def _cluster_ids(ctx: Ctx, item_id: str) -> list[str]:
    """The item and its near-duplicates as this account sees them; nothing at all (the answer for an
    unknown id) when the item is hidden. Kept per typed id, so that reruns do not repeat the lookup."""
    memo = st.session_state.get("g_cluster_memo")
    if memo and memo[0] == (ctx.account.id, item_id):
        return list(memo[1])
    try:
        found = [item_id, *(m.item_id for m in dedup.near_duplicates(ctx.home, ctx.account, item_id))]
    except AccessDenied:
        found = []
    st.session_state["g_cluster_memo"] = ((ctx.account.id, item_id), found)
    return found


def thumb(ctx: Ctx, row: ItemRow, vs: viewing.ViewSettings, px: int | None = None) -> viewing.Preview:
    """A thumbnail, blurred and greyscale unless the user's settings allow otherwise."""
    blur = viewing.should_blur(vs, row.tags)
    shown = viewing.preview(
        ctx.home,
        ctx.account,
        row.id,
        px or vs.thumb_px,
        vs.blur if blur else 0,
        vs.greyscale if blur else False,
    )
    if shown.png is not None:
        media.image(shown.png, width=px or vs.thumb_px)
    elif shown.note == access.WITHHELD:
        st.text(f"[{access.WITHHELD}]")
    else:
        st.text(f"[{row.kind}: {shown.note}]")
    return shown


def _card(ctx: Ctx, row: ItemRow, vs: viewing.ViewSettings, title: str) -> None:
    thumb(ctx, row, vs)
    warnings_ = [t for t in row.tags if t in CONTENT_WARNINGS]
    if warnings_:
        st.text("Warning: " + ", ".join(warnings_))
    bidi.text(title, reveal=True)  # the name people know it by; a bidi override shown, not obeyed
    st.text(row.id)
    st.text(f"{row.status} · {row.classification}")
    st.button("Open", key=f"open_{row.id}", on_click=open_item, args=(row.id,))


def render(ctx: Ctx) -> None:
    """Gallery of the current case."""
    st.header("Items")
    if ctx.case is None:
        st.info("You are not a member of any case yet.")
        return
    flt = filters(ctx)
    with ctx.home.reading() as conn:
        vs = viewing.effective_settings(conn, ctx.account)
    page = int(st.number_input("Page", min_value=1, value=1, step=1, key="g_page"))
    with guard(), ctx.home.reading() as conn:
        rows, total = access.list_items(
            conn, ctx.account, ctx.case.id, flt, (page - 1) * PAGE_SIZE, PAGE_SIZE
        )
        pages = f"{max(1, -(-total // PAGE_SIZE))}" + ("+" if total > access.COUNT_CAP else "")
        st.text(f"{access.count_text(total)} items · page {page} of {pages}")
        cols = st.columns(COLUMNS)
        for n, row in enumerate(rows):
            with cols[n % COLUMNS]:
                _card(ctx, row, vs, titles.display_title(conn, ctx.account, row, 60))
