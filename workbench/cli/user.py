"""`wb login`, `wb logout`, `wb whoami` and `wb user ...`: who acts (INTERFACE.md, "Who acts").

A command learns who acts only from this user's session (``tools.acting``); ``--as`` and
``WB_USER`` no longer choose. The first admin may be made without a session while no account exists.
"""

from __future__ import annotations

import argparse

from archive.home import Home, HomeError
from archive.keys import RECOVERY_SLOT, WrongKey
from archive.signing import SigningKeyError
from workbench import TOOL_VERSION
from workbench.cli.tools import (
    Output,
    Registrar,
    UsageError,
    acting,
    clear_session_token,
    open_home,
    read_password,
    save_session_token,
)
from workbench.services import auth, config, sessions, unlock

__all__ = ["register"]


def cmd_login(args: argparse.Namespace, out: Output) -> int:
    password = read_password(args.password_stdin)
    with open_home(args, login=(args.name, password)) as home:
        token, account = sessions.open_session(home, args.name, password, "cli")
        save_session_token(home, token)
    out.record(
        {"user": account.name, "role": account.role.value},
        f"logged in as {account.name} ({account.role.value})",
    )
    return 0


def cmd_logout(args: argparse.Namespace, out: Output) -> int:
    try:
        with open_home(args) as home:
            token = clear_session_token(home)
            account = sessions.end_session(home, token) if token else None
    except UsageError:
        # An encrypted home whose session ended already (no key left to open it): only the
        # session file remains to remove.
        if not unlock.forget_session(config.home_path(args.home)):
            raise
        account = None
    name = account.name if account else None
    out.record({"user": name, "status": "logged_out"}, f"logged out{f' ({name})' if name else ''}")
    return 0


def cmd_whoami(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        account = acting(home)
    out.record({"user": account.name, "id": account.id, "role": account.role.value}, account.name)
    return 0


def cmd_user_add(args: argparse.Namespace, out: Output) -> int:
    password = read_password(args.password_stdin, confirm=True)
    with open_home(args) as home:
        if not sessions.has_accounts(home):
            if args.role != "admin":
                raise UsageError("the first account must be an admin (--role admin)")
            acct = sessions.create_first_admin(home, args.name, password, "cli")
        else:
            acct = sessions.add_account(home, acting(home), args.name, args.role, password)
    out.record({"user": acct.name, "id": acct.id, "role": acct.role.value}, f"user {acct.name} added")
    return 0


def cmd_user_role(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        with home.transaction(by.name) as tx:
            acct = auth.set_role(tx, by, args.name, args.role)
    out.record({"user": acct.name, "role": acct.role.value}, f"{acct.name} is now {acct.role.value}")
    return 0


def cmd_user_list(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        accounts = sessions.list_accounts(home, acting(home))
    for a in accounts:
        out.record({"user": a.name, "role": a.role.value, "active": a.active}, f"{a.name}\t{a.role.value}")
    return 0


def cmd_user_deactivate(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        acct = sessions.deactivate_user(home, acting(home), args.name)
    out.record({"user": acct.name, "active": False}, f"{acct.name} deactivated; their sessions ended")
    return 0


def cmd_user_password(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        # One's own password needs the current one first (with --password-stdin: its first line).
        current = read_password(args.password_stdin, "Current password: ") if args.name == by.name else None
        password = read_password(args.password_stdin, "New password: ", confirm=True)
        sessions.reset_password(home, by, args.name, password, current=current)
    out.record({"user": args.name, "status": "password_changed"}, f"password of {args.name} changed")
    return 0


def cmd_user_sessions(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        if args.revoke:
            ended = sessions.revoke_sessions(home, by, args.name)
            out.record({"user": args.name, "revoked": ended}, f"{ended} session(s) of {args.name} ended")
            return 0
        rows = sessions.list_sessions(home, by, args.name)
    for r in rows:
        data = {k: (v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else v) for k, v in r.items()}
        out.record(data, f"{data['channel']}\tsince {data['created_at']}\tuntil {data['expires_at']}")
    return 0


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


def register(r: Registrar) -> None:
    """Add the session and account subcommands."""
    p = r.add("login", cmd_login, "start a session (8 h by default) as an account")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    r.add("logout", cmd_logout, "end this session")
    r.add("whoami", cmd_whoami, "the account this session acts as")
    user = r.group("user", "local accounts")
    p = r.add(
        "recover", cmd_user_recover, "set a lost password with the recovery key (encrypted homes)", user
    )
    p.add_argument("name")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the recovery key, then the new password, from stdin",
    )
    p = r.add("add", cmd_user_add, "add an account (admins; the first account, an admin, needs none)", user)
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=[x.value for x in auth.Role])
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p = r.add("role", cmd_user_role, "change an account's role (audited)", user)
    p.add_argument("name")
    p.add_argument("role", choices=[x.value for x in auth.Role])
    r.add("list", cmd_user_list, "list accounts", user)
    p = r.add("deactivate", cmd_user_deactivate, "deactivate an account; its sessions end at once", user)
    p.add_argument("name")
    p = r.add("password", cmd_user_password, "set a new password (admins, or your own); sessions end", user)
    p.add_argument("name")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (your own: the current one, then the new one)",
    )
    p = r.add("sessions", cmd_user_sessions, "list an account's live sessions, or end them", user)
    p.add_argument("name")
    p.add_argument("--revoke", action="store_true", help="end every session of the account now")
