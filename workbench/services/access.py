"""Which items a user may see, and the access log (CON-01, CON-04, AUD-01).

Visibility is one SQL condition (``visible_clause``) used by every listing, count, search and
lookup, so an item hidden from a user is not listed, not counted and not reachable by id:

- the user must be a member of the item's case (admins count as members of every case);
- items classified ``survivor_identifying`` and items tagged ``sexual violence`` (indirectly sourced
  survivor material, CON-04) are seen only by users assigned to them, whatever their role.

Assignments are rows of the ``tags`` table named ``assigned:<user id>`` (no schema change needed;
they are never shown as tags). Every view, reveal and download is a custody event; refused lookups
are logged as ``access.denied``. ``access_report`` answers "who viewed item X, when".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, false, func, not_, or_, select, true, union
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from archive.custody import CustodyLog
from archive.db import (
    captures,
    case_members,
    flags,
    item_artifacts,
    items,
    judgements,
    notes,
    sightings,
    tags,
    utcnow,
)
from archive.errors import InvalidRequest
from archive.fold import fold
from archive.home import Home, Transaction
from archive.model import Classification, CustodyEvent, Role, Status
from workbench.services.auth import (
    AccessDenied,
    Account,
    Perm,
    account_by_name,
    can,
    is_member,
    logged_item_id,
    refuse,
    require,
)

__all__ = [
    "ACCESS_ACTIONS",
    "ASSIGN_PREFIX",
    "CONTENT_WARNINGS",
    "COUNT_CAP",
    "Classification",
    "SENSITIVE_TAG",
    "ItemFilter",
    "ItemRow",
    "TagResult",
    "PAGE_KIND",
    "WITHHELD",
    "access_report",
    "count_text",
    "assign",
    "authorise",
    "authorise_file",
    "capture_records",
    "file_withheld",
    "held_items",
    "hidden_in_captures",
    "hidden_around",
    "containers_of",
    "classify",
    "find_visible",
    "item_tags",
    "list_items",
    "log_access",
    "open_item",
    "platforms",
    "tag_item",
    "visible_clause",
    "withheld_members",
    "withhold_hidden_media",
    "withhold_items",
]

SENSITIVE_TAG = "sexual violence"
ASSIGN_PREFIX = "assigned:"
CONTENT_WARNINGS = ("graphic violence", "sexual violence", "dead bodies", "children", "identifiable victims")
ACCESS_ACTIONS = (
    "item.viewed",
    "media.revealed",
    "media.downloaded",
    "media.served",  # workbench.services.viewing.media_allowed: sharp bytes through the app's /media route
    "access.denied",
    "export.transfer",  # workbench.services.export.packages: one per item sent out
    "export.withheld",
    "export.blocked",
)
NOT_FOUND = "no such item, or you may not see it"
PAGE_MAX = 200


def _assigned(account: Account) -> ColumnElement[bool]:
    return exists(
        select(tags.c.item_id).where(
            tags.c.item_id == items.c.id, tags.c.tag == f"{ASSIGN_PREFIX}{account.id}"
        )
    )


def visible_clause(account: Account, *, member_checked: bool = False) -> ColumnElement[bool]:
    """The SQL condition under which ``account`` may see a row of ``items``.

    ``member_checked``: the caller has already checked membership of the one case it queries.
    """
    if not account.active:
        return items.c.id.is_(None)  # matches nothing
    member: ColumnElement[bool] = true()
    if account.role is not Role.ADMIN and not member_checked:
        member = items.c.case_id.in_(
            select(case_members.c.case_id).where(case_members.c.user_id == account.id)
        )
    sensitive = or_(
        items.c.classification == Classification.SURVIVOR_IDENTIFYING.value,
        exists(select(tags.c.item_id).where(tags.c.item_id == items.c.id, tags.c.tag == SENSITIVE_TAG)),
    )
    return and_(items.c.deleted_at.is_(None), member, or_(not_(sensitive), _assigned(account)))


@dataclass(frozen=True)
class ItemFilter:
    """Gallery filters; every one is applied in SQL, after visibility."""

    status: Sequence[str] = ()
    platform: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    tags: Sequence[str] = ()
    flag_labels: Sequence[str] = ()
    item_ids: Sequence[str] | None = None  # e.g. the members of a near-duplicate cluster
    text: str | None = None


@dataclass(frozen=True)
class ItemRow:
    id: str
    case_id: int
    sha256: str
    kind: str
    status: str
    classification: str
    title: str | None
    created_at: datetime
    tags: tuple[str, ...] = field(default=())


def _like(text: str) -> str:
    folded = fold(text) or ""
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _captures_with_hidden(account: Account) -> Any:
    """Ids of the captures that saw an item hidden from the account (their records list it).

    Not correlated with the outer query's ``items``: it is the same set for every row.
    """
    return (
        select(sightings.c.capture_id)
        .join(items, items.c.id == sightings.c.item_id)
        .where(
            sightings.c.capture_id.is_not(None), items.c.deleted_at.is_(None), not_(visible_clause(account))
        )
        .correlate(None)
    )


def _blind_note(account: Account) -> ColumnElement[bool]:
    """A note by a reviewer whose work on the item is still hidden from the account (blind review, as
    ``review.hidden_reviewers``: the account has not reviewed it, the review phase is not over, and it
    is not legal staff), so that search does not find an item by words the account may not read."""
    return _blind_work(account, notes.c.author)


def _blind_tag(account: Account) -> ColumnElement[bool]:
    """A free tag added by a reviewer whose work on the item is still hidden from the account: a tag
    such as "deepfake" is a conclusion, hidden like that reviewer's review and notes until the account
    submits its own. Content warnings always show (they decide blurring, for everyone's protection)."""
    return and_(tags.c.tag.not_in(CONTENT_WARNINGS), _blind_work(account, tags.c.added_by))


def _blind_work(account: Account, author: Any) -> ColumnElement[bool]:
    """Work by ``author`` on the outer query's item that blind review hides from the account now."""
    if account.role is Role.LEGAL:
        return false()

    def reviewed_by(who: Any) -> ColumnElement[bool]:
        return exists(
            select(judgements.c.id)
            .where(judgements.c.item_id == items.c.id, judgements.c.reviewer == who)
            .correlate_except(judgements)  # the item (and tag or note) of the enclosing queries
        )

    return and_(
        author != account.name,
        items.c.status == Status.IN_PROGRESS.value,
        not_(reviewed_by(account.name)),
        reviewed_by(author),
    )


def _text_clause(text: str, account: Account) -> ColumnElement[bool]:
    """Full-text search (substring, case-insensitive) over titles, sightings, captures and notes.

    A capture record that lists media hidden from the account is not searched for it: a hit there
    could come from the hidden media's address or text.
    """
    pat = _like(text)

    def has(col: Any) -> ColumnElement[bool]:
        return func.wb_fold(cast(col, String)).like(pat, escape="\\")

    # One set of matching item ids, each source searched once (not once per item of the case): on
    # PostgreSQL each branch can use its trigram index over the folded text (migration 0011).
    # A zip member's title and file name start with its zip's: not searched when that zip is hidden.
    # (Checked on the rows that match only: the hidden zips are few, the sightings many.)
    container = sightings.c.details["container_sha256"].as_string()
    hidden_shas = (
        select(items.c.sha256)
        .where(items.c.kind == ARCHIVE_KIND, not_(visible_clause(account)))
        .correlate(None)
    )
    in_hidden_zip = exists(
        select(sightings.c.id).where(sightings.c.item_id == items.c.id, container.in_(hidden_shas))
    )
    by_title = select(items.c.id.label("item_id")).where(has(items.c.title), not_(in_hidden_zip))
    # A sighting in a capture that saw hidden items names the capture's post author (a photo's sighting
    # quotes its page's handle): its handle is not searched for the account, as its record is not.
    by_handle = and_(
        has(sightings.c.account),
        or_(sightings.c.capture_id.is_(None), sightings.c.capture_id.not_in(_captures_with_hidden(account))),
    )
    by_name = and_(has(sightings.c.original_name), or_(container.is_(None), container.not_in(hidden_shas)))
    by_sighting = select(sightings.c.item_id).where(or_(has(sightings.c.url), by_handle, by_name))
    by_capture = (
        select(sightings.c.item_id)
        .join(captures, captures.c.id == sightings.c.capture_id)
        .where(has(captures.c.record), captures.c.id.not_in(_captures_with_hidden(account)))
    )
    # The note's own item (joined here) decides whether its author's work is still hidden.
    by_note = (
        select(notes.c.item_id)
        .join(items, items.c.id == notes.c.item_id)
        .where(notes.c.deleted_at.is_(None), not_(_blind_note(account)), has(notes.c.body))
    )
    branches = [q.correlate(None) for q in (by_title, by_sighting, by_capture, by_note)]
    return items.c.id.in_(union(*branches))


def _filter_clauses(f: ItemFilter, account: Account) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.status:
        out.append(items.c.status.in_(list(f.status)))
    if f.platform:
        out.append(
            exists(
                select(sightings.c.id).where(
                    sightings.c.item_id == items.c.id, sightings.c.platform == f.platform
                )
            )
        )
    if f.since is not None:
        out.append(items.c.created_at >= f.since)
    if f.until is not None:
        out.append(items.c.created_at <= f.until)
    for tag in f.tags:
        out.append(
            exists(
                select(tags.c.item_id).where(
                    tags.c.item_id == items.c.id, tags.c.tag == tag, not_(_blind_tag(account))
                )
            )
        )
    if f.flag_labels:
        out.append(
            exists(
                select(flags.c.id)
                .join(item_artifacts, item_artifacts.c.sha256 == flags.c.input_sha256)
                .where(item_artifacts.c.item_id == items.c.id, flags.c.label.in_(list(f.flag_labels)))
            )
        )
    if f.item_ids is not None:
        out.append(items.c.id.in_(list(f.item_ids)))
    if f.text and f.text.strip():
        out.append(_text_clause(f.text.strip(), account))
    return out


COUNT_CAP = 10_000


def count_text(total: int) -> str:
    """A count from ``list_items`` as people read it ("more than 10000" past the cap)."""
    return f"more than {COUNT_CAP}" if total > COUNT_CAP else str(total)


def list_items(
    conn: Connection,
    account: Account,
    case_id: int,
    flt: ItemFilter | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ItemRow], int]:
    """One page of the items the account may see in a case, and how many there are in all (up to
    COUNT_CAP + 1: more than COUNT_CAP reads as "more than", see ``count_text``)."""
    require(account, Perm.READ)
    if not is_member(conn, account, case_id):
        raise AccessDenied("you are not a member of this case")
    rest = and_(visible_clause(account, member_checked=True), *_filter_clauses(flt or ItemFilter(), account))
    where = and_(items.c.case_id == case_id, rest)
    # Counted up to COUNT_CAP + 1 only: an exact count of a million-item case is a scan of it (about a
    # second on PostgreSQL), the page itself reads 50 rows. count_text() says "more than".
    counted = select(items.c.id).where(where).limit(COUNT_CAP + 1).subquery()
    total = int(conn.execute(select(func.count()).select_from(counted)).scalar_one())
    # SQLite would pick the (case_id, sha256) index and sort the whole case for one page (~0.3 s at
    # 100k items); "case_id + 0" keeps it on the primary key, read newest first, stopping at the page.
    in_case = (
        (items.c.case_id + 0) == case_id if conn.dialect.name == "sqlite" else items.c.case_id == case_id
    )
    q = (
        select(items)
        .where(and_(in_case, rest))
        # Item ids begin with their creation time in milliseconds (archive.ingest.new_item_id), so the
        # primary key gives newest-first order without sorting the whole case.
        .order_by(items.c.id.desc())
        .offset(max(0, offset))
        .limit(max(1, min(limit, PAGE_MAX)))
    )
    rows = list(conn.execute(q).mappings())
    tag_map = item_tags(conn, account, [r["id"] for r in rows])
    return [_row(r, tag_map.get(r["id"], ()), _title(conn, account, r)) for r in rows], total


def _title(conn: Connection, account: Account, r: Any) -> str | None:
    """The item's title as the account may read it: a zip member's title starts with its zip's file
    name, withheld when that zip is hidden from the account."""
    title = None if r["title"] is None else str(r["title"])
    if not title or "!" not in title:
        return title  # spares every other row the lookup
    return str(_scrub(title, _hidden_media(conn, account, str(r["id"]))))


def _row(r: Any, item_tag_list: Sequence[str], title: str | None) -> ItemRow:
    return ItemRow(
        id=r["id"],
        case_id=r["case_id"],
        sha256=r["sha256"],
        kind=r["kind"],
        status=r["status"],
        classification=r["classification"],
        title=title,
        created_at=r["created_at"],
        tags=tuple(item_tag_list),
    )


def platforms(conn: Connection, account: Account, case_id: int) -> list[str]:
    """The platforms of the case's items the account may see (for the gallery's filter)."""
    if not can(account, Perm.READ) or not is_member(conn, account, case_id):
        raise AccessDenied("you are not a member of this case")
    seen = select(items.c.id).where(items.c.case_id == case_id, visible_clause(account, member_checked=True))
    rows = conn.execute(
        select(sightings.c.platform)
        .distinct()
        .where(sightings.c.item_id.in_(seen), sightings.c.platform.is_not(None))
    )
    return sorted(str(p[0]) for p in rows)


def item_tags(conn: Connection, account: Account, item_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The tags per item that the account may read: assignments left out, and free tags of reviewers
    whose work blind review still hides from it (``_blind_tag``)."""
    if not item_ids:
        return {}
    out: dict[str, list[str]] = {}
    q = (
        select(tags.c.item_id, tags.c.tag)
        .join(items, items.c.id == tags.c.item_id)
        .where(tags.c.item_id.in_(list(item_ids)), not_(_blind_tag(account)))
        .order_by(tags.c.tag)
    )
    for item_id, tag in conn.execute(q):
        if not str(tag).startswith(ASSIGN_PREFIX):
            out.setdefault(item_id, []).append(tag)
    return {k: tuple(v) for k, v in out.items()}


PAGE_KIND = "webpage"  # workbench.services.capture.store.PAGE_KIND: a captured web page
ARCHIVE_KIND = "archive"  # archive.sniff.kind_of: zip and gzip files, whose members become items
WITHHELD = "restricted content withheld"
CONTAINER_DEPTH = 8  # zips inside zips: deeper nesting is not followed (the ingest refuses it anyway)


def _captured_with(conn: Connection, item_id: str) -> set[str]:
    """Items seen in this page item's captures: the pictures and videos the page showed."""
    caps = select(sightings.c.capture_id).where(
        sightings.c.item_id == item_id, sightings.c.capture_id.is_not(None)
    )
    q = select(sightings.c.item_id).where(sightings.c.capture_id.in_(caps), sightings.c.item_id != item_id)
    return {str(r[0]) for r in conn.execute(q)}


def _taken_out_of(conn: Connection, shas: set[str]) -> dict[str, str]:
    """Items whose file was taken out of one of these files (zip members): item id -> its SHA-256."""
    found: dict[str, str] = {}
    frontier = set(shas)
    for _ in range(CONTAINER_DEPTH):
        if not frontier:
            break
        q = (
            select(sightings.c.item_id, items.c.sha256)
            .join(items, items.c.id == sightings.c.item_id)
            .where(sightings.c.details["container_sha256"].as_string().in_(sorted(frontier)))
        )
        new = {str(i): str(s) for i, s in conn.execute(q) if str(i) not in found}
        found.update(new)
        frontier = set(new.values()) - shas
        shas = shas | frontier
    return found


def held_items(conn: Connection, item_id: str) -> set[str]:
    """Ids of the items whose content lies inside this item's own files.

    - a captured web page holds the media seen in its captures (its screenshot, HTML, MHTML and
      WARC/WACZ show or carry them);
    - a zip holds its members, and their members in turn;
    - a picture or video seen on a page does not hold the page.
    """
    row = conn.execute(select(items.c.kind, items.c.sha256).where(items.c.id == item_id)).first()
    if row is None:
        return set()
    if row.kind == PAGE_KIND:
        held = _captured_with(conn, item_id)
    elif row.kind == ARCHIVE_KIND:  # members name their zip's SHA-256 as their container
        held = set(_taken_out_of(conn, {str(row.sha256)}))
    else:
        held = set()  # a picture, a video, a document: nothing else's content is inside (and this
        # spares every gallery card a scan of the sightings' JSON)
    held.discard(item_id)
    return held


def withheld_members(conn: Connection, account: Account, item_id: str) -> list[str]:
    """Ids of items the account may not see whose content lies inside this item's own files.

    See ``held_items`` for what holds what. Where this list is not empty, every file of the item
    (and every preview, heatmap or media list made from them) is withheld from the account: shown
    as "restricted content withheld", never served, revealed, replayed or exported to it.
    """
    held = held_items(conn, item_id)
    if not held:
        return []
    hidden = (
        select(items.c.id)
        .where(items.c.id.in_(sorted(held)), items.c.deleted_at.is_(None), not_(visible_clause(account)))
        .order_by(items.c.id)
    )
    return [str(r[0]) for r in conn.execute(hidden)]


def _scrub(value: Any, secrets_: set[str]) -> Any:
    """A copy of a JSON value where every file entry or string naming hidden content is withheld."""
    if isinstance(value, dict):
        if str(value.get("sha256", "")) in secrets_ or str(value.get("url", "")) in secrets_:
            return {"role": value.get("role", "media"), "withheld": WITHHELD}
        return {k: _scrub(v, secrets_) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets_) for v in value]
    if isinstance(value, str) and value in secrets_:
        return WITHHELD
    if isinstance(value, str) and "!" in value:  # a zip member's name starts with its zip's: "x.zip!a.png"
        head, _, tail = value.rpartition("!")
        while head:
            if head in secrets_:
                return f"{WITHHELD}!{tail}"
            head, _, inner = head.rpartition("!")
            tail = f"{inner}!{tail}"
    return value


def hidden_in_captures(conn: Connection, account: Account, item_id: str) -> list[str]:
    """Ids of items hidden from the account that were seen in the same captures as this item.

    Not content of this item (a photo does not hold its page or the page's other photos), but the
    capture records it shares with them list their addresses and hashes (``capture_records``).
    """
    hidden = (
        select(items.c.id)
        .where(
            items.c.id.in_(sorted(_captured_with(conn, item_id))),
            items.c.deleted_at.is_(None),
            not_(visible_clause(account)),
        )
        .order_by(items.c.id)
    )
    return [str(r[0]) for r in conn.execute(hidden)]


def containers_of(conn: Connection, item_id: str) -> list[str]:
    """Ids of the items this item was taken out of: its zip, that zip's zip ... (not content of this
    item, but its sightings name them: their hash, and their file name in its own)."""
    found: set[str] = set()
    frontier = {item_id}
    for _ in range(CONTAINER_DEPTH):
        q = select(sightings.c.details).where(sightings.c.item_id.in_(sorted(frontier)))
        shas = {
            str(d["container_sha256"])
            for (d,) in conn.execute(q)
            if isinstance(d, dict) and d.get("container_sha256")
        }
        if not shas:
            break
        row = conn.execute(select(items.c.case_id).where(items.c.id == item_id)).first()
        rows = select(items.c.id).where(
            items.c.sha256.in_(sorted(shas)), items.c.case_id == (row[0] if row else -1)
        )
        frontier = {str(r[0]) for r in conn.execute(rows)} - found - {item_id}
        found |= frontier
        if not frontier:
            break
    return sorted(found)


def hidden_around(conn: Connection, account: Account, item_id: str) -> list[str]:
    """Items hidden from the account that this item's records name: those seen in its captures
    (``hidden_in_captures``) and the zips it was taken out of."""
    around = set(containers_of(conn, item_id))
    if around:
        q = select(items.c.id).where(
            items.c.id.in_(sorted(around)), items.c.deleted_at.is_(None), not_(visible_clause(account))
        )
        around = {str(r[0]) for r in conn.execute(q)}
    return sorted(set(hidden_in_captures(conn, account, item_id)) | around)


def capture_records(conn: Connection, account: Account, item_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The capture records of a visible item, with the entries, hashes and URLs of every medium hidden
    from the account withheld (a record lists all the media of its capture)."""
    if find_visible(conn, account, item_id) is None:
        raise AccessDenied(NOT_FOUND)
    secrets_ = _hidden_media(conn, account, item_id)
    q = (
        select(captures.c.id, captures.c.record)
        .join(sightings, sightings.c.capture_id == captures.c.id)
        .where(sightings.c.item_id == item_id)
        .order_by(captures.c.started_at)
    )
    return [(str(cid), _scrub_record(dict(rec or {}), secrets_)) for cid, rec in conn.execute(q)]


def _scrub_record(record: dict[str, Any], secrets_: set[str]) -> dict[str, Any]:
    """A capture record with hidden content withheld; when the capture's page itself is hidden (a
    visible photo seen on it asks), its post (caption, author, text) goes too."""
    out: dict[str, Any] = _scrub(record, secrets_)
    if str(record.get("item_id")) in secrets_ and "post" in out:
        out["post"] = {"withheld": WITHHELD}
    elif secrets_ and isinstance(out.get("post"), dict):
        # The post names its pictures as the page states them (og:image, a resized variant, a
        # relative path), seldom as the address they were fetched from: none of them is given.
        out["post"] = _without_media_pointers(out["post"])
    return out


MEDIA_KEYS = ("image", "video", "media", "photo", "thumbnail", "audio", "poster")


def _without_media_pointers(post: dict[str, Any]) -> dict[str, Any]:
    """A post whose fields that point to pictures, videos or sounds are withheld, at any depth."""
    out: dict[str, Any] = {}
    for key, value in post.items():
        if any(word in str(key).lower() for word in MEDIA_KEYS):
            out[key] = WITHHELD
        elif isinstance(value, dict):
            out[key] = _without_media_pointers(value)
        else:
            out[key] = value
    return out


def _hidden_media(conn: Connection, account: Account, item_id: str) -> set[str]:
    """The ids, hashes, addresses and titles of the items hidden from the account seen in this item's
    captures (their media, or the page itself when it is the page that is hidden)."""
    return _secrets_of(conn, hidden_around(conn, account, item_id))


def _secrets_of(conn: Connection, hidden: Sequence[str]) -> set[str]:
    """The ids, hashes, addresses, titles (and a page's post author) by which a record names these items."""
    found: set[str] = set(hidden)
    if hidden:
        q = select(
            items.c.sha256,
            items.c.title,
            items.c.kind,
            sightings.c.url,
            sightings.c.original_name,
            sightings.c.account,
            sightings.c.details,
        ).join(sightings, sightings.c.item_id == items.c.id)
        for sha, title, kind, url, name, handle, details in conn.execute(q.where(items.c.id.in_(hidden))):
            found |= {str(sha)} | {str(v) for v in (url, title, name) if v}
            if kind == PAGE_KIND:  # a hidden page's post: its author, as every sighting of it names them
                found |= _post_facts(handle, details)
    return found


POST_FACTS = ("display_name", "post_id", "posted_at_shown")  # a sighting's details that quote the post


def _post_facts(handle: Any, details: Any) -> set[str]:
    """The strings a page's sighting quotes from its post (author handle, display name, post id)."""
    quoted = (
        [handle, *((details or {}).get(k) for k in POST_FACTS)] if isinstance(details, dict) else [handle]
    )
    return {str(v) for v in quoted if isinstance(v, str) and v.strip()}


def withhold_hidden_media(conn: Connection, account: Account, item_id: str, value: Any) -> Any:
    """A copy of ``value`` (a capture record or a part of one, of the visible item ``item_id``) with
    the entries, hashes and addresses of the media hidden from the account withheld."""
    secrets_ = _hidden_media(conn, account, item_id)
    return _scrub_record(value, secrets_) if isinstance(value, dict) else _scrub(value, secrets_)


def withhold_items(conn: Connection, item_ids: Sequence[str], value: Any) -> Any:
    """``withhold_hidden_media`` for items named by the caller rather than by an account's view: those
    of a capture that may not leave in an export (``workbench.services.export.packages``)."""
    secrets_ = _secrets_of(conn, sorted(item_ids))
    return _scrub_record(value, secrets_) if isinstance(value, dict) else _scrub(value, secrets_)


def file_withheld(conn: Connection, account: Account, item_id: str, sha256: str) -> bool:
    """Whether this file of the item must not reach the account: it is not one of the item's files,
    or the item holds content hidden from the account (``withheld_members``)."""
    linked = conn.execute(
        select(item_artifacts.c.role).where(
            item_artifacts.c.item_id == item_id, item_artifacts.c.sha256 == sha256
        )
    ).first()
    return linked is None or bool(withheld_members(conn, account, item_id))


def authorise_file(
    home: Home, account: Account, item_id: str, sha256: str, perm: Perm = Perm.READ, via: str = "app"
) -> ItemRow:
    """The item, if the account may see it and receive this file of it; else one logged refusal."""
    row = authorise(home, account, item_id, perm, via)
    with home.reading() as conn:
        withheld = file_withheld(conn, account, row.id, sha256)
    if withheld:
        with home.transaction(account.name, via) as tx:
            tx.event(
                "access.denied",
                case_id=row.case_id,
                item_id=row.id,
                artifact_sha256=sha256,
                details={"permission": perm.value, "reason": "withheld"},
            )
        raise AccessDenied(WITHHELD)
    return row


def find_visible(conn: Connection, account: Account, item_id: str) -> ItemRow | None:
    """The item if the account may see it, else None (same answer for absent and hidden)."""
    if not can(account, Perm.READ):
        return None
    r = conn.execute(select(items).where(items.c.id == item_id, visible_clause(account))).mappings().first()
    if r is None:
        return None
    return _row(r, item_tags(conn, account, [item_id]).get(item_id, ()), _title(conn, account, r))


def authorise(home: Home, account: Account, item_id: str, perm: Perm, via: str = "app") -> ItemRow:
    """The item if the account's role has ``perm`` and it may see the item; else a logged refusal.

    The refusal is committed on its own so that it stays in the log; the user learns nothing about
    whether a hidden item exists.
    """
    with home.reading() as conn:
        allowed = can(account, perm)
        row = find_visible(conn, account, item_id) if allowed else None
    if row is not None:
        return row
    with home.transaction(account.name, via) as tx:
        tx.event("access.denied", item_id=logged_item_id(item_id), details={"permission": perm.value})
    raise AccessDenied(NOT_FOUND if allowed else f"the {account.role.value} role may not {perm.value}")


def log_access(
    home: Home, account: Account, item_id: str, action: str, via: str = "app", **fields: Any
) -> ItemRow:
    """Check visibility and log one access (``item.viewed``, ``media.revealed``, ``media.downloaded``).

    With ``artifact_sha256`` the file itself is checked too (``authorise_file``).
    A refused attempt is logged as ``access.denied`` and raises AccessDenied.
    """
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"unknown access action {action!r}")
    sha = fields.get("artifact_sha256")
    # A file's bytes follow the content inside them: a page holding a hidden photo is not served.
    row = (
        authorise_file(home, account, item_id, str(sha), Perm.READ, via)
        if sha
        else authorise(home, account, item_id, Perm.READ, via)
    )
    with home.transaction(account.name, via) as tx:
        tx.event(action, case_id=row.case_id, item_id=row.id, **fields)
    return row


def open_item(home: Home, account: Account, item_id: str, via: str = "app") -> ItemRow:
    """The item, after the visibility check, with the view logged (AUD-01)."""
    return log_access(home, account, item_id, "item.viewed", via)


def access_report(home: Home, account: Account, item_id: str) -> list[CustodyEvent]:
    """Who viewed, revealed, downloaded or exported the item, and when (admins and legal staff)."""
    row = authorise(home, account, item_id, Perm.ACCESS_REPORT)
    with home.reading() as conn:
        return [e for e in CustodyLog.events(conn, item_id=row.id) if e.action in ACCESS_ACTIONS]


@dataclass(frozen=True)
class TagResult:
    tag: str
    prompt_classification: bool  # CON-04: tagging sexual violence asks the user to classify
    classification: str


def _norm_tag(tag: str) -> str:
    clean = " ".join(tag.strip().lower().split())
    if not clean or len(clean) > 64 or clean.startswith(ASSIGN_PREFIX):
        raise InvalidRequest("a tag is 1-64 characters and may not start with 'assigned:'")
    return clean


def _assign_row(tx: Transaction, item_id: str, user_id: int) -> None:
    tag = f"{ASSIGN_PREFIX}{user_id}"
    present = tx.conn.execute(select(tags.c.tag).where(tags.c.item_id == item_id, tags.c.tag == tag)).first()
    if present is None:
        tx.conn.execute(tags.insert().values(item_id=item_id, tag=tag, added_by=tx.actor, added_at=utcnow()))
        tx.event("item.assigned", item_id=item_id, details={"user_id": user_id})


def _set_classification(tx: Transaction, row: ItemRow, level: Classification) -> None:
    if row.classification == level.value:
        return
    tx.conn.execute(items.update().where(items.c.id == row.id).values(classification=level.value))
    tx.event(
        "item.classified",
        case_id=row.case_id,
        item_id=row.id,
        details={"before": row.classification, "after": level.value},
    )


def tag_item(home: Home, account: Account, item_id: str, tag: str, via: str = "app") -> TagResult:
    """Add a tag. "sexual violence" assigns the tagger, raises public items to restricted and asks
    for a classification, so the item leaves the gallery of unassigned users (CON-04)."""
    clean = _norm_tag(tag)
    row = authorise(home, account, item_id, Perm.ANNOTATE, via)
    with home.transaction(account.name, via) as tx:
        level = Classification(row.classification)
        if clean == SENSITIVE_TAG:
            _assign_row(tx, row.id, account.id)
            if level is Classification.PUBLIC:
                _set_classification(tx, row, Classification.RESTRICTED)
                level = Classification.RESTRICTED
        exists_ = tx.conn.execute(
            select(tags.c.tag).where(tags.c.item_id == row.id, tags.c.tag == clean)
        ).first()
        if exists_ is None:
            tx.conn.execute(
                tags.insert().values(item_id=row.id, tag=clean, added_by=account.name, added_at=utcnow())
            )
            # Only the fixed warning categories are named in the log; free tags may hold personal text.
            label = clean if clean in CONTENT_WARNINGS else "free"
            tx.event("item.tagged", case_id=row.case_id, item_id=row.id, details={"tag": label})
    return TagResult(clean, clean == SENSITIVE_TAG, level.value)


def classify(home: Home, account: Account, item_id: str, level: str, via: str = "app") -> str:
    """Set the item's classification; whoever marks it survivor-identifying stays assigned to it.

    Lifting the survivor-identifying mark opens the item to every member of the case and to exports
    without consent, so only an admin may do it: an assigned analyst or reviewer may not.
    """
    try:
        parsed = Classification(level)
    except ValueError:
        raise InvalidRequest(
            f"unknown classification {level!r}: use {', '.join(c.value for c in Classification)}"
        ) from None
    row = authorise(home, account, item_id, Perm.ANNOTATE, via)
    lifting = (
        row.classification == Classification.SURVIVOR_IDENTIFYING.value
        and parsed is not Classification.SURVIVOR_IDENTIFYING
    )
    if lifting and not can(account, Perm.MANAGE_CASES):
        raise refuse(home, account, Perm.MANAGE_CASES, via, case_id=row.case_id, item_id=row.id)
    with home.transaction(account.name, via) as tx:
        if parsed is Classification.SURVIVOR_IDENTIFYING:
            _assign_row(tx, row.id, account.id)
        _set_classification(tx, row, parsed)
    return parsed.value


def assign(home: Home, account: Account, item_id: str, user_name: str, via: str = "app") -> None:
    """Give a case member access to a sensitive item (by someone who can already see it)."""
    row = authorise(home, account, item_id, Perm.ASSIGN, via)
    with home.reading() as conn:
        other = account_by_name(conn, user_name)
        member = other is not None and is_member(conn, other, row.case_id)
    if other is None or not member:
        raise InvalidRequest(f"{user_name!r} is not a member of this item's case")
    with home.transaction(account.name, via) as tx:
        _assign_row(tx, row.id, other.id)


STATUS_VALUES = tuple(s.value for s in Status)
