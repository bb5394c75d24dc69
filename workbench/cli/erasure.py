"""`wb delete`: erasure by two accounts, leaving a tombstone (workbench.services.deletion).

wb delete ITEM_ID --reason TEXT    open a deletion request (analyst, legal or admin)
wb delete ITEM_ID --approve        carry it out (a second account, legal or admin, in its own session)
wb delete ITEM_ID --withdraw       end an open request
"""

from __future__ import annotations

import argparse
from typing import Any

from archive.home import Home
from workbench.cli.tools import Output, Registrar, UsageError, acting, open_home
from workbench.services import deletion
from workbench.services.auth import Account

__all__ = ["register"]


def cmd_delete(args: argparse.Namespace, out: Output) -> int:
    if args.approved_by is not None:
        raise UsageError(
            "--approved-by is gone: the approver approves in their own session (wb delete ITEM_ID --approve)"
        )
    if args.pending:
        return _pending(args, out)
    if args.item_id is None:
        raise UsageError("name the item: wb delete ITEM_ID --reason TEXT | --approve | --withdraw")
    if args.reason is None and not args.approve and not args.withdraw:
        raise UsageError("say what to do: --reason TEXT (request), --approve or --withdraw")
    with open_home(args) as home:
        by = acting(home)
        if args.approve:
            return _approve(home, by, args.item_id, out)
        if args.withdraw:
            req = deletion.withdraw_deletion(home, by, args.item_id, via="cli")
            out.record(
                {"item_id": args.item_id, "request_id": req.id, "status": "withdrawn"},
                f"item {args.item_id}: deletion request withdrawn",
            )
            return 0
        req = deletion.request_deletion(home, by, args.item_id, args.reason, via="cli")
    others = list(req.item_ids[1:])
    out.record(
        {"item_id": args.item_id, "request_id": req.id, "status": "requested", "also_erases": others},
        f"item {args.item_id}: deletion requested"
        + (f" (also erases {', '.join(others)}: they share its files)" if others else "")
        + "; a second legal or admin account approves with: wb delete ITEM_ID --approve",
    )
    return 0


def _pending(args: argparse.Namespace, out: Output) -> int:
    if args.item_id is not None:
        raise UsageError("--pending lists every open request: give no item id")
    with open_home(args) as home:
        found = deletion.pending_requests(home, acting(home))
    for req in found:
        out.record(
            {
                "item_id": req.item_id,
                "request_id": req.id,
                "status": req.status,
                "reason": req.reason,
                "requested_by": req.requested_by,
                "also_erases": list(req.item_ids[1:]),
            },  # fmt: skip
            f"item {req.item_id}: deletion requested ({req.reason})"
            + (f"; also erases {', '.join(req.item_ids[1:])}" if len(req.item_ids) > 1 else ""),
        )
    out.record({"summary": {"pending": len(found)}}, f"{len(found)} open deletion request(s)")
    return 0


def _approve(home: Home, by: Account, item_id: str, out: Output) -> int:
    done = deletion.approve_deletion(home, by, item_id, via="cli")
    out.record(
        {
            "item_id": item_id,
            "request_id": done.request_id,
            "status": "deleted",
            "items_deleted": done.item_ids,
            "blobs_removed": done.blobs_removed,
            "blobs_retained": done.retained,
            "wal_truncated": done.wal_truncated,
        },  # fmt: skip
        f"item {item_id} deleted ({len(done.item_ids)} item(s)); {len(done.blobs_removed)} file(s) removed;"
        " tombstone kept" + _retained_text(done.retained),
    )
    if not done.wal_truncated:
        out.error("wb: another process held the database open: its log is cut when that process closes it")
    return 0


def _retained_text(retained: list[dict[str, Any]]) -> str:
    if not retained:
        return ""
    until = max((str(r["retain_until"])[:10] for r in retained if r["retain_until"]), default=None)
    held = any(r["legal_hold"] for r in retained)
    why = " and ".join(
        w for w in (f"retention until {until}" if until else "", "a legal hold" if held else "") if w
    )
    return (
        f"; {len(retained)} file(s) hidden but kept by the object store's lock ({why}): erased when it ends"
    )


def register(r: Registrar) -> None:
    """Add `wb delete`."""
    p = r.add(
        "delete", cmd_delete, "erase an item, leaving a tombstone (requested, then approved by another)"
    )
    p.add_argument("item_id", nargs="?")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--reason", help="open a deletion request with this reason (the legal basis)")
    what.add_argument("--approve", action="store_true", help="carry out the open request (legal or admin)")
    what.add_argument("--withdraw", action="store_true", help="end the open request")
    what.add_argument("--pending", action="store_true", help="list the open requests on items you may see")
    p.add_argument("--approved-by", help=argparse.SUPPRESS)
