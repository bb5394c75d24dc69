"""Untrusted text that may run right to left (LNG-02): shown with ``dir="auto"``, escaped, never markup.

Streamlit's ``st.text`` gives no way to set ``dir``, so text that can hold user or captured words goes
through ``text`` here: ``st.html`` of a ``<div dir="auto">`` whose content is ``html.escape``d (so a
caption is always text, never tags), with ``white-space: pre-wrap`` so that it reads like ``st.text``.
The browser then picks each paragraph's direction from its first strong letter: an Arabic caption
aligns right and reads right to left, a Latin one left to right, and neither spills into the labels
around it. File names and other one-line identifiers go through ``reveal_controls`` first, so that a
bidirectional override (U+202E ...) that would disguise ``photo\u202egnp.exe`` is shown, not obeyed.
"""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

__all__ = ["BIDI_CONTROLS", "install", "reveal_controls", "text"]

# Characters that change the order in which the rest of a line is drawn (Unicode bidi controls).
BIDI_CONTROLS = {
    "\u061c": "ALM",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
}
STYLE = "white-space: pre-wrap; unicode-bidi: isolate; text-align: start; font-size: 0.95rem; margin: 0"


def reveal_controls(value: str) -> str:
    """The string with each bidi control shown as a visible mark such as ``[U+202E RLO]`` instead."""
    return "".join(f"[U+{ord(ch):04X} {BIDI_CONTROLS[ch]}]" if ch in BIDI_CONTROLS else ch for ch in value)


def markup(value: str, *, label: str = "", reveal: bool = False) -> str:
    """The HTML for one text block: an optional label on its own line (left to right), then the text
    in a ``dir="auto"`` block of its own. Everything is escaped."""
    shown = reveal_controls(value) if reveal else value
    head = f'<div dir="ltr" style="{STYLE}; opacity: 0.7">{html.escape(label)}</div>' if label else ""
    return f'{head}<div class="wb-text" dir="auto" style="{STYLE}">{html.escape(shown)}</div>'


def text(value: str, *, label: str = "", reveal: bool = False) -> None:
    """Show untrusted text as text with ``dir="auto"`` (``reveal``: bidi controls made visible)."""
    st.html(markup(str(value), label=label, reveal=reveal))


_DIR_AUTO = components.declare_component("wb_dir_auto", path=str(Path(__file__).with_name("dirauto")))


def install() -> None:
    """Give Streamlit's own inputs and text displays ``dir="auto"`` (a zero-height component of ours,
    served from this server like every script: ``dirauto/dirauto.js``). Call once per run."""
    _DIR_AUTO(key="wb_dir_auto", default=None)
