"""Text folded for matching (LNG-01, LNG-02): search finds "Харків" by "харків" or "ХАРКІВ", Arabic with
or without its vowel marks, and text typed in NFC or NFD alike.

The same steps run in Python (the search words, and SQLite's ``wb_fold`` SQL function, registered on
each connection by archive/db.py) and in PostgreSQL's ``wb_fold`` (migration 0008), so both engines
match the same rows:

1. decompose (NFD), so a precomposed letter and a letter plus combining mark are one form;
2. lower-case (Unicode's default mapping; PostgreSQL through ICU's root locale, whatever the database's
   own locale), then the two full case-folds that lower-casing misses: "ß" -> "ss", final "ς" -> "σ";
3. drop Arabic harakat, Quranic annotation marks and the tatweel (and so hamza and madda above or
   below alef: "أ", "إ", "آ" match "ا"); Latin, Cyrillic and other marks stay ("й" is not "и");
4. recompose (NFC).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ARABIC_MARKS", "fold"]

# Harakat and hamza/madda marks (U+064B-U+065F), superscript alef (U+0670), Quranic marks, tatweel.
ARABIC_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed\u0640"
_MARKS = re.compile(f"[{ARABIC_MARKS}]")


def fold(text: str | None) -> str | None:
    """``text`` in the form search compares (None stays None, as SQL's NULL)."""
    if text is None:
        return None
    lowered = unicodedata.normalize("NFD", text).lower().replace("ß", "ss").replace("ς", "σ")
    return unicodedata.normalize("NFC", _MARKS.sub("", lowered))
