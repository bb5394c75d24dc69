"""PDF reports per item or per case (EXP-02): thumbnails made safe, the report rendered, its hash logged.

Pictures are decoded only through ``detectors.imageio.open_image`` (dimension guard first). Items
tagged with a content warning (graphic violence, sexual violence, dead bodies ...) or classified
survivor-identifying appear as pixelated and blurred thumbnails with the warning as a label (SEN-05);
full resolution exists only inside the evidence package.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import ImageFilter
from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import items, utc_text, utcnow
from archive.errors import InvalidRequest
from archive.export import gather
from archive.export.gather import jsonable
from archive.export.report import ReportData, Thumbnail, render_report
from archive.home import Home
from archive.model import ItemRecord, Withheld
from detectors.imageio import ImageRefused, open_image
from workbench.services import access, review, timeline, translations
from workbench.services.access import CONTENT_WARNINGS
from workbench.services.auth import Account, Perm, check_case
from workbench.services.review import confidence_scale
from workbench.services.viewing import grant_media

__all__ = ["ReportError", "make_report", "report_pdf", "thumbnails", "write_report"]

THUMB_SIDE = 320
THUMB_MAX_BYTES = 256 << 20


class ReportError(InvalidRequest):
    """The report cannot be made as asked."""


def _sensitive(record: ItemRecord) -> list[str]:
    warnings = [t["tag"] for t in record.tags if t["tag"] in CONTENT_WARNINGS]
    if record.item["classification"] == "survivor_identifying":
        warnings.append("survivor-identifying")
    return warnings


def _thumbnail(home: Home, record: ItemRecord) -> Thumbnail | None:
    if record.item["kind"] != "image":
        return None
    # A partner or public package shows its shared (redacted or stripped) copy, never the original.
    with home.blobs.open((record.shared_copy or {}).get("sha256") or record.sha256) as stream:
        data = stream.read(THUMB_MAX_BYTES + 1)
    if len(data) > THUMB_MAX_BYTES:
        return None
    try:
        img = open_image(data, draft=("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2)))
    except ImageRefused:
        return None
    img = img.convert("RGB")
    img.thumbnail((THUMB_SIDE, THUMB_SIDE))
    warnings = _sensitive(record)
    label = None
    if warnings:
        # Pixelate then blur: nothing recognisable survives at report size, and it cannot be undone.
        small = img.resize((max(1, img.width // 24), max(1, img.height // 24)))
        img = small.resize(img.size).filter(ImageFilter.GaussianBlur(6))
        label = (
            f"CONTENT WARNING ({', '.join(warnings)}): blurred thumbnail. "
            "The unmodified original is only in the evidence package."
        )
    out = io.BytesIO()
    img.save(out, "PNG")
    return Thumbnail(out.getvalue(), label)


def thumbnails(home: Home, records: Sequence[ItemRecord]) -> dict[str, Thumbnail]:
    found = {}
    for record in records:
        thumb = _thumbnail(home, record)
        if thumb is not None:
            found[record.id] = thumb
    return found


def make_report(
    home: Home,
    title: str,
    scope: Mapping[str, str],
    records: Sequence[ItemRecord],
    events: Sequence[Mapping[str, Any]],
    withheld: Sequence[Withheld] = (),
) -> tuple[str, bytes]:
    """Render a report; returns its id and the PDF bytes."""
    report_id = uuid.uuid4().hex
    data = ReportData(
        report_id=report_id,
        generated_at=utc_text(utcnow()),
        title=title,
        scope=scope,
        records=records,
        events=events,
        confidence_scale=confidence_scale(),
        thumbnails=thumbnails(home, records),
        withheld=withheld,
    )
    return report_id, render_report(data)


def _report_records(
    home: Home, account: Account, item_id: str | None, case_slug: str | None, via: str
) -> tuple[int, list[ItemRecord]]:
    """The records the account may see: one item, or the case's items visible to it (the others are
    not named, counted or hinted at). A hidden item or a case it is not a member of is a logged refusal."""
    from archive.cases import CaseError, get_case

    if item_id is not None:
        row = access.authorise(home, account, item_id, Perm.READ, via)
        case_id, ids = row.case_id, [row.id]
    else:
        with home.reading() as conn:
            try:
                case = get_case(conn, str(case_slug))
            except CaseError as exc:
                raise ReportError(str(exc)) from None
        check_case(home, account, Perm.READ, case.id, via)
        with home.reading() as conn:
            q = select(items.c.id).where(
                items.c.case_id == case.id, access.visible_clause(account, member_checked=True)
            )
            case_id, ids = case.id, [str(r.id) for r in conn.execute(q.order_by(items.c.id))]
    with home.reading() as conn:
        return case_id, [_as_seen_by(conn, account, gather.gather_item(conn, i)) for i in ids]


def _as_seen_by(conn: Connection, account: Account, record: ItemRecord) -> ItemRecord:
    """A record without what blind review hides from the account (other reviewers' reviews, and their
    notes and method steps) and with hidden media withheld from its capture records."""
    item_id = record.id
    hidden = review.hidden_reviewers(conn, account, item_id)
    kept = [j for j in record.judgements if j["reviewer"] not in hidden]
    seen = replace(
        record,
        hidden_reviews=len(record.judgements) - len(kept),
        judgements=kept,
        notes=[n for n in record.notes if n["author"] not in hidden],
        # A hidden reviewer's free tag is a conclusion too (access._blind_tag); warnings always show.
        tags=[t for t in record.tags if t["added_by"] not in hidden or t["tag"] in CONTENT_WARNINGS],
        translations=[
            jsonable(t.as_row()) for t in translations.visible_translations(conn, account, item_id)
        ],
        withheld_content=len(access.withheld_members(conn, account, item_id)),
    )
    if not access.hidden_around(conn, account, item_id):
        return seen
    scrubbed = dict(access.capture_records(conn, account, item_id))
    columns = [{k: v for k, v in c.items() if k != "record"} for c in record.captures]
    return replace(
        seen,
        captures=[
            {
                **access.withhold_hidden_media(conn, account, item_id, c),
                "record": scrubbed.get(str(c["id"]), {}),
            }
            for c in columns
        ],
        sightings=access.withhold_hidden_media(conn, account, item_id, record.sightings),
        item=access.withhold_hidden_media(conn, account, item_id, record.item),
    )


def write_report(
    home: Home,
    account: Account,
    out: Path,
    *,
    item_id: str | None = None,
    case_slug: str | None = None,
    via: str = "cli",
) -> tuple[str, str]:
    """Write the report of an item or a case, as the account may see it, to a new file ``out`` and log
    its SHA-256; (id, sha). Any role that reads may make one (it shows what that role sees).

    Never inside the home folder: erasure would not reach it, and in an encrypted home it would be a
    plain copy of evidence in every copy of the home."""
    if out.resolve().is_relative_to(home.root.resolve()):
        raise ReportError(f"{out} is inside the archive home: write the report outside it")
    if out.exists():
        raise ReportError(f"{out} exists: choose another file name")
    report_id, sha, pdf = report_pdf(home, account, item_id=item_id, case_slug=case_slug, via=via)
    try:
        with open(out, "xb") as f:
            f.write(pdf)
    except FileExistsError:
        raise ReportError(f"{out} exists: choose another file name") from None
    return report_id, sha


def report_pdf(
    home: Home,
    account: Account,
    *,
    item_id: str | None = None,
    case_slug: str | None = None,
    via: str = "app",
) -> tuple[str, str, bytes]:
    """The report of an item or a case as the account may see it, its SHA-256 logged
    (``report.generated``); (id, sha, PDF bytes). The app hands the bytes to the browser; nothing
    is written to the server's disk."""
    case_id, records = _report_records(home, account, item_id, case_slug, via)
    ids = [r.id for r in records]
    with home.reading() as conn:
        cp = gather.latest_checkpoint(conn)
        upto = int(cp["tree_size"]) if cp else 0
        events = [
            e
            for i in ids
            for e in timeline.blind_filter(conn, account, i, gather.item_events(conn, [i], upto))
        ]
    events.sort(key=lambda e: int(e["seq"]))
    title = f"Item report {item_id}" if item_id else f"Case report: {case_slug}"
    scope = {"Case": str(case_slug or case_id), "Prepared by": account.name, "Use": "internal"}
    report_id, pdf = make_report(home, title, scope, records, events)
    sha = hashlib.sha256(pdf).hexdigest()
    with home.transaction(account.name, via) as tx:
        for i in ids if item_id else []:
            tx.event(
                "report.generated",
                case_id=case_id,
                item_id=i,
                artifact_sha256=sha,
                details={"report_id": report_id},
            )
        if not item_id:
            tx.event(
                "report.generated", case_id=case_id, artifact_sha256=sha, details={"report_id": report_id}
            )
    # The app hands the PDF over Streamlit's /media route: to this account only (its report.generated
    # event is the log entry).
    return report_id, sha, grant_media(account, pdf, None, None, sharp=False)
