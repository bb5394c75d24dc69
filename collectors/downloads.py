"""Downloads a page starts are kept in quarantine: saved as served, hashed, never opened.

A download arrives through the capture's guard proxy like any other response, so the capture's
byte budget bounds it while it streams; once finished it is saved under a name the capture
chooses (``download-NNNN``: the page's suggested file name is recorded verbatim but never used as
a path), hashed, and staged with the role ``download``. Nothing parses, renders or runs it: it
becomes an artifact of the page item, not an item of its own, so no detector, metadata reader or
viewer touches it until a person decides to.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Download
from playwright.async_api import Error as PlaywrightError

from collectors.digest import file_sha256
from collectors.recorder import StagedFile

__all__ = ["ROLE", "Quarantine"]

ROLE = "download"
QUARANTINE_MIME = "application/octet-stream"
MAX_ENTRIES = 200  # a page can start downloads faster than they are refused: the record stays bounded


@dataclass
class Quarantine:
    """The downloads of one capture: at most ``max_files``, each at most ``max_bytes``."""

    folder: Path
    max_files: int = 5
    max_bytes: int = 100 << 20
    entries: list[dict[str, Any]] = field(default_factory=list)
    files: list[StagedFile] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def on_download(self, download: Download) -> None:
        """Playwright's ``download`` event: keep it (within the limits) or cancel it."""
        entry: dict[str, Any] = {
            "url": download.url[:2000],
            "suggested_filename": download.suggested_filename[:300],
            "status": "pending",
        }
        if len(self.entries) < MAX_ENTRIES:
            self.entries.append(entry)
        if len(self._tasks) >= self.max_files:
            entry.update(status="refused", reason=f"more than {self.max_files} downloads in one capture")
            self._tasks.append(asyncio.ensure_future(_cancel(download)))
            return
        self._tasks.append(asyncio.ensure_future(self._keep(download, entry, len(self._tasks))))

    @property
    def started(self) -> bool:
        return bool(self.entries)

    async def wait_started(self, timeout: float) -> None:
        """Wait (bounded) for the download event that a navigation announced."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.entries and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def settle(self, timeout: float) -> None:
        """Wait (bounded) for downloads still streaming; what is left is cancelled and says so."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for entry in self.entries:
            if entry["status"] == "pending":
                entry.update(status="failed", reason=f"not finished within {timeout:.0f} s")

    def close(self) -> list[dict[str, Any]]:
        """Stop what is still running and return the entries as they stand, copied: a task that
        outlived the capture cannot change the record after it was handed over."""
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for entry in self.entries:
            if entry["status"] == "pending":
                entry.update(status="failed", reason="the capture ended before the download finished")
        return [dict(e) for e in self.entries[:MAX_ENTRIES]]

    async def _keep(self, download: Download, entry: dict[str, Any], n: int) -> None:
        try:
            await self._save(download, entry, n)
        except (PlaywrightError, OSError) as exc:
            entry.update(status="failed", reason=f"{type(exc).__name__}: {str(exc)[:300]}")

    async def _save(self, download: Download, entry: dict[str, Any], n: int) -> None:
        failure = await download.failure()
        if failure:
            entry.update(status="failed", reason=str(failure)[:300])
            return
        path = self.folder / f"download-{n:04d}"
        await download.save_as(path)
        size = path.stat().st_size
        if size > self.max_bytes:
            path.unlink()
            entry.update(status="refused", reason=f"{size} bytes, over the {self.max_bytes}-byte limit")
            return
        sha = await asyncio.to_thread(file_sha256, path)
        self.files.append(StagedFile(ROLE, path, sha, size, QUARANTINE_MIME, download.url[:2000]))
        entry.update(status="quarantined", sha256=sha, size=size)


async def _cancel(download: Download) -> None:
    with contextlib.suppress(PlaywrightError):
        await download.cancel()
