"""A capture record (the BP-9 technical report of one collection) as readable sections: request,
response, network, versions, transformations and steps, post context, and whatever else it holds,
with the raw JSON behind a toggle. Values are captured, hostile text: tables (``st.dataframe``) and
``dir="auto"`` text blocks (pages.bidi), never markdown."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from workbench.app.pages import bidi
from workbench.app.pages.common import table

__all__ = ["SECTIONS", "render", "sections"]

SECTIONS: dict[str, tuple[str, ...]] = {
    "Request": ("requested_url", "final_url", "redirect_chain", "started_at", "ended_at", "utc_offset",
                "status", "reason", "capture_id", "case", "collector_id", "user_agent", "viewport"),
    "Response": ("http_status", "http_status_text", "title", "encoding", "bytes_received", "screenshot",
                 "byte_budget_exceeded"),
    "Network": ("server_ip", "resolved_addresses", "network_profile", "tls_certificate",
                "tls_errors_ignored", "clock_sync", "exchanges", "refused_requests", "failed_requests",
                "browser_background_blocked", "budgets"),
    "Versions": ("tool_version", "playwright", "browser", "launch_flags", "ytdlp"),
    "Transformations": ("transformations",),
}  # fmt: skip
TABLES = ("response_headers", "steps")  # shown as their own tables
OWN = ("post", "item_id", *TABLES)  # shown elsewhere on the tab
VALUE_MAX = 2000


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value[:VALUE_MAX]
    return json.dumps(value, ensure_ascii=False, sort_keys=True)[:VALUE_MAX]


def sections(record: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The record's fields by section (``SECTIONS``, then "Other" for the rest), as field/value rows;
    lists of transformations one per row."""
    out: dict[str, list[dict[str, str]]] = {}
    placed: set[str] = set(OWN)
    for name, keys in SECTIONS.items():
        rows = []
        for key in keys:
            if key not in record:
                continue
            placed.add(key)
            value = record[key]
            if name == "Transformations" and isinstance(value, list):
                rows += [{"field": key, "value": _text(v)} for v in value]
            else:
                rows.append({"field": key.replace("_", " "), "value": _text(value)})
        out[name] = rows
    out["Other"] = [
        {"field": k.replace("_", " "), "value": _text(v)}
        for k, v in sorted(record.items())
        if k not in placed
    ]
    return out


def _post(post: Any) -> None:
    if not isinstance(post, dict) or not post:
        return
    st.text("Post context")
    for key in ("caption", "text"):
        if isinstance(post.get(key), str) and post[key]:
            bidi.text(post[key], label=key)
    rest = [{"field": k.replace("_", " "), "value": _text(v)} for k, v in sorted(post.items())
            if k not in ("caption", "text") and v not in (None, "", [], {})]  # fmt: skip
    table(rest)


def render(cap_id: str, record: dict[str, Any]) -> None:
    """One capture record: its sections, its headers and steps as tables, then the raw JSON on demand."""
    st.text(f"Capture record {cap_id}")
    for name, rows in sections(record).items():
        if rows:
            with st.expander(name, expanded=name in ("Request", "Response")):
                table(rows, key=f"cap_{cap_id}_{name}")
                if name == "Response" and isinstance(record.get("response_headers"), list):
                    got = record["response_headers"]
                    headers = [{"header": _text(h[0]), "value": _text(h[1])} for h in got
                               if isinstance(h, list | tuple) and len(h) == 2]  # fmt: skip
                    table(headers, key=f"cap_{cap_id}_headers")
                if name == "Transformations" and isinstance(record.get("steps"), list):
                    steps = [
                        {k: _text(v) for k, v in s.items()} for s in record["steps"] if isinstance(s, dict)
                    ]
                    table(steps, key=f"cap_{cap_id}_steps")
    _post(record.get("post"))
    if st.toggle("Show the raw capture record (JSON)", key=f"cap_raw_{cap_id}"):
        st.code(json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True)[:100_000], language="json")
