"""`wb` subcommands for dedup."""

from __future__ import annotations

from workbench.clitools import Registrar

__all__ = ["register"]


def register(r: Registrar) -> None:
    """Add this capability's subcommands (none yet)."""
