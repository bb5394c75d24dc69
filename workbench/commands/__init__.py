"""Subcommands of `wb` beyond the archive's own, one module per capability."""

from workbench.commands import (
    account,
    capture,
    dedup,
    delete,
    detect,
    encryption,
    export,
    fixity,
    migrate,
    model,
    review,
    timestamps,
    translation,
)

COMMAND_MODULES = (
    account,
    capture,
    dedup,
    delete,
    detect,
    review,
    export,
    model,
    timestamps,
    fixity,
    migrate,
    encryption,
    translation,
)

__all__ = ["COMMAND_MODULES"]
