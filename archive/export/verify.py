"""Check an evidence package alone, with no database: every hash, the custody proofs, the signature.

``verify_package(folder)`` re-hashes every file listed in the bag's manifests (never trusting the
Payload-Oxum "fast" check, which misses a changed byte), looks for files that were added or removed,
recomputes each custody event's hash from its fields, checks its Merkle inclusion proof against the
signed checkpoint, checks the checkpoint's Ed25519 signature with the key in the package (and, when
given, that the key is the one the recipient was told to expect), and checks that every original's
hash is named by a custody event of its item. Each problem names the file, event or item it concerns.

Partner and public packages withhold the actor of their events (``profiles.py``): such an event
cannot be re-hashed, so its fields are checked against ``custody/attestation.json``, a signature by
the same key over the exact bytes of ``events.jsonl``, and its stated hash against its inclusion proof.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archive import merkle
from archive.custody import checkpoint_message, event_hash
from archive.errors import IntegrityError
from archive.export.profiles import attestation_message
from archive.export.stamps import check_timestamps
from archive.signing import SigningKeyError, Verifier

__all__ = ["PackageProblem", "PackageReport", "verify_package"]

CHUNK = 1 << 20
MANIFEST_LINE = re.compile(r"^([0-9a-fA-F]{64})[ \t]+\*?(.+)$")
SHA = re.compile(r"^[0-9a-f]{64}$")
TEXT_LIMIT = 1 << 30  # manifests, custody lines, proofs and tables of even very large packages fit


@dataclass(frozen=True)
class PackageProblem:
    kind: str  # bag | file | custody | checkpoint | item | timestamp
    ref: str
    problem: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"PROBLEM {self.kind} {self.ref}: {self.problem}"


@dataclass
class PackageReport:
    files: int = 0
    events: int = 0
    items: int = 0
    problems: list[PackageProblem] = field(default_factory=list)
    hashed: dict[str, str] = field(default_factory=dict, repr=False)  # each file is read once
    # Trusted timestamps that verify: (tree size, token time); events 1..size existed by that time.
    timestamps: list[tuple[int, str]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, kind: str, ref: str, problem: str) -> None:
        self.problems.append(PackageProblem(kind, ref, problem))


class TooLarge(IntegrityError, ValueError):
    """A package file the verifier must parse is over its size limit (a hostile package?)."""


def _read_capped(path: Path, limit: int = TEXT_LIMIT) -> str:
    """The text of a file the verifier parses, refusing files over ``limit`` bytes."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"over {limit >> 20} MiB: too large to be one of our package files")
    return data.decode("utf-8", errors="replace")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(root: Path, rel: str) -> Path | None:
    """The file a manifest line names, or None when the name escapes the bag."""
    if rel.startswith("/") or "\\" in rel or any(p in {"", ".", ".."} for p in rel.split("/")):
        return None
    path = root / rel
    try:
        # a symbolic link inside the bag must not lead the check to a file elsewhere
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return path


def _read_manifest(root: Path, name: str, report: PackageReport) -> dict[str, str]:
    path = root / name
    if not path.is_file():
        report.add("bag", name, "manifest is missing")
        return {}
    listed: dict[str, str] = {}
    try:
        text = _read_capped(path)
    except (OSError, TooLarge) as exc:
        report.add("bag", name, f"unreadable: {exc}")
        return {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = MANIFEST_LINE.match(line)
        if match is None:
            report.add("bag", f"{name}:{number}", "line is not '<sha256>  <path>'")
            continue
        listed[match.group(2)] = match.group(1).lower()
    return listed


def _check_listed(root: Path, manifest: str, listed: dict[str, str], report: PackageReport) -> None:
    for rel, expected in sorted(listed.items()):
        path = _inside(root, rel)
        if path is None:
            report.add("bag", rel, f"{manifest} names a path outside the bag")
        elif not path.is_file():
            report.add("file", rel, f"listed in {manifest} but missing")
        else:
            report.files += 1
            report.hashed[rel] = _sha256_file(path)
            if report.hashed[rel] != expected:
                report.add("file", rel, f"SHA-256 differs from {manifest}: the content was changed")


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() or path.is_symlink():
            yield path


def _check_bag(root: Path, report: PackageReport) -> dict[str, str]:
    if not (root / "bagit.txt").is_file():
        report.add("bag", "bagit.txt", "missing: this is not a BagIt bag")
    payload = _read_manifest(root, "manifest-sha256.txt", report)
    tags = _read_manifest(root, "tagmanifest-sha256.txt", report)
    _check_listed(root, "manifest-sha256.txt", payload, report)
    _check_listed(root, "tagmanifest-sha256.txt", tags, report)
    for path in _walk(root / "data"):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            report.add("file", rel, "is a symbolic link: packages hold plain files only")
        elif rel not in payload:
            report.add("file", rel, "present in data/ but not listed in manifest-sha256.txt (added)")
    for name in ("manifest-sha256.txt", "bag-info.txt", "bagit.txt"):
        if (root / name).is_file() and name not in tags and tags:
            report.add("bag", name, "not covered by tagmanifest-sha256.txt")
    return payload


def _load_json(root: Path, rel: str, report: PackageReport) -> Any:
    try:
        return json.loads(_read_capped(root / rel))
    except FileNotFoundError:
        report.add("custody" if rel.startswith("data/custody") else "bag", rel, "missing")
    except (OSError, ValueError) as exc:
        report.add("bag", rel, f"unreadable JSON: {exc}")
    return None


def _check_checkpoint(
    root: Path, report: PackageReport, expected_key_id: str | None
) -> tuple[int, bytes] | None:
    cp = _load_json(root, "data/custody/checkpoint.json", report)
    try:
        verifier = Verifier.from_pem(_read_capped(root / "data/custody/public_key.pem", 1 << 16).encode())
    except (OSError, ValueError, SigningKeyError) as exc:
        report.add("checkpoint", "data/custody/public_key.pem", f"public key unusable: {exc}")
        return None
    if not isinstance(cp, dict):
        return None
    ref = "data/custody/checkpoint.json"
    try:
        size, root_hex, signed_at = int(cp["tree_size"]), str(cp["root_hash"]), str(cp["signed_at"])
        signature, key_id = str(cp["signature"]), str(cp["key_id"])
    except (KeyError, TypeError, ValueError):
        report.add("checkpoint", ref, "checkpoint fields are missing or malformed")
        return None
    if expected_key_id is not None and verifier.key_id != expected_key_id.lower():
        report.add("checkpoint", "data/custody/public_key.pem", "the key is not the one you expected")
    if key_id != verifier.key_id:
        report.add("checkpoint", ref, "key_id does not match the public key in the package")
    if not verifier.verify(signature, checkpoint_message(size, root_hex, signed_at)):
        report.add("checkpoint", ref, "signature does not verify with the package's public key")
        return None
    if not SHA.match(root_hex):
        report.add("checkpoint", ref, "root hash is not a SHA-256 hex digest")
        return None
    return size, bytes.fromhex(root_hex)


def _events(root: Path, report: PackageReport) -> list[dict[str, Any]]:
    path = root / "data/custody/events.jsonl"
    if not path.is_file():
        report.add("custody", "data/custody/events.jsonl", "missing")
        return []
    events = []
    try:
        text = _read_capped(path)
    except (OSError, TooLarge) as exc:
        report.add("custody", "data/custody/events.jsonl", f"unreadable: {exc}")
        return []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            report.add("custody", f"events.jsonl line {number}", "not JSON")
            continue
        events.append(value if isinstance(value, dict) else {"_line": number})
    return events


def _check_event(
    event: dict[str, Any], proof: dict[str, Any] | None, anchor: tuple[int, bytes] | None, attested: bool
) -> list[str]:
    """What is wrong with one event: its hash (or, fields withheld, the attestation), then its place
    under the signed root."""
    if event.get("withheld_fields"):
        if not attested:
            return ["fields are withheld and no valid attestation vouches for the others"]
        recomputed = str(event.get("event_hash") or "")
        if not SHA.match(recomputed):
            return ["event_hash is not a SHA-256 hex digest"]
    else:
        try:
            recomputed = event_hash(event)
        except KeyError as exc:
            return [f"field {exc} is missing"]
        if recomputed != event.get("event_hash"):
            return ["event fields do not match the event's hash (the line was edited)"]
    if anchor is None:
        return []
    if proof is None:
        return ["no inclusion proof for this event"]
    size, root_hash = anchor
    try:
        path = [bytes.fromhex(p) for p in proof["audit_path"]]
        index = int(proof["leaf_index"])
        leaf = merkle.leaf_hash(bytes.fromhex(recomputed))
    except (KeyError, TypeError, ValueError):
        return ["inclusion proof is malformed"]
    if index != int(event["seq"]) - 1:
        return [f"proof is for position {index + 1}, the event says {event['seq']}"]
    if not merkle.verify_inclusion(leaf, index, size, path, root_hash):
        return [f"inclusion proof does not lead to the signed root of {size} events"]
    return []


def _check_attestation(root: Path, report: PackageReport, anchor: tuple[int, bytes] | None) -> bool:
    """Whether custody/attestation.json is signed by the package's key over events.jsonl as it is."""
    ref = "data/custody/attestation.json"
    doc = _load_json(root, ref, report)
    if not isinstance(doc, dict) or anchor is None:
        return False
    try:
        verifier = Verifier.from_pem(_read_capped(root / "data/custody/public_key.pem", 1 << 16).encode())
        events_bytes = (root / "data/custody/events.jsonl").read_bytes()
        size, root_hex = int(doc["tree_size"]), str(doc["root_hash"])
        message = attestation_message(str(doc["transfer_id"]), size, root_hex, events_bytes)
        signature = str(doc["signature"])
    except (OSError, ValueError, KeyError, TypeError, SigningKeyError) as exc:
        report.add("custody", ref, f"attestation unusable: {exc}")
        return False
    if (size, root_hex) != (anchor[0], anchor[1].hex()):
        report.add("custody", ref, "attestation names another checkpoint than the package's")
        return False
    if not verifier.verify(signature, message):
        report.add("custody", ref, "attestation signature does not verify over events.jsonl as it is")
        return False
    return True


def _check_custody(
    root: Path, report: PackageReport, anchor: tuple[int, bytes] | None
) -> list[dict[str, Any]]:
    events = _events(root, report)
    withheld = any(e.get("withheld_fields") for e in events)
    attested = withheld and _check_attestation(root, report, anchor)
    proofs_doc = _load_json(root, "data/custody/proofs.json", report)
    proofs: dict[int, dict[str, Any]] = {}
    if isinstance(proofs_doc, dict):
        for p in proofs_doc.get("proofs", []):
            if isinstance(p, dict) and isinstance(p.get("seq"), int):
                proofs[p["seq"]] = p
    for event in events:
        report.events += 1
        ref = f"event {event.get('event_id', '?')} (position {event.get('seq', '?')})"
        seq = event.get("seq")
        proof = proofs.get(seq) if isinstance(seq, int) else None
        for problem in _check_event(event, proof, anchor, attested):
            report.add("custody", ref, problem)
    return events


def _check_items(root: Path, report: PackageReport, events: list[dict[str, Any]]) -> None:
    """Each item's file hashes to its recorded SHA-256, and the custody log names that hash.

    A shared copy (redacted or metadata-stripped) must be tied by a logged derivation (before/after)
    to the original or to another file logged for the item (a web page's screenshot).
    """
    doc = _load_json(root, "data/items.json", report)
    if not isinstance(doc, dict):
        return
    # The export's own events name the hash too; what counts is a record from before the export.
    logged = {(e.get("item_id"), e.get("artifact_sha256")) for e in events if not _is_export(e)}
    derived = {(e.get("item_id"), e.get("before_sha256"), e.get("after_sha256")) for e in events}
    for row in doc.get("items", []):
        report.items += 1
        item_id, sha, rel = str(row.get("id")), str(row.get("sha256")), str(row.get("file"))
        file_sha = str(row.get("file_sha256") or sha)
        path = _inside(root, rel)
        if path is None or not rel.startswith("data/"):
            report.add("item", item_id, f"file path {rel!r} is not inside the payload")
        elif not path.is_file():
            report.add("item", item_id, f"file {rel} is missing")
        elif (report.hashed.get(rel) or _sha256_file(path)) != file_sha:
            report.add("item", item_id, f"file {rel} does not hash to the recorded SHA-256 {file_sha}")
        if (item_id, sha) not in logged:
            report.add("item", item_id, f"no custody event before the export names its SHA-256 {sha}")
        parents = {sha} | {f for i, f in logged if i == item_id}
        if file_sha != sha and not any((item_id, p, file_sha) in derived for p in parents):
            report.add("item", item_id, f"no custody event derives the shared copy {file_sha} from {sha}")


def _is_export(event: dict[str, Any]) -> bool:
    return str(event.get("action", "")).startswith("export.")


def verify_package(folder: Path, expected_key_id: str | None = None) -> PackageReport:
    """Verify a package folder on its own; ``report.problems`` names everything found wrong."""
    report = PackageReport()
    root = Path(folder)
    if not root.is_dir():
        report.add("bag", str(root), "not a folder")
        return report
    _check_bag(root, report)
    anchor = _check_checkpoint(root, report, expected_key_id)
    events = _check_custody(root, report, anchor)
    _check_items(root, report, events)
    report.timestamps = check_timestamps(root, report, events, _package_key(root))
    return report


def _package_key(root: Path) -> Verifier | None:
    try:
        return Verifier.from_pem(_read_capped(root / "data/custody/public_key.pem", 1 << 16).encode())
    except (OSError, ValueError, SigningKeyError):
        return None
