"""Lay out an evidence package (a BagIt bag) from gathered records, custody rows and a checkpoint.

Layout of ``data/``::

    manifest.json                 the transfer: recipient type, profile, included and withheld items
    items.csv, items.json         court-style item tables; schema/ holds their JSON Schema and mapping
    items/<id>/original/<sha256>.<ext>   the original, byte for byte
    items/<id>/shared/<sha256>.<ext>     instead, for partner/public profiles: the redacted or
                                  metadata-stripped copy, and no other file of the item
    items/<id>/files/<role>-<sha256>.<ext>  screenshots, WACZ, HTML, sidecars, redacted copies ...
    items/<id>/record.json        captures, sightings, judgements, flags, tags, notes, consents
    custody/events.jsonl          the stored custody rows of these items (hash-chained fields)
    custody/proofs.json           a Merkle inclusion proof per event against the checkpoint
    custody/checkpoint.json       the signed checkpoint; custody/public_key.pem verifies it
    custody/attestation.json      partner/public: the key's signature over events.jsonl, whose
                                  events have their actor withheld (see profiles.py)
    custody/timestamps/<size>/    trusted timestamps (RFC 3161) over checkpoints, when configured
                                  (see stamps.py)
    confidence-scale.json         the definitions of the confidence scale
    report.pdf                    the human-readable report (when made)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from archive.errors import IntegrityError
from archive.export import tables
from archive.export.bag import BagWriter
from archive.export.profiles import ATTESTATION_FORMAT, attestation_message
from archive.export.proofs import ProofBuilder
from archive.export.stamps import write_timestamps
from archive.model import ItemRecord, Withheld

__all__ = ["PACKAGE_FORMAT", "PackageInput", "extension_for", "original_path", "write_package"]

PACKAGE_FORMAT = "wb-package/1"
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/tiff": "tif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/json": "json",
    "text/html": "html",
    "text/plain": "txt",
    "multipart/related": "mhtml",
    "application/x-mimearchive": "mhtml",
    "application/wacz": "wacz",
    "application/warc": "warc",
}


def extension_for(mime: str, role: str = "") -> str:
    if role == "wacz":
        return "wacz"
    return EXTENSIONS.get(mime.split(";")[0].strip().lower(), "bin")


def original_path(item_id: str, sha256: str, mime: str) -> str:
    return f"items/{item_id}/original/{sha256}.{extension_for(mime)}"


@dataclass
class PackageInput:
    """What goes into one package; the caller has already decided what may leave."""

    manifest: dict[str, Any]  # transfer id, profile, recipient type, purpose, authorised_by, withheld
    records: Sequence[ItemRecord]
    withheld: Sequence[Withheld]
    events: Sequence[Mapping[str, Any]]
    checkpoint: Mapping[str, Any]
    public_key_pem: bytes
    leaves: Sequence[bytes]  # leaf hashes of the whole log up to the checkpoint's tree size
    open_blob: Callable[[str], BinaryIO]
    confidence_scale: Mapping[str, str]
    readme: str
    report_pdf: bytes | None = None
    info: dict[str, str] = field(default_factory=dict)
    # Signs the attestation of events whose fields were withheld (partner/public profiles).
    sign: Callable[[bytes], str] | None = None
    # Trusted timestamps (stamps.py): checkpoint fields, token, tsa_chain, gen_time, tsa_url.
    timestamps: Sequence[Mapping[str, Any]] = ()


def write_package(out: Path, spec: PackageInput) -> tuple[str, dict[str, str]]:
    """Write the bag; returns the payload manifest's SHA-256 and {original sha256: path in bag}."""
    bag = BagWriter(out)
    rows = []
    originals: dict[str, str] = {}
    for record in spec.records:
        path, sha = _write_item(bag, record, spec.open_blob)
        originals[record.sha256] = "data/" + path
        rows.append(tables.item_row(record, "data/" + path, sha))
    bag.add_bytes("items.csv", tables.items_csv(rows))
    bag.add_json("items.json", tables.items_document(rows, spec.withheld))
    bag.add_json(f"schema/items-{tables.SCHEMA_VERSION}.schema.json", tables.items_schema())
    bag.add_json("schema/field-mapping.json", dict(tables.FIELD_MAPPING))
    bag.add_json("schema/custody-event-1.schema.json", tables.custody_event_schema())
    bag.add_json("confidence-scale.json", dict(spec.confidence_scale))
    _write_custody(bag, spec)
    bag.add_json(
        "manifest.json",
        {**spec.manifest, "format": PACKAGE_FORMAT, "withheld": [w.as_package() for w in spec.withheld]},
    )
    if spec.report_pdf is not None:
        bag.add_bytes("report.pdf", spec.report_pdf)
    bag.add_tag("README.txt", spec.readme)
    info = {"Bag-Software-Agent": "wb (investigation verification workbench)", **spec.info}
    return bag.finish(info), originals


def _write_item(bag: BagWriter, record: ItemRecord, open_blob: Callable[[str], BinaryIO]) -> tuple[str, str]:
    """Write one item's files and record; returns the main file's path and SHA-256.

    The main file is the original, or, when the profile asks for it (``shared_copy``), a redacted or
    metadata-stripped copy in its place and no other file of the item; the original's hash is still
    in the record and the custody events.
    """
    item_id = record.id
    files: dict[str, str] = {}
    shared = record.shared_copy
    if shared:
        main_sha = shared["sha256"]
        main = f"items/{item_id}/shared/{main_sha}.{extension_for(shared['mime'])}"
    else:
        main_sha = record.sha256
        mime = next((a["mime"] for a in record.artifacts if a["sha256"] == main_sha), "")
        main = original_path(item_id, main_sha, mime)
    with open_blob(main_sha) as stream:
        bag.add_stream(main, stream)
    files[main_sha] = "data/" + main
    for art in [] if shared else record.artifacts:
        sha = art["sha256"]
        if sha in files or art.get("removed_at"):
            continue
        rel = f"items/{item_id}/files/{art['role']}-{sha}.{extension_for(art['mime'], art['role'])}"
        with open_blob(sha) as stream:
            bag.add_stream(rel, stream)
        files[sha] = "data/" + rel
    bag.add_json(f"items/{item_id}/record.json", replace(record, files=files).as_json())
    return main, main_sha


def _write_custody(bag: BagWriter, spec: PackageInput) -> None:
    size = int(spec.checkpoint["tree_size"])
    builder = ProofBuilder(spec.leaves[:size])
    lines = []
    proofs = []
    for event in spec.events:
        lines.append(json.dumps(dict(event), sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        index = int(event["seq"]) - 1
        proofs.append(
            {
                "seq": event["seq"],
                "event_hash": event["event_hash"],
                "leaf_index": index,
                "tree_size": size,
                "audit_path": [p.hex() for p in builder.proof(index)],
            }
        )
    if spec.leaves and builder.root().hex() != spec.checkpoint["root_hash"]:
        raise IntegrityError("the log's leaves do not give the checkpoint's root: verify the archive")
    events_bytes = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    bag.add_bytes("custody/events.jsonl", events_bytes)
    if any(e.get("withheld_fields") for e in spec.events):
        _write_attestation(bag, spec, events_bytes)
    bag.add_json(
        "custody/proofs.json",
        {"hash": "RFC 6962 SHA-256; leaf = SHA-256(0x00 || event_hash bytes)", "proofs": proofs},
    )
    bag.add_json("custody/checkpoint.json", dict(spec.checkpoint))
    bag.add_bytes("custody/public_key.pem", spec.public_key_pem)
    write_timestamps(bag, spec.timestamps, spec.events, spec.leaves)


def _write_attestation(bag: BagWriter, spec: PackageInput, events_bytes: bytes) -> None:
    """The installation key vouches for events whose withheld fields the recipient cannot re-hash."""
    if spec.sign is None:
        raise ValueError("events with withheld fields need a signer for their attestation")
    transfer_id = str(spec.manifest["transfer_id"])
    size, root = int(spec.checkpoint["tree_size"]), str(spec.checkpoint["root_hash"])
    message = attestation_message(transfer_id, size, root, events_bytes)
    bag.add_json(
        "custody/attestation.json",
        {
            "format": ATTESTATION_FORMAT,
            "transfer_id": transfer_id,
            "tree_size": size,
            "root_hash": root,
            "events_sha256": hashlib.sha256(events_bytes).hexdigest(),
            "key_id": spec.checkpoint["key_id"],
            "signature": spec.sign(message),
            "message": message.decode(),
        },
    )
