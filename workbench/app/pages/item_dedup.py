"""The item page's near-duplicates tab: the item's cluster, the earliest known sighting with its date and
basis (DUP-03), and a person's confirmation or rejection of each candidate (DUP-02).

Everything comes from ``workbench.services.dedup.clusters`` (built from the items this account may see; a
decision
needs the judge permission and is a custody event). Nothing is merged automatically: only the anchor
and confirmed members lend their sightings to the earliest known.
"""

from __future__ import annotations

import streamlit as st

from archive.errors import WorkbenchError
from workbench.app.pages.common import Ctx, guard, open_item, table
from workbench.services.access import ItemRow
from workbench.services.auth import Perm, can
from workbench.services.dedup import clusters as dedup

__all__ = ["render"]

BASIS = {
    "posted_at": "the platform's posting time",
    "seen_at": "when it was captured or ingested here (no posting time known)",
}
_STATE = "dedup_cluster"


def _find(ctx: Ctx, row: ItemRow) -> None:
    cluster: dedup.Cluster | None = None
    with guard():
        cluster = dedup.item_cluster(ctx.home, ctx.account, row.id, via="app")
        st.session_state[_STATE] = (row.id, cluster)


def _earliest(row: ItemRow, cluster: dedup.Cluster) -> None:
    ek = cluster.earliest_known
    if ek is None:
        st.text("Earliest known sighting: none recorded among the anchor and confirmed members.")
        return
    who = "this item" if ek["item_id"] == row.id else f"item {ek['item_id']}"
    st.text(f"Earliest known sighting: {who}, {ek['as_of']}")
    st.text(f"Basis: {BASIS.get(str(ek['basis']), str(ek['basis']))}")
    st.text("Counted over the anchor and confirmed members; a pending candidate counts once confirmed.")


def _decide(ctx: Ctx, cluster_id: str, item_id: str, decision: str) -> None:
    try:
        out = dedup.decide(ctx.home, ctx.account, cluster_id, item_id, decision, via="app")
    except WorkbenchError as exc:
        st.session_state["dedup_note"] = ("error", str(exc))
        return
    st.session_state["dedup_note"] = ("ok", f"{out.decision}: item {item_id} in {cluster_id} (logged)")
    st.session_state.pop(_STATE, None)  # the cluster changed: find it again


def _buttons(ctx: Ctx, cluster: dedup.Cluster) -> None:
    pending = [m for m in cluster.members if m.decision == "pending"]
    if not pending or not can(ctx.account, Perm.JUDGE):
        return
    st.text("Is each candidate the same picture or video as the anchor?")
    for m in pending:
        c1, c2, c3 = st.columns([3, 1, 1])
        c1.text(f"{m.item_id} · {m.distance} bits ({m.match})")
        args = (ctx, cluster.cluster_id, m.item_id)
        c2.button("Confirm", key=f"dd_yes_{m.item_id}", on_click=_decide, args=(*args, "confirmed"))
        c3.button("Reject", key=f"dd_no_{m.item_id}", on_click=_decide, args=(*args, "rejected"))


def render(ctx: Ctx, row: ItemRow) -> None:
    """The cluster of the open item, when asked for (it compares against the whole case)."""
    note = st.session_state.pop("dedup_note", None)
    if note:
        if note[0] == "ok":
            st.success("Decision recorded")
        else:
            st.error("Not saved")
        st.text(note[1])
    found = st.session_state.get(_STATE)
    if st.button("Find near-duplicates", key="find_near") or (note and note[0] == "ok"):
        _find(ctx, row)
        found = st.session_state.get(_STATE)
    if not found or found[0] != row.id:
        return
    cluster: dedup.Cluster | None = found[1]
    if cluster is None:
        st.text("No near-duplicate of this item among the items you may see.")
        return
    st.text(f"Cluster {cluster.cluster_id} · {cluster.kind.replace('_', ' ')} · {len(cluster.members)} items")
    _earliest(row, cluster)
    earliest = (cluster.earliest_known or {}).get("item_id")
    table(
        [
            {
                "item": m.item_id + (" (this item)" if m.item_id == row.id else ""),
                "distance (bits)": m.distance,
                "match": m.match,
                "decision": m.decision,
                "earliest known": "yes" if m.item_id == earliest else "",
            }
            for m in cluster.members
        ],
        key="near_table",
    )
    _buttons(ctx, cluster)
    for m in cluster.members:
        if m.item_id != row.id:
            st.button(f"Open {m.item_id}", key=f"near_{m.item_id}", on_click=open_item, args=(m.item_id,))
