"""Fixity and custody checks run by an account (``wb verify``).

The report names only hashes, event ids and positions, never content, so any active account may check
the whole home; checking one case needs membership of it.
"""

from __future__ import annotations

from archive.home import Home
from archive.verify import Report, verify
from workbench.services.auth import Account, Perm, check_case, refuse

__all__ = ["verify_archive"]


def verify_archive(home: Home, by: Account, case_id: int | None = None, via: str = "cli") -> Report:
    """Re-hash every file (of the case, when given) and walk the custody chain and its signatures."""
    if case_id is not None:
        check_case(home, by, Perm.READ, case_id, via)
    elif not by.active:
        raise refuse(home, by, Perm.READ, via)
    return verify(home, case_id)
