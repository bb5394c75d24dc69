"""The memory-backed folder of a home: working files that must be gone at power-off.

An encrypted home keeps plain working copies (caches, thumbnails, indexes, staging) and the sealed
keys of its open sessions here, never on its disk, so a powered-off copy of the machine holds none.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from archive.errors import ConfigError

__all__ = ["memory_root"]


def memory_root(home_id: str) -> Path:
    """A private folder in memory (tmpfs) for one home's working files: gone at power-off."""
    named = os.environ.get("WB_MEMORY_DIR")  # a RAM disk where /dev/shm is missing (e.g. macOS)
    base = Path(named) if named else Path("/dev/shm")  # noqa: S108  # memory-backed on Linux
    if not base.is_dir():
        base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    path = base / f"wb-{os.getuid()}-{home_id}"
    path.mkdir(exist_ok=True, mode=0o700)
    if path.is_symlink() or path.stat().st_uid != os.getuid():
        raise ConfigError(f"{path} is not this user's own folder")
    path.chmod(0o700)
    return path
