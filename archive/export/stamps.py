"""Trusted timestamps in an evidence package, written and checked.

Each token sits in a folder of its own, ``data/custody/timestamps/<tree size>/``::

    checkpoint.data   the exact bytes the token stamps: the checkpoint's signed message
    checkpoint.tsr    the RFC 3161 response, as the authority sent it
    tsa-chain.pem     the authority's certificate chain the token was checked against
    checkpoint.json   the checkpoint (tree size, root, signing time, Ed25519 signature), the token's
                      time, and an inclusion proof for each of the package's events it holds

so that, in that folder, ``openssl ts -verify -data checkpoint.data -in checkpoint.tsr -CAfile
tsa-chain.pem`` alone proves the bytes existed at the token's time, and the proofs tie the package's
events to the stamped root. A package carries the token of its own checkpoint (when the authority
answered at export) and, for each item, the earliest token whose tree holds the item's first event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive import merkle
from archive.custody import checkpoint_message
from archive.errors import IntegrityError
from archive.export.bag import BagWriter
from archive.export.proofs import ProofBuilder

if TYPE_CHECKING:
    from archive.export.verify import PackageReport
    from archive.signing import Verifier

__all__ = ["FOLDER", "check_timestamps", "write_timestamps"]

FOLDER = "custody/timestamps"
CHECKPOINT_FIELDS = ("tree_size", "root_hash", "signed_at", "key_id", "signature")


def write_timestamps(
    bag: BagWriter,
    stamps: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    leaves: Sequence[bytes],
) -> None:
    """One folder per token: ``stamps`` hold the checkpoint fields, ``token``, ``tsa_chain``, ``gen_time``."""
    from archive.timestamps import redacted_url

    for stamp in stamps:
        size = int(stamp["tree_size"])
        builder = ProofBuilder(leaves[:size])
        if builder.root().hex() != stamp["root_hash"]:
            raise IntegrityError(
                f"the log's leaves do not give the root of checkpoint {size}: verify the archive"
            )
        folder = f"{FOLDER}/{size}"
        bag.add_bytes(
            f"{folder}/checkpoint.data", checkpoint_message(size, stamp["root_hash"], stamp["signed_at"])
        )
        bag.add_bytes(f"{folder}/checkpoint.tsr", bytes(stamp["token"]))
        bag.add_bytes(f"{folder}/tsa-chain.pem", str(stamp["tsa_chain"]).encode("ascii"))
        proofs = [
            {
                "seq": e["seq"],
                "event_hash": e["event_hash"],
                "leaf_index": int(e["seq"]) - 1,
                "audit_path": [p.hex() for p in builder.proof(int(e["seq"]) - 1)],
            }
            for e in events
            if int(e["seq"]) <= size
        ]
        bag.add_json(
            f"{folder}/checkpoint.json",
            {
                **{k: stamp[k] for k in CHECKPOINT_FIELDS},
                "tsa_time": stamp["gen_time"],
                # The address without its query: an API token there is no recipient's business.
                "tsa_url": redacted_url(stamp.get("tsa_url")),
                "proofs": proofs,
            },
        )


def check_timestamps(
    root: Path, report: PackageReport, events: Sequence[Mapping[str, Any]], verifier: Verifier | None
) -> list[tuple[int, str]]:
    """Check every token folder; returns (tree size, token time) of the tokens that verify."""
    from archive.timestamps import TimestampError, check_token

    base = root / "data" / FOLDER
    good: list[tuple[int, str]] = []
    if not base.is_dir():
        return good
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        rel = folder.relative_to(root).as_posix()
        try:
            data = (folder / "checkpoint.data").read_bytes()
            token = (folder / "checkpoint.tsr").read_bytes()
            chain = (folder / "tsa-chain.pem").read_bytes()
            doc = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
            size, root_hex = int(doc["tree_size"]), str(doc["root_hash"])
            message = checkpoint_message(size, root_hex, str(doc["signed_at"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            report.add("timestamp", rel, f"unreadable: {exc}")
            continue
        try:
            moment = check_token(token, data, chain)
        except TimestampError as exc:
            report.add("timestamp", f"{rel}/checkpoint.tsr", str(exc))
            continue
        problems = _check_stamped_checkpoint(doc, data, message, verifier, events)
        for problem in problems:
            report.add("timestamp", f"{rel}/checkpoint.json", problem)
        if not problems:
            good.append((size, moment.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return good


def _check_stamped_checkpoint(
    doc: Mapping[str, Any],
    data: bytes,
    message: bytes,
    verifier: Verifier | None,
    events: Sequence[Mapping[str, Any]],
) -> list[str]:
    if data != message:
        return ["checkpoint.data is not this checkpoint's message: the token stamps other bytes"]
    if verifier is None or not verifier.verify(str(doc.get("signature", "")), message):
        return ["the checkpoint's signature does not verify with the package's public key"]
    size, root_hash = int(doc["tree_size"]), bytes.fromhex(str(doc["root_hash"]))
    proofs = {p.get("seq"): p for p in doc.get("proofs", []) if isinstance(p, dict)}
    found = []
    for event in events:
        seq = event.get("seq")
        if not isinstance(seq, int) or seq > size:
            continue
        proof = proofs.get(seq)
        try:
            leaf = merkle.leaf_hash(bytes.fromhex(str(event.get("event_hash"))))
            path = [bytes.fromhex(p) for p in proof["audit_path"]] if proof else None
        except (KeyError, TypeError, ValueError):
            path = None
        if path is None or not merkle.verify_inclusion(leaf, seq - 1, size, path, root_hash):
            found.append(f"event at position {seq} has no valid inclusion proof under the stamped root")
    return found
