"""An installed (non-editable) workbench carries every file its code reads: pyproject's package-data
names each non-Python file in our packages (the app's dir=auto component, the replay's own script,
detector references, migrations), so a move of such a folder cannot silently leave it out of a wheel."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OURS = ("archive", "collectors", "detectors", "workbench")
SKIPPED = {"__pycache__"}


def data_files() -> set[Path]:
    """Every non-Python file in our packages, as a path relative to the repository."""
    found: set[Path] = set()
    for top in OURS:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and path.suffix not in {".py", ".pyc"} and not SKIPPED & set(path.parts):
                found.add(path.relative_to(REPO))
    return found


def packaged(patterns: dict[str, list[str]]) -> set[Path]:
    """What setuptools takes: each package's patterns (and those of "*"), globbed from its folder. Every
    folder is a package (``packages.find`` includes namespace packages by default)."""
    taken: set[Path] = set()
    folders = [p for top in OURS for p in [REPO / top, *(REPO / top).rglob("*")] if p.is_dir()]
    for folder in folders:
        name = ".".join(folder.relative_to(REPO).parts)
        for pattern in [*patterns.get("*", []), *patterns.get(name, [])]:
            taken.update(Path(p).relative_to(REPO) for p in glob.glob(str(folder / pattern)))
    return taken


def test_package_data_names_every_data_file_of_our_packages() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]
    missing = sorted(str(p) for p in data_files() - packaged(patterns))
    assert not missing, f"not in [tool.setuptools.package-data], so absent from a wheel: {missing}"
    assert {
        Path("workbench/app/pages/dirauto/dirauto.js"),
        Path("workbench/services/replay_static/wait.js"),
    } <= data_files()
