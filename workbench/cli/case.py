"""`wb case ...` (create, list, review dates and decisions, a case's browser profile and proxy) and
`wb member add`: cases as an account sees them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.tools import (
    Output,
    Registrar,
    UsageError,
    acting,
    find_case,
    open_home,
)
from workbench.services import auth, cases, retention
from workbench.services import retention as retention_service
from workbench.services.capture.profiles import clear_profile, describe_profile, set_profile

if TYPE_CHECKING:
    pass

__all__ = ["register"]


def cmd_case_create(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        review_on = retention_service.parse_date(args.review_on) if args.review_on else None
        case = retention_service.create_case(
            home, acting(home), args.slug, args.purpose or "", args.reviews,
            category=args.category, review_on=review_on,
        )  # fmt: skip
    review = retention_service.case_summary(case).review_on
    out.record(
        {"case": case.slug, "id": case.id, "review_policy": case.review_policy, "review_on": review},
        f"case {case.slug} created (reviews needed: {case.review_policy}; review on {review})",
    )
    return 0


def cmd_case_list(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        for case in cases.visible_cases(home, acting(home)):
            out.record(
                {
                    "case": case.slug,
                    "id": case.id,
                    "purpose": case.purpose,
                    "review_policy": case.review_policy,
                    "review_on": retention_service.case_summary(case).review_on,
                    "category": case.category,
                },
                f"{case.slug}\t{case.purpose}",
            )
    return 0


def cmd_due(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        due = retention.due_cases(home, acting(home))
    for case in due:
        row = retention.case_summary(case)
        out.record(row.as_json(), f"{case.slug}\treview due since {row.review_on} ({row.days_overdue} days)")
    out.record({"summary": {"due": len(due)}}, f"{len(due)} case(s) due for review")
    return 0


def cmd_case_review(args: argparse.Namespace, out: Output) -> int:
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
    out.record(row.as_json(), f"case {case.slug}: review on {row.review_on}")
    return 0


def cmd_review_period(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        periods = retention.set_review_period(home, acting(home), args.category, args.days)
    out.record({"review_periods": periods}, f"review period of {args.category}: {args.days} days")
    return 0


def cmd_case_proxy(args: argparse.Namespace, out: Output) -> int:
    """`wb case set-proxy SLUG [URL | --clear]`: the case's upstream proxy for captures (SEC-03)."""
    from workbench.services.capture.network import clear_case_proxy, describe_case_proxy, set_case_proxy

    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.slug)
        if args.clear:
            clear_case_proxy(home, case, by)
        elif args.url:
            set_case_proxy(home, case, args.url, by)
        found = describe_case_proxy(home, case, by)
    if found is None:
        out.record(
            {"case": case.slug, "proxy": None},
            f"case {case.slug}: no upstream proxy (captures connect directly)",
        )
    else:
        out.record({"case": case.slug, "proxy": found.as_record()}, f"case {case.slug}: {found.profile()}")
    return 0


def cmd_case_profile(args: argparse.Namespace, out: Output) -> int:
    """`wb case profile SLUG [--set FILE | --clear]`: the case's browser profile, described, never shown."""
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.slug)
        if args.set:
            set_profile(home, case, Path(args.set), by)
        elif args.clear:
            clear_profile(home, case, by)
        profile = describe_profile(home, case, by)
    if profile is None:
        out.record({"case": case.slug, "profile": None}, f"case {case.slug}: no browser profile")
        return 0
    facts = profile.as_record()
    out.record(
        {"case": case.slug, "profile": facts},
        f"case {case.slug}: profile {profile.sha256[:16]} for {', '.join(profile.cookie_domains) or '-'}",
    )
    return 0


def cmd_member_add(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        with home.transaction(by.name) as tx:
            auth.add_member(tx, by, case.id, args.user)
        out.record({"case": case.slug, "user": args.user}, f"{args.user} is a member of {case.slug}")
        return 0


def register(r: Registrar) -> None:
    """Add `wb case ...` and `wb member add`."""
    case = r.group("case", "cases")
    p = r.add("create", cmd_case_create, "create a case", case)
    p.add_argument("slug")
    p.add_argument("--purpose", help="why this case collects (required: data minimisation)")
    p.add_argument("--reviews", type=int, default=1, help="independent reviews needed for 'verified'")
    p.add_argument(
        "--review-on", metavar="DATE", help="review date (YYYY-MM-DD; default: the category's period)"
    )
    p.add_argument("--category", help="category, which picks the default review period")
    r.add("list", cmd_case_list, "list cases", case)
    r.add("due", cmd_due, "cases past their review date that you may open", case)
    p = r.add("review", cmd_case_review, "decide at a case's review: keep until a date, or erase", case)
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
    p = r.add("profile", cmd_case_profile, "the case's browser profile for captures", case)
    p.add_argument("slug")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--set", metavar="FILE", help="Playwright storage_state JSON to log captures in with")
    how.add_argument("--clear", action="store_true", help="forget the case's profile")
    p = r.add("set-proxy", cmd_case_proxy, "the case's upstream proxy for captures (admins)", case)
    p.add_argument("slug")
    p.add_argument(
        "url", nargs="?", help="socks5://, socks5h:// (the proxy resolves names) or http://HOST:PORT"
    )
    p.add_argument("--clear", action="store_true", help="captures of the case connect directly again")
    member = r.group("member", "case membership")
    p = r.add("add", cmd_member_add, "make a user a member of a case", member)
    p.add_argument("--case", required=True)
    p.add_argument("user")
