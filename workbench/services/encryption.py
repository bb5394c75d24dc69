"""Services of an encrypted home for admins: hand out the data key, find one blob's file.

The data key file (an age identity) is what a server process reads through ``WB_DATA_KEY_FILE`` and
what a court expert needs to decrypt one blob with ``age -d -i KEYFILE FILE``. Handing it out is an
admin's act, logged as ``key.exported``; finding the keyed file name of a blob is logged as
``key.located`` (it confirms that a file with that SHA-256 is stored).
"""

from __future__ import annotations

import os
from pathlib import Path

from archive.errors import ConfigError, InvalidRequest
from archive.home import Home
from workbench.services import auth
from workbench.services.auth import Account, Perm

__all__ = ["NotEncrypted", "export_data_key", "locate_blob"]


class NotEncrypted(ConfigError):
    """The home is plain: it has no data key."""


def export_data_key(home: Home, by: Account, out: Path, via: str = "cli") -> None:
    """Write the data key to a new file ``out`` (0600; it must not exist). Admins only."""
    if home.data_key is None:
        raise NotEncrypted("this home is not encrypted: it has no data key")
    if out.resolve().is_relative_to(home.root.resolve()):  # every copy of the home would open itself
        raise InvalidRequest(f"{out} is inside the encrypted home: write the key file elsewhere")
    with home.transaction(by.name, via) as tx:
        auth.require(by, Perm.MANAGE_USERS, tx=tx)
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidRequest(f"{out} exists already: the key goes to a new file") from None
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"# data key of archive home {home.home_id} (age identity)\n{home.data_key.identity}\n")
        tx.event("key.exported")


def locate_blob(home: Home, by: Account, sha256: str, via: str = "cli") -> str:
    """The file that holds one blob (its keyed name in an encrypted home). Admins only."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidRequest(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    with home.transaction(by.name, via) as tx:
        auth.require(by, Perm.MANAGE_USERS, tx=tx)
        tx.event("key.located", artifact_sha256=sha256)
    return home.blobs.locate(sha256)
