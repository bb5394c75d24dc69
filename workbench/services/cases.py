"""Cases as an account sees them: creating one (admins) and listing the ones it may open."""

from __future__ import annotations

from archive import cases as store
from archive.home import Home
from archive.model import Case
from workbench.services import auth
from workbench.services.auth import Account

__all__ = ["create_case", "visible_cases"]


def create_case(home: Home, by: Account, slug: str, purpose: str, reviews: int, via: str = "cli") -> Case:
    """A new case (admins) with the default review date; raises ``archive.cases.CaseError`` for a bad
    slug or missing purpose. ``workbench.services.retention.create_case`` takes a category and a date."""
    from workbench.services import retention

    return retention.create_case(home, by, slug, purpose, reviews, via=via)


def visible_cases(home: Home, by: Account) -> list[Case]:
    """The cases this account may open (admins: all)."""
    with home.reading() as conn:
        ids = set(auth.case_ids_for(conn, by))
        return [c for c in store.list_cases(conn) if c.id in ids]
