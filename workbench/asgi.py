"""The app as an ASGI application (Streamlit's ``st.App``) with safety headers and a file route.

``wb serve`` runs ``streamlit run`` on this file, which finds ``app`` below and serves it with
uvicorn on 127.0.0.1. The middleware adds to every response:

- ``Content-Security-Policy``: images and media only from this server (or data:/blob:), network
  connections only to this server, no plugins, no framing by others, so a markdown image or any
  other reference planted in captured text cannot make the browser call out;
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.

``/api/file/{token}`` serves one stored file to the account the token was made for (see
``viewing.file_token``), after the same visibility check as the pages, logged as
``media.downloaded``; the type comes from the file's magic bytes (``archive.sniff``), HTML and
unknown types and quarantined downloads go out as ``application/octet-stream`` attachments, and
the response carries ``Content-Security-Policy: sandbox``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import streamlit as st
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive.db import item_artifacts, users

__all__ = ["CSP", "SecurityHeaders", "app", "serve_file"]


def _inline_script_hashes() -> str:
    """CSP hashes of the inline scripts in Streamlit's own index.html (read from the installed
    package, so an upgrade cannot silently break the page): those and same-origin files may run."""
    index = Path(st.__file__).with_name("static") / "index.html"
    try:
        text = index.read_text(encoding="utf-8")
    except OSError:
        return ""
    found = re.findall(r"<script>(.*?)</script>", text, flags=re.S)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in found
    )


CSP = (
    f"default-src 'self'; script-src 'self' {_inline_script_hashes()}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "worker-src 'self' blob:; frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)
SAFE_INLINE = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/webm",
    "audio/mpeg",
    "application/pdf",
}


class SecurityHeaders:
    """Pure ASGI middleware (works for HTTP; WebSocket frames pass untouched)."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.inner(scope, receive, send_with_headers)


def serve_file(request: Request) -> Response:
    """One stored file, for the account named in a fresh token, if that account may still see the item."""
    from archive.sniff import sniff
    from workbench import access, auth, viewing
    from workbench.pages.common import get_home

    checked = viewing.check_file_token(str(request.path_params.get("token", "")))
    if checked is None:
        return PlainTextResponse("not found", status_code=404)
    account_id, item_id, sha256 = checked
    home = get_home()
    with home.reading() as conn:
        row = conn.execute(select(users.c.name).where(users.c.id == account_id)).first()
        account = auth.account_by_name(conn, str(row[0])) if row is not None else None
        linked = conn.execute(
            select(item_artifacts.c.role).where(
                item_artifacts.c.item_id == item_id, item_artifacts.c.sha256 == sha256
            )
        ).first()
    if account is None or linked is None:
        return PlainTextResponse("not found", status_code=404)
    try:
        access.log_access(home, account, item_id, "media.downloaded", artifact_sha256=sha256)
    except auth.AccessDenied:
        return PlainTextResponse("not found", status_code=404)
    path: Path = home.blobs.path(sha256)
    with path.open("rb") as fh:
        mime = sniff(fh.read(4096))
    # A quarantined download (collectors.downloads) is never shown inline, whatever its bytes claim.
    inline = mime in SAFE_INLINE and linked.role != "download"
    headers = {
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
        "Content-Disposition": "inline" if inline else f'attachment; filename="{sha256}"',
    }
    return FileResponse(path, media_type=mime if inline else "application/octet-stream", headers=headers)


app = st.App(
    str(Path(__file__).with_name("app.py")),
    routes=[Route("/api/file/{token}", serve_file)],
    middleware=[Middleware(SecurityHeaders)],
)
