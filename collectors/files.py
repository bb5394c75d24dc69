"""Local files, folders and zips as offers to the archive.

Everything here is hostile until checked. Names are kept as found (for the record) and never used
to build a path: zip members are streamed out of the archive in memory, with size limits, and a
member whose name climbs out (``..``), is absolute, or is a link is refused with a reason. Symbolic
links in folders are not followed. File-system times are recorded as found (OFF-03).
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from archive.model import IncomingFile, Refusal

__all__ = ["Limits", "ZipOffer", "expand_paths", "offer_saved", "zip_members"]


@dataclass(frozen=True)
class Limits:
    max_members: int = 10_000
    max_member_bytes: int = 8 << 30
    max_total_bytes: int = 64 << 30
    max_ratio: int = 200  # uncompressed / compressed per member, beyond which it is a bomb


@dataclass(frozen=True)
class ZipOffer:
    """A zip to store as an original, whose members are offered after it."""

    file: IncomingFile
    path: Path


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _file_offer(path: Path, st: os.stat_result, shown: str) -> IncomingFile:
    source = {
        "kind": "file",
        "mtime": _iso(st.st_mtime),
        "ctime": _iso(st.st_ctime),
        "size_at_import": st.st_size,
    }
    return IncomingFile(name=shown, open=lambda: path.open("rb"), size=st.st_size, source=source)


def expand_paths(paths: list[str], device: str | None = None) -> Iterator[IncomingFile | ZipOffer | Refusal]:
    """Files to offer, in a stable order; folders walked without following links."""
    for raw in paths:
        yield from _expand_one(Path(raw), raw, device)


def _expand_one(path: Path, shown: str, device: str | None) -> Iterator[IncomingFile | ZipOffer | Refusal]:
    try:
        st = path.lstat()
    except OSError as exc:
        yield Refusal(shown, f"cannot read: {exc.strerror}")
        return
    if stat.S_ISLNK(st.st_mode):
        yield Refusal(shown, "symbolic link: not followed")
    elif stat.S_ISDIR(st.st_mode):
        yield from _walk(path, shown, device)
    elif not stat.S_ISREG(st.st_mode):
        yield Refusal(shown, "not a regular file (device, pipe or socket)")
    else:
        offer = _file_offer(path, st, shown)
        if device:
            offer = IncomingFile(offer.name, offer.open, offer.size, {**offer.source, "device": device})
        if _is_zip(path):
            yield ZipOffer(offer, path)
        else:
            yield offer


def offer_saved(path: Path, name: str, source: Mapping[str, Any]) -> IncomingFile | ZipOffer:
    """A file saved by another front end (an app upload) under a name of ours, offered under the name
    it came with: a zip is offered as a zip, as ``expand_paths`` does, so its members are taken."""
    offer = IncomingFile(name=name, open=lambda: path.open("rb"), size=path.stat().st_size, source=source)
    return ZipOffer(offer, path) if _is_zip(path) else offer


def _walk(folder: Path, shown: str, device: str | None) -> Iterator[IncomingFile | ZipOffer | Refusal]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield Refusal(shown, f"cannot list folder: {exc.strerror}")
        return
    for entry in entries:
        yield from _expand_one(Path(entry.path), os.path.join(shown, entry.name), device)


def _is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be taken, or None."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "zip member is a symbolic link"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "zip member has an absolute path"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "zip member path climbs out of the archive ('..')"
    if "\x00" in name:
        return "zip member name holds a NUL byte"
    if info.flag_bits & 0x1:
        return "zip member is encrypted"
    return None


class _Capped:
    """A read-only stream that fails once more bytes come out than were allowed."""

    def __init__(self, inner: IO[bytes], limit: int, what: str) -> None:
        self.inner = inner
        self.limit = limit
        self.what = what
        self.seen = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.inner.read(n)
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise OSError(0, f"{self.what}: more than {self.limit} bytes when unpacked")
        return chunk

    def __enter__(self) -> _Capped:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


def zip_members(
    offer: ZipOffer, container_sha256: str, limits: Limits | None = None
) -> Iterator[IncomingFile | Refusal]:
    """Each member as its own offer naming the zip as container; nothing written to disk by name."""
    limits = limits or Limits()
    label = offer.file.name
    try:
        archive = zipfile.ZipFile(offer.path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield Refusal(label, f"zip not readable, members not taken: {exc}")
        return
    with archive:
        files = [i for i in infos if not i.is_dir()]
        if len(files) > limits.max_members:
            yield Refusal(
                label,
                f"zip holds {len(files)} members, more than {limits.max_members}: members not taken",
            )
            return
        budget = limits.max_total_bytes
        for info in files:
            shown = f"{label}!{info.filename}"
            reason = unsafe_member_reason(info)
            cap = min(limits.max_member_bytes, budget, max(info.compress_size, 1) * limits.max_ratio)
            if reason is None and info.file_size > cap:
                reason = f"zip member would unpack to {info.file_size} bytes, over the limit of {cap}"
            if reason is not None:
                yield Refusal(shown, reason)
                continue
            budget -= info.file_size
            yield _member_offer(archive, info, shown, cap, container_sha256)


def _member_offer(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, cap: int, container: str
) -> IncomingFile:
    def opener() -> BinaryIO:
        return _Capped(archive.open(info), cap, "zip member")  # type: ignore[return-value]

    source = {
        "kind": "zip-member",
        "member": info.filename,
        "zip_date_time": "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*info.date_time),
        "crc32": f"{info.CRC:08x}",
    }
    return IncomingFile(
        name=shown, open=opener, size=info.file_size, source=source, container_sha256=container
    )
