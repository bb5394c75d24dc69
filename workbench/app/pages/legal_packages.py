"""The legal view's packages: the account's export jobs with their progress and the one download of each
finished package, and the transfer register (COC-03).

``package_files.export_jobs`` lists the account's own export jobs (``jobs.list_jobs`` checks the
membership); the download link points at ``/api/export/JOB_ID``, where ``package_files.open_package``
decides and the bytes leave the server once sent. ``export.list_transfers`` checks the role (legal
staff, admins) and membership and leaves out items the account may not see. Recipients and purposes
are shown in tables (text, never markdown).
"""

from __future__ import annotations

import streamlit as st

from workbench.app.pages.common import Ctx, guard, origin, table
from workbench.services import jobs
from workbench.services.export import files as package_files
from workbench.services.export import packages as export

__all__ = ["exports", "transfers"]

STATES = {
    "ready": "ready: download it once (it is then removed from the server)",
    "downloaded": "downloaded; removed from the server",
    "withdrawn": "withdrawn (an item hidden from you or a consent withdrawn since); removed from the server",
    "expired": f"not downloaded within {package_files.PACKAGE_TTL_S // 3600} h; removed from the server",
}


def _job(job: jobs.Job, base: str | None) -> None:
    res = job.result
    with st.container(border=True):
        st.text(f"export {job.id[:8]} · {job.status} · {res.get('included', 0)} items included"
                f" · {len(res.get('results') or [])} withheld")  # fmt: skip
        st.progress(float(job.progress))
        if not job.finished and res.get("stage"):
            st.text(str(res["stage"]))
        if error := res.get("error"):
            st.text(f"error: {error}")
        if job.status == jobs.JobStatus.DONE and not res.get("transfer_id"):
            st.text("nothing was sent: every item was withheld (see the reasons)")
        table([{k: str(v or "") for k, v in r.items()} for r in res.get("results") or []], key=f"xj_{job.id}")
        state = res.get("package")
        if state:
            st.text(f"transfer {res.get('transfer_id')} · package {STATES.get(str(state), str(state))}")
        if state == "ready":
            st.text(f"zip SHA-256 {res.get('zip_sha256')} · {res.get('zip_bytes')} bytes")
            if base:
                st.link_button("Download the package (zip, logged)", f"{base}/api/export/{job.id}")


@st.fragment(run_every="2s")
def exports(ctx: Ctx) -> None:
    """The account's export jobs of the case, refreshed every two seconds (progress, then the download)."""
    assert ctx.case is not None
    listed: list[jobs.Job] = []
    with guard():  # a membership ended since the page was drawn: say so, do not raise
        listed = package_files.export_jobs(ctx.home, ctx.account, ctx.case.id, limit=5)
    base = origin()
    for job in listed:
        _job(job, base)


def _row(t: export.Transfer) -> dict[str, str]:
    intact = t.register_intact
    return {
        "at": t.at[:19],
        "transfer": t.id,
        "profile": t.profile,
        "recipient type": t.recipient_type,
        "recipient": t.recipient,
        "purpose": t.purpose,
        "authorised by": t.authorised_by,
        "items sent": ", ".join(f"{i['item_id']} {str(i['sha256'])[:12]}" for i in t.sent),
        "withheld": str(len(t.withheld)),
        "restricted items not shown": str(t.items_restricted),
        "manifest SHA-256": t.manifest_sha256 or "-",
        "register row": "no hash logged" if intact is None else ("intact" if intact else "CHANGED"),
    }


def transfers(ctx: Ctx) -> None:
    """The transfer register of the chosen case: every export, its recipient, purpose and hashes."""
    assert ctx.case is not None
    rows: list[export.Transfer] = []
    with guard():
        rows = export.list_transfers(ctx.home, ctx.account, ctx.case.slug, via="app")
    table([_row(t) for t in rows], key="transfers")
    changed = [t.id for t in rows if t.register_intact is False]
    for transfer_id in changed:
        st.error("Register row changed since it was logged")
        st.text(f"transfer {transfer_id}: the register row no longer matches its custody events")
