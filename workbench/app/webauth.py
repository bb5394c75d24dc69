"""The app's login cookie and the rules the ASGI layer applies to every request.

Streamlit cannot set cookies, so a login is handed from the page to the browser in two steps:

1. the login form opens a server-side session (``sessions.open_session``, channel ``app``) and
   keeps its token under a random single-use *code* that lives a minute (``login_codes``: in the
   database, so that with several app instances behind a proxy any of them redeems it);
2. the page sends the browser to ``/wb/session?code=...`` (see ``asgi.py``), which swaps the code
   for the ``wb_session`` cookie (HttpOnly, SameSite=Strict) and redirects back to the app.

From then on every script run reads the cookie (``st.context.cookies``) and resumes the session;
nothing in ``st.session_state`` grants access, so knowing a Streamlit session id is worthless.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

__all__ = [
    "COOKIE",
    "LOGIN_HEADER",
    "PUBLIC_HOST_ENV",
    "allowed_host",
    "clear_cookie",
    "from_loopback",
    "session_cookie",
]

COOKIE = "wb_session"
# The identity header the ASGI layer sets on page connections (see asgi._bind_login); Streamlit's
# ``server.trustedUserHeaders`` maps it into the session's owner identity.
LOGIN_HEADER = "X-Wb-Login"
# Set by `wb serve --public-host NAME[,NAME]`: the Host a TLS reverse proxy passes on (its public name).
PUBLIC_HOST_ENV = "WB_PUBLIC_HOST"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
LOOPBACK_PEERS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# Headers a reverse proxy adds when it relays another machine's request.
FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def session_cookie(token: str, max_age: int, secure: bool) -> str:
    """The Set-Cookie value: script cannot read it, and no other site's page makes the browser send it."""
    flags = f"{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return flags + ("; Secure" if secure else "")


def clear_cookie(secure: bool) -> str:
    """The Set-Cookie value that removes the login cookie."""
    return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def allowed_host(host: str, server: tuple[str, int] | None, public: str = "") -> bool:
    """Whether a Host header names this server: a loopback name (or the address it listens on) with
    its port, or the public name a TLS proxy in front of it sends (``wb serve --public-host``).
    Anything else is refused, so a DNS-rebound name cannot reach the app."""
    if server is None:
        return False
    wanted = host.strip().lower()
    if public and wanted in {name.strip().lower() for name in public.split(",") if name.strip()}:
        return True
    address, port = server[0], int(server[1])
    names = set(LOOPBACK_NAMES)
    if _named_address(address):
        # An operator's `wb serve --address` (team mode, behind a TLS proxy).
        names.add(f"[{address}]" if ":" in address else address)
    return wanted in {f"{name}:{port}" for name in names}


def _named_address(address: str) -> bool:
    """A specific address the server listens on (not the any-address, whose name says nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return bool(address)
    return not ip.is_unspecified


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
