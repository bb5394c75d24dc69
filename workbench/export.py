"""Evidence packages for legal staff: what may leave, the transfer record, and the bag.

1. Select: each item of the case (or the ones named) is checked against the profile's classification
   ceiling, its consent records (withdrawal blocks everything; the scope must name the recipient type)
   and deletion. What may not leave is *withheld*, and the manifest says why.
2. Record the transfer: a row in ``transfers`` (recipient and purpose text live there) and one custody
   event per item, holding only ids, hashes, the profile and the recipient type; a signed checkpoint
   closes the transaction.
3. Package: gather the records, the custody events and their inclusion proofs against that checkpoint,
   the report, and write the BagIt bag.
4. Log the result: the payload manifest's and the report's SHA-256 enter the custody log.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from archive.custody import CustodyLog
from archive.db import custody_events, items, transfers, users, utc_text, utcnow
from archive.export import gather
from archive.export.bag import BagError
from archive.export.package import PackageInput, write_package
from archive.export.readme import readme_text
from archive.home import Home
from archive.model import CONFIDENCE_DEFINITIONS, Classification
from workbench import access, auth

__all__ = [
    "PROFILES",
    "RECIPIENT_TYPES",
    "ExportError",
    "ExportRefused",
    "ExportRequest",
    "ExportResult",
    "confidence_scale",
    "export_package",
    "list_transfers",
    "register_hash",
    "withheld_reason",
]

RANK = {c.value: i for i, c in enumerate(Classification)}
# The most restricted classification each profile may carry.
PROFILES: Mapping[str, str] = {
    "internal": Classification.SURVIVOR_IDENTIFYING.value,
    "partner": Classification.RESTRICTED.value,
    "public": Classification.PUBLIC.value,
}
RECIPIENT_TYPES = ("internal", "court", "un_mechanism", "partner", "media", "public")
# Roles left out of partner and public packages: metadata sidecars carry GPS positions and serials.
SHARED_OMITS = frozenset({"sidecar"})
REDACTED_PROFILES = frozenset({"partner", "public"})


class ExportError(Exception):
    """The export cannot be made as asked; nothing was written or logged."""


class ExportRefused(Exception):
    """The acting user may not export from this case; the refusal is in the custody log."""


@dataclass(frozen=True)
class ExportRequest:
    case_slug: str
    profile: str
    recipient: str
    recipient_type: str
    purpose: str
    out: Path
    actor: str
    item_ids: Sequence[str] = ()
    via: str = "cli"
    report: bool = True


@dataclass
class ExportResult:
    transfer_id: str | None
    out: Path | None
    included: list[dict[str, str]] = field(default_factory=list)
    withheld: list[dict[str, str]] = field(default_factory=list)
    manifest_sha256: str | None = None
    report_sha256: str | None = None


def withheld_reason(record: Mapping[str, Any], profile: str, recipient_type: str) -> tuple[str, str] | None:
    """Why an item may not leave in this export, as (reason code, explanation), or None.

    The explanation travels in the package's manifest, so it names consent records by id, never by
    the subject's pseudonym.
    """
    item = record["item"]
    if item.get("deleted_at"):
        return "deleted", "the item was deleted"
    for consent in record["consents"]:
        if consent.get("withdrawn_on"):
            return "consent_withdrawn", (
                f"a consent record (id {consent['id']}) was withdrawn on {consent['withdrawn_on'][:10]}"
            )
    ceiling = PROFILES[profile]
    if RANK.get(item["classification"], len(RANK)) > RANK[ceiling]:
        return "classification", (
            f"classified {item['classification']}, above what the {profile} profile may carry ({ceiling})"
        )
    if profile in REDACTED_PROFILES and not any(a["role"] == "redacted" for a in record["artifacts"]):
        for consent in record["consents"]:
            if (consent.get("identity_options") or {}).get("hide_face"):
                return "needs_redaction", (
                    f"a consent record (id {consent['id']}) asks to hide the face: "
                    "make a redacted copy (wb redact)"
                )
    needed = {recipient_type} | ({"public"} if profile == "public" else set())
    needed.discard("internal")
    for consent in record["consents"]:
        missing = needed - set(consent.get("scopes") or [])
        if missing:
            covers = ", ".join(consent.get("scopes") or []) or "nothing"
            return "consent_scope", (
                f"a consent record (id {consent['id']}) covers {covers}; not {', '.join(sorted(missing))}"
            )
    return None


def _check_request(req: ExportRequest) -> None:
    if req.profile not in PROFILES:
        raise ExportError(f"unknown profile {req.profile!r}: use one of {', '.join(PROFILES)}")
    if req.recipient_type not in RECIPIENT_TYPES:
        raise ExportError(
            f"unknown recipient type {req.recipient_type!r}: use one of {', '.join(RECIPIENT_TYPES)}"
        )
    if not req.recipient.strip() or not req.purpose.strip():
        raise ExportError("an export needs a recipient and a purpose")
    if req.out.exists() and (not req.out.is_dir() or any(req.out.iterdir())):
        raise ExportError(f"{req.out} exists and is not an empty folder")


def _select(home: Home, req: ExportRequest) -> tuple[int, list[dict[str, Any]], list[dict[str, str]]]:
    from archive.cases import CaseError, get_case

    with home.reading() as conn:
        try:
            case = get_case(conn, req.case_slug)
        except CaseError as exc:
            raise ExportError(str(exc)) from None
        query = select(items.c.id).where(items.c.case_id == case.id)
        if conn.execute(select(users.c.id).limit(1)).first() is not None:
            # Items the exporter may not see (survivor-identifying, unassigned) are left out silently,
            # not listed as withheld: listing them would reveal that they exist (CON-01).
            account = auth.account_by_name(conn, req.actor)
            query = query.where(access.visible_clause(account) if account else items.c.id.is_(None))
        if req.item_ids:
            query = query.where(items.c.id.in_(list(req.item_ids)))
        else:
            query = query.where(items.c.deleted_at.is_(None))
        ids = [r.id for r in conn.execute(query.order_by(items.c.id))]
        unknown = sorted(set(req.item_ids) - set(ids))
        if unknown:
            raise ExportError(f"not items of case {req.case_slug}: {', '.join(unknown)}")
        records = [gather.gather_item(conn, i) for i in ids]
    chosen, withheld = [], []
    for record in records:
        why = withheld_reason(record, req.profile, req.recipient_type)
        if why is None:
            chosen.append(_trim(record, req.profile))
        else:
            withheld.append({"id": record["item"]["id"], "reason": why[0], "detail": why[1]})
    return case.id, chosen, withheld


def _trim(record: dict[str, Any], profile: str) -> dict[str, Any]:
    """Partner and public packages: no metadata sidecars, and the latest redacted copy in place of
    the original when one exists (the original's hash stays in the record)."""
    if profile not in REDACTED_PROFILES:
        return record
    kept = [a for a in record["artifacts"] if a["role"] not in SHARED_OMITS]
    omitted = [a["sha256"] for a in record["artifacts"] if a["role"] in SHARED_OMITS]
    redacted = [a for a in kept if a["role"] == "redacted" and not a.get("removed_at")]
    trimmed = {**record, "artifacts": kept, "omitted_for_profile": omitted}
    if redacted:
        trimmed["shared_copy"] = {
            k: redacted[-1][k] for k in ("sha256", "mime", "parent_sha256", "operation")
        }
    return trimmed


def _record_transfer(
    home: Home, req: ExportRequest, case_id: int, chosen: list[dict[str, Any]], withheld: list[dict[str, str]]
) -> dict[str, Any]:
    """The transfer row and its custody events, in one transaction closed by a signed checkpoint."""
    transfer_id = uuid.uuid4().hex
    at = utcnow()
    included = [{"item_id": r["item"]["id"], "sha256": r["item"]["sha256"]} for r in chosen]
    row = {
        "id": transfer_id,
        "case_id": case_id,
        "recipient": req.recipient,
        "recipient_type": req.recipient_type,
        "purpose": req.purpose,
        "profile": req.profile,
        "items": [*included, *({"item_id": w["id"], "withheld": w["reason"]} for w in withheld)],
        "authorised_by": req.actor,
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
    with home.transaction(req.actor, req.via) as tx:
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
                "export.withheld", case_id=case_id, item_id=w["id"], details={**common, "reason": w["reason"]}
            )
    return {
        **common,
        "case_id": case_id,
        "case": req.case_slug,
        "recipient": req.recipient,
        "purpose": req.purpose,
        "authorised_by": req.actor,
        "at": utc_text(at),
        "items": included,
    }


def _package(
    home: Home,
    req: ExportRequest,
    manifest: dict[str, Any],
    chosen: list[dict[str, Any]],
    withheld: list[dict[str, str]],
) -> tuple[str, str | None]:
    ids = [r["item"]["id"] for r in chosen]
    with home.reading() as conn:
        checkpoint = gather.latest_checkpoint(conn)
        if checkpoint is None:
            raise ExportError("the custody log has no signed checkpoint")
        size = int(checkpoint["tree_size"])
        events = gather.item_events(conn, ids, size)
        leaves = CustodyLog.leaves(conn)[:size]
    report_pdf = _report(home, manifest, chosen, events, withheld) if req.report else None
    spec = PackageInput(
        manifest=manifest,
        records=chosen,
        withheld=withheld,
        events=events,
        checkpoint=checkpoint,
        public_key_pem=home.signer.verifier.pem(),
        leaves=leaves,
        open_blob=home.blobs.open,
        confidence_scale=confidence_scale(),
        readme=readme_text(manifest, home.signer.verifier.key_id),
        report_pdf=report_pdf,
        info={"External-Identifier": manifest["transfer_id"], "Bag-Group-Identifier": req.case_slug},
    )
    try:
        manifest_sha, _ = write_package(req.out, spec)
    except BagError as exc:
        raise ExportError(str(exc)) from None
    report_sha = None
    if report_pdf is not None:
        import hashlib

        report_sha = hashlib.sha256(report_pdf).hexdigest()
    return manifest_sha, report_sha


def confidence_scale() -> dict[str, str]:
    """The confidence scale with its definitions, as it travels with every export (VER-03)."""
    return {
        str(int(k)): f"{k.name.replace('_', ' ').lower()}: {v}" for k, v in CONFIDENCE_DEFINITIONS.items()
    }


def _report(
    home: Home,
    manifest: Mapping[str, Any],
    chosen: list[dict[str, Any]],
    events: list[dict[str, Any]],
    withheld: list[dict[str, str]],
) -> bytes:
    """The case report that travels in the package (its hash is logged after packaging)."""
    from workbench import reports  # fpdf and its fonts load only when a package is made

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


def _authorise(home: Home, req: ExportRequest, case_id: int) -> None:
    """Once accounts exist, only a member of the case whose role may export can (refusals are logged)."""
    with home.reading() as conn:
        accounts_in_use = conn.execute(select(users.c.id).limit(1)).first() is not None
        account = auth.account_by_name(conn, req.actor) if accounts_in_use else None
        if not accounts_in_use:
            return
        if (
            account is not None
            and auth.can(account, auth.Perm.EXPORT)
            and auth.is_member(conn, account, case_id)
        ):
            return
    with home.transaction(req.actor, req.via) as tx:
        error = auth.deny(tx, account, auth.Perm.EXPORT.value, case_id=case_id)
    raise ExportRefused(str(error))


def export_package(home: Home, req: ExportRequest) -> ExportResult:
    """Select, record the transfer, write the package, and log its hashes (see the module docstring)."""
    _check_request(req)
    case_id, chosen, withheld = _select(home, req)
    _authorise(home, req, case_id)
    if not chosen:
        _log_blocked(home, req, case_id, withheld)
        return ExportResult(None, None, [], withheld)
    manifest = _record_transfer(home, req, case_id, chosen, withheld)
    try:
        manifest_sha, report_sha = _package(home, req, manifest, chosen, withheld)
    except Exception as exc:  # stage boundary: the transfer was recorded, so its failure must be too
        with home.transaction(req.actor, req.via) as tx:
            tx.event(
                "export.failed",
                case_id=case_id,
                details={"transfer_id": manifest["transfer_id"], "error": type(exc).__name__},
            )
        raise ExportError(
            f"the package could not be written ({exc}); transfer {manifest['transfer_id']} is logged "
            f"as failed and {req.out} may hold a partial package: delete it"
        ) from exc
    with home.transaction(req.actor, req.via) as tx:
        tx.conn.execute(
            update(transfers)
            .where(transfers.c.id == manifest["transfer_id"])
            .values(manifest_sha256=manifest_sha)
        )
        tx.event(
            "export.packaged",
            case_id=case_id,
            artifact_sha256=manifest_sha,
            details={"transfer_id": manifest["transfer_id"], "report_sha256": report_sha},
        )
        if report_sha is not None:
            tx.event(
                "report.generated",
                case_id=case_id,
                artifact_sha256=report_sha,
                details={"transfer_id": manifest["transfer_id"]},
            )
    return ExportResult(
        manifest["transfer_id"], req.out, manifest["items"], withheld, manifest_sha, report_sha
    )


def _log_blocked(home: Home, req: ExportRequest, case_id: int, withheld: list[dict[str, str]]) -> None:
    """Nothing may leave: log the refusal per item, write no package and no transfer."""
    with home.transaction(req.actor, req.via) as tx:
        for w in withheld:
            tx.event(
                "export.blocked",
                case_id=case_id,
                item_id=w["id"],
                details={"profile": req.profile, "recipient_type": req.recipient_type, "reason": w["reason"]},
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


def list_transfers(home: Home, case_slug: str | None = None) -> list[dict[str, Any]]:
    """The transfer register (COC-03): every export, oldest first, with its items and their hashes.

    ``register_intact`` says whether the row still hashes to what its custody events recorded (None
    when they recorded no hash: transfers made before register hashing).
    """
    from archive.db import cases

    query = select(transfers, cases.c.slug).join(cases, cases.c.id == transfers.c.case_id)
    if case_slug is not None:
        query = query.where(cases.c.slug == case_slug)
    with home.reading() as conn:
        rows = []
        for r in conn.execute(query.order_by(transfers.c.at)).mappings():
            logged = _logged_register_hash(conn, r["id"])
            intact = None if logged is None else logged == register_hash(r)
            rows.append({**gather.jsonable(r), "register_intact": intact})
    return rows
