"""The app's login cookie and the rules the ASGI layer applies to every request.

Streamlit cannot set cookies, so a login is handed from the page to the browser in two steps:

1. the login form opens a server-side session (``sessions.open_session``, channel ``app``) and
   keeps its token here under a random single-use *code* that lives ``CODE_TTL_S`` seconds;
2. the page sends the browser to ``/wb/session?code=...`` (see ``asgi.py``), which swaps the code
   for the ``wb_session`` cookie (HttpOnly, SameSite=Strict) and redirects back to the app.

From then on every script run reads the cookie (``st.context.cookies``) and resumes the session;
nothing in ``st.session_state`` grants access, so knowing a Streamlit session id is worthless.
The codes live in this process's memory only: the page and the routes run in the same process.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Mapping

__all__ = [
    "CODE_TTL_S",
    "COOKIE",
    "LOGIN_HEADER",
    "allowed_host",
    "clear_cookie",
    "from_loopback",
    "handoff",
    "redeem",
    "session_cookie",
]

COOKIE = "wb_session"
# The identity header the ASGI layer sets on page connections (see asgi._bind_login); Streamlit's
# ``server.trustedUserHeaders`` maps it into the session's owner identity.
LOGIN_HEADER = "X-Wb-Login"
CODE_TTL_S = 60
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
LOOPBACK_PEERS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# Headers a reverse proxy adds when it relays another machine's request.
FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")

_codes: dict[str, tuple[str, str, float]] = {}
_lock = threading.Lock()


def handoff(token: str, query: str = "", now: float | None = None) -> str:
    """A single-use code for this session token; ``query`` is where the app page was (``item=...``)."""
    moment = time.monotonic() if now is None else now
    code = secrets.token_urlsafe(32)
    with _lock:
        for old in [c for c, (_, _, exp) in _codes.items() if exp < moment]:
            del _codes[old]
        _codes[code] = (token, query, moment + CODE_TTL_S)
    return code


def redeem(code: str, now: float | None = None) -> tuple[str, str] | None:
    """(token, query) for a fresh code, once; None when it is unknown, used or older than a minute."""
    moment = time.monotonic() if now is None else now
    with _lock:
        found = _codes.pop(code, None)
    if found is None or found[2] < moment:
        return None
    return found[0], found[1]


def session_cookie(token: str, max_age: int, secure: bool) -> str:
    """The Set-Cookie value: script cannot read it, and no other site's page makes the browser send it."""
    flags = f"{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return flags + ("; Secure" if secure else "")


def clear_cookie(secure: bool) -> str:
    """The Set-Cookie value that removes the login cookie."""
    return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def allowed_host(host: str, server: tuple[str, int] | None) -> bool:
    """Whether a Host header names this server: a loopback name (or the address it listens on) with
    its port. Anything else is refused, so a DNS-rebound name cannot reach the app."""
    if server is None:
        return False
    address, port = server[0], int(server[1])
    names = set(LOOPBACK_NAMES)
    if _named_address(address):
        # An operator's `wb serve --address` (team mode, behind a TLS proxy).
        names.add(f"[{address}]" if ":" in address else address)
    return host.strip().lower() in {f"{name}:{port}" for name in names}


def _named_address(address: str) -> bool:
    """A specific address the server listens on (not loopback, not the any-address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return bool(address)
    return not (ip.is_loopback or ip.is_unspecified)


def from_loopback(remote_ip: str | None, headers: Mapping[str, str]) -> bool:
    """A request made on this machine: a loopback peer, a loopback Host, and no proxy relaying it."""
    if remote_ip is None or not headers:
        return False
    try:
        if ipaddress.ip_address(remote_ip) not in LOOPBACK_PEERS:
            return False
    except ValueError:
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    if any(h in lowered for h in FORWARDED):
        return False
    host = lowered.get("host", "").rsplit(":", 1)[0].lower()
    return host in LOOPBACK_NAMES
