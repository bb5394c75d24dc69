"""docs/architecture.md names every custody action the code can write, as the detectors' docs test does
for detectors: an action added without a line on the page fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from workbench.services.access import ACCESS_ACTIONS

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "architecture.md"
EMITTERS = ("event", "event_kept", "append")


def _literal(node: ast.expr) -> str | None:
    """An action written as a string, or an f-string as a pattern with `*` for its fields."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "*" for v in node.values)
    return None


def _action_arg(call: ast.Call) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == "action":
            return kw.value
    if call.func.attr != "append" and call.args:  # type: ignore[attr-defined]
        return call.args[0]
    return None


def written_actions() -> set[str]:
    """Every action name the code passes to the custody log, read from the source."""
    found: set[str] = set(ACCESS_ACTIONS)
    for package in ("archive", "collectors", "detectors", "workbench"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in EMITTERS:
                    continue
                arg = _action_arg(node)
                name = _literal(arg) if arg is not None else None
                if name is not None and re.fullmatch(r"[a-z_]+\.[a-z_*]+", name):
                    found.add(name)
    return found


def test_the_scan_finds_the_actions_it_should() -> None:
    actions = written_actions()
    assert {"case.created", "access.denied", "item.ingested", "session.started", "dedup.*"} <= actions


def test_every_custody_action_is_named_on_the_architecture_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    missing = sorted(a for a in written_actions() if f"`{a}`" not in text)
    assert not missing, f"docs/architecture.md does not name these custody actions: {missing}"
