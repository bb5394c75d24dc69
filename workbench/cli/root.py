"""`wb`: every capability of the workbench, scriptable (see INTERFACE.md).

Exit codes: 0 all done (and intact), 1 an integrity problem or some inputs refused or failed,
2 usage or configuration error with nothing changed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from archive.errors import Refused, WorkbenchError
from workbench.cli import (
    capture,
    case,
    consent,
    dedup,
    detect,
    erasure,
    export,
    home,
    item,
    model,
    review,
    user,
)
from workbench.cli.tools import Output, Registrar

__all__ = ["main"]

# One module per noun; each registers its subcommands, in the order `wb --help` lists them.
COMMAND_MODULES = (home, user, case, item, capture, detect, model, dedup, review, consent, export, erasure)


# -- plumbing ------------------------------------------------------------------------------------


def _common(default: object) -> argparse.ArgumentParser:
    """--home, --as and --json; ``default`` is SUPPRESS for the copies on subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", default=default, help="archive home (default: $WB_HOME or ~/.local/share/wb)"
    )
    common.add_argument(
        "--as",
        dest="actor",
        default=default,
        help=argparse.SUPPRESS,  # refused: see main()
    )
    common.add_argument(
        "--json", action="store_true", default=False if default is None else default, help="print JSON Lines"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wb",
        description=__doc__,
        parents=[_common(None)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The flags work before or after the subcommand; after it they must not reset what came before.
    r = Registrar(parser.add_subparsers(dest="command", required=True), _common(argparse.SUPPRESS))
    for module in COMMAND_MODULES:
        module.register(r)
    return parser


def _said(exc: WorkbenchError) -> str:
    """The error's line: a refusal says so; a bad field gets the flag that sets it."""
    if isinstance(exc, Refused):
        return f"refused: {exc}"
    field = getattr(exc, "field", None)
    return f"{exc} (--{field.replace('_', '-')})" if field else str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Output(args.json)
    if getattr(args, "actor", None):
        out.error("wb: --as no longer chooses who acts: log in as that account with `wb login NAME`")
        return 2
    try:
        return int(args.handler(args, out))
    except WorkbenchError as exc:  # the one place errors become exit codes (archive/errors.py)
        out.error(f"wb: {_said(exc)}")
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("wb: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
