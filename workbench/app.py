"""The workbench app's first page: the cases in this archive home."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from archive.cases import list_cases
from archive.home import Home, HomeError
from archive.signing import SigningKeyError
from workbench import config
from workbench.clitools import TOOL_VERSION


@st.cache_resource
def open_home() -> Home:
    return Home.open(config.home_path(None), config.key_path(), TOOL_VERSION, config.db_url())


def main() -> None:
    st.set_page_config(page_title="Verification workbench", layout="wide")
    st.title("Verification workbench")
    try:
        home = open_home()
    except (HomeError, SigningKeyError) as exc:
        st.error("The archive could not be opened.")
        st.code(str(exc))
        return
    with home.reading() as conn:
        cases = list_cases(conn)
    st.subheader("Cases")
    if not cases:
        st.info("No cases yet. Create one with `wb case create SLUG --purpose TEXT`.")
        return
    rows = [
        {
            "case": c.slug,
            "purpose": c.purpose,
            "reviews needed": c.review_policy,
            "created (UTC)": c.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for c in cases
    ]
    # Untrusted text only ever goes through dataframe/text/code, never markdown.
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)


main()
