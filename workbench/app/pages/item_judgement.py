"""Item page: review state, the reviews the user may see (blind until their own), the judgement and
adjudication forms, and the methodology log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from archive.model import CONFIDENCE_DEFINITIONS, Confidence, Status
from workbench.app.pages.common import TIME, Ctx, guard, table
from workbench.services import review
from workbench.services.access import ItemRow
from workbench.services.auth import Perm, can

__all__ = ["methodology", "render"]

CHOOSABLE = [s.value for s in Status if s is not Status.DISPUTED]


def _reviews(ctx: Ctx, row: ItemRow) -> review.ReviewView:
    with ctx.home.reading() as conn:
        view = review.reviews_for(conn, ctx.account, row.id)
    st.text(f"Review state: {view.state}")
    if view.hidden:
        st.info("Earlier conclusions are hidden until you submit your own review.")
        st.text(f"{view.hidden} earlier review(s) hidden")
    for r in view.visible:
        with st.container(border=True):
            st.text(f"{r.kind} by {r.reviewer} at {r.created_at.strftime(TIME)}")
            st.text(
                f"status: {r.status} · confidence: {r.confidence} ({Confidence(r.confidence).name.lower()})"
            )
            st.text("rationale:")
            st.text(r.rationale)
            if any(r.strands.values()):
                st.code(json.dumps(dict(r.strands), indent=2, ensure_ascii=False), language="json")
    return view


def _strand_inputs(name: str, label: str) -> dict[str, Any]:
    st.text(label)
    method = st.text_input("Method / tool", key=f"{name}_method")
    links = st.text_area("Evidence links (one per line)", key=f"{name}_links", height=68)
    note = st.text_area("Note", key=f"{name}_note", height=68)
    out: dict[str, Any] = {
        "method": method,
        "note": note,
        "evidence_links": [x.strip() for x in links.splitlines() if x.strip()],
    }
    return out


def _geo_inputs() -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if st.checkbox("Add geolocation", key="geo_on"):
        c1, c2, c3 = st.columns(3)
        extra["geolocation"] = {
            "lat": c1.number_input("Latitude (WGS84)", -90.0, 90.0, 0.0, format="%.6f", key="geo_lat"),
            "lon": c2.number_input("Longitude (WGS84)", -180.0, 180.0, 0.0, format="%.6f", key="geo_lon"),
            "radius_m": c3.number_input("Uncertainty radius (m)", 0.0, 1e7, 100.0, key="geo_r"),
            "reference_imagery": [
                {
                    "source": st.text_input("Reference imagery source", key="geo_src"),
                    "date": st.text_input("Reference imagery date", key="geo_date"),
                }
            ],
        }
    if st.checkbox("Add chronolocation", key="chrono_on"):
        c1, c2, c3 = st.columns(3)
        extra["chronolocation"] = {
            "start": c1.text_input("From (ISO 8601)", key="chr_start"),
            "end": c2.text_input("Until (ISO 8601)", key="chr_end"),
            "timezone": c3.text_input("Time zone (e.g. Europe/Kyiv)", value="UTC", key="chr_tz"),
        }
    return extra


def _basis(key: str, view: review.ReviewView) -> int:
    """The newest judgement id when this form was last drawn (what the user saw), and remember the
    current one for the next click: a second click on the same form then carries a stale basis."""
    seen = st.session_state.get(key)
    st.session_state[key] = view.last_id
    return view.last_id if seen is None else int(seen)


def _submit(action: Callable[[], review.Outcome]) -> review.Outcome | None:
    """Run a submission; a stale one is discarded, said so, and what was typed stays in the form."""
    with guard():
        try:
            return action()
        except review.StaleForm as exc:
            st.warning("Discarded: nothing was recorded. What you typed is kept below.")
            st.text(str(exc))
    return None


def _form(ctx: Ctx, row: ItemRow, view: review.ReviewView) -> None:
    own = view.own_submitted
    basis = _basis(f"j_basis_{row.id}", view)
    st.text("Your judgement" + (" (updates yours; the earlier one stays in the history)" if own else ""))
    status = st.selectbox("Status", CHOOSABLE, key="j_status")
    conf = st.radio(
        "Confidence",
        [c.value for c in Confidence],
        index=2,
        horizontal=True,
        key="j_conf",
        format_func=lambda v: f"{v} {Confidence(v).name.lower().replace('_', ' ')}",
    )
    table(
        [
            {"level": f"{c.value} {c.name.lower()}", "definition": d}
            for c, d in CONFIDENCE_DEFINITIONS.items()
        ],
        key="conf_defs",
    )
    rationale = st.text_area("Rationale (required)", key="j_rationale")
    strands = {
        "source_analysis": _strand_inputs("sa", "Source analysis"),
        "technical_analysis": _strand_inputs("ta", "Technical analysis"),
        "content_analysis": {**_strand_inputs("ca", "Content analysis"), **_geo_inputs()},
    }
    if st.button("Submit judgement", key="j_submit", type="primary"):
        out = _submit(lambda: review.submit_review(ctx.home, ctx.account, row.id, status, conf, rationale,
                                                   strands, expect_last=basis))  # fmt: skip
        if out is not None:
            st.session_state["j_result"] = ("Judgement recorded", out.state)
            st.rerun()


def _adjudicate(ctx: Ctx, row: ItemRow, view: review.ReviewView) -> None:
    basis = _basis(f"a_basis_{row.id}", view)
    st.text("Adjudication: resolve the dispute (both reviews stay verbatim).")
    st.text("You did not review this item, so you adjudicate it; you are not asked for a review of your own.")
    status = st.selectbox("Resolved status", CHOOSABLE, key="a_status")
    rationale = st.text_area("Adjudication rationale (required)", key="a_rationale")
    if st.button("Adjudicate", key="a_submit", type="primary"):
        out = _submit(lambda: review.adjudicate(ctx.home, ctx.account, row.id, status, rationale,
                                                expect_last=basis))  # fmt: skip
        if out is not None:
            st.session_state["j_result"] = ("Adjudication recorded", out.state)
            st.rerun()


def render(ctx: Ctx, row: ItemRow) -> None:
    """Review state, visible reviews and, for those allowed, one form: an adjudicator of a disputed
    item (not one of its reviewers) sees only the adjudication, never a review of their own."""
    view = _reviews(ctx, row)
    if result := st.session_state.pop("j_result", None):
        st.success(result[0])
        st.text(f"Item is now: {result[1]}")
    disputed = row.status == Status.DISPUTED.value
    adjudicated = any(r.kind == "adjudication" and r.reviewer == ctx.account.name for r in view.visible)
    if disputed and can(ctx.account, Perm.ADJUDICATE) and not view.own_submitted:
        _adjudicate(ctx, row, view)
    elif adjudicated and not view.own_submitted:
        # A review by the adjudicator would make them one of the reviewers they judged between.
        st.text("You adjudicated this item: you are not one of its reviewers.")
    elif can(ctx.account, Perm.JUDGE):
        _form(ctx, row, view)
    else:
        st.text("Read-only: your role does not record judgements.")


def methodology(ctx: Ctx, row: ItemRow) -> None:
    """The steps another analyst can repeat (VER-07)."""
    with ctx.home.reading() as conn:
        steps = review.method_steps(conn, ctx.account, row.id)
        blind = bool(review.hidden_reviewers(conn, ctx.account, row.id))
    if blind:
        st.text("Steps of other reviewers are hidden until you submit your own review.")
    table(
        [
            {
                "#": n + 1,
                "date": s.performed_at,
                "tool": s.tool,
                "query": s.query,
                "result": s.result,
                "by": s.author,
            }
            for n, s in enumerate(steps)
        ],
        key="steps",
    )
    if not can(ctx.account, Perm.ANNOTATE):
        return
    with st.form("method_step", clear_on_submit=True):
        tool = st.text_input("Tool", key="m_tool")
        query = st.text_input("Query / input", key="m_query")
        result = st.text_area("Result", key="m_result")
        when = st.text_input("Date (YYYY-MM-DD; today if empty)", key="m_date")
        if st.form_submit_button("Add step"):
            with guard():
                review.add_method_step(ctx.home, ctx.account, row.id, tool, query, result, when)
                st.rerun()
