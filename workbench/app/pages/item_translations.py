"""The item page's Translations tab (LNG-03): each caption or note beside its translations, and a form
to record one (by a person, or by a machine translation tool the person names and ran themselves).

Everything goes through ``workbench.services.translations`` (visibility, role, blind review, logging); the
form is only hidden from roles that may not annotate. Text is shown with ``dir="auto"`` (pages.bidi).
"""

from __future__ import annotations

import streamlit as st

from workbench.app.pages import bidi
from workbench.app.pages.common import TIME, Ctx, guard
from workbench.services import translations
from workbench.services.access import ItemRow
from workbench.services.auth import AccessDenied, Perm, can

__all__ = ["render"]


def _label(t: translations.Translation) -> str:
    kind = "machine translation" if t.translator_type == "machine" else "human translation"
    when = t.created_at.strftime(TIME)
    source = f" from {t.source_lang}" if t.source_lang else ""
    return f"{t.target_lang}{source} · {kind} by {t.translator} · recorded by {t.recorded_by}, {when}"


def _side_by_side(source: translations.Source, found: list[translations.Translation]) -> None:
    left, right = st.columns(2)
    with left:
        bidi.text(source.text, label=f"Original, {source.label} (verbatim)")
    with right:
        if not found:
            st.text("(no translation yet)")
        for t in found:
            bidi.text(t.text, label=_label(t))
            if t.notes:
                bidi.text(t.notes, label="Translator's notes")


def _form(ctx: Ctx, row: ItemRow, sources: list[translations.Source]) -> None:
    refs = [s.ref for s in sources]
    labels = {s.ref: f"{s.label}: {s.text[:60]}" for s in sources}
    with st.form("translation_add", clear_on_submit=True):
        ref = st.selectbox("Text to translate", refs, format_func=lambda r: labels.get(r, r), key="tr_source")
        c1, c2 = st.columns(2)
        target = c1.text_input("Language of the translation (BCP 47, e.g. en, uk, ar)", key="tr_target")
        source_lang = c2.text_input("Language of the original (optional)", key="tr_source_lang")
        text = st.text_area("Translation", key="tr_text")
        kind = st.radio("Translated by", list(translations.KINDS), horizontal=True, key="tr_kind")
        who = st.text_input(
            "Translator (a person: empty for you) or, for a machine translation, the tool and its version "
            "(run on this side: the workbench sends no text anywhere)",
            key="tr_who",
        )
        notes = st.text_area("Translator's notes (optional)", key="tr_notes", height=68)
        if st.form_submit_button("Record translation"):
            with guard():
                translations.add_translation(
                    ctx.home, ctx.account, row.id, str(ref), target, text, translator_type=str(kind),
                    translator=who, source_lang=source_lang, notes_text=notes, via="app",
                )  # fmt: skip
                st.rerun()


def render(ctx: Ctx, row: ItemRow) -> None:
    """Originals beside their translations, then the form (for roles that annotate)."""
    try:
        sources = translations.item_sources(ctx.home, ctx.account, row.id)
        found = translations.item_translations(ctx.home, ctx.account, row.id)
    except AccessDenied as exc:
        st.text(str(exc))
        return
    if not sources and not found:
        st.text("This item has no caption or note to translate.")
    shown: set[int] = set()
    for source in sources:
        mine = [t for t in found if t.source_ref == source.ref]
        shown |= {t.id for t in mine}
        _side_by_side(source, mine)
    for t in found:  # translations of a text that has changed since, with the original they were made from
        if t.id not in shown:
            _side_by_side(translations.Source(t.source_ref, t.source_ref, t.source_text), [t])
    if sources and can(ctx.account, Perm.ANNOTATE):
        _form(ctx, row, sources)
