"""Web captures' working folders in the home's staging area, and the sweep of those a killed run left.

A capture stages each page (screenshot, HTML, WARC, media) in a folder before the archive stores it,
and removes the folder when the page is stored. A run killed with ``kill -9`` (or a power cut) cannot
remove anything: its pages, with their captions, addresses and photos, would stay on disk past any
erasure. So each run works in a folder of its own holding a lock (``flock``) for as long as the run
lives; the kernel lets go of the lock when the process dies, however it dies. ``sweep`` removes
every run folder whose lock nobody holds, and anything else in the area (earlier versions' folders)
older than ``GRACE_S``. It runs when a capture run starts and after every erasure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["GRACE_S", "LOCK_NAME", "run_folder", "sweep"]

LOCK_NAME = ".run.lock"
RUN_PREFIX = "run-"
# A run folder gets its lock within microseconds of being made; anything without one this long is
# not being made any more.
GRACE_S = 60.0


@contextlib.contextmanager
def run_folder(staging: Path) -> Iterator[Path]:
    """A folder of this run's own in ``staging`` (``Home.area("staging")``), locked while the run
    lives and removed when it ends."""
    folder = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=staging))
    # Locked under a temporary name, then renamed: a sweep never sees the lock file unlocked.
    fd, temp = tempfile.mkstemp(prefix=".lock-", dir=folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.replace(temp, folder / LOCK_NAME)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def _held(lock: Path) -> bool:
    """Whether a live run holds this lock (False when nobody does, or the file is gone)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the descriptor lets go of a lock this call took
    return False


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def sweep(staging: Path) -> list[str]:
    """Remove what dead runs left in ``staging``; the names removed. Live runs' folders stay."""
    now = time.time()
    removed: list[str] = []
    for entry in sorted(staging.iterdir()):
        lock = entry / LOCK_NAME
        if entry.name.startswith(RUN_PREFIX) and entry.is_dir() and lock.exists():
            stale = not _held(lock)
        else:  # a run folder still being made, or an earlier version's folder: by age
            stale = _age(entry, now) > GRACE_S
        if not stale:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed
