"""Which key opens an encrypted home for this process (``archive.keys``); None for a plain home.

In order: an account's password (``wb login``, the app's login form), the key file named by
``WB_DATA_KEY_FILE`` (servers and workers), the CLI's open session (its token unseals the key the
session holds). Without any of them the home stays locked: ``Locked``, a usage error (exit 2).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from archive.home import memory_root, read_info
from archive.keys import DataKey, Keyring, Locked, WrongKey
from workbench.services import config
from workbench.services.sessions import token_digest

__all__ = ["data_key", "forget_session", "key_file_for_children", "keyring_of", "session_token"]

LOGIN_FIRST = "log in first: wb login NAME"


def keyring_of(root: Path) -> Keyring | None:
    """The key slots of an encrypted home; None for a plain or missing home."""
    if not (root / "home.json").is_file():
        return None
    info = read_info(root)
    sealed = info.get("encryption")
    if not sealed:
        return None
    return Keyring(root, str(info["home_id"]), str(sealed["check"]))


def session_token(home_id: str) -> str | None:
    """The token in this user's session file for the home, if any."""
    try:
        data = json.loads(config.session_path(home_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("home_id") != home_id:
        return None  # a session file of another home
    token = data.get("token")
    return token if isinstance(token, str) else None


def data_key(root: Path, login: tuple[str, str] | None = None, use_session: bool = True) -> DataKey | None:
    """The data key for the home at ``root`` (None when it is not encrypted)."""
    keyring = keyring_of(root)
    if keyring is None:
        return None
    if login is not None:
        name, password = login
        return keyring.unlock(keyring.slot_id(name), password)
    if (path := config.data_key_file()) is not None:
        try:
            return DataKey.parse(path.read_text(encoding="ascii"))
        except (OSError, UnicodeError) as exc:
            raise WrongKey(f"WB_DATA_KEY_FILE {path} is unreadable: {exc}") from None
    token = session_token(keyring.home_id) if use_session else None
    if token is None:
        raise Locked(f"this home is encrypted: {LOGIN_FIRST}")
    try:
        return keyring.session_key(token, token_digest(token))
    except Locked:
        raise Locked(f"this session has ended: {LOGIN_FIRST}") from None


@contextlib.contextmanager
def key_file_for_children(root: Path, key: DataKey | None) -> Iterator[None]:
    """While the block runs, ``WB_DATA_KEY_FILE`` names a private (0600) file in memory (tmpfs)
    holding the key, for the app and the job processes it starts; the file is removed at the end."""
    if key is None or config.data_key_file() is not None:
        yield
        return
    memory = memory_root(read_info(root)["home_id"])
    _drop_stale_key_files(memory)
    path = memory / f"datakey-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.identity + "\n")
    os.environ["WB_DATA_KEY_FILE"] = str(path)
    try:
        yield
    finally:
        os.environ.pop("WB_DATA_KEY_FILE", None)
        path.unlink(missing_ok=True)


def forget_session(root: Path) -> bool:
    """Remove this user's session file for an encrypted home; False for a plain or missing home."""
    keyring = keyring_of(root)
    if keyring is None:
        return False
    if session_token(keyring.home_id) is not None:  # never a session file of another home
        config.session_path(keyring.home_id).unlink(missing_ok=True)
    return True


def _drop_stale_key_files(memory: Path) -> None:
    """Key files of app processes that were killed before they could remove theirs."""
    for path in memory.glob("datakey-*"):
        try:
            os.kill(int(path.name.removeprefix("datakey-")), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, PermissionError):
            continue
