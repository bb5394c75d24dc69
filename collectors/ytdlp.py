"""yt-dlp as an optional second path for platform video (off unless a setting turns it on).

Platforms often serve video in pieces (Media Source Extensions) that the browser never holds as one
file; yt-dlp knows their formats and can fetch a whole file. It runs as a child process with:

- its traffic through the capture's own guard proxy (``--proxy``), so the same address checks and
  the same byte budget apply, and nothing it fetches escapes the guard;
- no configuration, cache or plugins from the machine (``--ignore-config``, ``--no-cache-dir``,
  ``--no-plugin-dirs``, a private HOME), no cookies, one video (``--no-playlist``), single-file
  formats only (``-f b/bv*/ba``: nothing is merged or re-encoded) and ``--fixup never``, so the
  file is the bytes the server sent (joined fragments for HLS/DASH, which the record says);
- a time limit (the process group is killed), a size cap (``--max-filesize``) and a memory limit.

Files are looked up by the names the capture told yt-dlp to use (``ytdlp-NNN.EXT``), never by a
name from the site; each becomes a staged ``media`` file with the metadata yt-dlp wrote beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.digest import file_sha256
from collectors.recorder import StagedFile, stage

__all__ = ["YtdlpResult", "command", "fetch", "version"]

NAME = re.compile(r"^ytdlp-(\d{3})\.([A-Za-z0-9]{1,8})$")
MAX_FILES = 5
MAX_INFO_BYTES = 4 << 20
MEMORY_LIMIT = 2 << 30
_MIME = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
    "ts": "video/mp2t",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
}
_KEPT_INFO = ("id", "extractor", "webpage_url", "title", "uploader", "timestamp", "duration", "format_id")


@dataclass
class YtdlpResult:
    """What yt-dlp fetched (staged media plus its info JSON) and how the run went."""

    files: list[StagedFile] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("yt-dlp")
    except PackageNotFoundError:
        return "not installed"


def command(url: str, folder: Path, proxy_url: str, max_bytes: int) -> list[str]:
    """The yt-dlp command line (a list: no shell ever sees the URL)."""
    return [
        sys.executable,
        "-m",
        "yt_dlp",
        "--ignore-config",
        "--no-cache-dir",
        "--no-plugin-dirs",
        "--no-playlist",
        "--max-downloads",
        str(MAX_FILES),
        "--proxy",
        proxy_url,
        "--socket-timeout",
        "20",
        "--max-filesize",
        str(max_bytes),
        "-f",
        "b/bv*/ba",
        "--fixup",
        "never",
        "--no-mtime",
        "--no-check-certificates",
        "--write-info-json",
        "--no-progress",
        "-P",
        str(folder),
        "-o",
        "ytdlp-%(autonumber)03d.%(ext)s",
        "--",
        url,
    ]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


async def fetch(url: str, folder: Path, proxy_url: str, max_bytes: int, timeout: float) -> YtdlpResult:
    """Run yt-dlp on ``url`` into ``folder`` (which must be the capture's own, empty of ytdlp-* files)."""
    work = folder / "ytdlp"
    work.mkdir(exist_ok=True)
    cmd = command(url, work, proxy_url, max_bytes)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "LANG": "C.UTF-8"}
    result = YtdlpResult(record={"version": version(), "arguments": cmd[3:-1], "status": "ok"})
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=_limits,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _stop(proc.pid)
        await proc.wait()
        result.record.update(status="failed", reason=f"yt-dlp exceeded {timeout:.0f} s and was stopped")
        err = b""
    except BaseException:
        # Cancelled (the capture ran out of time, or the run stopped): the child and anything it
        # started must not outlive the capture, still fetching into a folder about to be removed.
        _stop(proc.pid)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(proc.wait(), 5.0)  # reaped here, not by a closed event loop
        raise
    result.record["exit"] = proc.returncode
    result.record["messages"] = _messages(err)
    _collect(work, result)
    if result.record["status"] == "ok" and not result.files:
        result.record.update(status="failed", reason="yt-dlp found no video it could fetch whole")
    return result


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _messages(err: bytes) -> list[str]:
    lines = err.decode("utf-8", "replace").splitlines()
    return [ln[:300] for ln in lines if ln.startswith(("ERROR", "WARNING"))][:20]


def _collect(work: Path, result: YtdlpResult) -> None:
    """Stage the media files yt-dlp wrote under the names we gave it, each with its facts."""
    entries = sorted(p for p in work.iterdir() if NAME.match(p.name) and p.is_file() and not p.is_symlink())
    facts: list[dict[str, Any]] = []
    for path in entries[:MAX_FILES]:
        match = NAME.match(path.name)
        assert match is not None
        info = _info(work / f"ytdlp-{match.group(1)}.info.json")
        mime = _MIME.get(match.group(2).lower(), "application/octet-stream")
        sha = file_sha256(path)
        source = str(info.get("url") or info.get("webpage_url") or "")[:2000] or None
        result.files.append(StagedFile("media", path, sha, path.stat().st_size, mime, source))
        fact = {k: info.get(k) for k in _KEPT_INFO if info.get(k) is not None}
        fact.update(sha256=sha, protocol=info.get("protocol"), pieces=_pieces(info))
        facts.append(fact)
    result.record["fetched"] = facts
    if facts:
        data = json.dumps(facts, ensure_ascii=False, sort_keys=True).encode("utf-8")
        result.files.append(stage(work, "ytdlp-facts.json", data, "ytdlp-info", "application/json"))


def _pieces(info: dict[str, Any]) -> str | None:
    protocol = str(info.get("protocol") or "")
    if "m3u8" in protocol or "dash" in protocol or info.get("fragments"):
        return "served in fragments; yt-dlp joined them in order, without re-encoding"
    return None


def _info(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_INFO_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
