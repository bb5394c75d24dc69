"""The item page's "Redact and report" tab: a redacted copy of a picture (faces and boxes filled), and the
item's PDF report.

``redact.redact_item`` checks the export permission (legal staff, admins), the membership and the
item's visibility, logs refusals and the redaction (``artifact.redacted``); the original is never
changed. The copy is opened through the logged file route, like any stored file.
"""

from __future__ import annotations

import streamlit as st

from workbench.app.pages import reports_page
from workbench.app.pages.common import Ctx, guard, origin
from workbench.services import viewing
from workbench.services.access import ItemRow
from workbench.services.auth import Perm, can

__all__ = ["render"]

_STATE = "redacted"


def _redact(ctx: Ctx, row: ItemRow, faces: bool, boxes_text: str) -> None:
    from workbench.services import redact  # OpenCV and exiftool: loaded only when asked for

    with guard():
        boxes = [redact.parse_box(b.strip()) for b in boxes_text.splitlines() if b.strip()]
        if not faces and not boxes:
            raise redact.RedactError("say what to redact: find faces, give boxes, or both")
        done = redact.redact_item(ctx.home, ctx.account, row.id, faces=faces, boxes=boxes, via="app")
        st.session_state[_STATE] = (row.id, done.sha256, len(done.boxes), done.faces_found)


def _made(ctx: Ctx, row: ItemRow) -> None:
    made = st.session_state.get(_STATE)
    if not made or made[0] != row.id:
        return
    _item, sha, n_boxes, n_faces = made
    st.success("Redacted copy stored; the original is unchanged")
    st.text(f"SHA-256 {sha} · {n_boxes} boxes filled · {n_faces} faces found")
    base = origin()
    if base:
        token = viewing.file_token(ctx.account, row.id, sha)
        st.link_button("Open the redacted copy (logged)", f"{base}/api/file/{token}")


def _form(ctx: Ctx, row: ItemRow) -> None:
    if not row.kind.startswith("image"):
        st.text("Redaction makes copies of pictures; this item is not one.")
        return
    with st.form("redact"):
        faces = st.checkbox("Find and fill faces", value=True, key="rd_faces")
        boxes = st.text_area("Boxes to fill, one per line: x,y,w,h in pixels of the upright picture",
                             key="rd_boxes", height=80)  # fmt: skip
        if st.form_submit_button("Make a redacted copy (logged)"):
            _redact(ctx, row, bool(faces), str(boxes))
    _made(ctx, row)


def render(ctx: Ctx, row: ItemRow) -> None:
    """Redaction for roles that share material; the report for everyone who sees the item."""
    st.text("Redacted copy (for sharing: pixels replaced, no metadata kept)")
    if can(ctx.account, Perm.EXPORT):
        _form(ctx, row)
    else:
        st.text("Redacted copies are made by legal staff and admins.")
    st.divider()
    reports_page.item_report(ctx, row.id)
