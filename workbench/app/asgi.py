"""The app as an ASGI application (Streamlit's ``st.App``): login routes, guards, headers, a file route.

``wb serve`` runs ``streamlit run`` on this file, which finds ``app`` below and serves it with
uvicorn on 127.0.0.1. Middleware, outermost first:

- ``HostGuard``: a request or page connection whose Host header does not name this server gets 400
  (DNS rebinding);
- ``SessionGate``: Streamlit's ``/media/...`` and upload URLs need a live login cookie and are sent
  with ``Cache-Control: no-store``; a ``/media`` file goes only to the account its bytes were made
  for, while it may still see their item, and sharp bytes are logged (``viewing.media_allowed``);
  each page connection is bound to its login cookie, so a Streamlit session id is no use to
  another browser;
- ``SecurityHeaders``: ``Content-Security-Policy`` (images and media only from this server or
  data:/blob:, network connections only to this server, no plugins, no framing by others, so a
  markdown image planted in captured text cannot make the browser call out),
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` on every response.

Routes: ``/wb/session?code=`` swaps a login page's single-use code for the HttpOnly, SameSite=Strict
session cookie, ``/wb/logout`` ends the session and clears the cookie (see ``webauth``), and
``/api/file/{token}`` serves one stored file to the account the token was made for (see
``viewing.file_token``) when the request carries that account's live session cookie, after the same
visibility check as the pages, logged as ``media.downloaded``; the type comes from the file's magic
bytes (``archive.sniff``), HTML and unknown types and quarantined downloads go out as
``application/octet-stream`` attachments, and the response carries ``Content-Security-Policy:
sandbox`` and ``Cache-Control: no-store``. ``/api/export/{job_id}`` hands a finished export's
package (a zip) to the account that queued it, as ``workbench.services.export.files.open_package`` decides,
then removes the bytes from the server.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from contextlib import ExitStack
from pathlib import Path

import streamlit as st
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.app import webauth
from workbench.services.auth import Account, SessionExpired

__all__ = [
    "CSP",
    "HostGuard",
    "SecurityHeaders",
    "SessionGate",
    "app",
    "end_session",
    "serve_file",
    "serve_package",
    "start_session",
]


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


def _session_account(conn: HTTPConnection) -> Account | None:
    """The account of the request's live login cookie (checked, not counted as activity), or None."""
    from workbench.app.pages.common import get_home
    from workbench.services import sessions

    token = conn.cookies.get(webauth.COOKIE)
    if not token:
        return None
    try:
        return sessions.resume(get_home(), token, "app", touch=False)
    except SessionExpired:
        return None


def _same_origin(request: Request) -> bool:
    """A browser says where a request comes from; only the app's own pages may log in or out."""
    return request.headers.get("sec-fetch-site") in (None, "same-origin")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def start_session(request: Request) -> Response:
    """Swap a single-use login code for the HttpOnly session cookie, then go back to the app."""
    from workbench.app.pages.common import get_home
    from workbench.services import login_codes, sessions

    code = str(request.query_params.get("code", ""))
    found = login_codes.redeem(get_home(), code) if _same_origin(request) else None
    if found is None:
        return _no_store(RedirectResponse("/", status_code=303))
    token, query = found
    with get_home().reading() as conn:
        max_age = sessions.session_hours(conn) * 3600
    response = RedirectResponse("/" + (f"?{query}" if query else ""), status_code=303)
    response.headers["Set-Cookie"] = webauth.session_cookie(token, max_age, request.url.scheme == "https")
    # What an earlier session left (a replay's service worker and its cache, when that session ended
    # without a logout) is not for this one: the cookie set here is not part of "storage".
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return _no_store(response)


def end_session(request: Request) -> Response:
    """Log out: end the cookie's session (if the page has not already) and remove the cookie."""
    from workbench.app.pages.common import get_home
    from workbench.services import sessions

    token = request.cookies.get(webauth.COOKIE)
    if not _same_origin(request):
        return _no_store(RedirectResponse("/", status_code=303))
    if token:
        sessions.end_session(get_home(), token, "logout")
    response = RedirectResponse("/", status_code=303)
    response.headers["Set-Cookie"] = webauth.clear_cookie(request.url.scheme == "https")
    # What a replay's service worker kept in the browser (workbench.services.replay) goes with the session.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return _no_store(response)


def replay_file(request: Request) -> Response:
    """ReplayWeb.page's viewer and service worker (public code, no evidence), from the vendored copy."""
    from workbench.services import replay

    path = replay.static_file(str(request.path_params.get("name", "")))
    if path is None or not path.is_file():
        return _no_store(PlainTextResponse("not found", status_code=404))
    headers = {"Content-Security-Policy": replay.VIEWER_CSP, "Cache-Control": "no-cache"}
    return FileResponse(path, media_type="text/javascript", headers=headers)


def replay_page(request: Request) -> Response:
    """The viewer of one captured page (``workbench.services.replay``): for a logged-in browser only; the WACZ
    itself comes through ``/api/file/{token}``, which checks the account and the item."""
    from workbench.services import replay

    if _session_account(request) is None:
        return _no_store(PlainTextResponse("log in first", status_code=403))
    if request.url.path.startswith("/replay/"):
        page = replay.index_html()
    else:
        q = request.query_params
        blur = int(q.get("blur", "")) if q.get("blur", "").isdigit() else -1
        found = replay.viewer_html(
            str(q.get("source", "")), str(q.get("url", "")), blur, str(q.get("sig", ""))
        )
        if found is None:
            return _no_store(PlainTextResponse("not found", status_code=404))
        page = found
    headers = {"Content-Security-Policy": replay.VIEWER_CSP}
    return _no_store(Response(page, media_type="text/html; charset=utf-8", headers=headers))


def serve_file(request: Request) -> Response:
    """One stored file, for the account of the live session cookie, if the link was made for that
    account and the account may still see the item. Logged as ``media.downloaded``."""
    from workbench.app.pages.common import get_home
    from workbench.services import records

    account = _session_account(request)
    if account is None:
        return _no_store(PlainTextResponse("log in first", status_code=403))
    found = records.open_download(get_home(), account, str(request.path_params.get("token", "")))
    if found is None:
        return _no_store(PlainTextResponse("not found", status_code=404))
    # A quarantined download (collectors.downloads) is never shown inline, whatever its bytes claim.
    inline = found.mime in SAFE_INLINE and found.role != "download"
    headers = {
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "no-store",
        "Content-Disposition": "inline" if inline else f'attachment; filename="{found.sha256}"',
    }
    # The plain bytes live as long as the response: a private copy for stores that need one.
    held = ExitStack()
    path = held.enter_context(found.local_copy())
    return FileResponse(
        path,
        media_type=found.mime if inline else "application/octet-stream",
        headers=headers,
        background=BackgroundTask(held.close),
    )


def serve_package(request: Request) -> Response:
    """A finished evidence package, once, to the account that queued its export (logged as
    ``export.downloaded``); its bytes leave the server once the response has been sent."""
    from workbench.app.pages.common import get_home
    from workbench.services.auth import AccessDenied
    from workbench.services.export import files as package_files

    account = _session_account(request)
    if account is None:
        return _no_store(PlainTextResponse("log in first", status_code=403))
    home = get_home()
    try:
        found = package_files.open_package(home, account, str(request.path_params.get("job_id", "")))
    except AccessDenied:
        found = None
    if found is None:
        return _no_store(PlainTextResponse("not found (or already downloaded, or expired)", status_code=404))
    headers = {
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{found.download_name}"',
    }
    return FileResponse(
        found.path,
        media_type="application/zip",
        headers=headers,
        background=BackgroundTask(package_files.remove, home, found.job_id),
    )


class HostGuard:
    """Refuse requests whose Host header does not name this server (DNS rebinding)."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not webauth.allowed_host(
                host, scope.get("server"), os.environ.get(webauth.PUBLIC_HOST_ENV, "")
            ):
                await _refuse(scope, receive, send, 400, "unknown host")
                return
        await self.inner(scope, receive, send)


class SessionGate:
    """Streamlit's own ``/media/...`` (the bytes behind st.image/st.video) and upload URLs need a
    live login cookie, and a media file goes only to the account it was made for; media responses
    are never stored by the browser or a proxy. Page
    connections (WebSocket) are bound to their login cookie."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "websocket":
            await self.inner(_bind_login(scope), receive, send)
            return
        if scope["type"] != "http" or not path.startswith(GATED):
            await self.inner(scope, receive, send)
            return
        account = await run_in_threadpool(_session_account, HTTPConnection(scope))
        if account is None:
            await _refuse(scope, receive, send, 403, "log in first")
            return
        if path.startswith("/media/") and not await run_in_threadpool(_media_allowed, account, path):
            await _refuse(scope, receive, send, 403, "not yours")
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self.inner(scope, receive, send_no_store)


def _media_allowed(account: Account, path: str) -> bool:
    """Whether the file under ``/media/`` holds bytes handed to this account, of an item it may still
    see (``viewing.media_allowed`` decides and logs; ``pages.media`` knows which bytes a file holds)."""
    from workbench.app.pages import media
    from workbench.app.pages.common import get_home
    from workbench.services import viewing

    file_id = path.removeprefix("/media/").split("/", 1)[0].split(".", 1)[0]
    return viewing.media_allowed(get_home(), account, media.digests_of(file_id))


def _bind_login(scope: Scope) -> Scope:
    """Tell Streamlit which login cookie a page connection carries (a digest, never the token), as
    the identity header of ``serve.streamlit_args``: Streamlit then refuses to hand a session to a
    connection with another cookie (or none), however it learnt the session's id. Whatever the
    client sent under that header is dropped."""
    token = HTTPConnection(scope).cookies.get(webauth.COOKIE)
    binding = hashlib.sha256(token.encode()).hexdigest()[:32] if token else "none"
    name = webauth.LOGIN_HEADER.lower().encode()
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != name]
    return {**scope, "headers": [*headers, (name, binding.encode())]}


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    response = _no_store(PlainTextResponse(text, status_code=status))
    await response(scope, receive, send)


class _NoSessionIds(logging.Filter):
    """Streamlit logs Streamlit session ids (e.g. on a reconnect); the log must not carry them."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if UUID.search(text):
            record.msg, record.args = UUID.sub("<session>", text), None
        return True


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
GATED = ("/media/", "/_stcore/upload_file")
for _name in (
    "streamlit.runtime.websocket_session_manager",
    "streamlit.runtime.runtime",
    "streamlit.runtime.app_session",
    "streamlit.web.server.starlette.starlette_websocket",
):
    logging.getLogger(_name).addFilter(_NoSessionIds())

app = st.App(
    str(Path(__file__).with_name("main.py")),
    routes=[
        Route("/api/file/{token}", serve_file),
        Route("/api/export/{job_id}", serve_package),
        Route("/wb/session", start_session),
        Route("/wb/logout", end_session),
        Route("/wb/replay", replay_page),
        Route("/replay/", replay_page),
        Route("/replay/{name}", replay_file),
    ],
    middleware=[Middleware(HostGuard), Middleware(SessionGate), Middleware(SecurityHeaders)],
)
