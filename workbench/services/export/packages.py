"""Evidence packages for legal staff: who may export, what may leave, the transfer record, and the bag.

1. Check the request: the profile must suit the recipient type (``PROFILE_FOR``: the full internal
   profile only to internal, court and UN-mechanism recipients; partners the partner profile at most;
   media and the public only the public profile). A mismatch is refused before anything is read.
2. Authorise: the acting account needs the export permission and membership of the case (a refusal is
   one ``access.denied`` event with the true channel). Items it may not see are not exported; naming
   one is refused like a missing one.
3. Select: each item is checked against deletion, consent, the profile's classification ceiling and
   the contents of its files (``withheld_reason``). What may not leave is *withheld*, and the
   manifest and the transfer register say why. Consent fails closed: a survivor-identifying item, or
   one tagged "sexual violence" (CON-04), leaves only under an open consent record whose scope names
   the recipient type.
4. Shared copies (partner and public): each item travels as its redacted copy, else as a
   metadata-stripped copy (a derived artifact with its own custody event); an item of which no clean
   copy can be made is withheld.
5. Record the transfer: a row in ``transfers`` (recipient and purpose text live there) and one custody
   event per item, holding only ids, hashes, the profile and the recipient type; a signed checkpoint
   closes the transaction.
6. Package: the records and custody events the profile carries (``archive.export.profiles``), their
   inclusion proofs against that checkpoint, the report, and the BagIt bag. The payload manifest's
   and the report's SHA-256 then enter the custody log.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from archive import artifacts as art
from archive.custody import CustodyLog
from archive.db import cases, custody_events, items, sightings, transfers, utc_text, utcnow
from archive.errors import InvalidRequest
from archive.export import gather
from archive.export.bag import BagError
from archive.export.package import PackageInput, write_package
from archive.export.profiles import (
    SHARED_PROFILES,
    WITHHELD,
    Profile,
    RecipientType,
    shared_events,
    shared_record,
)
from archive.export.readme import readme_text
from archive.export.strip import StripError, strip_copy
from archive.home import Home
from archive.metadata import ExifReader
from archive.model import Classification, ItemRecord, Role, Withheld
from archive.timestamps import stamps_for_package
from workbench.services import access, auth
from workbench.services.auth import AccessDenied, Account, Perm
from workbench.services.consent import IdentityOption, hidden_options
from workbench.services.review import confidence_scale

__all__ = [
    "PROFILES",
    "PROFILE_FOR",
    "check_profile",
    "RECIPIENT_TYPES",
    "ExportError",
    "ExportRequest",
    "ExportResult",
    "Transfer",
    "export_package",
    "list_transfers",
    "register_hash",
    "withheld_reason",
]

RANK = {c.value: i for i, c in enumerate(Classification)}
# The most restricted classification each profile may carry.
PROFILES: Mapping[str, str] = {
    Profile.INTERNAL.value: Classification.SURVIVOR_IDENTIFYING.value,
    Profile.PARTNER.value: Classification.RESTRICTED.value,
    Profile.PUBLIC.value: Classification.PUBLIC.value,
}
RECIPIENT_TYPES = tuple(r.value for r in RecipientType)
# The fullest profile each recipient type may receive (EXP-04).
PROFILE_FOR: Mapping[str, str] = {
    RecipientType.INTERNAL: Profile.INTERNAL,
    RecipientType.COURT: Profile.INTERNAL,
    RecipientType.UN_MECHANISM: Profile.INTERNAL,
    RecipientType.PARTNER: Profile.PARTNER,
    RecipientType.MEDIA: Profile.PUBLIC,
    RecipientType.PUBLIC: Profile.PUBLIC,
}
PROFILE_ORDER = (Profile.PUBLIC, Profile.PARTNER, Profile.INTERNAL)
# Recipients inside the organisation: consent need not name them, but a sensitive item still needs
# an open consent record to leave the archive at all.
IN_HOUSE = frozenset({RecipientType.INTERNAL})
PAGE_KIND = "webpage"
TSA_WAIT_S = 15.0


class ExportError(InvalidRequest):
    """The export cannot be made as asked; nothing was written or logged."""


@dataclass(frozen=True)
class ExportRequest:
    case_slug: str
    profile: str
    recipient: str
    recipient_type: str
    purpose: str
    out: Path
    by: Account
    item_ids: Sequence[str] = ()
    via: str = "cli"
    report: bool = True
    # Told how far the export has come (0..1) and what it is doing; the app's job shows it.
    progress: Callable[[float, str], None] | None = None


@dataclass
class ExportResult:
    transfer_id: str | None
    out: Path | None
    included: list[dict[str, Any]] = field(default_factory=list)
    withheld: list[Withheld] = field(default_factory=list)
    manifest_sha256: str | None = None
    report_sha256: str | None = None


def _sensitive(record: ItemRecord) -> bool:
    """Survivor-identifying, or tagged sexual violence (indirectly sourced survivor material, CON-04)."""
    if record.item["classification"] == Classification.SURVIVOR_IDENTIFYING.value:
        return True
    return any(t["tag"] == access.SENSITIVE_TAG for t in record.tags)


def _withdrawn(record: ItemRecord) -> tuple[str, str] | None:
    """A withdrawal blocks every export (consent records are named by id, never by pseudonym)."""
    for consent in record.consents:
        if consent.get("withdrawn_on"):
            return "consent_withdrawn", (
                f"a consent record (id {consent['id']}) was withdrawn on {consent['withdrawn_on'][:10]}"
            )
    return None


def _consent_reason(record: ItemRecord, recipient_type: str) -> tuple[str, str] | None:
    """A sensitive item needs a consent record; every record must name the recipient type."""
    if _sensitive(record) and not record.consents:
        return "no_consent", (
            "survivor-identifying or sexual-violence material leaves only under a consent record "
            f"whose scope names the recipient type ({recipient_type}); there is none"
        )
    if recipient_type in IN_HOUSE:
        return None
    for consent in record.consents:
        scopes = consent.get("scopes") or []
        if recipient_type not in scopes:
            covers = ", ".join(scopes) or "nothing"
            return "consent_scope", (
                f"a consent record (id {consent['id']}) covers {covers}; not {recipient_type}"
            )
    return None


def withheld_reason(record: ItemRecord, profile: str, recipient_type: str) -> tuple[str, str] | None:
    """Why an item may not leave in this export, as (reason code, explanation), or None."""
    item = record.item
    if item.get("deleted_at"):
        return "deleted", "the item was deleted"
    why = _withdrawn(record)
    if why is not None:
        return why
    ceiling = PROFILES[profile]
    if RANK.get(item["classification"], len(RANK)) > RANK[ceiling]:
        return "classification", (
            f"classified {item['classification']}, above what the {profile} profile may carry ({ceiling})"
        )
    why = _consent_reason(record, recipient_type)
    if why is not None:
        return why
    if profile in SHARED_PROFILES and not _redacted(record):
        for consent in record.consents:
            if IdentityOption.FACE in hidden_options(consent.get("identity_options")):
                return "needs_redaction", (
                    f"a consent record (id {consent['id']}) asks to hide the face: "
                    "make a redacted copy (wb redact)"
                )
    return None


def _redacted(record: ItemRecord) -> list[dict[str, Any]]:
    return [a for a in record.artifacts if a["role"] == "redacted" and not a.get("removed_at")]


def check_profile(profile: str, recipient_type: str) -> None:
    """Raise ExportError unless the profile may go to that type of recipient (``PROFILE_FOR``), so a
    form can say so before an export is queued."""
    if profile not in PROFILES:
        raise ExportError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    if recipient_type not in RECIPIENT_TYPES:
        raise ExportError(
            f"unknown recipient type {recipient_type!r}: use one of {', '.join(RECIPIENT_TYPES)}"
        )
    allowed = PROFILE_FOR[recipient_type]
    if PROFILE_ORDER.index(profile) > PROFILE_ORDER.index(allowed):
        raise ExportError(
            f"the {profile} profile may not go to a {recipient_type} recipient: "
            f"choose the profile {allowed}"
            + (" (or a more restricted one)" if allowed != Profile.PUBLIC else ""),
            field="profile",
        )


def _check_request(req: ExportRequest) -> None:
    check_profile(req.profile, req.recipient_type)
    if not req.recipient.strip() or not req.purpose.strip():
        raise ExportError("an export needs a recipient and a purpose")
    if req.out.exists() and (not req.out.is_dir() or any(req.out.iterdir())):
        raise ExportError(f"{req.out} exists and is not an empty folder")


def _case_id(home: Home, slug: str) -> int:
    from archive.cases import CaseError, get_case

    with home.reading() as conn:
        try:
            return get_case(conn, slug).id
        except CaseError as exc:
            raise ExportError(str(exc)) from None


def _visible_ids(home: Home, req: ExportRequest, case_id: int) -> list[str]:
    """The items of the request the account may see; naming one it may not see is a logged refusal."""
    query = select(items.c.id).where(
        items.c.case_id == case_id, access.visible_clause(req.by, member_checked=True)
    )
    if req.item_ids:
        query = query.where(items.c.id.in_(list(req.item_ids)))
    with home.reading() as conn:
        ids = [str(r.id) for r in conn.execute(query.order_by(items.c.id))]
    unknown = sorted(set(req.item_ids) - set(ids))
    if unknown:
        # One answer for absent and hidden items, so that a refusal reveals nothing.
        auth.refuse(home, req.by, Perm.EXPORT, req.via, case_id=case_id, item_id=unknown[0][:32])
        raise AccessDenied(f"not items of case {req.case_slug} that you may see: {', '.join(unknown)}")
    return ids


def _capture_members(conn: Connection, item_id: str) -> list[str]:
    """Other live items seen in the same captures as this one (a page's pictures, a picture's page)."""
    caps = select(sightings.c.capture_id).where(
        sightings.c.item_id == item_id, sightings.c.capture_id.is_not(None)
    )
    related = select(sightings.c.item_id).where(
        sightings.c.capture_id.in_(caps), sightings.c.item_id != item_id
    )
    query = select(items.c.id).where(items.c.id.in_(related), items.c.deleted_at.is_(None)).distinct()
    return sorted(str(r.id) for r in conn.execute(query))


def _contained(
    conn: Connection, req: ExportRequest, record: ItemRecord, verdicts: dict[str, bool]
) -> tuple[tuple[str, str] | None, ItemRecord]:
    """Files that hold content of items that may not leave never leave with it.

    An item's files hold the items ``access.held_items`` names: a web page's files (WARC, WACZ,
    screenshot, HTML ...) every picture the page showed, a zip's its members. The item is withheld when
    one of them is hidden from the exporter, or would itself be withheld from this export (no consent
    for this recipient, a classification above the profile ...). Another item of the same capture
    keeps its own file, but not the capture records, nor what its sightings and translations quote of
    them, when an item that may not leave is among them (they list its address, hash, post, author).
    Returns why it is withheld (None: it may leave) and the record as it may leave.
    """
    item_id = record.id
    if access.withheld_members(conn, req.by, item_id):  # a page's media, a zip's members
        return (
            "restricted_content",
            "restricted content withheld: the item's files hold content of items you may not see",
        ), record
    if _barred(conn, req, _live(conn, access.held_items(conn, item_id)), verdicts):
        return (
            "restricted_content",
            "restricted content withheld: the item's files hold an item that may not leave in this export",
        ), record
    # The items its records name: its capture's page and media, and the zips it was taken out of.
    named = _capture_members(conn, item_id) + _live(conn, set(access.containers_of(conn, item_id)))
    barred = _barred(conn, req, named, verdicts)
    if not barred:
        return None, record
    withheld_caps = {str(c["id"]) for c in record.captures}
    return None, replace(
        record,
        captures=[
            {**c, "requested_url": "(restricted content withheld)", "final_url": None, "record": {}}
            for c in record.captures
        ],
        # A sighting on that page names the page's address and author in its details; a translation of
        # a caption from those records quotes it.
        sightings=access.withhold_items(conn, barred, record.sightings),
        item=access.withhold_items(conn, barred, record.item),  # a zip member's title
        translations=[
            t
            for t in record.translations
            if str(t.get("source_ref", "")).removeprefix("caption:capture:") not in withheld_caps
        ],
    )


def _live(conn: Connection, ids: set[str]) -> list[str]:
    if not ids:
        return []
    query = select(items.c.id).where(items.c.id.in_(sorted(ids)), items.c.deleted_at.is_(None))
    return sorted(str(r.id) for r in conn.execute(query))


def _barred(conn: Connection, req: ExportRequest, ids: Sequence[str], verdicts: dict[str, bool]) -> list[str]:
    """Those of these items that may not leave in this export: hidden from the exporter, or withheld
    (consent, classification ...). ``verdicts`` keeps the answers for the rest of the export (a page's
    photos each ask about the same capture mates)."""
    todo = [i for i in ids if i not in verdicts]
    if todo:
        verdicts.update(_verdicts(conn, req, todo))
    return [i for i in ids if verdicts[i]]


def _verdicts(conn: Connection, req: ExportRequest, ids: list[str]) -> dict[str, bool]:
    seen = {
        str(r.id)
        for r in conn.execute(
            select(items.c.id).where(
                items.c.id.in_(list(ids)), access.visible_clause(req.by, member_checked=True)
            )
        )
    }
    return {
        i: i not in seen
        or withheld_reason(gather.gather_item(conn, i), req.profile, req.recipient_type) is not None
        for i in ids
    }


def _select(home: Home, req: ExportRequest, case_id: int) -> tuple[list[ItemRecord], list[Withheld]]:
    ids = _visible_ids(home, req, case_id)
    chosen: list[ItemRecord] = []
    withheld: list[Withheld] = []
    verdicts: dict[str, bool] = {}
    with home.reading() as conn:
        for item_id in ids:
            record = gather.gather_item(conn, item_id)
            why = withheld_reason(record, req.profile, req.recipient_type)
            if why is None:
                why, record = _contained(conn, req, record, verdicts)
            if why is None:
                chosen.append(record)
            else:
                withheld.append(Withheld(item_id, why[0], why[1]))
    return chosen, withheld


def _shared_source(record: ItemRecord) -> tuple[str, str] | None:
    """The file a stripped copy is made from: the original, or a web page's screenshot."""
    if record.item["kind"] != PAGE_KIND:
        mime = next((a["mime"] for a in record.artifacts if a["sha256"] == record.sha256), "")
        return record.sha256, mime
    shots = [a for a in record.artifacts if a["role"] == "screenshot" and not a.get("removed_at")]
    return (shots[-1]["sha256"], shots[-1]["mime"]) if shots else None


def _strip(home: Home, by: Account, via: str, record: ItemRecord, reader: ExifReader) -> dict[str, Any]:
    """Store (or reuse) the item's metadata-stripped copy and log its derivation; StripError if none."""
    source = _shared_source(record)
    if source is None:
        raise StripError("a web page without a screenshot has no file that can be shared")
    parent, mime = source
    with (
        tempfile.TemporaryDirectory(dir=home.area("scratch")) as work,
        home.blobs.local_copy(parent) as original,
    ):
        data = strip_copy(original, mime, Path(work), reader)
    sha = hashlib.sha256(data).hexdigest()
    if not any(a["sha256"] == sha and a["role"] == "stripped" for a in record.artifacts):
        with home.transaction(by.name, via) as tx:
            art.attach_derived(
                tx, home.blobs, data, mime, case_id=int(record.item["case_id"]),
                item_id=record.id, parent_sha256=parent, operation="metadata-strip",
                role="stripped", parameters={"tool": "exiftool -all=", "checked": "exiftool read-back"},
            )  # fmt: skip
    return {"sha256": sha, "mime": mime, "parent_sha256": parent, "operation": "metadata-strip"}


def _shared_copies(
    home: Home, req: ExportRequest, chosen: list[ItemRecord], withheld: list[Withheld]
) -> list[ItemRecord]:
    """Partner and public packages: each item's redacted copy, else a metadata-stripped copy."""
    if req.profile not in SHARED_PROFILES:
        return chosen
    kept = []
    reader = ExifReader()
    try:
        for record in chosen:
            redacted = _redacted(record)
            try:
                shared = (
                    {k: redacted[-1][k] for k in ("sha256", "mime", "parent_sha256", "operation")}
                    if redacted
                    else _strip(home, req.by, req.via, record, reader)
                )
            except StripError as exc:
                withheld.append(Withheld(record.id, "metadata", str(exc)))
                continue
            kept.append(replace(shared_record(record, req.profile), shared_copy=shared))
    finally:
        reader.close()
    return kept


def _record_transfer(
    home: Home, req: ExportRequest, case_id: int, chosen: list[ItemRecord], withheld: list[Withheld]
) -> dict[str, Any]:
    """The transfer row and its custody events, in one transaction closed by a signed checkpoint."""
    transfer_id = uuid.uuid4().hex
    at = utcnow()
    included = [{"item_id": r.id, "sha256": r.sha256} for r in chosen]
    row = {
        "id": transfer_id,
        "case_id": case_id,
        "recipient": req.recipient,
        "recipient_type": req.recipient_type,
        "purpose": req.purpose,
        "profile": req.profile,
        "items": [*included, *(w.as_register() for w in withheld)],
        "authorised_by": req.by.name,
        "at": at,
    }
    # The register row's hash goes into the log, so the recipient and purpose text (kept out of the
    # log) cannot be changed afterwards unseen.
    common = {
        "transfer_id": transfer_id,
        "profile": req.profile,
        "recipient_type": req.recipient_type,
        "register_sha256": register_hash(row),
    }
    with home.transaction(req.by.name, req.via) as tx:
        tx.conn.execute(transfers.insert().values(**row))
        for entry in included:
            tx.event(
                "export.transfer",
                case_id=case_id,
                item_id=entry["item_id"],
                artifact_sha256=entry["sha256"],
                details=common,
            )
        for w in withheld:
            tx.event(
                "export.withheld", case_id=case_id, item_id=w.item_id, details={**common, "reason": w.reason}
            )
    shared = req.profile in SHARED_PROFILES
    return {
        **common,
        "case_id": case_id,
        "case": req.case_slug,
        "recipient": req.recipient,
        "purpose": req.purpose,
        # partner and public recipients learn the organisation's decision, not its staff's names
        "authorised_by": WITHHELD if shared else req.by.name,
        "at": utc_text(at),
        "items": [_manifest_entry(r) for r in chosen],
    }


def _manifest_entry(record: ItemRecord) -> dict[str, Any]:
    """An included item: the original's hash, and the copy sent instead with its derivation."""
    entry: dict[str, Any] = {"item_id": record.id, "sha256": record.sha256}
    if record.shared_copy:
        entry["shared_copy"] = dict(record.shared_copy)
    return entry


def _package(
    home: Home,
    req: ExportRequest,
    manifest: dict[str, Any],
    chosen: list[ItemRecord],
    withheld: list[Withheld],
) -> tuple[str, str | None]:
    ids = [r.id for r in chosen]
    _stamp_now(home)
    with home.reading() as conn:
        checkpoint = gather.latest_checkpoint(conn)
        if checkpoint is None:
            raise ExportError("the custody log has no signed checkpoint")
        size = int(checkpoint["tree_size"])
        events = shared_events(gather.item_events(conn, ids, size), req.profile, manifest["transfer_id"])
        leaves = CustodyLog.leaves(conn)[:size]
        first: dict[str, int] = {}
        for e in events:
            first.setdefault(e["item_id"], int(e["seq"]))
        stamps = stamps_for_package(conn, size, first.values())
    report_pdf = _report(home, manifest, chosen, events, withheld) if req.report else None
    spec = PackageInput(
        manifest=manifest,
        records=chosen,
        withheld=withheld,
        events=events,
        checkpoint=checkpoint,
        public_key_pem=home.signer.verifier.pem(),
        leaves=leaves,
        open_blob=_counting(home.blobs.open, req, len(chosen)),
        confidence_scale=confidence_scale(),
        readme=readme_text(manifest, home.signer.verifier.key_id, [int(s["tree_size"]) for s in stamps]),
        report_pdf=report_pdf,
        info={"External-Identifier": manifest["transfer_id"], "Bag-Group-Identifier": req.case_slug},
        sign=home.signer.sign,
        timestamps=stamps,
    )
    try:
        manifest_sha, _ = write_package(req.out, spec)
    except BagError as exc:
        raise ExportError(str(exc)) from None
    report_sha = None if report_pdf is None else hashlib.sha256(report_pdf).hexdigest()
    return manifest_sha, report_sha


def _tell(req: ExportRequest, done: float, stage: str) -> None:
    if req.progress is not None:
        req.progress(done, stage)


def _counting(open_blob: Callable[[str], Any], req: ExportRequest, expected: int) -> Callable[[str], Any]:
    """``open_blob`` that reports each file the package copies (between 20% and 80% of the export)."""
    seen: list[str] = []

    def open_(sha256: str) -> Any:
        seen.append(sha256)
        share = min(1.0, len(seen) / max(1, expected))
        _tell(req, 0.2 + 0.6 * share, f"copying files into the package ({len(seen)} so far)")
        return open_blob(sha256)

    return open_


def _stamp_now(home: Home) -> None:
    """With a TSA configured, let the package's own checkpoint be stamped before it is written: the
    stamping started by the transfer's commit is awaited, and anything still due is asked for once.
    A TSA that is down leaves the package without that token (the README says how to check it)."""
    if home.stamper is None:
        return
    home.stamper.wait(TSA_WAIT_S)
    home.stamper.stamp_due()


def _report(
    home: Home,
    manifest: Mapping[str, Any],
    chosen: list[ItemRecord],
    events: list[dict[str, Any]],
    withheld: list[Withheld],
) -> bytes:
    """The case report that travels in the package (its hash is logged after packaging)."""
    from workbench.services.export import reports  # fpdf and its fonts load only when a package is made

    scope = {
        "Case": str(manifest["case"]),
        "Transfer": str(manifest["transfer_id"]),
        "Profile": str(manifest["profile"]),
        "Recipient type": str(manifest["recipient_type"]),
        "Authorised by": str(manifest["authorised_by"]),
    }
    _, pdf = reports.make_report(
        home, f"Evidence package report: {manifest['case']}", scope, chosen, events, withheld
    )
    return pdf


def export_package(home: Home, req: ExportRequest) -> ExportResult:
    """Check, authorise, select, record the transfer, write the package, and log its hashes.

    Raises ExportError (nothing written or logged) and AccessDenied (the refusal is logged).
    """
    _check_request(req)
    if home.encrypted and req.out.resolve().is_relative_to(home.root.resolve()):
        raise ExportError(
            f"{req.out} is inside the encrypted home: its plain copies would be in every copy of it"
        )
    case_id = _case_id(home, req.case_slug)
    auth.check_case(home, req.by, Perm.EXPORT, case_id, req.via)
    _tell(req, 0.05, "checking each item's visibility and consent")
    chosen, withheld = _select(home, req, case_id)
    _tell(req, 0.1, "preparing shared copies" if req.profile in SHARED_PROFILES else "recording the transfer")
    chosen = _shared_copies(home, req, chosen, withheld)
    if not chosen:
        _log_blocked(home, req, case_id, withheld)
        return ExportResult(None, None, [], withheld)
    manifest = _record_transfer(home, req, case_id, chosen, withheld)
    try:
        manifest_sha, report_sha = _package(home, req, manifest, chosen, withheld)
    except Exception as exc:  # stage boundary: the transfer was recorded, so its failure must be too
        with home.transaction(req.by.name, req.via) as tx:
            tx.event(
                "export.failed",
                case_id=case_id,
                details={"transfer_id": manifest["transfer_id"], "error": type(exc).__name__},
            )
        raise ExportError(
            f"the package could not be written ({exc}); transfer {manifest['transfer_id']} is logged "
            f"as failed and {req.out} may hold a partial package: delete it"
        ) from exc
    _log_packaged(home, req, case_id, manifest["transfer_id"], manifest_sha, report_sha)
    return ExportResult(
        manifest["transfer_id"], req.out, manifest["items"], withheld, manifest_sha, report_sha
    )


def _log_packaged(
    home: Home, req: ExportRequest, case_id: int, transfer_id: str, manifest_sha: str, report_sha: str | None
) -> None:
    with home.transaction(req.by.name, req.via) as tx:
        tx.conn.execute(
            update(transfers).where(transfers.c.id == transfer_id).values(manifest_sha256=manifest_sha)
        )
        tx.event(
            "export.packaged",
            case_id=case_id,
            artifact_sha256=manifest_sha,
            details={"transfer_id": transfer_id, "report_sha256": report_sha},
        )
        if report_sha is not None:
            tx.event(
                "report.generated",
                case_id=case_id,
                artifact_sha256=report_sha,
                details={"transfer_id": transfer_id},
            )


def _log_blocked(home: Home, req: ExportRequest, case_id: int, withheld: list[Withheld]) -> None:
    """Nothing may leave: log the refusal per item, write no package and no transfer."""
    with home.transaction(req.by.name, req.via) as tx:
        for w in withheld:
            tx.event(
                "export.blocked",
                case_id=case_id,
                item_id=w.item_id,
                details={"profile": req.profile, "recipient_type": req.recipient_type, "reason": w.reason},
            )


REGISTER_FIELDS = (
    "id",
    "case_id",
    "recipient",
    "recipient_type",
    "purpose",
    "profile",
    "items",
    "authorised_by",
    "at",
)


def register_hash(row: Mapping[Any, Any]) -> str:
    """SHA-256 of a transfer register row's canonical JSON (times as fixed-form UTC text)."""
    values = gather.jsonable({k: row[k] for k in REGISTER_FIELDS})
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _logged_register_hash(conn: Connection, transfer_id: str) -> str | None:
    query = select(custody_events.c.details).where(
        custody_events.c.action.in_(["export.transfer", "export.withheld"]),
        custody_events.c.details.contains(transfer_id),
    )
    for (text,) in conn.execute(query.limit(5)):
        details = json.loads(text)
        if details.get("transfer_id") == transfer_id:
            return str(details.get("register_sha256") or "") or None
    return None


REGISTER_ROLES = frozenset({Role.LEGAL, Role.ADMIN})


def _register_cases(home: Home, by: Account, case_slug: str | None, via: str) -> list[int]:
    """The cases whose transfers the account may read: legal staff and admins, members only."""
    if by.role not in REGISTER_ROLES or not auth.can(by, Perm.EXPORT):
        raise auth.refuse(home, by, Perm.EXPORT, via)
    with home.reading() as conn:
        mine = set(auth.case_ids_for(conn, by))
        if case_slug is None:
            return sorted(mine)
        row = conn.execute(select(cases.c.id).where(cases.c.slug == case_slug)).first()
    if row is None:
        raise ExportError(f"no case named {case_slug!r}")
    if int(row.id) not in mine:
        raise auth.refuse(home, by, Perm.EXPORT, via, case_id=int(row.id))
    return [int(row.id)]


def _visible_entries(conn: Connection, by: Account, entries: Sequence[Mapping[str, Any]]) -> list[Any]:
    ids = [str(e["item_id"]) for e in entries]
    seen = {
        str(r.id)
        for r in conn.execute(select(items.c.id).where(items.c.id.in_(ids), access.visible_clause(by)))
    }
    return [dict(e) for e in entries if str(e["item_id"]) in seen]


@dataclass(frozen=True)
class Transfer:
    """A row of the transfer register (COC-03) as one account may read it."""

    id: str
    case_id: int
    slug: str
    recipient: str
    recipient_type: str
    purpose: str
    profile: str
    items: list[dict[str, Any]]  # {"item_id", "sha256"} sent, {"item_id", "withheld": reason} held back
    authorised_by: str
    at: str  # UTC text
    manifest_sha256: str | None
    items_restricted: int  # items of the row the account may not see, left out of ``items``
    register_intact: bool | None  # None: no register hash was logged (older transfers)

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [i for i in self.items if "sha256" in i]

    @property
    def withheld(self) -> list[dict[str, Any]]:
        return [i for i in self.items if "withheld" in i]

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def list_transfers(home: Home, by: Account, case_slug: str | None = None, via: str = "cli") -> list[Transfer]:
    """The transfer register (COC-03) of the cases the account may read, oldest first.

    Only legal staff and admins read it, and only for cases they are members of. Items the account
    may not see are left out of each row; ``items_restricted`` counts them. ``register_intact`` says
    whether the full row still hashes to what its custody events recorded (None when they recorded
    no hash: transfers made before register hashing).
    """
    case_ids = _register_cases(home, by, case_slug, via)
    query = (
        select(transfers, cases.c.slug)
        .join(cases, cases.c.id == transfers.c.case_id)
        .where(transfers.c.case_id.in_(case_ids))
    )
    with home.reading() as conn:
        rows = []
        for r in conn.execute(query.order_by(transfers.c.at)).mappings():
            logged = _logged_register_hash(conn, r["id"])
            intact = None if logged is None else logged == register_hash(r)
            shown = _visible_entries(conn, by, r["items"])
            rows.append(
                Transfer(
                    **{**gather.jsonable(r), "items": shown},
                    items_restricted=len(r["items"]) - len(shown),
                    register_intact=intact,
                )
            )
    return rows
