"""Plumbing shared by the `wb` subcommands: output, errors, opening the home, registering commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from archive.cases import CaseError, get_case
from archive.home import Home, HomeError
from archive.model import Case
from archive.signing import SigningKeyError
from workbench import __version__, config

__all__ = ["Handler", "Output", "Registrar", "UsageError", "find_case", "open_home", "TOOL_VERSION"]

TOOL_VERSION = f"wb/{__version__}"


class UsageError(Exception):
    """Bad input from the command line or configuration; exit 2, nothing changed."""


class Output:
    """One readable line per input, or JSON Lines with --json; errors to standard error."""

    def __init__(self, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

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
    """Open the home for one command, turning configuration problems into usage errors."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.home: Home | None = None

    def __enter__(self) -> Home:
        try:
            self.home = Home.open(
                config.home_path(self.args.home), config.key_path(), TOOL_VERSION, config.db_url()
            )
        except (HomeError, SigningKeyError) as exc:
            raise UsageError(str(exc)) from None
        return self.home

    def __exit__(self, *exc: object) -> None:
        if self.home is not None:
            self.home.close()


def _case(home: Home, slug: str) -> Any:
    with home.reading() as conn:
        try:
            return get_case(conn, slug)
        except CaseError as exc:
            raise UsageError(str(exc)) from None


def find_case(home: Home, slug: str) -> Case:
    with home.reading() as conn:
        try:
            return get_case(conn, slug)
        except CaseError as exc:
            raise UsageError(str(exc)) from None


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
