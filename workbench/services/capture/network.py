"""Where captures may go, and by which route: capture targets an admin allows past the guard (a
home setting), and a case's upstream proxy (SEC-03, a case setting). Both changes are custody events.

- A capture target is a ``HOST:PORT`` the guard would refuse (a local test server, an internal
  service the investigation is about). Only an admin allows or removes one; every capture in the
  home may then reach it, and each capture record lists the allow-list it ran with.
- A run's own targets (``wb capture --allow HOST:PORT``, ``WB_CAPTURE_ALLOW``) pass the guard for that
  run only, and only for an admin (``Perm.MANAGE_CAPTURE``): anyone else is refused (``access.denied``),
  and an admin's run logs ``capture.run_targets`` with each target's SHA-256. Everyone else asks an admin
  for a home target. Jobs take no run targets (the worker's environment is not the queuing account's).
- A case's upstream proxy (a VPN's or Tor's SOCKS port, an HTTP proxy the investigator runs) carries
  every capture of that case, behind the guard (``collectors.upstream``). Only an admin sets or
  clears it (the route a capture takes decides who can watch or alter it, like the case's browser
  profile); the case's members may see which it is.

Custody events carry the setting's SHA-256, never the host itself: the log is never erased.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from archive.db import settings
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Case
from collectors.guard import ENV_ALLOW, GuardError, Policy, parse_allow, split_url
from collectors.upstream import Upstream
from workbench.services.auth import AccessDenied, Account, Perm, check_case, require

if TYPE_CHECKING:  # the browser stack loads only when a capture runs
    from collectors.web import CaptureSettings

__all__ = [
    "allow_target",
    "allowed_targets",
    "check_run_targets",
    "case_proxy",
    "clear_case_proxy",
    "describe_case_proxy",
    "list_targets",
    "remove_target",
    "set_case_proxy",
    "with_network",
    "with_refusal_hint",
]

TARGETS_KEY = "capture_targets"
_PROXY_KEY = "proxy:{}"
MAX_TARGETS = 200
# The guard's reasons for an address it refuses (collectors.guard.address_problem), as it writes them.
_ADDRESS_REFUSAL = re.compile(r"^(?P<host>\S+) -> \S+: .*address")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normal_target(target: str) -> str:
    """One spelling of ``HOST:PORT`` (GuardError when it is not one)."""
    pairs = parse_allow([target])
    if not pairs:
        raise GuardError("give a capture target as HOST:PORT")
    host, port = next(iter(pairs))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_targets(home: Home) -> list[str]:
    """The capture targets an admin allowed in this home, as ``HOST:PORT``."""
    with home.reading() as conn:
        row = conn.execute(select(settings.c.value).where(settings.c.key == TARGETS_KEY)).first()
    found = row.value.get("targets", []) if row is not None and isinstance(row.value, dict) else []
    return [str(t) for t in found]


def list_targets(home: Home, by: Account | None, via: str = "cli") -> list[str]:
    """The home's capture targets, for those who manage them (admins; anyone else a logged refusal):
    they name internal services and test servers nobody else needs to know of."""
    with home.transaction(by.name if by else "nobody", via) as tx:
        require(by, Perm.MANAGE_CAPTURE, tx=tx)
    return allowed_targets(home)


def _save_targets(home: Home, by: Account | None, via: str, action: str, target: str, add: bool) -> list[str]:
    with home.transaction(by.name if by else "nobody", via) as tx:
        require(by, Perm.MANAGE_CAPTURE, tx=tx)
        row = tx.conn.execute(select(settings.c.value).where(settings.c.key == TARGETS_KEY)).first()
        targets = [str(t) for t in (row.value.get("targets", []) if row is not None else [])]
        if add and target not in targets:
            if len(targets) >= MAX_TARGETS:
                raise InvalidRequest(f"at most {MAX_TARGETS} capture targets")
            targets.append(target)
        elif not add:
            if target not in targets:
                raise InvalidRequest(f"{target} is not an allowed capture target")
            targets.remove(target)
        tx.conn.execute(delete(settings).where(settings.c.key == TARGETS_KEY))
        tx.conn.execute(settings.insert().values(key=TARGETS_KEY, value={"targets": targets}))
        tx.event(action, details={"target_sha256": _sha(target), "targets": len(targets)})
    return targets


def allow_target(home: Home, by: Account | None, target: str, via: str = "cli") -> list[str]:
    """Let every capture in this home reach ``HOST:PORT`` past the guard (admins; logged)."""
    return _save_targets(home, by, via, "capture_target.allowed", _normal_target(target), add=True)


def remove_target(home: Home, by: Account | None, target: str, via: str = "cli") -> list[str]:
    """Take ``HOST:PORT`` off the home's capture targets (admins; logged)."""
    return _save_targets(home, by, via, "capture_target.removed", _normal_target(target), add=False)


def set_case_proxy(home: Home, case: Case, url: str, by: Account | None, via: str = "cli") -> Upstream:
    """Make ``url`` (socks5://, socks5h:// or http://HOST:PORT) the case's upstream proxy (admins)."""
    check_case(home, by, Perm.MANAGE_CASES, case.id, via)
    upstream = Upstream.parse(url)
    assert by is not None
    with home.transaction(by.name, via) as tx:
        tx.conn.execute(delete(settings).where(settings.c.key == _PROXY_KEY.format(case.id)))
        tx.conn.execute(settings.insert().values(key=_PROXY_KEY.format(case.id), value={"url": upstream.url}))
        tx.event(
            "case.proxy_set",
            case_id=case.id,
            details={"proxy_sha256": _sha(upstream.url), "scheme": upstream.scheme},
        )
    return upstream


def clear_case_proxy(home: Home, case: Case, by: Account | None, via: str = "cli") -> bool:
    """Captures of the case connect directly again (admins); False when no proxy was set."""
    check_case(home, by, Perm.MANAGE_CASES, case.id, via)
    assert by is not None
    if case_proxy(home, case) is None:
        return False
    with home.transaction(by.name, via) as tx:
        tx.conn.execute(delete(settings).where(settings.c.key == _PROXY_KEY.format(case.id)))
        tx.event("case.proxy_cleared", case_id=case.id)
    return True


def describe_case_proxy(home: Home, case: Case, by: Account | None, via: str = "cli") -> Upstream | None:
    """The case's upstream proxy as its members may see it."""
    check_case(home, by, Perm.READ, case.id, via)
    return case_proxy(home, case)


def case_proxy(home: Home, case: Case) -> Upstream | None:
    """The case's upstream proxy, or None (for the capture service; no account check)."""
    with home.reading() as conn:
        row = conn.execute(
            select(settings.c.value).where(settings.c.key == _PROXY_KEY.format(case.id))
        ).first()
    if row is None or not isinstance(row.value, dict) or not row.value.get("url"):
        return None
    return Upstream.parse(str(row.value["url"]))


def check_run_targets(home: Home, case: Case, by: Account | None, chosen: CaptureSettings, via: str) -> None:
    """Refuse (logged) a run's own capture targets unless ``by`` manages capture; log an admin's.

    Targets the home already allows are no bypass and need nothing."""
    extra = chosen.policy.allow - parse_allow(allowed_targets(home))
    if not extra:
        return
    try:
        _log_run_targets(home, case, by, extra, via)
    except AccessDenied as exc:
        raise AccessDenied(
            f"{exc}: a run's own capture targets (--allow, {ENV_ALLOW}) are for admins; "
            "ask an admin to allow the target (`wb capture-target allow HOST:PORT`)"
        ) from None


def _log_run_targets(
    home: Home, case: Case, by: Account | None, extra: frozenset[tuple[str, int]], via: str
) -> None:
    with home.transaction(by.name if by else "nobody", via) as tx:
        require(by, Perm.MANAGE_CAPTURE, tx=tx, case_id=case.id)
        spelled = sorted(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in extra)
        tx.event(
            "capture.run_targets",
            case_id=case.id,
            details={"targets_sha256": [_sha(t) for t in spelled]},
        )


def with_network(home: Home, case: Case, chosen: CaptureSettings) -> CaptureSettings:
    """The run's settings plus the home's allowed targets and, unless the run names one, the case's proxy."""
    allow = chosen.policy.allow | parse_allow(allowed_targets(home))
    upstream = chosen.upstream or case_proxy(home, case)
    return replace(chosen, policy=Policy(allow, chosen.policy.deny_all), upstream=upstream)


def with_refusal_hint(url: str, reason: str | None) -> str | None:
    """A guard refusal of an address, with how an admin allows that target (CLI and app alike)."""
    m = _ADDRESS_REFUSAL.match(reason or "")
    if m is None:
        return reason
    host = m.group("host")
    try:
        asked, port = split_url(url)
    except GuardError:
        asked, port = "", 0
    target = f"{host}:{port}" if asked == host.lower() and port else f"{host}:PORT"
    return (
        f"{reason}; to capture it anyway an admin allows this target: `wb capture-target allow {target}` "
        f"or Settings > Capture targets in the app"
    )
