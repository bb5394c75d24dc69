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


# The front ends: the command line (workbench/cli) and the app (workbench/app: pages, the ASGI wrapper,
# serving). They parse, show and call services; SQL and permission checks live in the services, so no
# front end can skip or bend them.
FRONT_ENDS = sorted((REPO / "workbench" / "cli").rglob("*.py")) + sorted(
    (REPO / "workbench" / "app").rglob("*.py")
)
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


def test_workbench_shows_its_shape_in_three_folders() -> None:
    """Services, the command line and the app, and nothing loose beside them."""
    loose = sorted(p.name for p in (REPO / "workbench").glob("*.py") if p.name != "__init__.py")
    # a folder that holds no Python (say, bytecode left in a checkout after a move) is not the package's
    folders = sorted(p.name for p in (REPO / "workbench").iterdir() if p.is_dir() and any(p.rglob("*.py")))
    assert (loose, folders) == ([], ["app", "cli", "services"])


@pytest.mark.parametrize("path", sorted((REPO / "workbench" / "services").rglob("*.py")), ids=str)
def test_services_never_import_a_front_end(path: Path) -> None:
    front = sorted(n for n in _all_imports(path) if n.startswith(("workbench.cli", "workbench.app")))
    assert front == []


def test_the_command_line_and_the_app_do_not_import_each_other() -> None:
    """Apart from `wb serve`, which starts the app (workbench.app.serve)."""
    crossing = [
        f"{path.relative_to(REPO)} imports {name}"
        for own, other in (("cli", "workbench.app"), ("app", "workbench.cli"))
        for path in sorted((REPO / "workbench" / own).rglob("*.py"))
        for name in sorted(_all_imports(path))
        if name.startswith(other) and name != "workbench.app.serve"
    ]
    assert crossing == []
