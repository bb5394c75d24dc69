"""The PDF report for people (EXP-02, SEN-05, LNG-01/02), per item or per case, with fpdf2.

Fonts are Debian's Noto (fonts-noto-core) with DejaVu Sans Mono for hashes; text is shaped with
HarfBuzz (fpdf2's ``set_text_shaping``) so Arabic joins and reads right to left. Paragraphs are laid
out with a left-to-right base direction: each right-to-left run is drawn right to left, and runs
follow each other in their stored (logical) order, which is also the order text extraction returns
(``pdftotext -raw``). Every page has a footer with the report id and generation time.

Input is plain data (gathered records, custody rows, thumbnails already made and, for graphic items,
already blurred by the caller); this module decodes no evidence.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpdf import FPDF

from archive.model import ItemRecord, Withheld

__all__ = ["FONT_DIR", "ReportData", "Thumbnail", "render_report"]

FONT_DIR = Path("/usr/share/fonts/truetype/noto")
MONO_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
FALLBACKS = (
    ("NotoNaskhArabic", "NotoNaskhArabic-Regular.ttf", "NotoNaskhArabic-Bold.ttf"),
    ("NotoSansHebrew", "NotoSansHebrew-Regular.ttf", "NotoSansHebrew-Bold.ttf"),
    ("NotoSansArmenian", "NotoSansArmenian-Regular.ttf", "NotoSansArmenian-Bold.ttf"),
    ("NotoSansGeorgian", "NotoSansGeorgian-Regular.ttf", "NotoSansGeorgian-Bold.ttf"),
    ("NotoSansEthiopic", "NotoSansEthiopic-Regular.ttf", "NotoSansEthiopic-Bold.ttf"),
    ("NotoSansMyanmar", "NotoSansMyanmar-Regular.ttf", "NotoSansMyanmar-Bold.ttf"),
    ("NotoSansDevanagari", "NotoSansDevanagari-Regular.ttf", "NotoSansDevanagari-Bold.ttf"),
)
LINE = 5.0
PAGES_ALIAS = "{pages-total}"  # wide enough for any page count (fpdf2 reserves its width)


@dataclass(frozen=True)
class Thumbnail:
    png: bytes
    label: str | None = None  # a content warning when the picture is blurred


@dataclass
class ReportData:
    report_id: str
    generated_at: str
    title: str
    scope: Mapping[str, str]  # case, transfer, profile, recipient type ...
    records: Sequence[ItemRecord]
    events: Sequence[Mapping[str, Any]]
    confidence_scale: Mapping[str, str]
    thumbnails: Mapping[str, Thumbnail] = field(default_factory=dict)  # by item id
    withheld: Sequence[Withheld] = ()


TEXT_LIMIT = 6000


def _clean(value: Any) -> str:
    """Evidence text may hold control characters (shown as escapes) and be huge (cut, and said so)."""
    text = "" if value is None else str(value)
    if len(text) > TEXT_LIMIT:
        text = (
            text[:TEXT_LIMIT] + f" [... {len(text) - TEXT_LIMIT} more characters in the item's record.json]"
        )
    return "".join(ch if ch.isprintable() or ch == "\n" else f"\\u{ord(ch):04x}" for ch in text)


def _needs_shaping(text: str) -> bool:
    """Scripts that join or reorder (Hebrew, Arabic, Indic, Myanmar ...) need HarfBuzz; Latin and
    Cyrillic do not, and shaping costs ~10x per line, so it is switched on only where needed."""
    return any(ord(ch) >= 0x0590 and not 0x2000 <= ord(ch) <= 0x2BFF for ch in text)


def _needs_fallback(text: str) -> bool:
    """Beyond Noto Sans (Latin, Greek, Cyrillic, punctuation): look glyphs up in the fallback fonts,
    which fpdf2 otherwise does for every character of every line."""
    return any(ord(ch) > 0x052F and not 0x2000 <= ord(ch) <= 0x206F for ch in text)


class _Report(FPDF):
    footer_text = ""
    fallbacks: list[str] = []

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("NotoSans", "", 7)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"{self.footer_text} · page {self.page_no()}/{PAGES_ALIAS}", align="C")
        self.set_text_color(0, 0, 0)


def _document(data: ReportData) -> _Report:
    pdf = _Report(format="A4")
    pdf.footer_text = f"Report {data.report_id} · generated {data.generated_at} UTC"
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_font("NotoSans", "", str(FONT_DIR / "NotoSans-Regular.ttf"))
    pdf.add_font("NotoSans", "B", str(FONT_DIR / "NotoSans-Bold.ttf"))
    pdf.add_font("Mono", "", str(MONO_FONT))
    names = []
    for family, regular, bold in FALLBACKS:
        if (FONT_DIR / regular).is_file():
            pdf.add_font(family, "", str(FONT_DIR / regular))
            pdf.add_font(family, "B", str(FONT_DIR / (bold if (FONT_DIR / bold).is_file() else regular)))
            names.append(family)
    pdf.fallbacks = names
    pdf.set_title(_clean(data.title))
    pdf.set_creator("wb (investigation verification workbench)")
    pdf.alias_nb_pages(PAGES_ALIAS)
    return pdf


class _Writer:
    """Small layout helpers over one document."""

    def __init__(self, pdf: _Report) -> None:
        self.pdf = pdf

    def _lines(self, text: str, height: float) -> None:
        """One paragraph. A short Latin/Cyrillic line takes the fast path (``cell``: 5-15x quicker
        than ``multi_cell``); other scripts get fallback fonts and, where needed, shaping."""
        pdf = self.pdf
        if not _needs_fallback(text):
            if "\n" not in text and pdf.get_string_width(text) <= pdf.epw:
                pdf.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")
            return
        shaped = _needs_shaping(text)
        pdf.set_fallback_fonts(pdf.fallbacks)
        if shaped:
            pdf.set_text_shaping(True, direction="ltr")
        pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")
        if shaped:
            pdf.set_text_shaping(False)
        pdf.set_fallback_fonts([])

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("NotoSans", "B", size)
        self._lines(_clean(text), LINE + 2)
        self.pdf.set_font("NotoSans", "", 9)

    def text(self, text: Any, bold: bool = False, size: int = 9) -> None:
        self.pdf.set_font("NotoSans", "B" if bold else "", size)
        self._lines(_clean(text), LINE)
        self.pdf.set_font("NotoSans", "", 9)

    def field(self, label: str, value: Any) -> None:
        self.text(f"{label}: {_clean(value) if value not in (None, '') else '-'}")

    def hash(self, label: str, sha: str | None) -> None:
        """A label line, then the full SHA-256 on its own line in a monospace font (never wrapped)."""
        self.pdf.set_font("NotoSans", "", 8)
        self._lines(_clean(label), LINE - 1)
        self.pdf.set_font("Mono", "", 7.5)
        self.pdf.cell(0, LINE - 1, sha or "-", new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("NotoSans", "", 9)

    def image(self, thumb: Thumbnail) -> None:
        pdf = self.pdf
        if pdf.get_y() > pdf.h - 80:
            pdf.add_page()
        y = pdf.get_y()
        info = pdf.image(io.BytesIO(thumb.png), x=pdf.l_margin, y=y, h=45)
        pdf.set_y(y + float(info.rendered_height) + 1)
        if thumb.label:
            pdf.set_text_color(160, 0, 0)
            self.text(thumb.label, bold=True, size=8)
            pdf.set_text_color(0, 0, 0)


def _strand_lines(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        lines = []
        for key, inner in value.items():
            if isinstance(inner, Mapping | list):
                import json

                inner = json.dumps(inner, ensure_ascii=False, sort_keys=True)
            lines.append(f"{key}: {inner}")
        return lines or ["(empty)"]
    return [str(value)] if value else ["(empty)"]


def _summary(w: _Writer, data: ReportData) -> None:
    w.heading(data.title, 16)
    for key, value in data.scope.items():
        w.field(key, value)
    w.field("Items in this report", len(data.records))
    if data.withheld:
        w.heading("Withheld from this export", 11)
        for item in data.withheld:
            w.text(f"{item.item_id}: {item.reason}: {item.detail}")
    w.heading("Confidence scale", 11)
    for level, meaning in data.confidence_scale.items():
        w.text(f"{level} = {meaning}")
    w.text(
        "Statuses and confidence are given by people. Automated indicators come from software; "
        "they support a reviewer's judgement and never set a status."
    )


def _files(w: _Writer, record: ItemRecord) -> None:
    w.heading("Files and hashes (SHA-256)", 11)
    for _ in range(int(record.withheld_content or 0)):
        w.text("restricted content withheld (inside these files; not shown to the maker of this report)")
    w.hash("original", record.item["sha256"])
    for art in record.artifacts:
        if art["sha256"] == record.item["sha256"]:
            continue
        w.hash(f"{art['role']} · {art['mime']} · {art['size']} bytes", art["sha256"])
    for art in record.derived:
        if art["sha256"] not in {a["sha256"] for a in record.artifacts}:
            w.hash(
                f"derived ({art.get('operation')}) from {str(art.get('parent_sha256'))[:12]}…", art["sha256"]
            )


def _captures(w: _Writer, record: ItemRecord) -> None:
    if not record.sightings and not record.captures:
        return
    w.heading("Where and when it was seen", 11)
    for s in record.sightings:
        where = s.get("url") or s.get("original_name") or "-"
        w.text(f"{s['seen_at']} · {s['source']} · {where}")
        if s.get("account") or s.get("posted_at"):
            w.text(f"account {s.get('account') or '-'} · posted {s.get('posted_at') or '-'}")
    for c in record.captures:
        w.text(f"Capture {c['id']}: {c['status']}", bold=True)
        w.field("requested URL", c["requested_url"])
        w.field("final URL", c.get("final_url"))
        w.field("started / ended (UTC)", f"{c['started_at']} / {c.get('ended_at') or '-'}")
        rec = c.get("record") or {}
        for key in (
            "collector",
            "user_agent",
            "tool_version",
            "browser_version",
            "server_ip",
            "transformations",
        ):
            if rec.get(key):
                w.field(key.replace("_", " "), rec[key])


def _judgements(w: _Writer, record: ItemRecord, scale: Mapping[str, str]) -> None:
    w.heading("Verification", 11)
    item = record.item
    w.field("Status", item["status"])
    reviews = record.judgements
    hidden = int(record.hidden_reviews or 0)
    if hidden:
        # Blind review (VER-04): the person who made this report has not submitted their own review.
        w.text(f"{hidden} review(s) by others hidden until the maker of this report submits their own.")
    elif not reviews:
        w.text("No judgement has been recorded.")
    statuses = {j["status"] for j in reviews if j["kind"] == "review"}
    if item["status"] == "disputed" or len(statuses) > 1:
        w.text(
            f"DISPUTE: reviewers reached different conclusions ({', '.join(sorted(statuses))}).", bold=True
        )
    for j in reviews:
        level = str(j["confidence"])
        w.text(f"{j['kind'].capitalize()} by {j['reviewer']} on {j['created_at']}", bold=True)
        w.field("status", j["status"])
        w.field("confidence", f"{level} ({scale.get(level, 'undefined level')})")
        w.field("rationale", j["rationale"])
        strands = j.get("strands") or {}
        for name in ("source_analysis", "technical_analysis", "content_analysis"):
            w.text(name.replace("_", " ").capitalize() + ":", size=8)
            for line in _strand_lines(strands.get(name)):
                w.text("    " + line, size=8)


def _indicators(w: _Writer, record: ItemRecord) -> None:
    if not record.flags:
        return
    w.heading("Automated indicators", 11)
    for f in record.flags:
        score = "-" if f.get("score") is None else f"{f['score']:.3f}"
        threshold = "-" if f.get("threshold") is None else f"{f['threshold']:.3f}"
        w.text(f"Automated indicator: {f['detector']} {f['version']} · {f['label']}", bold=True)
        w.text(f"score {score} (threshold {threshold}) on {f['input_sha256']}", size=8)
        if f.get("model_sha256"):
            w.text(f"model weights SHA-256 {f['model_sha256']}", size=8)
        if line := _calibration_line(f.get("details")):
            w.text(line, size=8)
        w.text(f["explanation"])
        if f.get("reason"):
            w.field("reason", f["reason"])


def _calibration_line(details: Any) -> str:
    """Which calibration set the flag's label: a reviewer must be able to say how often it is wrong."""
    cal = details.get("calibration") if isinstance(details, Mapping) else None
    if not isinstance(cal, Mapping):
        return ""
    rate = cal.get("achieved_rate", cal.get("rate"))
    shown = f"; false-positive rate at most {float(rate):.1%}" if isinstance(rate, int | float) else ""
    return (
        f"calibration: {cal.get('kind')} {cal.get('id')} ({cal.get('name')}, n={cal.get('n')}); "
        f"percentile {cal.get('percentile')}; indicator above {cal.get('threshold')}{shown}"
    )


def _notes(w: _Writer, record: ItemRecord) -> None:
    captions = [s["details"]["caption"] for s in record.sightings if (s.get("details") or {}).get("caption")]
    for c in record.captures:
        post = (c.get("record") or {}).get("post") or {}
        if post.get("caption") or post.get("text"):
            captions.append(post.get("caption") or post.get("text"))
    if not captions and not record.notes:
        return
    w.heading("Text, descriptions, translations and method", 11)
    for caption in captions:
        w.text("Caption (verbatim):", bold=True)
        w.text(caption)
    for note in record.notes:
        raw = note.get("body")
        body: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {"text": raw}
        label = note["kind"].replace("_", " ")
        if note["kind"] == "translation":
            label += f" ({body.get('translator_type', 'type not recorded')}"
            label += f", {body.get('engine') or body.get('translator') or note['author']})"
        w.text(f"{label.capitalize()} by {note['author']} on {note['created_at']}:", bold=True)
        for key, value in body.items():
            w.text(value if key == "text" else f"{key}: {value}")


def _translations(w: _Writer, record: ItemRecord) -> None:
    """Each translation right under the original it translates (LNG-03), labelled human or MACHINE."""
    found = record.translations
    if not found:
        return
    w.heading("Translations (the original verbatim, then the translation)", 11)
    for t in found:
        source = f" ({t['source_lang']})" if t.get("source_lang") else ""
        w.text(f"Original{source}, {str(t['source_ref']).split(':')[0]}:", bold=True, size=8)
        w.text(t["source_text"])
        kind = (
            "MACHINE translation by the tool" if t["translator_type"] == "machine" else "Human translation by"
        )
        w.text(f"Translation into {t['target_lang']} · {kind} {t['translator']} · recorded by "
               f"{t['recorded_by']} on {t['created_at']}:", bold=True, size=8)  # fmt: skip
        w.text(t["text"])
        if t.get("notes"):
            w.field("translator's notes", t["notes"])


def _consents(w: _Writer, record: ItemRecord) -> None:
    tags = [t["tag"] for t in record.tags]
    w.heading("Classification, content warnings and consent", 11)
    w.field("Classification", record.item["classification"])
    w.field("Tags", ", ".join(tags))
    for c in record.consents:
        state = f"withdrawn {c['withdrawn_on']}" if c.get("withdrawn_on") else "in force"
        w.text(f"Consent of {c['subject']} given {c['given_on'][:10]}: {', '.join(c['scopes'])} ({state})")
        hidden = [k.removeprefix("hide_") for k, v in (c.get("identity_options") or {}).items() if v]
        if hidden:
            w.text(f"identity options: hide {', '.join(hidden)}")


def _timeline(w: _Writer, item_id: str, events: Sequence[Mapping[str, Any]]) -> None:
    w.heading("Custody timeline", 11)
    mine = [e for e in events if e.get("item_id") == item_id]
    if not mine:
        w.text("No custody events.")
    for e in mine:
        w.text(f"#{e['seq']} {e['at']} · {e['action']} · {e['actor']} ({e['via']})", size=8)
        if e.get("artifact_sha256"):
            w.hash("    file", e["artifact_sha256"])
        w.hash("    event hash", e["event_hash"])


def _integrity(w: _Writer, record: ItemRecord) -> None:
    """The banner of an item a fixity run found damaged (PRE-02)."""
    failed = record.integrity_failed or []
    if not failed:
        return
    w.heading("INTEGRITY FAILED", 12)
    for f in failed:
        found = f" (now hashes to {f['found_sha256']})" if f.get("found_sha256") else ""
        w.text(
            f"{f['state']}: {f['sha256']}{found}; fixity run {f['run_id']} at {f['checked_at']}", bold=True
        )


def _item(w: _Writer, data: ReportData, record: ItemRecord) -> None:
    item = record.item
    w.pdf.add_page()
    w.heading(f"Item {item['id']}", 14)
    w.text(item.get("title") or "(untitled)", bold=True)
    w.field("Type", item["kind"])
    w.field("Archived", item["created_at"])
    _integrity(w, record)
    thumb = data.thumbnails.get(item["id"])
    if thumb is not None:
        w.image(thumb)
    _files(w, record)
    _captures(w, record)
    _judgements(w, record, data.confidence_scale)
    _indicators(w, record)
    _notes(w, record)
    _translations(w, record)
    _consents(w, record)
    _timeline(w, item["id"], data.events)


def render_report(data: ReportData) -> bytes:
    """The report as PDF bytes: a summary page, then one section per item."""
    pdf = _document(data)
    w = _Writer(pdf)
    pdf.add_page()
    _summary(w, data)
    for record in data.records:
        _item(w, data, record)
    return bytes(pdf.output())
