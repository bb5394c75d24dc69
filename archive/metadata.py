"""Embedded metadata (EXIF, XMP, IPTC, GPS, container tags) read by exiftool into a JSON sidecar.

One exiftool process is kept open (pyexiftool, stay_open) because starting Perl per file costs
~150 ms against ~5 ms per file when kept open. Every call has a time limit: a watchdog kills the
process and closes its pipes, the call fails with a clear error, and the next call starts a fresh
process. exiftool only ever sees paths inside the blob store (hex names), never a name from input.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import exiftool

from archive.errors import StorageError

__all__ = ["ExifReader", "MetadataError", "SIDECAR_LIMIT", "build_sidecar", "consistency_warnings"]

SIDECAR_LIMIT = 1 << 20  # bytes of JSON kept per file; longer values are elided and said so
VALUE_LIMIT = 4096
ARGS = ("-json", "-G1", "-a", "-s", "-n", "-api", "LargeFileSupport=1")
# Tags about our own copy of the file (its blob path, permissions, access times), not the evidence.
DROPPED_GROUPS = ("System:",)


class MetadataError(StorageError):
    """exiftool failed, timed out or printed something that is not JSON."""


class ExifReader:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._tool: Any = None
        self._lock = threading.Lock()

    def _start(self) -> Any:
        if self._tool is not None:
            process = getattr(self._tool, "_process", None)
            if process is None or process.poll() is not None:  # died since the last call
                self._forget(self._tool)
        if self._tool is None:
            self._tool = exiftool.ExifTool(common_args=[])
            self._tool.run()
        return self._tool

    @property
    def version(self) -> str:
        with self._lock:
            return str(self._start().version)

    def read(self, path: Path) -> dict[str, Any]:
        """Tags of one file, grouped as exiftool names them (``EXIF:Make``, ``Composite:GPSLatitude``)."""
        with self._lock:
            tool = self._start()
            timer = threading.Timer(self.timeout, self._kill, args=(tool,))
            timer.start()
            try:
                # The path is ours (absolute, hex-named), so it can never read as an option; a
                # "--" would end stay_open mode.
                out = tool.execute(*ARGS, str(path))
            except Exception as exc:  # a killed process surfaces as one of several errors
                self._forget(tool)
                if not timer.is_alive():
                    raise MetadataError(f"exiftool took longer than {self.timeout:g} s") from None
                raise MetadataError(f"exiftool failed: {exc}") from None
            finally:
                timer.cancel()
        return _parse(out)

    def _forget(self, tool: Any) -> None:
        """Drop a dead process so that its finaliser does not try to talk to it again."""
        process = getattr(tool, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()
        tool._running = False
        tool._process = None
        self._tool = None

    @staticmethod
    def _kill(tool: Any) -> None:
        process = getattr(tool, "_process", None)
        if process is None:
            return
        process.kill()
        # pyexiftool reads until its sentinel and would spin on EOF: closed pipes make it raise.
        for pipe in (process.stdout, process.stderr):
            try:
                pipe.close()
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            if self._tool is None:
                return
            process = getattr(self._tool, "_process", None)
            if process is not None and process.poll() is None:
                self._tool.terminate()
            else:
                self._forget(self._tool)
            self._tool = None


def _parse(out: str) -> dict[str, Any]:
    try:
        data = json.loads(out) if out.strip() else [{}]
    except ValueError:
        raise MetadataError("exiftool printed something that is not JSON") from None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise MetadataError("exiftool printed an unexpected structure")
    return {k: v for k, v in data[0].items() if k != "SourceFile" and not k.startswith(DROPPED_GROUPS)}


def build_sidecar(tags: Mapping[str, Any], parent_sha256: str, tool_version: str) -> bytes:
    """The sidecar JSON, capped in size: over-long values are replaced by a note saying so."""
    kept: dict[str, Any] = {}
    elided: list[str] = []
    for key, value in tags.items():
        text = json.dumps(value, ensure_ascii=False)
        if len(text) > VALUE_LIMIT:
            kept[key] = f"[elided: {len(text)} characters]"
            elided.append(key)
        else:
            kept[key] = value
    warnings = sorted({str(v) for k, v in tags.items() if k.endswith(":Warning")})
    warnings.extend(consistency_warnings(tags))
    sidecar: dict[str, Any] = {
        "format": "wb-sidecar/1",
        "parent_sha256": parent_sha256,
        "tool": "exiftool",
        "tool_version": tool_version,
        "arguments": list(ARGS),
        "tags": kept,
        "elided": elided,
        "warnings": warnings,
    }
    data = json.dumps(sidecar, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    if len(data) > SIDECAR_LIMIT:
        sidecar["tags"] = {}
        sidecar["elided"] = sorted(tags)
        warnings.append(f"metadata larger than {SIDECAR_LIMIT} bytes: tags not kept")
        data = json.dumps(sidecar, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    return data


_EXIF_TIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_TIME_TAGS = ("DateTimeOriginal", "CreateDate", "ModifyDate", "GPSDateStamp")


def consistency_warnings(tags: Mapping[str, Any], now: datetime | None = None) -> list[str]:
    """Values that cannot be true, surfaced to the analyst; the raw values are kept as found."""
    found: list[str] = []
    for key, value in tags.items():
        name = key.split(":")[-1]
        if name == "GPSLatitude" and _number(value) is not None and abs(_number(value) or 0) > 90:
            found.append(f"impossible latitude {value} in {key}")
        if name == "GPSLongitude" and _number(value) is not None and abs(_number(value) or 0) > 180:
            found.append(f"impossible longitude {value} in {key}")
        if name in _TIME_TAGS and isinstance(value, str):
            when = _exif_time(value)
            limit = (now or datetime.now(UTC)) + timedelta(days=1)
            if when is not None and when > limit:
                found.append(f"date in the future: {value} in {key}")
    return found


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _exif_time(text: str) -> datetime | None:
    match = _EXIF_TIME.match(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
