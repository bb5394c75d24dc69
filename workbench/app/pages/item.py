"""The item page: blurred media with warnings, the record, reviews and the judgement form."""

from __future__ import annotations

import streamlit as st

from archive.model import Classification
from workbench.app.pages import (
    bidi,
    item_assign,
    item_consent,
    item_dedup,
    item_judgement,
    item_record,
    item_redact,
    item_replay,
    item_translations,
    media,
)
from workbench.app.pages.common import TIME, Ctx, back, guard
from workbench.app.pages.common import origin as common_origin
from workbench.app.pages.gallery import thumb
from workbench.services import access, fixity, titles, viewing
from workbench.services.access import CONTENT_WARNINGS, ItemRow
from workbench.services.auth import AccessDenied, Perm, can

__all__ = ["render"]

VIDEO_INLINE_MAX = 200 << 20


def _load(ctx: Ctx, item_id: str) -> ItemRow | None:
    """The item after the visibility check; the view is logged once per visit, not on every rerun."""
    try:
        if st.session_state.get("viewed_item") != item_id:
            row = access.open_item(ctx.home, ctx.account, item_id)
            st.session_state["viewed_item"] = item_id
            return row
        with ctx.home.reading() as conn:
            return access.find_visible(conn, ctx.account, item_id)
    except AccessDenied:
        return None


def _reveal(ctx: Ctx, row: ItemRow, sha: str) -> None:
    with guard():
        data = viewing.revealed_png(ctx.home, ctx.account, row.id, sha)
        st.session_state["revealed"] = (row.id, sha)
        st.session_state["reveals"] = int(st.session_state.get("reveals", 0)) + 1
        st.session_state["revealed_png"] = data


def _media(ctx: Ctx, row: ItemRow) -> None:
    with ctx.home.reading() as conn:
        vs = viewing.effective_settings(conn, ctx.account)
    warnings_ = [t for t in row.tags if t in CONTENT_WARNINGS]
    if warnings_:
        st.warning("Content warning")
        st.text(", ".join(warnings_))
    revealed = st.session_state.get("revealed")
    if revealed and revealed[0] == row.id and st.session_state.get("revealed_png"):
        media.image(st.session_state["revealed_png"], width=640)
        st.button("Blur again", key="reblur", on_click=lambda: st.session_state.pop("revealed", None))
    else:
        shown = thumb(ctx, row, vs, px=384)
        if shown.withheld:
            # The page's files hold items this user may not see: no reveal, no download, no replay.
            st.text(f"This item's files hold {shown.withheld} item(s) you may not see: {access.WITHHELD}.")
            return
        if shown.sha256 is not None:
            st.button("Reveal (logged)", key="reveal", on_click=_reveal, args=(ctx, row, shown.sha256))
    _video_and_download(ctx, row, vs)
    item_replay.button(ctx, row)
    every = vs.reveal_reminder
    count = int(st.session_state.get("reveals", 0))
    if every and count and count % every == 0 and not st.session_state.get(f"reminded_{count}"):
        st.info(f"You have revealed {count} items this session. Consider a short break.")
        st.button(
            "Dismiss",
            key="dismiss_reminder",
            on_click=lambda: st.session_state.update({f"reminded_{count}": True}),
        )


def _video_and_download(ctx: Ctx, row: ItemRow, vs: viewing.ViewSettings) -> None:
    """Video plays only after a reveal, muted by default, never autoplaying; downloads go through the
    logged, authenticated file route."""
    with ctx.home.reading() as conn:
        original = viewing.original_artifact(conn, row.id)
    if original is None:
        return
    sha, mime, size = original
    if mime.startswith("video/"):
        _keyframes(ctx, row, vs, sharp=st.session_state.get("revealed") == (row.id, sha))
        if st.session_state.get("revealed") == (row.id, sha):
            if size <= VIDEO_INLINE_MAX:
                with guard():
                    data = viewing.video_bytes(ctx.home, ctx.account, row.id, sha)
                    media.video(data, format=mime, muted=vs.mute, autoplay=False)
            st.button(
                "Blur again", key="reblur_video", on_click=lambda: st.session_state.pop("revealed", None)
            )
        else:
            st.text("[video hidden: reveal to play; starts muted]")
            st.button(
                "Reveal video (logged)", key="reveal_video", on_click=_reveal_video, args=(ctx, row, sha)
            )
    origin = common_origin()
    if origin:
        token = viewing.file_token(ctx.account, row.id, sha)
        st.link_button("Download original (logged)", f"{origin}/api/file/{token}")


def _keyframes(ctx: Ctx, row: ItemRow, vs: viewing.ViewSettings, sharp: bool) -> None:
    """The video's keyframes, blurred like its thumbnail until the video itself is revealed (logged)."""
    blur = viewing.should_blur(vs, row.tags) and not sharp
    with guard():
        frames = viewing.keyframe_previews(
            ctx.home, ctx.account, row.id, 128, vs.blur if blur else 0, vs.greyscale if blur else False
        )
        if not frames:
            st.text("[keyframes appear here once the background analysis has run]")
            return
        st.text(f"Keyframes ({len(frames)}{', blurred until the video is revealed' if blur else ''}):")
        media.images([png for _, _, png in frames], caption=[f"{t:.1f} s" for t, _, _ in frames], width=96)


def _reveal_video(ctx: Ctx, row: ItemRow, sha: str) -> None:
    with guard():
        access.log_access(ctx.home, ctx.account, row.id, "media.revealed", artifact_sha256=sha)
        st.session_state["revealed"] = (row.id, sha)


def _description(ctx: Ctx, row: ItemRow) -> None:
    with ctx.home.reading() as conn:
        current = viewing.description(conn, ctx.account, row.id)
    st.text("Distinctive features (so that comparing needs no re-viewing):")
    st.text(current or "(no description yet)")
    if can(ctx.account, Perm.ANNOTATE):
        with st.form("describe"):
            text = st.text_area("New description", value=current, key="desc_text")
            if st.form_submit_button("Save description"):
                with guard():
                    viewing.set_description(ctx.home, ctx.account, row.id, text)
                    st.rerun()


def _tags(ctx: Ctx, row: ItemRow) -> None:
    st.text("Tags: " + (", ".join(row.tags) or "(none)"))
    st.text(f"Classification: {row.classification}")
    if not can(ctx.account, Perm.ANNOTATE):
        return
    c1, c2 = st.columns(2)
    new_tag = c1.selectbox("Add content warning", ["", *CONTENT_WARNINGS], key="add_tag")
    if c1.button("Add tag", key="add_tag_btn") and new_tag:
        with guard():
            result = access.tag_item(ctx.home, ctx.account, row.id, new_tag)
            if result.prompt_classification:
                st.session_state["prompt_classify"] = row.id
            st.rerun()
    if st.session_state.get("prompt_classify") == row.id:
        st.warning("Tagged sexual violence: choose a classification. It is now at least restricted.")
    levels = [c.value for c in Classification]
    level = c2.selectbox("Classification", levels, index=levels.index(row.classification), key="classify")
    if c2.button("Set classification", key="classify_btn") and level != row.classification:
        with guard():
            access.classify(ctx.home, ctx.account, row.id, level)
            st.session_state.pop("prompt_classify", None)
            st.rerun()


def _integrity(ctx: Ctx, row: ItemRow) -> None:
    """The banner of an item whose files a fixity run found changed, missing or unreadable."""
    for f in fixity.item_integrity(ctx.home, ctx.account, row.id):
        found = f" (now hashes to {f.found_sha256})" if f.found_sha256 else ""
        st.error(
            f"Integrity failed: file {f.sha256} is {f.state}{found} "
            f"(fixity run {f.run_id}, {f.checked_at.strftime(TIME)})."
        )


def render(ctx: Ctx, item_id: str) -> None:
    """One item."""
    st.button("Back to the gallery", key="back", on_click=back)
    row = _load(ctx, item_id)
    if row is None:
        st.error("No such item, or you may not see it.")
        return
    st.subheader("Item")
    _integrity(ctx, row)
    st.text(f"Item {row.id} · {row.kind} · {row.status}")
    with ctx.home.reading() as conn:
        bidi.text(titles.display_title(conn, ctx.account, row, 500), label="Title", reveal=True)
    item_replay.render(ctx, row)  # once opened, above the rest at full width
    left, right = st.columns([2, 3])
    with left:
        _media(ctx, row)
        _description(ctx, row)
        _tags(ctx, row)
        item_assign.render(ctx, row)
    with right:
        tabs = {
            "Judgement": item_judgement.render,
            "Record": item_record.record,
            "Custody": item_record.custody,
            "Sightings": item_record.sightings_tab,
            "Indicators": item_record.indicators,
            "Methodology": item_judgement.methodology,
            "Consent": item_consent.render,
            "Translations": item_translations.render,
            "Near-duplicates": item_dedup.render,
            "Redact and report": item_redact.render,
        }
        for tab, render in zip(st.tabs(list(tabs)), tabs.values(), strict=True):
            with tab:
                render(ctx, row)
