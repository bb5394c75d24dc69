"""Replay of a captured page from its WACZ inside the app, offline (BP-12), with ReplayWeb.page.

ReplayWeb.page's viewer (``ui.js``) and service worker (``sw.js``), vendored by ``scripts/setup.sh``
from the npm registry at a pinned version, are served by the app itself under ``/replay/``; the
service worker reads the WACZ through the authenticated file route (``/api/file/{token}``, where the
access core decides and a page holding hidden media is withheld) and replays it in the browser.
Nothing is fetched from anywhere else:

- the viewer page and the service worker carry a Content-Security-Policy that allows connections
  to this server only;
- the replayed page itself runs under a policy that allows no scripts, no connections, no forms and
  no frames from elsewhere: captured pages are hostile input, and their scripts would otherwise run
  on the app's own origin (with the analyst's login). The page shows as its HTML, styles and pictures
  were captured; what only its scripts would draw is on the screenshot;
- the browser keeps what the service worker loaded only until logout, whose response clears the
  site's storage (``Clear-Site-Data``);
- the blur is decided here, never by the address: ``viewer_url`` blurs by the account's settings and
  the item's warnings unless given a grant that ``reveal`` made after logging ``media.revealed``,
  and signs the viewer's parameters; ``viewer_html`` refuses parameters it did not sign (so
  ``blur=0`` typed into the address unblurs nothing).

``replay_target``, ``reveal`` and ``viewer_url`` are the service (visibility, logging, the blur); the
rest builds the pages the routes serve.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from archive.db import captures, item_artifacts, sightings
from archive.home import Home
from workbench.services import access, viewing
from workbench.services.auth import Account, Perm

__all__ = [
    "CONTENT_CSP",
    "REPLAY_FILES",
    "VIEWER_CSP",
    "Viewer",
    "ReplayTarget",
    "index_html",
    "replay_dir",
    "replay_target",
    "reveal",
    "signature",
    "static_file",
    "viewer_html",
    "viewer_url",
]

REPO = Path(__file__).resolve().parents[2]
REPLAY_FILES = ("ui.js", "sw.js")
OWN_FILES = {"wait.js": Path(__file__).with_name("replay_static") / "wait.js"}
# The viewer and its worker: our own origin only ('wasm-unsafe-eval': the worker hashes with WebAssembly).
VIEWER_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)
# What the replayed page may do (wabac's per-collection "csp"): show itself, nothing more.
CONTENT_CSP = (
    "default-src 'self' data: blob:; script-src 'none'; connect-src 'none'; form-action 'none'; "
    "object-src 'none'; frame-src 'self'; worker-src 'none'; style-src 'self' 'unsafe-inline' data: blob:; "
    "img-src 'self' data: blob:; font-src 'self' data: blob:; media-src 'self' data: blob:; base-uri 'self'"
)
BLUR_MAX = 100
# Signs viewer parameters and reveal grants; one per server process, as the file tokens' key.
_KEY = secrets.token_bytes(32)
REVEAL_TTL_S = viewing.TOKEN_TTL_S  # a reveal holds as long as the file link it goes with


@dataclass(frozen=True)
class ReplayTarget:
    """What the viewer needs: the WACZ's SHA-256 and the page's address as captured."""

    sha256: str
    url: str


def static_file(name: str) -> Path | None:
    """The file ``/replay/NAME`` serves: ReplayWeb.page's two, or one of ours; None for any other."""
    if name in REPLAY_FILES:
        return replay_dir() / name
    return OWN_FILES.get(name)


def replay_dir() -> Path:
    """Where setup.sh put ReplayWeb.page's files (``WB_REPLAY_DIR`` to override)."""
    return Path(os.environ.get("WB_REPLAY_DIR") or REPO / "vendor" / "replaywebpage")


def replay_target(home: Home, by: Account, item_id: str, via: str = "app") -> ReplayTarget | None:
    """The item's WACZ and captured address, if it has one and the account may receive it; None for
    an item without a WACZ. AccessDenied (logged) when the item is hidden or its page holds media
    hidden from the account. Each fetch of the WACZ is logged by the file route (``media.downloaded``);
    unblurring the replay is a reveal (``media.revealed``), logged by the page through the access core."""
    access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        sha = conn.execute(
            select(item_artifacts.c.sha256).where(
                item_artifacts.c.item_id == item_id, item_artifacts.c.role == "wacz"
            )
        ).scalar()
        url = conn.execute(
            select(captures.c.final_url, captures.c.requested_url)
            .join(sightings, sightings.c.capture_id == captures.c.id)
            .where(sightings.c.item_id == item_id)
            .order_by(captures.c.started_at.desc())
        ).first()
    if sha is None or url is None:
        return None
    access.authorise_file(home, by, item_id, str(sha), Perm.READ, via)
    return ReplayTarget(str(sha), str(url[0] or url[1]))


def _mac(text: str) -> str:
    return hmac.new(_KEY, text.encode(), hashlib.sha256).hexdigest()


def reveal(home: Home, by: Account, item_id: str, target: ReplayTarget, via: str = "app") -> str:
    """Take the blur off this account's replay of the item: logged as ``media.revealed`` of the WACZ
    through the access core (AccessDenied, logged, when it may not); a grant for ``viewer_url``."""
    access.log_access(home, by, item_id, "media.revealed", via, artifact_sha256=target.sha256)
    payload = f"{by.id}.{item_id}.{target.sha256}.{int(time.time() + REVEAL_TTL_S)}"
    return f"{payload}.{_mac('reveal.' + payload)}"


def _granted(by: Account, item_id: str, target: ReplayTarget, grant: str | None) -> bool:
    if not grant:
        return False
    payload, _, mac = grant.rpartition(".")
    parts = payload.split(".")
    return (
        hmac.compare_digest(_mac("reveal." + payload), mac)
        and parts[:3] == [str(by.id), item_id, target.sha256]
        and len(parts) == 4
        and parts[3].isdigit()
        and int(parts[3]) >= time.time()
    )


@dataclass(frozen=True)
class Viewer:
    """The viewer page's address, and whether it shows the page blurred."""

    url: str
    blurred: bool


def viewer_url(
    home: Home, by: Account, item_id: str, target: ReplayTarget, grant: str | None = None
) -> Viewer:
    """The viewer page's address for this account (its file link lives ten minutes), blurred by the
    account's settings and the item's warnings unless ``grant`` is its own fresh ``reveal``."""
    if _granted(by, item_id, target, grant):
        blur = 0
    else:
        with home.reading() as conn:
            vs = viewing.effective_settings(conn, by)
            row = access.find_visible(conn, by, item_id)
        # An item gone from view meanwhile stays blurred (its file link will be refused anyway).
        blur = max(vs.blur, 1) if row is None or viewing.should_blur(vs, row.tags) else 0
    token = viewing.file_token(by, item_id, target.sha256)
    sig = signature(token, target.url, blur)
    return Viewer(f"/wb/replay?source={token}&blur={int(blur)}&url={_quote(target.url)}&sig={sig}", blur > 0)


def signature(source: str, url: str, blur: int) -> str:
    """What ``viewer_html`` checks: the viewer's parameters as ``viewer_url`` chose them."""
    return _mac(json.dumps(["viewer", source, url, int(blur)]))


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


TOKEN = re.compile(r"[0-9]+\.[0-9a-z]{1,32}\.[0-9a-f]{64}\.[0-9]+\.[0-9a-f]{64}")


def viewer_html(source: str, url: str, blur: int, sig: str) -> str | None:
    """The viewer page for one file link (None when the link is not of the right shape, or its
    parameters are not as ``viewer_url`` signed them). Every value is escaped into an attribute; the
    page holds no evidence itself."""
    if not TOKEN.fullmatch(source) or not url.startswith(("http://", "https://")) or len(url) > 8000:
        return None
    if not hmac.compare_digest(signature(source, url, blur), sig):
        return None
    level = max(0, min(BLUR_MAX, blur))
    style = f"filter: blur({level / 5:.1f}px) grayscale(1);" if level else ""
    config = json.dumps({"csp": CONTENT_CSP})
    attrs = {
        "source": f"/api/file/{source}",
        "url": url,
        "replayBase": "/replay/",
        "embed": "replayonly",
        "config": config,
    }
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Replay</title>"
        '<script src="/replay/ui.js"></script></head>'
        '<body style="margin:0">'
        f'<replay-web-page {rendered} style="display:block;height:100vh;{style}"></replay-web-page>'
        "</body></html>"
    )


def index_html() -> str:
    """What ``/replay/`` answers when ReplayWeb.page's service worker did not (it serves this page
    itself once it controls the frame): wait for the worker, then load again through it."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Replay</title></head>"
        '<body><p>Starting the replay ...</p><script src="/replay/wait.js"></script></body></html>'
    )
