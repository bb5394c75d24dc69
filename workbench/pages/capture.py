"""Placeholder, filled in step 3."""

from __future__ import annotations

import streamlit as st

from workbench.pages.common import Ctx

__all__ = ["render"]


def render(ctx: Ctx) -> None:
    """Not yet."""
    st.header("capture")
