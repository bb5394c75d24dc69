"""`wb init --encrypt` and `wb encrypt`: encryption at rest (archive.keys)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from archive.home import ENCRYPTED_OBJECT_STORE, Home, HomeError, read_info
from archive.keys import RECOVERY_SLOT, DataKey, Locked, WrongKey, new_recovery_key
from archive.signing import SigningKeyError
from workbench import auth, config, encrypt_home, encryption, sessions, unlock
from workbench.auth import AuthError
from workbench.clitools import TOOL_VERSION, Output, Registrar, UsageError, acting, open_home, read_password

__all__ = ["cmd_init_encrypted", "register"]


def cmd_init_encrypted(args: argparse.Namespace, out: Output) -> int:
    """A new encrypted home with its first admin (whose password unlocks it) and a recovery key."""
    root = config.home_path(args.home)
    if os.environ.get("WB_BLOB_URL"):
        raise UsageError(ENCRYPTED_OBJECT_STORE)
    if (root / "home.json").is_file():
        if not read_info(root).get("encryption"):
            raise UsageError(f"{root} is a plain home: `wb encrypt` converts it in place")
        with open_home(args) as home:  # idempotent, as wb init is: unlocked by the session
            out.record({"home": str(home.root), "encrypted": True}, f"encrypted home ready at {home.root}")
        return 0
    name = args.admin or (None if args.password_stdin or not sys.stdin.isatty() else input("First admin: "))
    if not name:
        raise UsageError("an encrypted home needs its first admin: --admin NAME (their password unlocks it)")
    password = read_password(args.password_stdin, f"Password for {name}: ", confirm=True)
    if len(password) < auth.MIN_PASSWORD:
        raise UsageError(f"the password must have at least {auth.MIN_PASSWORD} characters")
    recovery = _create(root, name, password)
    out.record(
        {"home": str(root), "encrypted": True, "admin": name, "recovery_key": recovery},
        f"encrypted archive home ready at {root}; first admin {name} created: wb login {name}; "
        f"RECOVERY KEY (shown once; write it down and keep it apart from this machine): {recovery}",
    )
    return 0


def _create(root: Path, name: str, password: str) -> str:
    existed = root.exists()
    key = DataKey.generate()
    try:
        home = Home.init(root, config.key_path(), TOOL_VERSION, config.db_url(), data_key=key)
        try:
            sessions.create_first_admin(home, name, password, "cli")
            recovery = new_recovery_key()
            assert home.keyring is not None
            home.keyring.add_slot(key, RECOVERY_SLOT, recovery)
        finally:
            home.close()
    except BaseException:
        if not existed:  # a half-made home nobody could unlock: leave nothing behind
            shutil.rmtree(root, ignore_errors=True)
        raise
    return recovery


def cmd_encrypt(args: argparse.Namespace, out: Output) -> int:
    """Convert a plain home in place; run it again after a crash to finish."""
    root = config.home_path(args.home)
    if os.environ.get("WB_BLOB_URL") or ((root / "home.json").is_file() and read_info(root).get("blobs")):
        raise UsageError(ENCRYPTED_OBJECT_STORE)  # its blobs are in the store, out of the conversion's reach
    password = read_password(args.password_stdin, f"Password of {args.admin}: ")
    progress = out.error if args.verbose else None
    try:
        done = encrypt_home.convert_home(
            root, config.key_path(), TOOL_VERSION, args.admin, password, progress
        )
    except (HomeError, Locked, WrongKey, SigningKeyError, encrypt_home.ConvertError, AuthError) as exc:
        raise UsageError(f"{exc}; nothing more was changed") from None
    for p in done.problems:
        out.error(f"{p.kind} {p.ref}: {p.problem}")
    line = f"home at {root} is encrypted: {done.blobs} files and {done.events} events verified"
    if done.needs_password:
        line += f"; an admin sets a new password for {', '.join(done.needs_password)} to give them a key slot"
    if done.recovery_key:
        line += f"; RECOVERY KEY (shown once; write it down): {done.recovery_key}"
    data = {"home": str(root), "blobs": done.blobs, "events": done.events, "problems": len(done.problems),
            "needs_password": done.needs_password, "recovery_key": done.recovery_key}  # fmt: skip
    out.record(data, line)
    return 1 if done.problems else 0


def cmd_user_recover(args: argparse.Namespace, out: Output) -> int:
    """A lost password: the recovery key unlocks the home and the account gets a new password."""
    recovery = read_password(args.password_stdin, "Recovery key: ").strip().upper()
    password = read_password(args.password_stdin, "New password: ", confirm=not args.password_stdin)
    root = config.home_path(args.home)
    keyring = unlock.keyring_of(root)
    if keyring is None:
        raise UsageError("only an encrypted home has a recovery key: an admin sets the password")
    try:
        key = keyring.unlock(RECOVERY_SLOT, recovery)
        home = Home.open(root, config.key_path(), TOOL_VERSION, config.db_url(), data_key=key)
    except (HomeError, WrongKey, SigningKeyError):
        raise UsageError("wrong recovery key; nothing was changed") from None
    try:
        sessions.recover_password(home, args.name, recovery, password)
    finally:
        home.close()
    out.record({"user": args.name, "status": "password_recovered"}, f"new password set for {args.name}")
    return 0


def cmd_key_export(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        encryption.export_data_key(home, acting(home), Path(args.out))
    out.record({"key_file": args.out}, f"data key written to {args.out} (keep it as safe as the evidence)")
    return 0


def cmd_key_locate(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        where = encryption.locate_blob(home, acting(home), args.sha256)
    out.record({"sha256": args.sha256, "file": where}, where)
    return 0


def register(r: Registrar) -> None:
    """Add `wb encrypt` and `wb key export|locate`."""
    p = r.add("encrypt", cmd_encrypt, "encrypt a plain home in place (resumable: run again after a crash)")
    p.add_argument(
        "--admin", required=True, metavar="NAME", help="your admin account (its password seals the key)"
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--verbose", action="store_true", help="one line per sealed file on standard error")
    key = r.group("key", "the data key of an encrypted home (admins)")
    p = r.add("export", cmd_key_export, "write the data key (an age identity) to a new file", key)
    p.add_argument("--out", required=True, help="a new file (0600)")
    p = r.add("locate", cmd_key_locate, "the file that holds a blob (its keyed name)", key)
    p.add_argument("sha256")
