"""The item page's assignment box: who may see a sensitive item, and giving a case member access.

Survivor-identifying and sexual-violence items are seen only by the accounts assigned to them; a
reviewer cannot review such an item until someone assigns them. ``workbench.services.assignment`` and
``access.assign`` check the role, the membership and the item's visibility, and log refusals; the
form is only hidden from roles that may not assign. Names are shown as text.
"""

from __future__ import annotations

import streamlit as st

from workbench.app.pages.common import Ctx, guard
from workbench.services import access, assignment
from workbench.services.access import ItemRow
from workbench.services.auth import Perm, can

__all__ = ["render"]


def render(ctx: Ctx, row: ItemRow) -> None:
    """The assignees of a sensitive item and, for roles that may assign, the form."""
    if not assignment.is_sensitive(row):
        return
    found: assignment.Assignment | None = None
    with guard():
        found = assignment.assignment(ctx.home, ctx.account, row.id, via="app")
    if found is None:
        return
    st.text("Sensitive item: only assigned accounts see it.")
    st.text("Assigned: " + (", ".join(found.assigned) or "(nobody)"))
    note = st.session_state.pop("assigned_note", None)
    if note and note[0] == row.id:
        st.success("Assigned")
        st.text(f"{note[1]} may now open this item.")
    if not can(ctx.account, Perm.ASSIGN):
        return
    if not found.candidates:
        st.text("Every member of the case is assigned.")
        return
    with st.form("assign"):
        name = st.selectbox("Give access to (a member of this case)", found.candidates, key="assign_name")
        if st.form_submit_button("Assign (logged)"):
            with guard():
                access.assign(ctx.home, ctx.account, row.id, str(name), via="app")
                st.session_state["assigned_note"] = (row.id, str(name))
                st.rerun()
