"""A case's browser profile: the cookies and storage a capture logs in with, bound to one case.

Some posts are only visible to a logged-in account. The analyst exports that session from a
browser as a Playwright ``storage_state`` JSON file and names it for one case; captures in that case
(from `wb capture` or the app's jobs) then open their fresh context with it, and captures in any
other case never see it (SEC-03, CAP-04).

- The file is checked (size, JSON shape) and copied into the home's ``profiles/`` folder, readable
  by its owner only, under the case's id, never a name from input.
- The same profile (same content) cannot be named for a second case: a session is never shared
  between cases.
- Secrets stay out of the evidence: the capture record and the custody log carry the profile's
  SHA-256 and the cookie domains and origins it covers, never a cookie or storage value.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from archive.db import settings
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Case
from workbench.services.auth import Account, Perm, check_case

__all__ = [
    "MAX_PROFILE_BYTES",
    "Profile",
    "ProfileError",
    "clear_profile",
    "describe_profile",
    "profile_of",
    "set_profile",
]

MAX_PROFILE_BYTES = 5 << 20
MAX_COOKIES = 5_000
_KEY = "profile:{}"


class ProfileError(InvalidRequest, ValueError):
    """The storage_state file is unreadable, malformed, too large, or already another case's."""


@dataclass(frozen=True)
class Profile:
    """What may be said about a case's profile without revealing it."""

    case_id: int
    sha256: str
    path: Path
    cookie_domains: tuple[str, ...]
    origins: tuple[str, ...]

    def as_record(self) -> dict[str, Any]:
        return {
            "profile_sha256": self.sha256,
            "cookie_domains": list(self.cookie_domains),
            "origins": list(self.origins),
        }


def _folder(home: Home) -> Path:
    return home.area("profiles")


def _read(source: Path | bytes, label: str = "the profile") -> tuple[bytes, dict[str, Any]]:
    if isinstance(source, bytes):
        data = source
    else:
        label = str(source)
        try:
            with source.open("rb") as fh:
                data = fh.read(MAX_PROFILE_BYTES + 1)
        except OSError as exc:
            raise ProfileError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"{label}: larger than {MAX_PROFILE_BYTES} bytes")
    try:
        state = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{label}: not a JSON storage_state file ({exc})") from None
    _check_shape(label, state)
    return data, state


def _check_shape(source: str, state: Any) -> None:
    """Playwright's storage_state form: {"cookies": [{name, value, domain, path, ...}], "origins": [...]}."""
    if not isinstance(state, dict) or not isinstance(state.get("cookies", []), list):
        raise ProfileError(f"{source}: not a storage_state file (expected cookies and origins)")
    cookies, origins = state.get("cookies", []), state.get("origins", [])
    if not isinstance(origins, list) or not (cookies or origins):
        raise ProfileError(f"{source}: a storage_state file with no cookies and no origins")
    if len(cookies) > MAX_COOKIES:
        raise ProfileError(f"{source}: more than {MAX_COOKIES} cookies")
    for c in cookies:
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in ("name", "value", "domain")):
            raise ProfileError(f"{source}: a cookie without a name, value and domain")
        _check_cookie(source, c)
    for o in origins:
        if not isinstance(o, dict) or not isinstance(o.get("origin"), str):
            raise ProfileError(f"{source}: an origin entry without an origin")


def _check_cookie(source: str, cookie: dict[str, Any]) -> None:
    """What the browser itself refuses, refused here: a profile it cannot load would fail every
    capture in the case. Reasons name the field, never a cookie's value."""
    if not isinstance(cookie.get("path"), str) or not cookie["domain"]:
        raise ProfileError(f"{source}: a cookie without a domain and path")
    if cookie.get("sameSite", "Lax") not in ("Strict", "Lax", "None"):
        raise ProfileError(f"{source}: a cookie whose sameSite is not Strict, Lax or None")
    expires = cookie.get("expires", -1)
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise ProfileError(f"{source}: a cookie whose expires is not a number")
    if any(not isinstance(cookie.get(k, False), bool) for k in ("httpOnly", "secure")):
        raise ProfileError(f"{source}: a cookie whose httpOnly or secure is not true or false")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cookie["name"] + cookie["value"]):
        raise ProfileError(f"{source}: a cookie whose name or value holds control characters")


def _session(state: dict[str, Any]) -> str | None:
    """One hash of the cookies themselves (domain, name, value), whatever the file's layout, order
    or expiry times: the same session re-exported or re-indented is still the same session."""
    cookies = sorted(
        {(str(c["domain"]).lstrip(".").lower(), c["name"], c["value"]) for c in state.get("cookies", [])}
    )
    if not cookies:
        return None
    return hashlib.sha256(json.dumps(cookies, ensure_ascii=False).encode("utf-8")).hexdigest()


def _summary(case_id: int, sha: str, path: Path, state: dict[str, Any]) -> Profile:
    domains = sorted({str(c["domain"]).lstrip(".").lower()[:253] for c in state.get("cookies", [])})
    origins = sorted({str(o["origin"])[:300] for o in state.get("origins", [])})
    return Profile(case_id, sha, path, tuple(domains), tuple(origins))


def set_profile(home: Home, case: Case, source: Path | bytes, by: Account, via: str = "cli") -> Profile:
    """Check ``source`` (a file, or its bytes from an upload) and make it the case's profile (admins)."""
    check_case(home, by, Perm.MANAGE_CASES, case.id, via)
    data, state = _read(source)
    sha = hashlib.sha256(data).hexdigest()
    session = _session(state)
    with home.reading() as conn:
        for key, value in conn.execute(select(settings.c.key, settings.c.value)):
            if not str(key).startswith("profile:") or key == _KEY.format(case.id):
                continue
            if value.get("sha256") == sha or (session is not None and value.get("session") == session):
                raise ProfileError("this profile is already another case's: a session is never shared")
    path = _folder(home) / f"case-{case.id}.json"
    _write_private(path, data)
    profile = _summary(case.id, sha, path, state)
    with home.transaction(by.name, via) as tx:
        tx.conn.execute(delete(settings).where(settings.c.key == _KEY.format(case.id)))
        tx.conn.execute(
            settings.insert().values(key=_KEY.format(case.id), value={"sha256": sha, "session": session})
        )
        tx.event("case.profile_set", case_id=case.id, details={"profile_sha256": sha})
    return profile


def clear_profile(home: Home, case: Case, by: Account, via: str = "cli") -> bool:
    """Forget the case's profile (the file is overwritten, then removed); False when none was set."""
    check_case(home, by, Perm.MANAGE_CASES, case.id, via)
    path = _folder(home) / f"case-{case.id}.json"
    if not path.exists():
        return False
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
    with home.transaction(by.name, via) as tx:
        tx.conn.execute(delete(settings).where(settings.c.key == _KEY.format(case.id)))
        tx.event("case.profile_cleared", case_id=case.id)
    return True


def describe_profile(home: Home, case: Case, by: Account, via: str = "cli") -> Profile | None:
    """The case's profile as its members may see it (facts, never the values)."""
    check_case(home, by, Perm.READ, case.id, via)
    return profile_of(home, case)


def profile_of(home: Home, case: Case) -> Profile | None:
    """The case's profile, or None; a profile file that changed since it was set is refused."""
    path = home.area("profiles") / f"case-{case.id}.json"
    with home.reading() as conn:
        row = conn.execute(select(settings.c.value).where(settings.c.key == _KEY.format(case.id))).first()
    if row is None or not path.is_file():
        return None
    data, state = _read(path)
    sha = hashlib.sha256(data).hexdigest()
    if sha != row.value.get("sha256"):
        raise ProfileError(f"the profile of case {case.slug} changed on disk since it was set; set it again")
    return _summary(case.id, sha, path, state)


def _write_private(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".profile-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
