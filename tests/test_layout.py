"""The layout's one rule: imports flow workbench -> collectors, detectors -> archive.model, archive.errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("archive", "collectors", "detectors", "workbench")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


def allowed(package: str, name: str) -> bool:
    top = name.split(".")[0]
    if package == "workbench":
        return True
    if package == "archive":
        return top == "archive"
    # collectors and detectors: themselves, and of the archive only its records and its error tree
    return top == package or name == "archive" or name.startswith(("archive.model", "archive.errors"))


@pytest.mark.parametrize("package", ["archive", "collectors", "detectors"])
def test_imports_flow_one_way(package: str) -> None:
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in sorted(imports_of(path))
        if not allowed(package, name)
    ]
    assert wrong == []


@pytest.mark.parametrize("package", OURS)
def test_each_package_declares_its_exports(package: str) -> None:
    init = REPO / package / "__init__.py"
    assert "__all__" in init.read_text(encoding="utf-8")
    assert (REPO / package / "py.typed").exists()


# The front ends: the CLI's commands, the app's pages and its ASGI wrapper. They parse, show and call
# services; SQL and permission checks live in the services, so no front end can skip or bend them.
FRONT_ENDS = [
    *sorted((REPO / "workbench" / "commands").glob("*.py")),
    *sorted((REPO / "workbench" / "pages").glob("*.py")),
    *(REPO / "workbench" / name for name in ("cli.py", "clitools.py", "app.py", "asgi.py")),
]
NO_SQL = ("sqlalchemy", "archive.db")
NO_PERMISSION_LOGIC = (
    "require",
    "require_case",
    "check_case",
    "refuse",
    "deny",
    "is_member",
    "visible_clause",
)


def _calls(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _all_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", FRONT_ENDS, ids=lambda p: str(p.relative_to(REPO)))
def test_front_ends_hold_no_sql_and_no_permission_logic(path: Path) -> None:
    sql = sorted(n for n in _all_imports(path) if n.split(".")[0] == "sqlalchemy" or n.startswith(NO_SQL))
    checks = sorted(_calls(path) & set(NO_PERMISSION_LOGIC))
    assert (sql, checks) == ([], [])
