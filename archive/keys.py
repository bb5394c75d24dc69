"""The keys of an encrypted home: one data key, unlocked by key slots and sessions.

The data key is an age X25519 identity (``AGE-SECRET-KEY-1...``): blobs are age files to its
recipient, so an expert holding it decrypts one blob with the standard ``age -d -i KEYFILE``. The
database key (SQLCipher, raw 256-bit key) and the key that names blob files (HMAC-SHA256) are derived
from it with HKDF-SHA256, each under its own label.

Nothing in the home holds the data key in the clear:

- ``keys/slots.json``: one slot per account (and one for the recovery key printed at ``wb init
  --encrypt``). A slot is the data key sealed with AES-256-GCM under a key derived from the
  account's password with scrypt. Slot ids are a hash of the home id and the account name, so the
  file does not list the names.
- ``<memory folder>/sessions/<token digest>.json`` (``archive.memory``, tmpfs): while a session is
  open, the data key sealed under a key derived (HKDF) from the session's random token, which only
  the client holds (the CLI's session file, the app's cookie). Ending the session removes the file;
  an expired one is swept at login; a power-off loses it, so a copy of the disk never holds both.

Exceptions: ``Locked`` (no key given for an encrypted home), ``WrongKey`` (a password, recovery
key, token or key file that does not unlock it); both are usage errors to the CLI (exit 2).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pyrage import x25519

from archive.errors import ConfigError
from archive.memory import memory_root

__all__ = ["RECOVERY_SLOT", "DataKey", "Keyring", "Locked", "WrongKey", "new_recovery_key"]

SLOTS_FORMAT = "wb-keyslots/1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}  # ~32 MiB and ~0.1 s per unlock: slows guessing, not logins
RECOVERY_SLOT = "recovery"


class Locked(ConfigError):
    """An encrypted home was opened without its data key."""


class WrongKey(ConfigError):
    """What was given does not unlock this home's data key; nothing was changed."""


@dataclass(frozen=True)
class DataKey:
    """The home's data key: an age X25519 identity."""

    identity: str

    @classmethod
    def generate(cls) -> DataKey:
        return cls(str(x25519.Identity.generate()))

    @classmethod
    def parse(cls, text: str) -> DataKey:
        """The key from an age identity file's text (comment lines allowed, as age writes them)."""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        if len(lines) != 1:
            raise WrongKey("a data key file holds one AGE-SECRET-KEY-1... line")
        try:
            x25519.Identity.from_str(lines[0])
        except Exception:  # pyrage raises its own IdentityError type
            raise WrongKey("not an age X25519 identity (AGE-SECRET-KEY-1...)") from None
        return cls(lines[0])

    def age_identity(self) -> x25519.Identity:
        return x25519.Identity.from_str(self.identity)

    def recipient(self) -> x25519.Recipient:
        return self.age_identity().to_public()

    def derive(self, label: str) -> bytes:
        """A 256-bit key for one purpose (``sqlcipher``, ``blob-names``, ``check``)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"wb/{label}".encode())
        return hkdf.derive(self.identity.encode("ascii"))

    def check_value(self) -> str:
        """A short public tag of the key, stored in home.json, so a wrong key file is named as such."""
        return self.derive("check")[:8].hex()


def new_recovery_key() -> str:
    """A random recovery key (160 bits) in groups of four, to be written down once."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text))


def _scrypt(secret: str, salt: bytes, params: dict[str, int]) -> bytes:
    return Scrypt(salt=salt, length=32, **params).derive(secret.encode("utf-8", "surrogatepass"))


def _seal(key: bytes, plain: bytes, aad: str) -> dict[str, str]:
    nonce = secrets.token_bytes(12)
    return {"nonce": _b64(nonce), "sealed": _b64(AESGCM(key).encrypt(nonce, plain, aad.encode()))}


def _open(key: bytes, box: dict[str, Any], aad: str) -> bytes:
    try:
        return AESGCM(key).decrypt(_unb64(box["nonce"]), _unb64(box["sealed"]), aad.encode())
    except (InvalidTag, KeyError, ValueError):
        raise WrongKey("wrong password or key") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically and durably (0600)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Keyring:
    """Key slots and session keys of one encrypted home (files under ``root/keys``)."""

    def __init__(self, root: Path, home_id: str, check: str) -> None:
        self.folder = root / "keys"
        # Sealed session keys live in memory, not in the home: with the session file they open the
        # home, and a powered-off copy of the machine must not (a restart means logging in again).
        self.sessions = memory_root(home_id) / "sessions"
        self.home_id = home_id
        self.check = check
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sessions.mkdir(parents=True, exist_ok=True, mode=0o700)
        _drop_disk_sessions(self.folder / "sessions")

    # -- slots -------------------------------------------------------------------------------

    def slot_id(self, account: str) -> str:
        return hashlib.sha256(f"{self.home_id}\0{account}".encode()).hexdigest()[:32]

    def _slots(self) -> dict[str, Any]:
        path = self.folder / "slots.json"
        if not path.exists():
            return {"format": SLOTS_FORMAT, "slots": {}}
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != SLOTS_FORMAT:
            raise WrongKey(f"{path}: unknown key slot format")
        return dict(data)

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        with open(self.folder / "slots.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._slots()
            yield data
            _write_json(self.folder / "slots.json", data)

    def check_key(self, key: DataKey) -> None:
        """WrongKey unless ``key`` is this home's data key."""
        self._accept(key)

    def _accept(self, key: DataKey) -> DataKey:
        if key.check_value() != self.check:
            raise WrongKey("this key is not the data key of this home")
        return key

    def add_slot(self, key: DataKey, slot: str, secret: str) -> None:
        """Seal the data key under ``secret`` (a password or the recovery key) in slot ``slot``."""
        salt = secrets.token_bytes(16)
        box = _seal(_scrypt(secret, salt, SCRYPT), self._accept(key).identity.encode(), slot)
        with self._editing() as data:
            data["slots"][slot] = {"kdf": "scrypt", **SCRYPT, "salt": _b64(salt), **box}

    def has_slot(self, slot: str) -> bool:
        return slot in self._slots()["slots"]

    def remove_slot(self, slot: str) -> bool:
        with self._editing() as data:
            return data["slots"].pop(slot, None) is not None

    def unlock(self, slot: str, secret: str) -> DataKey:
        """The data key from one slot; WrongKey when the slot is absent or the secret wrong."""
        box = self._slots()["slots"].get(slot)
        if box is None:
            # Derive anyway so that timing does not tell which accounts hold a slot.
            _scrypt(secret, b"\0" * 16, SCRYPT)
            raise WrongKey("unknown user or wrong password")
        params = {k: int(box[k]) for k in ("n", "r", "p")}
        kek = _scrypt(secret, _unb64(box["salt"]), params)
        try:
            plain = _open(kek, box, slot)
        except WrongKey:
            raise WrongKey("unknown user or wrong password") from None
        return self._accept(DataKey(plain.decode("ascii")))

    # -- sessions ----------------------------------------------------------------------------

    @staticmethod
    def _session_kek(token: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"wb/session")
        return hkdf.derive(token.encode("utf-8", "surrogatepass"))

    def _session_path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError("not a token digest")
        return self.sessions / f"{digest}.json"

    def open_session(self, key: DataKey, token: str, digest: str, expires_at: datetime) -> None:
        """Seal the data key under the session token, until the session ends or expires."""
        box = _seal(self._session_kek(token), self._accept(key).identity.encode(), digest)
        _write_json(self._session_path(digest), {"expires_at": expires_at.isoformat(), **box})
        self.sweep()

    def session_key(self, token: str, digest: str) -> DataKey:
        """The data key a live session unlocks; Locked when the session holds none (ended)."""
        try:
            box = json.loads(self._session_path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise Locked(
                "this session holds no key (it ended, or the machine restarted): log in again"
            ) from None
        return self._accept(DataKey(_open(self._session_kek(token), box, digest).decode("ascii")))

    def end_session(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            self._session_path(digest).unlink()

    def sweep(self, now: datetime | None = None) -> int:
        """Remove the session keys of sessions past their expiry."""
        moment = now or datetime.now(UTC)
        removed = 0
        for path in self.sessions.glob("*.json"):
            try:
                expires = datetime.fromisoformat(json.loads(path.read_text())["expires_at"])
            except (OSError, ValueError, KeyError):
                continue
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            if expires < moment:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _drop_disk_sessions(folder: Path) -> None:
    """Remove sealed session keys that homes made before they moved to memory kept on disk."""
    if not folder.is_dir():
        return
    for path in folder.glob("*.json"):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
