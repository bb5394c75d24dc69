"""`wb delete`: erasure of an item, leaving a tombstone (needs a second account's approval)."""

from __future__ import annotations

import argparse

from archive.deletion import DeletionError, delete_item
from workbench.clitools import Output, Registrar, UsageError, acting, open_home

__all__ = ["register"]


def cmd_delete(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        try:
            removed = delete_item(home, args.item_id, args.reason, by.name, args.approved_by)
        except DeletionError as exc:
            raise UsageError(str(exc)) from None
    out.record(
        {"item_id": args.item_id, "status": "deleted", "blobs_removed": removed},
        f"item {args.item_id} deleted; {len(removed)} file(s) removed; tombstone kept",
    )
    return 0


def register(r: Registrar) -> None:
    """Add `wb delete`."""
    p = r.add("delete", cmd_delete, "erase an item, leaving a tombstone (needs a second person's approval)")
    p.add_argument("item_id")
    p.add_argument("--reason", required=True)
    p.add_argument("--approved-by", required=True)
