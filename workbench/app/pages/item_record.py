"""Item page tabs: capture record, hashes, custody timeline, sightings and near-duplicates, indicators."""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench.app.pages import capture_record, media
from workbench.app.pages.common import TIME, Ctx, guard, table
from workbench.services import access, jobs, models, records, review, timeline, timestamping, viewing
from workbench.services.access import ItemRow
from workbench.services.auth import AccessDenied, Perm, can
from workbench.services.dedup import clusters as dedup

__all__ = ["ai_generation", "custody", "indicators", "near_duplicates", "record", "sightings_tab"]

SIDECAR_MAX = 200_000


def _artifacts(ctx: Ctx, row: ItemRow) -> list[dict[str, Any]]:
    return records.item_files(ctx.home, ctx.account, row.id)


def record(ctx: Ctx, row: ItemRow) -> None:
    """Item fields, files with their SHA-256, and the capture record as JSON text."""
    table(
        [
            {"field": k, "value": str(v)}
            for k, v in (
                ("id", row.id),
                ("sha256", row.sha256),
                ("kind", row.kind),
                ("status", row.status),
                ("classification", row.classification),
                ("stored", row.created_at.strftime(TIME)),
            )
        ],
        key="record_fields",
    )
    st.text("Files (SHA-256 at collection):")
    table(_artifacts(ctx, row), key="record_files")
    with ctx.home.reading() as conn:
        recs = access.capture_records(conn, ctx.account, row.id)
        withheld = viewing.withheld_count(conn, ctx.account, row.id)
    for _ in range(withheld):
        st.text(f"[{access.WITHHELD}]")
    for a in _artifacts(ctx, row):
        if a["role"] == "sidecar" and a["size"] <= SIDECAR_MAX and not withheld:
            st.text("Embedded metadata (exiftool sidecar):")
            with ctx.home.blobs.open(a["sha256"]) as fh:
                st.code(fh.read(SIDECAR_MAX).decode("utf-8", "replace"), language="json")
    for cap_id, rec in recs:
        capture_record.render(cap_id, rec)  # readable sections, the raw JSON behind a toggle


def custody(ctx: Ctx, row: ItemRow) -> None:
    """The item's custody timeline (a view of the one global hash chain), blind review applied."""
    events = timeline.item_timeline(ctx.home, ctx.account, row.id, via="app")
    stamps = timestamping.event_stamps(ctx.home, [e.seq for e in events])
    with ctx.home.reading() as conn:
        blind = bool(review.hidden_reviewers(conn, ctx.account, row.id))
    if blind:
        st.text("Events of other reviewers are hidden until you submit your own review.")
    table(
        [
            {
                "position": e.seq,
                "at": e.at.strftime(TIME),
                "actor": e.actor,
                "via": e.via,
                "action": e.action,
                "artifact": e.artifact_sha256 or "",
                "event hash": e.event_hash,
                "trusted timestamp": stamps.get(e.seq, ""),
            }
            for e in events
        ],
        key="custody",
    )


def near_duplicates(ctx: Ctx, item_id: str) -> list[dedup.NearDuplicate]:
    """Members of the item's near-duplicate cluster as this account sees them
    (workbench.services.dedup.clusters)."""
    try:
        return dedup.near_duplicates(ctx.home, ctx.account, item_id)
    except AccessDenied:
        return []
    except Exception:  # stage boundary: near-duplicates are advisory; the page must still render
        return []


def sightings_tab(ctx: Ctx, row: ItemRow) -> None:
    """Sightings as a table and a timeline."""
    seen = records.item_sightings(ctx.home, ctx.account, row.id)
    rows = [
        {
            "seen (UTC)": s["seen_at"].strftime(TIME),
            "posted (UTC)": s["posted_at"].strftime(TIME) if s["posted_at"] else "",
            "source": s["source"],
            "platform": s["platform"] or "",
            "account": s["account"] or "",
            "url": s["url"] or "",
            "file name": s["original_name"] or "",
        }
        for s in seen
    ]
    table(rows, key="sightings")
    if len(seen) > 1:
        import pandas as pd

        st.scatter_chart(
            pd.DataFrame({"time": [s["posted_at"] or s["seen_at"] for s in seen], "sighting": 1}),
            x="time",
            y="sighting",
            height=160,
        )
    st.text("Near-duplicates and the earliest known sighting: see the Near-duplicates tab.")


def _flags(ctx: Ctx, row: ItemRow) -> list[dict[str, Any]]:
    return records.item_flags(ctx.home, ctx.account, row.id)


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _frame(flag: dict[str, Any]) -> str:
    """Where in a video a keyframe flag looked (empty for stills)."""
    frame = (flag.get("details") or {}).get("keyframe")
    if not isinstance(frame, dict):
        return ""
    try:
        return f"{float(frame.get('t', 0)):.2f} s (frame {int(frame.get('frame_index', 0))})"
    except (TypeError, ValueError):
        return "keyframe"


FOUND = {True: "found", False: "not found", None: "not analysed"}


def _signal_name(signal: Any) -> str:
    """Short enough for the table; a model's line names its pack, since several packs may run."""
    short = str(signal.signal).split(" (")[0]
    if signal.detector == "model_pack":
        return f"{short}: {str(signal.what).split(':')[0]}"
    return short


def ai_generation(found: list[dict[str, Any]]) -> None:
    """The AI-generation view: each signal on its own line with its strength, never merged."""
    if not found:
        return
    signals = models.signals_from_rows(found)
    st.text(
        "AI-generation signals: each stands alone; together they are not a verdict, and none changes "
        "the status."
    )
    # As above: short columns in the table, the sentences wrapped under it.
    table(
        [
            {
                "AI-generation signal": _signal_name(s),
                "found": "inconclusive" if s.label == "inconclusive" else FOUND[s.found],
            }
            for s in signals
        ],
        key="ai_signals",
    )
    for s in signals:
        st.text(f"{s.signal}: {s.what}. Strength: {s.strength}.")


def indicators(ctx: Ctx, row: ItemRow) -> None:
    """Machine output, labelled "automated indicator" and kept apart from human confidence."""
    found = _flags(ctx, row)
    if can(ctx.account, Perm.JUDGE) and st.button("Run automated analyses (background job)", key="analyse"):
        with guard():
            jobs.submit(ctx.home, ctx.account, jobs.JobKind.ANALYSE, row.case_id, {"item_ids": [row.id]})
            st.success("Analysis queued: results appear here when the job is done.")
    st.text("Automated indicators (machine output; never a verification status or a confidence):")
    # Short columns only, so the table fits without scrolling sideways; the explanations, which are
    # sentences, follow as wrapped text under the table, one per indicator.
    table(
        [
            {
                "automated indicator": f["label"],
                "detector": f"{f['detector']} {f['version']}",
                "score": _num(f["score"]),
                "threshold": _num(f["threshold"]),
                **({"video frame": _frame(f)} if any(_frame(g) for g in found) else {}),
            }
            for f in found
        ],
        key="flags",
    )
    for f in found:
        why = f" (not run: {f['reason']})" if f["reason"] else ""
        st.text(f"{f['detector']}: {f['explanation'] or ''}{why}")
    ai_generation(found)
    revealed = st.session_state.get("revealed")
    for f in found:
        if not f["heatmap_sha256"]:
            continue
        st.text(f"Heatmap from {f['detector']}:")
        # A heatmap shows the media's content: it follows the same blur as the media itself.
        sharp = bool(revealed and revealed[0] == row.id)
        with ctx.home.reading() as conn:
            vs = viewing.effective_settings(conn, ctx.account)
        try:
            data = viewing.heatmap_png(
                ctx.home,
                ctx.account,
                row.id,
                f["heatmap_sha256"],
                384,
                0 if sharp else vs.blur,
                not sharp and vs.greyscale,
            )
        except AccessDenied as exc:
            st.text(f"[{exc}]")
            continue
        if data is None:
            st.text("[heatmap unavailable]")
        else:
            media.image(data, width=384)
