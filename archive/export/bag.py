"""A BagIt (RFC 8493) bag writer that streams payload files and hashes them while copying.

Only SHA-256 manifests are written. Paths inside the bag are made by the caller from ids and hashes
(``safe_relpath`` refuses anything else), never from names found in evidence.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from archive.errors import InvalidRequest

__all__ = ["BagError", "BagWriter", "safe_relpath"]

CHUNK = 1 << 20
SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


class BagError(InvalidRequest):
    """The bag cannot be written as asked (unsafe path, target not empty, file twice)."""


def safe_relpath(rel: str) -> str:
    """A relative path of plain parts (letters, digits, ``.``, ``_``, ``-``); no ``..``, no absolute."""
    parts = rel.split("/")
    if not parts or any(not SAFE_PART.match(p) or p in {".", ".."} for p in parts):
        raise BagError(f"unsafe path inside the bag: {rel!r}")
    return rel


class BagWriter:
    """Writes payload under ``data/`` and the tag files on ``finish``."""

    def __init__(self, root: Path) -> None:
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise BagError(f"{root} exists and is not an empty folder")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.payload: dict[str, str] = {}  # "data/..." -> sha256
        self.octets = 0
        self.tags: dict[str, str] = {}

    def _target(self, rel: str) -> tuple[str, Path]:
        name = "data/" + safe_relpath(rel)
        if name in self.payload:
            raise BagError(f"{name} is written twice")
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return name, path

    def add_stream(self, rel: str, stream: BinaryIO) -> str:
        """Copy a stream into the payload, hashing while writing; returns its SHA-256."""
        name, path = self._target(rel)
        digest = hashlib.sha256()
        size = 0
        with open(path, "xb") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return self._added(name, digest.hexdigest(), size)

    def add_bytes(self, rel: str, data: bytes) -> str:
        name, path = self._target(rel)
        with open(path, "xb") as out:
            out.write(data)
        return self._added(name, hashlib.sha256(data).hexdigest(), len(data))

    def add_json(self, rel: str, value: Any) -> str:
        text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        return self.add_bytes(rel, text.encode("utf-8"))

    def _added(self, name: str, sha: str, size: int) -> str:
        self.payload[name] = sha
        self.octets += size
        return sha

    def add_tag(self, name: str, text: str) -> None:
        """A tag file beside the payload (README, transfer note); listed in the tag manifest."""
        safe_relpath(name)
        if name in {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"}:
            raise BagError(f"{name} is written by the bag itself")
        self.tags[name] = text

    def finish(self, info: Mapping[str, str]) -> str:
        """Write bagit.txt, bag-info.txt and both manifests; returns the payload manifest's SHA-256."""
        manifest = "".join(f"{sha}  {name}\n" for name, sha in sorted(self.payload.items()))
        bag_info = {
            "Bagging-Date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "Payload-Oxum": f"{self.octets}.{len(self.payload)}",
            **{k: _one_line(v) for k, v in info.items()},
        }
        tag_texts = {
            "bagit.txt": BAGIT_TXT,
            "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in bag_info.items()),
            "manifest-sha256.txt": manifest,
            **self.tags,
        }
        lines = []
        for name, text in sorted(tag_texts.items()):
            data = text.encode("utf-8")
            _write_synced(self.root / name, data)
            lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        _write_synced(self.root / "tagmanifest-sha256.txt", "".join(lines).encode("utf-8"))
        return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def _one_line(value: str) -> str:
    """bag-info values are single lines: control characters (line breaks among them) become spaces."""
    return "".join(" " if ord(ch) < 32 or ch == "\x7f" else ch for ch in str(value)).strip()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
