"""Plumbing shared by the `wb` subcommands: output, errors, opening the home, registering commands."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from archive.cases import get_case
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Case
from workbench import TOOL_VERSION
from workbench.services import config, sessions, unlock
from workbench.services.auth import Account, AuthError

__all__ = [
    "LOGIN_FIRST",
    "Handler",
    "Output",
    "Registrar",
    "UsageError",
    "acting",
    "clear_session_token",
    "find_case",
    "open_home",
    "read_password",
    "save_session_token",
]


class UsageError(InvalidRequest):
    """Bad input from the command line or configuration; exit 2, nothing changed."""


class Output:
    """One readable line per input, or JSON Lines with --json; errors to standard error."""

    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.as_json = as_json
        # The streams of the moment, not of import time: `wb` run in-process (tests) redirects them.
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def record(self, data: dict[str, Any], line: str) -> None:
        if self.as_json:
            self.out.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            self.out.write(_printable(line) + "\n")
        self.out.flush()

    def error(self, line: str) -> None:
        self.err.write(_printable(line) + "\n")
        self.err.flush()


def _printable(text: str) -> str:
    """Names from outside may hold terminal control sequences: show them escaped."""
    return "".join(
        ch if ch.isprintable() or ch == "\t" else ch.encode("unicode_escape").decode() for ch in text
    )


class open_home:
    """Open the home for one command, turning configuration problems into usage errors.

    An encrypted home is unlocked by ``login`` (an account's name and password: ``wb login``), else
    as ``workbench.services.unlock`` says (key file, then this user's session).
    """

    def __init__(self, args: argparse.Namespace, login: tuple[str, str] | None = None) -> None:
        self.args = args
        self.login = login
        self.home: Home | None = None

    def __enter__(self) -> Home:
        root = config.home_path(self.args.home)
        key = unlock.data_key(root, self.login)
        self.home = Home.open(
            root, config.key_path(), TOOL_VERSION, config.db_url(), config.blob_store(root), data_key=key
        )
        return self.home

    def __exit__(self, *exc: object) -> None:
        if self.home is not None:
            self.home.close()


def find_case(home: Home, slug: str) -> Case:
    with home.reading() as conn:
        return get_case(conn, slug)


Handler = Callable[[argparse.Namespace, Output], int]


@dataclass
class Registrar:
    """Adds subcommands that share the common flags (--home, --as, --json)."""

    sub: Any
    common: argparse.ArgumentParser

    def add(self, name: str, handler: Handler, help_text: str, parent: Any = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = (parent or self.sub).add_parser(
            name, parents=[self.common], help=help_text
        )
        p.set_defaults(handler=handler)
        return p

    def group(self, name: str, help_text: str) -> Any:
        return self.sub.add_parser(name, help=help_text).add_subparsers(dest=f"{name}_command", required=True)


LOGIN_FIRST = "log in first: wb login NAME"


def _session_token(home: Home) -> str | None:
    return unlock.session_token(home.home_id)


def save_session_token(home: Home, token: str) -> None:
    """Write the token where only this user can read it (0600, folder 0700), replacing any older one."""
    path = config.session_path(home.home_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"home_id": home.home_id, "token": token}, fh)
    os.replace(tmp, path)


def clear_session_token(home: Home) -> str | None:
    """Remove the session file; returns the token it held."""
    token = _session_token(home)
    with contextlib.suppress(FileNotFoundError):
        config.session_path(home.home_id).unlink()
    return token


def acting(home: Home) -> Account:
    """The account of this user's live session: the only way a command learns who acts."""
    token = _session_token(home)
    if token is None:
        raise UsageError(LOGIN_FIRST)
    try:
        account = sessions.resume(home, token, "cli")
    except AuthError as exc:
        raise UsageError(f"{exc}; {LOGIN_FIRST}") from None
    named = os.environ.get("WB_USER")
    if named and named != account.name:
        raise UsageError(
            f"WB_USER names {named!r} but the session is {account.name!r}: WB_USER no longer chooses "
            "who acts; unset it, or wb login NAME"
        )
    return account


def read_password(from_stdin: bool, prompt: str = "Password: ", confirm: bool = False) -> str:
    """One line from standard input (scripts) or a hidden prompt on a terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for a password: use --password-stdin")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        raise UsageError("the two passwords differ")
    return first
