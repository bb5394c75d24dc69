"""Subcommands of `wb` beyond the archive's own, one module per capability."""

from workbench.commands import capture, dedup, detect, export, review

COMMAND_MODULES = (capture, dedup, detect, review, export)

__all__ = ["COMMAND_MODULES"]
