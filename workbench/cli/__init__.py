"""`wb`, the command line: ``root`` (the parser, the home's own commands, and the one place errors
become exit codes), ``tools`` (output, opening the home as the logged-in account) and one module per
noun. Commands parse, call ``workbench.services`` and print; they hold no SQL and no permission
logic of their own."""

from workbench.cli.root import main

__all__ = ["main"]
