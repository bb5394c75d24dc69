"""`wb case due|review|review-date|review-period`: retention and review of cases (workbench.retention).

wb case due                                       cases past their review date that you may open
wb case review SLUG --keep-until DATE             decide at review: keep until a later date
wb case review SLUG --erase --reason TEXT         decide at review: erase (deletion requests opened;
                                                  a second legal or admin account approves each)
wb case review-date SLUG DATE                     move a case's review date (legal or admin members)
wb case review-period CATEGORY DAYS               default period of a category, or "default" (admins)
"""

from __future__ import annotations

import argparse
from typing import Any

from workbench import retention
from workbench.clitools import Output, Registrar, UsageError, acting, open_home

__all__ = ["register"]


def cmd_due(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        due = retention.due_cases(home, acting(home))
    for case in due:
        row = retention.case_summary(case)
        out.record(row, f"{case.slug}\treview due since {row['review_on']} ({row['days_overdue']} days)")
    out.record({"summary": {"due": len(due)}}, f"{len(due)} case(s) due for review")
    return 0


def cmd_review(args: argparse.Namespace, out: Output) -> int:
    if bool(args.keep_until) == bool(args.erase):
        raise UsageError("decide one thing: --keep-until DATE, or --erase --reason TEXT")
    if args.erase and not args.reason:
        raise UsageError("--erase needs --reason TEXT (the legal basis)")
    keep = retention.parse_date(args.keep_until) if args.keep_until else None
    with open_home(args) as home:
        by = acting(home)
        done = retention.decide_review(
            home, by, args.slug, keep_until=keep, erase_reason=args.reason if args.erase else None
        )
    if done.decision == "keep":
        line = f"case {done.case}: kept until {done.keep_until} (decision recorded)"
    else:
        line = (
            f"case {done.case}: erasure decided; {len(done.requests)} deletion request(s) opened, "
            f"{len(done.skipped)} already open; a second legal or admin account approves each: "
            "wb delete ITEM_ID --approve (nothing is erased before)"
        )
    out.record(
        {"case": done.case, "decision": done.decision, "keep_until": done.keep_until,
         "requests": done.requests, "already_requested": done.skipped},
        line,
    )  # fmt: skip
    return 0


def cmd_review_date(args: argparse.Namespace, out: Output) -> int:
    when = retention.parse_date(args.date)
    with open_home(args) as home:
        case = retention.set_review_date(home, acting(home), args.slug, when)
    row = retention.case_summary(case)
    out.record(row, f"case {case.slug}: review on {row['review_on']}")
    return 0


def cmd_review_period(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        periods = retention.set_review_period(home, acting(home), args.category, args.days)
    out.record({"review_periods": periods}, f"review period of {args.category}: {args.days} days")
    return 0


def register(r: Registrar, case: Any) -> None:
    """Add the retention subcommands to the `wb case` group."""
    r.add("due", cmd_due, "cases past their review date that you may open", case)
    p = r.add("review", cmd_review, "decide at a case's review: keep until a date, or erase", case)
    p.add_argument("slug")
    p.add_argument("--keep-until", metavar="DATE", help="keep the case until this date (YYYY-MM-DD)")
    p.add_argument("--erase", action="store_true", help="erase: open deletion requests for its items")
    p.add_argument("--reason", help="with --erase: the legal basis")
    p = r.add("review-date", cmd_review_date, "move a case's review date", case)
    p.add_argument("slug")
    p.add_argument("date", help="YYYY-MM-DD")
    p = r.add("review-period", cmd_review_period, "default review period of a category (admins)", case)
    p.add_argument("category", help='a category, or "default"')
    p.add_argument("days", type=int)
