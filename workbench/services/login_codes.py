"""The app's single-use login codes, kept in the database so that any app instance redeems them.

A login page hands a fresh session to the browser in two steps (see ``webauth``): the page stores the
session token under a random *code* (``handoff``) and sends the browser to ``/wb/session?code=...``,
which swaps the code for the HttpOnly cookie (``redeem``). Behind a reverse proxy with several app
instances, that second request may reach another instance than the page, so the code lives in the
shared database rather than in one process's memory.

Only the code's SHA-256 is stored; the token and the page's query are sealed (AES-GCM) with a key
derived from the code, which exists only in the redirect. A code lives ``CODE_TTL_S`` seconds and is
deleted by the one request that redeems it (a conditional DELETE, so two instances cannot both win).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select

from archive.db import login_codes, utcnow
from archive.home import Home

__all__ = ["CODE_TTL_S", "handoff", "redeem"]

CODE_TTL_S = 60
_NONCE = 12


def _digest(code: str) -> str:
    return hashlib.sha256(b"wb-login-code-id\0" + code.encode("utf-8", "surrogatepass")).hexdigest()


def _key(code: str) -> bytes:
    # The code carries 256 random bits, so one hash (kept apart from the id above) is a sound key.
    return hashlib.sha256(b"wb-login-code-key\0" + code.encode("utf-8", "surrogatepass")).digest()


def handoff(home: Home, token: str, query: str = "", now: datetime | None = None) -> str:
    """A single-use code for this session token; ``query`` is where the app page was (``item=...``)."""
    moment = now or utcnow()
    code = secrets.token_urlsafe(32)
    nonce = secrets.token_bytes(_NONCE)
    plain = json.dumps({"token": token, "query": query}).encode()
    sealed = nonce + AESGCM(_key(code)).encrypt(nonce, plain, None)
    with home.db.begin() as conn:
        conn.execute(delete(login_codes).where(login_codes.c.expires_at < moment))
        conn.execute(
            login_codes.insert().values(
                code_sha256=_digest(code), sealed=sealed, expires_at=moment + timedelta(seconds=CODE_TTL_S)
            )
        )
    return code


def redeem(home: Home, code: str, now: datetime | None = None) -> tuple[str, str] | None:
    """(token, query) for a fresh code, once, on any instance; None when unknown, used or expired."""
    if not code:
        return None
    moment = now or utcnow()
    digest = _digest(code)
    with home.db.begin() as conn:
        row = conn.execute(select(login_codes).where(login_codes.c.code_sha256 == digest)).mappings().first()
        if row is None:
            return None
        taken = conn.execute(delete(login_codes).where(login_codes.c.code_sha256 == digest))
    if taken.rowcount != 1 or row["expires_at"] < moment:
        return None
    sealed = bytes(row["sealed"])
    try:
        plain = AESGCM(_key(code)).decrypt(sealed[:_NONCE], sealed[_NONCE:], None)
    except InvalidTag:
        return None
    found = json.loads(plain)
    return str(found["token"]), str(found["query"])
