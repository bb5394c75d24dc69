"""Capture: URLs or file uploads, run as background jobs with progress."""

from __future__ import annotations

from typing import Any

import streamlit as st

from archive.errors import InvalidRequest
from workbench.app.pages import bidi
from workbench.app.pages.common import Ctx, guard, open_item, table
from workbench.services import jobs

__all__ = ["render"]

MAX_URLS = 100


def _urls(ctx: Ctx) -> None:
    assert ctx.case is not None
    with st.form("capture_urls", clear_on_submit=True):
        text = st.text_area("URLs to capture, one per line", key="cap_urls")
        if st.form_submit_button("Capture"):
            urls = [u.strip() for u in text.splitlines() if u.strip()][:MAX_URLS]
            with guard():
                if not urls:
                    raise InvalidRequest("give at least one URL")
                jobs.submit(ctx.home, ctx.account, jobs.JobKind.CAPTURE, ctx.case.id, {"urls": urls})
                st.success("Capture queued")


def _uploads(ctx: Ctx) -> None:
    assert ctx.case is not None
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            "Files (photos, videos, documents, zips)", accept_multiple_files=True, key="up"
        )
        if st.form_submit_button("Upload") and files:
            with guard():
                params = jobs.save_uploads(ctx.home, [(f.name, f.getvalue()) for f in files])
                jobs.submit(ctx.home, ctx.account, jobs.JobKind.UPLOAD, ctx.case.id, params)
                st.success("Upload queued")


def _open_row(job_id: str, r: dict[str, Any]) -> None:
    """The item a job made, by the name people know it by (a title, file name or address; the override
    of a bidi control shown, not obeyed), and a button to open it."""
    c1, c2 = st.columns([5, 1])
    # An upload's result names its file "name"; a capture's its "url".
    shown = r.get("title") or r.get("path") or r.get("name") or r.get("url") or r["item_id"]
    with c1:
        bidi.text(str(shown)[:120], reveal=True)
    # Inside a fragment a click reruns only the fragment: go to the item with a full rerun.
    if c2.button("Open", key=f"jo_{job_id}_{r['item_id']}"):
        open_item(str(r["item_id"]))
        st.rerun(scope="app")


@st.fragment(run_every="2s")
def _jobs(ctx: Ctx) -> None:
    """The case's recent jobs, refreshed every two seconds without blocking the page."""
    assert ctx.case is not None
    listed: list[jobs.Job] = []
    with guard():  # a membership ended since the page was drawn: say so, do not raise
        listed = jobs.list_jobs(ctx.home, ctx.account, ctx.case.id, limit=10)
    for job in listed:
        with st.container(border=True):
            st.text(f"{job.kind} · {job.status} · by {job.actor} · {job.id[:8]}")
            st.progress(float(job.progress))
            results = job.results
            if error := job.result.get("error"):
                st.text(f"error: {error}")
            table([{k: str(v or "") for k, v in r.items()} for r in results], key=f"job_{job.id}")
            for r in results:
                if r.get("item_id"):
                    _open_row(job.id, r)


def render(ctx: Ctx) -> None:
    """Capture page."""
    st.header("Capture")
    if ctx.case is None:
        st.info("Choose a case first.")
        return
    _urls(ctx)
    _uploads(ctx)
    st.subheader("Jobs")
    _jobs(ctx)
