"""`wb consent add|withdraw|list`: consent records of the people in an item (CON-02). Only roles that
may record consent do (the service checks); an item with no record leaves the home only where consent
is not needed."""

from __future__ import annotations

import argparse

from workbench.cli.tools import Output, Registrar, acting, open_home
from workbench.services import consent

__all__ = ["register"]


def cmd_consent_add(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        cid = consent.add_consent(
            home,
            acting(home),
            args.item_id,
            args.subject,
            args.scope or [],
            given_on=args.given_on,
            hide=args.hide or [],
        )
    out.record(
        {"consent_id": cid, "item_id": args.item_id, "scopes": sorted(set(args.scope or []))},
        f"consent {cid} recorded on {args.item_id}: {', '.join(args.scope or []) or 'no scope'}",
    )
    return 0


def cmd_consent_withdraw(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        ids = consent.withdraw_consent(home, acting(home), args.item_id, args.subject, on=args.on)
    out.record(
        {"item_id": args.item_id, "withdrawn": ids},
        f"consent withdrawn on {args.item_id}: every export of it is now blocked",
    )
    return 0


def cmd_consent_list(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        records = consent.list_consents(home, acting(home), args.item_id)
    for rec in records:
        out.record(
            rec.as_json(),
            f"{rec.id} {rec.subject} given {rec.given_on[:10]} scopes "
            f"{', '.join(rec.scopes)} withdrawn {(rec.withdrawn_on or '-')[:10]}",
        )
    out.record(
        {"item_id": args.item_id, "state": consent.consent_state(records)}, consent.consent_state(records)
    )
    return 0


def register(r: Registrar) -> None:
    """Add `wb consent add|withdraw|list`."""
    group = r.group("consent", "consent records of the people in an item (scopes, withdrawal)")
    p = r.add("add", cmd_consent_add, "record a consent", group)
    p.add_argument("item_id")
    p.add_argument("--subject", required=True, help="a pseudonym such as P-001, never a name")
    p.add_argument("--scope", action="append", choices=list(consent.SCOPES), help="a recipient type (repeat)")
    p.add_argument("--hide", action="append", choices=list(consent.IDENTITY_OPTIONS), help="identity option")
    p.add_argument("--given-on", help="YYYY-MM-DD (default: today)")
    p = r.add("withdraw", cmd_consent_withdraw, "record a withdrawal: blocks every export of the item", group)
    p.add_argument("item_id")
    p.add_argument("--subject", required=True)
    p.add_argument("--on", help="YYYY-MM-DD (default: today)")
    p = r.add("list", cmd_consent_list, "the consent records of an item", group)
    p.add_argument("item_id")
