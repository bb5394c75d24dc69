"""`wb encrypt`: an admin converts a plain home into an encrypted one (archive.convert), resumably.

The admin's password authenticates them (against the plain database on the first run, against their
new key slot on a run that resumes) and seals the first key slot; the other accounts get theirs when
an admin next sets their password (their passwords are known only as argon2 hashes). At the end every
blob and the custody log are verified through the encrypted home, ``home.encrypted`` is logged and a
recovery key is made (shown once).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive import convert
from archive.home import Home, read_info
from archive.keys import RECOVERY_SLOT, DataKey, Keyring, new_recovery_key
from archive.verify import Problem, verify
from workbench.services import auth
from workbench.services.auth import Perm

__all__ = ["ConvertError", "Converted", "convert_home"]

ConvertError = convert.ConvertError


@dataclass
class Converted:
    blobs: int
    events: int
    problems: list[Problem] = field(default_factory=list)
    recovery_key: str | None = None
    needs_password: list[str] = field(default_factory=list)


def _first_run(root: Path, key_path: Path, tool: str, name: str, password: str) -> tuple[Keyring, DataKey]:
    home = Home.open(root, key_path, tool)
    try:
        with home.reading() as conn:
            account = auth.authenticate(conn, name, password)
        auth.require(account, Perm.MANAGE_USERS)
        home.db.truncate_wal()
    finally:
        home.close()
    key = DataKey.generate()
    keyring = Keyring(root, home.home_id, key.check_value())
    keyring.add_slot(key, keyring.slot_id(name), password)  # before any file changes: a resume needs it
    convert.start(root, key)
    return keyring, key


def _resumed(root: Path, name: str, password: str) -> tuple[Keyring, DataKey]:
    info = read_info(root)
    sealed = info.get("encryption") or json.loads((root / convert.MARK).read_text())
    keyring = Keyring(root, str(info["home_id"]), str(sealed["check"]))
    return keyring, keyring.unlock(keyring.slot_id(name), password)


def convert_home(
    root: Path,
    key_path: Path,
    tool: str,
    name: str,
    password: str,
    progress: Callable[[str], None] | None = None,
) -> Converted:
    """Convert (or finish converting) the home at ``root``; see the module docstring."""
    info = read_info(root)
    if not info.get("encryption") and not (root / convert.MARK).exists():
        keyring, key = _first_run(root, key_path, tool, name, password)
    else:
        keyring, key = _resumed(root, name, password)
        if info.get("encryption") and keyring.has_slot(RECOVERY_SLOT):
            raise ConvertError(f"the home at {root} is encrypted already")
    convert.convert_blobs(root, key, progress)
    convert.convert_database(root, key)
    convert.convert_areas(root)
    convert.finish(root, key)
    return _close(Home.open(root, key_path, tool, data_key=key), keyring, key, name)


def _close(home: Home, keyring: Keyring, key: DataKey, name: str) -> Converted:
    try:
        report = verify(home)
        with home.transaction(name, "cli") as tx:
            counts = {"blobs": report.blobs, "events": report.events, "problems": len(report.problems)}
            tx.event("home.encrypted", details=counts)
        with home.reading() as conn:
            others = [a.name for a in auth.list_users(conn) if a.active and a.name != name]
    finally:
        home.close()
    done = Converted(report.blobs, report.events, list(report.problems))
    done.needs_password = [n for n in others if not keyring.has_slot(keyring.slot_id(n))]
    if not keyring.has_slot(RECOVERY_SLOT):
        done.recovery_key = new_recovery_key()
        keyring.add_slot(key, RECOVERY_SLOT, done.recovery_key)
    return done
