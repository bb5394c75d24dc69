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
from pathlib import Path
from typing import Any

from PIL import ImageFilter
from sqlalchemy import select

from archive.db import items, utc_text, utcnow
from archive.export import gather
from archive.export.report import ReportData, Thumbnail, render_report
from archive.home import Home
from detectors.imageio import ImageRefused, open_image
from workbench.access import CONTENT_WARNINGS
from workbench.export import confidence_scale

__all__ = ["ReportError", "make_report", "thumbnails", "write_report"]

THUMB_SIDE = 320
THUMB_MAX_BYTES = 256 << 20


class ReportError(Exception):
    """The report cannot be made as asked."""


def _sensitive(record: Mapping[str, Any]) -> list[str]:
    warnings = [t["tag"] for t in record["tags"] if t["tag"] in CONTENT_WARNINGS]
    if record["item"]["classification"] == "survivor_identifying":
        warnings.append("survivor-identifying")
    return warnings


def _thumbnail(home: Home, record: Mapping[str, Any]) -> Thumbnail | None:
    item = record["item"]
    if item["kind"] != "image":
        return None
    # A partner or public package shows its shared (redacted or stripped) copy, never the original.
    with home.blobs.open((record.get("shared_copy") or {}).get("sha256") or item["sha256"]) as stream:
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


def thumbnails(home: Home, records: Sequence[Mapping[str, Any]]) -> dict[str, Thumbnail]:
    found = {}
    for record in records:
        thumb = _thumbnail(home, record)
        if thumb is not None:
            found[record["item"]["id"]] = thumb
    return found


def make_report(
    home: Home,
    title: str,
    scope: Mapping[str, str],
    records: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    withheld: Sequence[Mapping[str, Any]] = (),
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


def _records(home: Home, item_id: str | None, case_slug: str | None) -> tuple[int, list[dict[str, Any]]]:
    from archive.cases import CaseError, get_case

    with home.reading() as conn:
        if item_id is not None:
            row = conn.execute(select(items.c.case_id).where(items.c.id == item_id)).first()
            if row is None:
                raise ReportError(f"no item {item_id!r}")
            return int(row.case_id), [gather.gather_item(conn, item_id)]
        try:
            case = get_case(conn, str(case_slug))
        except CaseError as exc:
            raise ReportError(str(exc)) from None
        ids = conn.execute(
            select(items.c.id)
            .where(items.c.case_id == case.id, items.c.deleted_at.is_(None))
            .order_by(items.c.id)
        )
        return case.id, [gather.gather_item(conn, r.id) for r in ids]


def write_report(
    home: Home,
    actor: str,
    out: Path,
    *,
    item_id: str | None = None,
    case_slug: str | None = None,
    via: str = "cli",
) -> tuple[str, str]:
    """Write the report of an item or a case to a new file ``out`` and log its SHA-256; (id, sha)."""
    case_id, records = _records(home, item_id, case_slug)
    ids = [r["item"]["id"] for r in records]
    with home.reading() as conn:
        cp = gather.latest_checkpoint(conn)
        events = gather.item_events(conn, ids, int(cp["tree_size"]) if cp else 0)
    title = f"Item report {item_id}" if item_id else f"Case report: {case_slug}"
    scope = {"Case": str(case_slug or case_id), "Prepared by": actor, "Use": "internal"}
    report_id, pdf = make_report(home, title, scope, records, events)
    sha = hashlib.sha256(pdf).hexdigest()
    try:
        with open(out, "xb") as f:
            f.write(pdf)
    except FileExistsError:
        raise ReportError(f"{out} exists: choose another file name") from None
    with home.transaction(actor, via) as tx:
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
    return report_id, sha
