"""The custody format, pinned: literal values that a change to canonicalisation would break.

Packages already handed to a court are checked years later by whatever ``wb verify-package`` then is,
or by hand. If the way an event is hashed, a checkpoint is worded or a package is laid out changes,
these literals fail, and whoever changed it must decide, on purpose, to version the format
(``wb-checkpoint/v2``, ``wb-package/2``) instead of silently breaking what was already sent.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive import merkle
from archive.custody import GENESIS, _details_text, checkpoint_message, event_hash
from archive.export.package import PackageInput, write_package
from archive.export.verify import verify_package
from archive.model import ItemRecord
from archive.signing import Signer, Verifier

DATA = b"pinned evidence\n"
SHA = hashlib.sha256(DATA).hexdigest()
ITEM = "a" * 32
SIGNED_AT = "2026-01-02T03:04:09.000000Z"
# Ed25519 signatures are deterministic (RFC 8032), so a fixed key gives a fixed signature.
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

EVENT_1_HASH = "3752cdea0de3a2caad15098b8864433c9eae1f5b8ca7a23b6f940d0e96a9432e"
EVENT_2_HASH = "888fee7b107061e5dd5cf389b804bfd5d5520c4ac381eb28912e407d700d52d6"
EVENT_3_HASH = "f96409b950d7860c45fb6b654ff0e28b0774145533bc3afdf333cd064e90a1ad"
ROOT = "2f602408e4d7c1a6735e26d1a5cb34a157de7c7f722d978951ba2f24ca562cb8"
CHECKPOINT_MESSAGE = (
    b"wb-checkpoint/v1\n3\n2f602408e4d7c1a6735e26d1a5cb34a157de7c7f722d978951ba2f24ca562cb8\n"
    b"2026-01-02T03:04:09.000000Z\n"
)
SIGNATURE = (
    "9d5074c45fbb5bf35adbb2bdb599adf06d9ea22e6e86bcbb8375bc66aa03726e"
    "693371b987f4892b446f01c059a3a4c113d2f38cb38a1bc6ba7cc1bf5c50960e"
)


def _event(
    seq: int, prev: str, action: str, item: str | None = None, sha: str | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": seq,
        "event_id": f"{seq:032x}",
        "at": f"2026-01-02T03:04:0{seq}.000000Z",
        "actor": "analyst-a",
        "via": "cli",
        "action": action,
        "case_id": 1,
        "item_id": item,
        "artifact_sha256": sha,
        "before_sha256": None,
        "after_sha256": None,
        "details": '{"k":"v"}',
        "tool_version": "0.1.0",
        "prev_hash": prev,
    }
    row["event_hash"] = event_hash(row)
    return row


def _events() -> list[dict[str, Any]]:
    first = _event(1, GENESIS, "case.created")
    second = _event(2, first["event_hash"], "item.ingested", ITEM, SHA)
    return [first, second, _event(3, second["event_hash"], "export.packaged", ITEM, SHA)]


def test_event_details_are_canonical_json() -> None:
    assert _details_text({"b": 2, "a": "é", "c": [1, None]}) == '{"a":"é","b":2,"c":[1,null]}'


def test_event_hashes_are_pinned() -> None:
    assert [e["event_hash"] for e in _events()] == [EVENT_1_HASH, EVENT_2_HASH, EVENT_3_HASH]


def test_merkle_root_checkpoint_message_and_signature_are_pinned() -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(e["event_hash"])) for e in _events()]
    assert merkle.root(leaves).hex() == ROOT
    message = checkpoint_message(3, ROOT, SIGNED_AT)
    assert message == CHECKPOINT_MESSAGE
    assert Signer(KEY, Path("unused")).sign(message) == SIGNATURE
    assert Verifier(KEY.public_key()).verify(SIGNATURE, CHECKPOINT_MESSAGE)


# The payload manifest of the package below: every path and every file's SHA-256.
PAYLOAD = {
    "data/confidence-scale.json": "3242d97082fbb04274611b711fddccc474d85d124c43558d5a092eaf7b02353d",
    "data/custody/checkpoint.json": "1b2f5c38460741840eedcbfa6e6cd6c4c168763e0800aa9871b633d2fd0d7a77",
    "data/custody/events.jsonl": "a17169b007d26b9a6bd6b65e3734597b510ff01e1e9e0d12451c6917aeef72b4",
    "data/custody/proofs.json": "8b0fca4fa8f01a7fd25bdcefbe08a04d99213bfff617d3426f0dd0a95602fdd2",
    "data/custody/public_key.pem": "f0ff50dacf109dea7f716d7c03eb7a821aa3a283fd3fa02f4c14dbba7d3c3322",
    "data/items.csv": "70c1ad31e59b99b0ad5c2a5ffd8a70633b11d091de3c4cf3e45ecc64e0cfd52d",
    "data/items.json": "57ff595a030c8e032d4a774eabdb4e93883c36629c6debe7b9493a2e78456ef1",
    f"data/items/{ITEM}/original/{SHA}.txt": SHA,  # the file itself, byte for byte
    f"data/items/{ITEM}/record.json": "9c8c4dd64f67802483b5a1f335e1cb6da88298399b2e4d17a21cb8207411d733",
    "data/manifest.json": "cd6ad87a085de8cdd6672b20a7429e97eeeb6664fe0b8678545d883950350696",
    "data/schema/custody-event-1.schema.json": (
        "fc6cc2e4ab4752765758fc9d2bb0b58dcbdca08cff33efb8c59990503dfc570d"
    ),
    "data/schema/field-mapping.json": "18058dbafb91cde0c451b41b816b270168396f35bafc165716134a70d6c3207b",
    "data/schema/items-1.0.0.schema.json": "9f07850085497db962d0f0ebd3f3f6b3c39f9fefab9a564b4f304dd713babede",
}
PAYLOAD_MANIFEST = "".join(f"{sha}  {path}\n" for path, sha in sorted(PAYLOAD.items()))
PAYLOAD_MANIFEST_SHA256 = "c5dd9da18ad0990e3b359df3e2e4275f36df0385306c1ec14b105f20e2c9d556"


def _package(out: Path) -> str:
    events = _events()
    signer = Signer(KEY, Path("unused"))
    record = {
        "item": {
            "id": ITEM,
            "case_id": 1,
            "sha256": SHA,
            "kind": "document",
            "status": "unverified",
            "classification": "restricted",
            "title": "d.txt",
            "created_at": "2026-01-02T03:04:02.000000Z",
        },
        "artifacts": [{"sha256": SHA, "mime": "text/plain", "role": "original", "removed_at": None}],
        "sightings": [],
        "judgements": [],
        "notes": [],
    }
    manifest = {
        "transfer_id": "b" * 32,
        "at": "2026-01-02T03:04:08.000000Z",
        "profile": "internal",
        "recipient_type": "court",
        "items": [ITEM],
    }
    spec = PackageInput(
        manifest=manifest,
        records=[ItemRecord.from_json(record)],
        withheld=[],
        events=events,
        checkpoint={
            "tree_size": 3,
            "root_hash": ROOT,
            "signed_at": SIGNED_AT,
            "key_id": signer.verifier.key_id,
            "signature": SIGNATURE,
        },
        public_key_pem=signer.verifier.pem(),
        leaves=[merkle.leaf_hash(bytes.fromhex(e["event_hash"])) for e in events],
        open_blob=lambda sha: io.BytesIO(DATA),
        confidence_scale={"1": "weak", "5": "strong"},
        readme="README\n",
    )
    manifest_sha, _ = write_package(out, spec)
    return manifest_sha


def test_a_small_package_manifest_is_pinned(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    manifest_sha = _package(out)
    assert (out / "manifest-sha256.txt").read_text() == PAYLOAD_MANIFEST
    assert manifest_sha == PAYLOAD_MANIFEST_SHA256
    assert verify_package(out).intact
