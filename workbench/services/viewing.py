"""Survivor-safe viewing (SEN-01..04): blurred greyscale thumbnails, warnings, per-user settings.

- Every list, thumbnail and preview is blurred and greyscale unless the user's settings say
  otherwise for all of the item's warning categories, and no admin minimum forbids it.
- Images are decoded only through ``detectors.imageio.open_image`` (dimension guard first) and
  re-encoded as PNG: the browser never receives the stored bytes of an image as they were captured.
- Thumbnails are cached in ``home.area("thumbs")`` (rebuildable, so not custody artifacts).
- Settings live in ``users.settings["viewing"]``; admin minimums in the ``settings`` table under
  ``viewing_minimums``. One user's settings never affect another's.
- A "distinctive features" description (``notes`` kind ``description``) is shown beside blurred
  media so that comparing needs no re-viewing.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from PIL import ImageFilter
from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import artifacts, flags, item_artifacts, notes, settings, users, utcnow
from archive.errors import InvalidRequest
from archive.home import Home
from detectors.imageio import ImageRefused, open_image
from workbench.services.access import (
    CONTENT_WARNINGS,
    NOT_FOUND,
    WITHHELD,
    authorise,
    authorise_file,
    find_visible,
    withheld_members,
)
from workbench.services.auth import AccessDenied, Account, Perm, require

__all__ = [
    "CONTENT_WARNINGS",
    "check_file_token",
    "file_token",
    "Minimums",
    "Preview",
    "ViewSettings",
    "description",
    "display_artifact",
    "effective_settings",
    "original_artifact",
    "get_minimums",
    "heatmap_png",
    "keyframe_previews",
    "MediaGrant",
    "grant_media",
    "media_allowed",
    "media_digest",
    "video_bytes",
    "preview",
    "withheld_count",
    "revealed_png",
    "set_description",
    "set_minimums",
    "set_user_settings",
    "should_blur",
    "thumbnail_png",
]

THUMB_SIZES = (128, 192, 256, 384)
REVEAL_MAX_SIDE = 1600


@dataclass(frozen=True)
class ViewSettings:
    """A user's viewing settings; the defaults protect."""

    blur: int = 70  # strength 0-100
    greyscale: bool = True
    mute: bool = True
    thumb_px: int = 192
    auto_reveal: tuple[str, ...] = ()  # warning categories shown unblurred in lists
    reveal_reminder: int = 10  # a break reminder after this many reveals in a session (0: never)


@dataclass(frozen=True)
class Minimums:
    """What an admin imposes on everyone."""

    min_blur: int = 30
    force_greyscale: bool = False
    always_blur: tuple[str, ...] = ("sexual violence",)


def _clean_settings(raw: dict[str, Any]) -> ViewSettings:
    d = ViewSettings()
    try:
        blur = int(raw.get("blur", d.blur))
        thumb = int(raw.get("thumb_px", d.thumb_px))
        reminder = int(raw.get("reveal_reminder", d.reveal_reminder))
    except (TypeError, ValueError):
        raise InvalidRequest("blur, thumb_px and reveal_reminder are whole numbers") from None
    auto = tuple(sorted({str(c) for c in raw.get("auto_reveal", ()) if str(c) in CONTENT_WARNINGS}))
    return ViewSettings(
        blur=min(100, max(0, blur)),
        greyscale=bool(raw.get("greyscale", d.greyscale)),
        mute=bool(raw.get("mute", d.mute)),
        thumb_px=min(THUMB_SIZES, key=lambda s: abs(s - thumb)),
        auto_reveal=auto,
        reveal_reminder=max(0, min(1000, reminder)),
    )


def get_minimums(conn: Connection) -> Minimums:
    """The admin minimums (defaults when none were set)."""
    row = conn.execute(select(settings.c.value).where(settings.c.key == "viewing_minimums")).first()
    raw = dict(row[0]) if row is not None and isinstance(row[0], dict) else {}
    d = Minimums()
    return Minimums(
        min_blur=min(100, max(0, int(raw.get("min_blur", d.min_blur)))),
        force_greyscale=bool(raw.get("force_greyscale", d.force_greyscale)),
        always_blur=tuple(c for c in raw.get("always_blur", d.always_blur) if c in CONTENT_WARNINGS),
    )


def effective_settings(conn: Connection, account: Account) -> ViewSettings:
    """The user's own settings, raised to the admin minimums."""
    row = conn.execute(select(users.c.settings).where(users.c.id == account.id)).first()
    own = _clean_settings(dict((row[0] or {}).get("viewing", {})) if row is not None else {})
    mins = get_minimums(conn)
    return ViewSettings(
        blur=max(own.blur, mins.min_blur),
        greyscale=own.greyscale or mins.force_greyscale,
        mute=own.mute,
        thumb_px=own.thumb_px,
        auto_reveal=tuple(c for c in own.auto_reveal if c not in mins.always_blur),
        reveal_reminder=own.reveal_reminder,
    )


def set_user_settings(home: Home, account: Account, values: dict[str, Any]) -> ViewSettings:
    """Store the user's own viewing settings (only their own)."""
    clean = _clean_settings(values)
    with home.transaction(account.name, "app") as tx:
        row = tx.conn.execute(select(users.c.settings).where(users.c.id == account.id)).first()
        current = dict(row[0] or {}) if row is not None else {}
        current["viewing"] = {**asdict(clean), "auto_reveal": list(clean.auto_reveal)}
        tx.conn.execute(users.update().where(users.c.id == account.id).values(settings=current))
        tx.event("settings.changed", details={"user_id": account.id, "scope": "viewing"})
    return clean


def set_minimums(home: Home, account: Account, mins: Minimums) -> None:
    """Admins set the minimums that override every user's settings."""
    with home.transaction(account.name, "app") as tx:
        require(account, Perm.SET_MINIMUMS, tx=tx)
        value = {**asdict(mins), "always_blur": [c for c in mins.always_blur if c in CONTENT_WARNINGS]}
        tx.conn.execute(settings.delete().where(settings.c.key == "viewing_minimums"))
        tx.conn.execute(settings.insert().values(key="viewing_minimums", value=value))
        tx.event("settings.changed", details={"scope": "viewing_minimums"})


def should_blur(vs: ViewSettings, item_tags: tuple[str, ...] | list[str]) -> bool:
    """Blur unless every warning on the item is one the user chose to auto-reveal."""
    warnings_ = [t for t in item_tags if t in CONTENT_WARNINGS]
    if not warnings_ or not vs.auto_reveal:
        return True
    return not all(t in vs.auto_reveal for t in warnings_)


def display_artifact(conn: Connection, item_id: str) -> tuple[str, str] | None:
    """(sha256, mime) of the picture that stands for the item: the original if it is an image,
    else a screenshot, a page's picture or a video's first keyframe; None when there is nothing to
    picture."""
    q = (
        select(item_artifacts.c.sha256, item_artifacts.c.role, artifacts.c.mime)
        .join(artifacts, artifacts.c.sha256 == item_artifacts.c.sha256)
        .where(item_artifacts.c.item_id == item_id, artifacts.c.removed_at.is_(None))
    )
    rows = list(conn.execute(q.order_by(artifacts.c.created_at)))
    # A video stands for itself by its first analysed keyframe (stored by the background analysis).
    for wanted in ("original", "screenshot", "media", "keyframe"):
        for sha, role, mime in rows:
            if role == wanted and str(mime).startswith("image/"):
                return str(sha), str(mime)
    return None


def original_artifact(conn: Connection, item_id: str) -> tuple[str, str, int] | None:
    """(sha256, mime, size) of the item's original file."""
    q = (
        select(artifacts.c.sha256, artifacts.c.mime, artifacts.c.size)
        .join(item_artifacts, item_artifacts.c.sha256 == artifacts.c.sha256)
        .where(
            item_artifacts.c.item_id == item_id,
            item_artifacts.c.role == "original",
            artifacts.c.removed_at.is_(None),
        )
    )
    row = conn.execute(q).first()
    return (str(row[0]), str(row[1]), int(row[2])) if row is not None else None


def _radius(blur: int, px: int) -> float:
    return blur / 100 * px / 10


def _render(home: Home, sha256: str, px: int, blur: int, grey: bool) -> bytes | None:
    try:
        with home.blobs.open(sha256) as stream:
            img = open_image(stream, draft=("RGB", (px * 2, px * 2)))
    except (ImageRefused, OSError):
        return None
    img.thumbnail((px, px))
    img = img.convert("L" if grey else "RGB")
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(_radius(blur, px)))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def thumbnail_png(home: Home, sha256: str, px: int, blur: int, grey: bool) -> bytes | None:
    """A PNG thumbnail (blurred and greyscale as asked), cached; None when it cannot be decoded."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256")
    cache = home.area("thumbs")
    cache.mkdir(exist_ok=True)
    path = cache / f"{sha256}-{px}-{blur}-{int(grey)}.png"
    if path.is_file():
        return path.read_bytes()
    data = _render(home, sha256, px, blur, grey)
    if data is not None:
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return data


def revealed_png(home: Home, account: Account, item_id: str, sha256: str) -> bytes | None:
    """The unblurred picture, re-encoded and at most 1600 px, after the check; logged as a reveal.

    The file must be one of the item's and hold nothing hidden from the account (a page's screenshot
    showing a hidden photo is withheld: ``access.authorise_file``)."""
    row = authorise_file(home, account, item_id, sha256, Perm.READ)
    with home.transaction(account.name, "app") as tx:
        tx.event("media.revealed", case_id=row.case_id, item_id=row.id, artifact_sha256=sha256)
    data = _render(home, sha256, REVEAL_MAX_SIDE, 0, False)
    if data is None:
        return None
    return grant_media(account, data, row.id, sha256, sharp=True, reveal=secrets.token_hex(8))


def video_bytes(home: Home, account: Account, item_id: str, sha256: str) -> bytes:
    """A video of the item, to play in the page after its reveal (checked like a reveal)."""
    row = authorise_file(home, account, item_id, sha256, Perm.READ)
    with home.blobs.open(sha256) as stream:
        return grant_media(account, stream.read(), row.id, sha256, sharp=True)


# Download links: the page (which knows the logged-in account) signs a short-lived token that the
# file route checks; the route re-checks visibility and logs the download. The key lives only in
# this process's memory, so links die with the server. The route also needs the live session cookie
# of the account the token names (asgi.serve_file), so a link dies with logout, the idle timeout,
# revocation or deactivation too.
_TOKEN_KEY = secrets.token_bytes(32)
TOKEN_TTL_S = 600


def file_token(account: Account, item_id: str, sha256: str, now: float | None = None) -> str:
    """A token that lets this account fetch this file of this item for ten minutes."""
    expires = int((now or time.time()) + TOKEN_TTL_S)
    payload = f"{account.id}.{item_id}.{sha256}.{expires}"
    mac = hmac.new(_TOKEN_KEY, payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def check_file_token(token: str, now: float | None = None) -> tuple[int, str, str] | None:
    """(account id, item id, sha256) when the token is genuine and fresh, else None."""
    parts = token.split(".")
    if len(parts) != 5:
        return None
    payload, mac = ".".join(parts[:4]), parts[4]
    good = hmac.new(_TOKEN_KEY, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, mac) or not parts[3].isdigit() or int(parts[3]) < (now or time.time()):
        return None
    return int(parts[0]), parts[1], parts[2]


def description(conn: Connection, account: Account, item_id: str) -> str:
    """The latest "distinctive features" description of the item ('' when none) that the account may
    read: one written by a reviewer whose work is still hidden from it is left out (blind review, as
    in a report), since a description can carry that reviewer's conclusion."""
    from workbench.services.review import hidden_reviewers  # review imports access, as this module does

    if find_visible(conn, account, item_id) is None:
        raise AccessDenied(NOT_FOUND)
    q = (
        select(notes.c.body)
        .where(notes.c.item_id == item_id, notes.c.kind == "description", notes.c.deleted_at.is_(None))
        .where(notes.c.author.not_in(sorted(hidden_reviewers(conn, account, item_id))))
        .order_by(notes.c.id.desc())
        .limit(1)
    )
    row = conn.execute(q).first()
    return str((row[0] or {}).get("text", "")) if row is not None else ""


def set_description(home: Home, account: Account, item_id: str, text: str) -> int:
    """Record a new description (earlier ones stay in the notes table)."""
    body = text.strip()[:5000]
    row = authorise(home, account, item_id, Perm.ANNOTATE)
    with home.transaction(account.name, "app") as tx:
        inserted = tx.conn.execute(
            notes.insert().values(
                item_id=row.id,
                kind="description",
                author=account.name,
                body={"text": body},
                created_at=utcnow(),
            )
        ).inserted_primary_key
        assert inserted is not None
        nid = int(inserted[0])
        tx.event(
            "note.added", case_id=row.case_id, item_id=row.id, details={"note_id": nid, "kind": "description"}
        )
    return nid


# -- content withheld: previews follow the bytes they are made from ------------------------------


@dataclass(frozen=True)
class Preview:
    """What stands for an item in a list or on its page, for one account."""

    png: bytes | None
    note: str | None  # why there is no picture: withheld, nothing to picture, not decodable
    sha256: str | None  # the file pictured (None when withheld or absent)
    withheld: int = 0  # items hidden from the account whose content this item's files hold


def withheld_count(conn: Connection, account: Account, item_id: str) -> int:
    """How many items hidden from the account lie inside this visible item's files (0: none)."""
    if find_visible(conn, account, item_id) is None:
        raise AccessDenied(NOT_FOUND)
    return len(withheld_members(conn, account, item_id))


def preview(home: Home, account: Account, item_id: str, px: int, blur: int, grey: bool) -> Preview:
    """The item's thumbnail as the account may see it: none at all for a container of hidden content."""
    with home.reading() as conn:
        hidden = withheld_count(conn, account, item_id)
        shown = None if hidden else display_artifact(conn, item_id)
    if hidden:
        return Preview(None, WITHHELD, None, hidden)
    if shown is None:
        return Preview(None, "no preview", None)
    data = thumbnail_png(home, shown[0], px, blur, grey)
    if data is not None:
        grant_media(account, data, item_id, shown[0], sharp=blur == 0)
    return Preview(data, None if data is not None else "preview unavailable", shown[0])


KEYFRAMES_SHOWN = 12


def keyframe_previews(
    home: Home, account: Account, item_id: str, px: int, blur: int, grey: bool
) -> list[tuple[float, str, bytes]]:
    """A video's analysed keyframes as (time in seconds, SHA-256, PNG) thumbnails, earliest first,
    blurred and greyscale as asked: none for an item the account may not see (AccessDenied) or whose
    files are withheld from it, and none before the background analysis has stored them."""
    with home.reading() as conn:
        if withheld_count(conn, account, item_id):
            return []
        q = (
            select(artifacts.c.sha256, artifacts.c.parameters)
            .join(item_artifacts, item_artifacts.c.sha256 == artifacts.c.sha256)
            .where(
                item_artifacts.c.item_id == item_id,
                item_artifacts.c.role == "keyframe",
                artifacts.c.removed_at.is_(None),
            )
        )
        found = sorted(((float((p or {}).get("t", 0.0)), str(sha)) for sha, p in conn.execute(q)))
    shown = []
    for t, sha in found[:KEYFRAMES_SHOWN]:
        data = thumbnail_png(home, sha, px, blur, grey)
        if data is not None:
            shown.append((t, sha, grant_media(account, data, item_id, sha, sharp=blur == 0)))
    return shown


def heatmap_png(
    home: Home, account: Account, item_id: str, sha256: str, px: int, blur: int, grey: bool
) -> bytes | None:
    """A detector's heatmap of one of the item's files: it shows the file's content, so it is withheld
    wherever the file is (AccessDenied), and blurred like the media itself."""
    with home.reading() as conn:
        if withheld_count(conn, account, item_id):
            raise AccessDenied(WITHHELD)
        made = conn.execute(
            select(flags.c.id)
            .join(item_artifacts, item_artifacts.c.sha256 == flags.c.input_sha256)
            .where(item_artifacts.c.item_id == item_id, flags.c.heatmap_sha256 == sha256)
        ).first()
    if made is None:
        raise AccessDenied(NOT_FOUND)
    data = thumbnail_png(home, sha256, px, blur, grey)
    return None if data is None else grant_media(account, data, item_id, sha256, sharp=blur == 0)


# -- bytes shown in the app (Streamlit's /media route) --------------------------------------------
# The services that make item bytes for a page (previews, reveals, keyframes, heatmaps, videos,
# reports) record a grant: this account was handed these bytes (by their SHA-256) for this item. The
# /media route serves a file only to an account holding a grant for its bytes, re-checks that the
# account may still see the item, and logs ``media.served`` for sharp bytes (a reveal, a picture the
# account's own settings show unblurred, a video) once per account, item, file and reveal. Blurred
# renderings (the protective default) need the grant too but are not logged one by one. The grants
# live in this process's memory only, like the file tokens' key.

GRANT_TTL_S = 3600
_GRANTS_MAX = 50_000


@dataclass(frozen=True)
class MediaGrant:
    """Bytes handed to one account for one item (``item_id`` None: a report of several)."""

    account_id: int
    item_id: str | None
    sha256: str | None  # the item's file the bytes show
    sharp: bool
    reveal: str  # one reveal's own id ("" when not a reveal): each reveal is logged once
    expires: float


_grants: dict[tuple[int, str], MediaGrant] = {}
_served: set[tuple[int, str, str, str]] = set()
_grants_lock = threading.Lock()


def media_digest(data: bytes) -> str:
    """How a grant names bytes (the front end names a /media file's bytes the same way)."""
    return hashlib.sha256(data).hexdigest()


def grant_media(
    account: Account, data: bytes, item_id: str | None, sha256: str | None, sharp: bool, reveal: str = ""
) -> bytes:
    """Record that ``account`` was handed ``data`` (for the /media route); returns ``data``."""
    grant = MediaGrant(account.id, item_id, sha256, sharp, reveal, time.time() + GRANT_TTL_S)
    with _grants_lock:
        if len(_grants) >= _GRANTS_MAX:  # oldest first: dicts keep insertion order
            for key in list(_grants)[: _GRANTS_MAX // 10]:
                del _grants[key]
        key = (account.id, media_digest(data))
        _grants.pop(key, None)
        _grants[key] = grant
    return data


def media_allowed(home: Home, account: Account, digests: Iterable[str], via: str = "app") -> bool:
    """Whether ``account`` may receive bytes it asks for on /media (named by ``digests``, the SHA-256s
    of the bytes the page put under that URL): only bytes handed to it, of an item it may still see.
    A refusal is one ``access.denied``; sharp bytes are logged as ``media.served`` once per reveal."""
    now = time.time()
    with _grants_lock:
        found = [_grants.get((account.id, d)) for d in digests]
    mine = [g for g in found if g is not None and g.expires >= now]
    if not mine:
        with home.transaction(account.name, via) as tx:
            tx.event(
                "access.denied", details={"permission": Perm.READ.value, "reason": "media not served to you"}
            )
        return False
    grant = mine[0]
    if grant.item_id is None:
        return True
    try:
        row = authorise(home, account, grant.item_id, Perm.READ, via)  # a refusal is logged there
    except AccessDenied:
        return False
    key = (account.id, grant.item_id, grant.sha256 or "", grant.reveal)
    if grant.sharp and key not in _served:
        with home.transaction(account.name, via) as tx:
            tx.event("media.served", case_id=row.case_id, item_id=row.id, artifact_sha256=grant.sha256)
        with _grants_lock:
            if len(_served) >= _GRANTS_MAX:
                _served.clear()
            _served.add(key)
    return True
