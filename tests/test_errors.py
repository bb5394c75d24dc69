"""One error tree (archive/errors.py): every exception class of ours derives from its root and knows its
exit code, and `wb` takes its exit codes from the tree."""

from __future__ import annotations

import ast
import builtins
import importlib
import sqlite3
from pathlib import Path

import pytest

from archive import errors
from tests.conftest import Account, RunWb

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("archive", "collectors", "detectors", "workbench")
BUILTIN_EXCEPTIONS = {
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
}


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def exception_classes() -> list[tuple[str, str]]:
    """(module, class) of every class in our packages whose bases lead to an exception, found in the
    source so that no module is left out because nothing imported it."""
    found: dict[tuple[str, str], list[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    found[(module, node.name)] = [_base_name(b) for b in node.bases]
    names = {name for (_, name) in found}
    exceptional = set(BUILTIN_EXCEPTIONS) | {"WorkbenchError"}
    changed = True
    while changed:  # a class is an exception when one of its bases is one (ours or a builtin)
        more = {name for (_, name), bases in found.items() if set(bases) & exceptional} - exceptional
        exceptional |= more
        changed = bool(more)
    return sorted(key for key in found if key[1] in exceptional and key[1] in names)


CLASSES = exception_classes()


def test_the_walk_finds_the_errors_it_should() -> None:
    assert len(CLASSES) >= 40
    assert ("workbench.services.auth", "AccessDenied") in CLASSES and (
        "collectors.guard",
        "GuardError",
    ) in CLASSES


@pytest.mark.parametrize(("module", "name"), CLASSES, ids=lambda v: str(v))
def test_every_error_of_ours_derives_from_the_root_and_knows_its_exit_code(module: str, name: str) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, errors.WorkbenchError)
    assert cls.exit_code in (1, 2)


def test_the_branches_carry_the_exit_codes_of_the_interface() -> None:
    from workbench.services.auth import AccessDenied, BadAccount

    assert errors.InvalidRequest.exit_code == errors.ConfigError.exit_code == BadAccount.exit_code == 2
    assert errors.Refused.exit_code == AccessDenied.exit_code == 1
    assert (
        errors.IntegrityError.exit_code
        == errors.StorageError.exit_code
        == errors.DetectorError.exit_code
        == 1
    )


def _events(env: dict[str, str]) -> list[tuple[str, str]]:
    conn = sqlite3.connect(Path(env["WB_HOME"]) / "archive.sqlite3")
    try:
        return [
            (str(a), str(b)) for a, b in conn.execute("SELECT action, actor FROM custody_events ORDER BY seq")
        ]
    finally:
        conn.close()


def test_the_cli_takes_its_exit_codes_from_the_tree(
    wb: RunWb, wb_env: dict[str, str], account: Account
) -> None:
    wb("init")
    analyst = account("ana", "analyst")
    before = _events(wb_env)

    refused = wb("case", "create", "beta", "--purpose", "why", check=1, env=analyst)
    assert refused.stderr.startswith("wb: refused: ")
    assert _events(wb_env) == [*before, ("access.denied", "ana")]

    before = _events(wb_env)
    bad = wb("case", "create", "gamma", check=2)
    # The service's message speaks of the thing; the CLI adds the flag that sets it.
    assert bad.stderr == "wb: a case needs a purpose (data minimisation): say why it collects (--purpose)\n"
    assert _events(wb_env) == before and wb("case", "list").stdout == ""


def test_the_app_shows_each_branch_under_its_own_headline() -> None:
    from archive.blobs import BlobTooLarge
    from archive.cases import CaseError
    from workbench.app.pages.common import headline
    from workbench.services.auth import AccessDenied, SessionExpired

    assert headline(AccessDenied("no")) == "Refused"
    assert headline(CaseError("no purpose")) == headline(SessionExpired("log in")) == "Not saved"
    assert headline(BlobTooLarge("too large")) == "Failed"


def test_no_command_rewraps_an_error_the_tree_already_maps() -> None:
    front = sorted((REPO / "workbench" / "cli").glob("*.py"))
    rewraps = [
        f"{path.relative_to(REPO)}:{n}"
        for path in front
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "raise UsageError(str(exc))" in line
    ]
    assert rewraps == []
