"""What leaves the home, for legal staff: `wb export`, `verify-package`, `report`, `redact` and the
transfer register (`transfers`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archive.export.verify import verify_package
from workbench.cli.tools import Output, Registrar, UsageError, acting, open_home
from workbench.services.export.packages import (
    PROFILES,
    RECIPIENT_TYPES,
    ExportRequest,
    export_package,
    list_transfers,
)

__all__ = ["register"]


def cmd_export(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        req = ExportRequest(
            case_slug=args.case,
            profile=args.profile,
            recipient=args.recipient,
            recipient_type=args.recipient_type,
            purpose=args.purpose,
            out=Path(args.out),
            by=acting(home),
            item_ids=tuple(args.items or ()),
        )
        result = export_package(home, req)
    for w in result.withheld:
        out.record(
            w.as_json(),
            f"withheld {w.item_id}: {w.reason}: {w.detail}",
        )
    for entry in result.included:
        out.record(
            {"item_id": entry["item_id"], "status": "exported", "sha256": entry["sha256"]},
            f"exported {entry['item_id']} {entry['sha256']}",
        )
    if result.transfer_id is None:
        out.error("wb: nothing may leave in this export: every item was withheld (see the reasons above)")
        return 1
    out.record(
        {
            "transfer_id": result.transfer_id,
            "out": str(result.out),
            "manifest_sha256": result.manifest_sha256,
            "report_sha256": result.report_sha256,
            "included": len(result.included),
            "withheld": len(result.withheld),
        },
        f"package {result.out}: transfer {result.transfer_id}, {len(result.included)} exported, "
        f"{len(result.withheld)} withheld, manifest SHA-256 {result.manifest_sha256}",
    )
    return 0


def cmd_verify_package(args: argparse.Namespace, out: Output) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    report = verify_package(folder, expected_key_id=args.key_id)
    for p in report.problems:
        out.record(p.as_json(), p.line())
    for size, at in report.timestamps:
        out.record(
            {"timestamp": {"tree_size": size, "tsa_time": at}},
            f"trusted timestamp: custody events 1..{size} existed by {at} (RFC 3161 token verified)",
        )
    summary = {
        "files": report.files,
        "events": report.events,
        "items": report.items,
        "timestamps": len(report.timestamps),
        "problems": len(report.problems),
    }
    verdict = "intact" if report.intact else "NOT INTACT"
    out.record(
        {"summary": summary},
        f"{verdict}: {report.files} files re-hashed, {report.events} custody "
        f"events and their proofs checked, {report.items} items, {len(report.problems)} problems",
    )
    return 0 if report.intact else 1


def cmd_report(args: argparse.Namespace, out: Output) -> int:
    from workbench.services.export import reports  # fpdf and fonts: loaded only when a report is asked for

    if bool(args.item_id) == bool(args.case):
        raise UsageError("give either ITEM_ID or --case SLUG")
    with open_home(args) as home:
        report_id, sha = reports.write_report(
            home, acting(home), Path(args.out), item_id=args.item_id, case_slug=args.case
        )
    out.record(
        {"report_id": report_id, "out": args.out, "sha256": sha},
        f"report {report_id} written to {args.out} (SHA-256 {sha}, recorded in the custody log)",
    )
    return 0


def cmd_redact(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import redact  # OpenCV, numpy and exiftool: loaded only when asked for

    if not args.faces and not args.box:
        raise UsageError("say what to redact: --faces, --box x,y,w,h, or both")
    with open_home(args) as home:
        boxes = [redact.parse_box(b) for b in args.box or []]
        result = redact.redact_item(home, acting(home), args.item_id, faces=args.faces, boxes=boxes)
    out.record(
        {
            "item_id": result.item_id,
            "parent_sha256": result.parent_sha256,
            "sha256": result.sha256,
            "boxes": [list(b) for b in result.boxes],
            "faces_found": result.faces_found,
        },
        f"redacted copy {result.sha256} of {result.parent_sha256} ({len(result.boxes)} boxes, "
        f"{result.faces_found} faces found); the original is unchanged",
    )
    return 0


def _register_note(intact: bool | None) -> str:
    if intact is None:
        return " (no register hash in the log)"
    return "" if intact else " REGISTER ROW CHANGED SINCE IT WAS LOGGED"


def cmd_transfers(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        rows = list_transfers(home, acting(home), args.case)
    changed = [t.id for t in rows if t.register_intact is False]
    for t in rows:
        sent = t.sent
        out.record(
            t.as_json(),
            f"{t.at} {t.id} case {t.slug} profile {t.profile} to {t.recipient_type} "
            f"{t.recipient!r} for {t.purpose!r} by {t.authorised_by}: {len(sent)} items "
            f"({', '.join(i['item_id'] + ' ' + i['sha256'] for i in sent)}), {len(t.withheld)} withheld, "
            + (f"{t.items_restricted} restricted items not shown, " if t.items_restricted else "")
            + f"manifest {t.manifest_sha256 or '-'}"
            + _register_note(t.register_intact),
        )
    for transfer_id in changed:
        out.error(f"wb: transfer {transfer_id}: the register row no longer matches its custody events")
    return 1 if changed else 0


def register(r: Registrar) -> None:
    """Add export, verify-package and the other legal-staff subcommands."""
    p = r.add("export", cmd_export, "write an evidence package (BagIt) for a recipient")
    p.add_argument("--case", required=True)
    p.add_argument("--items", nargs="+", metavar="ID", help="only these items (default: the whole case)")
    p.add_argument("--profile", required=True, choices=list(PROFILES))
    p.add_argument(
        "--recipient", required=True, help="who receives the package (kept in the transfer register)"
    )
    p.add_argument("--recipient-type", required=True, choices=list(RECIPIENT_TYPES))
    p.add_argument("--purpose", required=True, help="why it is shared (kept in the transfer register)")
    p.add_argument("--out", required=True, help="folder to write; must not exist or be empty")
    p = r.add("verify-package", cmd_verify_package, "check an evidence package alone, with no database")
    p.add_argument("dir")
    p.add_argument("--key-id", help="the installation key id you expect (SHA-256 of the public key)")
    p = r.add("report", cmd_report, "a PDF report of an item or a case (its hash enters the custody log)")
    p.add_argument("item_id", nargs="?")
    p.add_argument("--case")
    p.add_argument("--out", required=True, help="the PDF file to write (must not exist)")
    p = r.add("redact", cmd_redact, "make a redacted copy of a picture (faces and boxes filled, no metadata)")
    p.add_argument("item_id")
    p.add_argument("--faces", action="store_true", help="find faces with OpenCV's detector")
    p.add_argument("--box", action="append", metavar="X,Y,W,H", help="a box to fill, in pixels (repeat)")
    p = r.add("transfers", cmd_transfers, "the transfer register: every export with recipient and hashes")
    p.add_argument("--case")
