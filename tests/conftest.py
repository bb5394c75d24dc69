"""Shared fixtures: a real archive home on disk, and the real `wb` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.home import Home
from workbench.clitools import TOOL_VERSION

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


def require_shared(path: Path = SHARED) -> Path:
    """The shared corpus sits beside the checkout; skip with a clear message only where it is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: this test reads the shared corpus beside the checkout")
    return path


@pytest.fixture
def wb_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        WB_HOME=str(tmp_path / "home"),
        WB_KEY=str(tmp_path / "keys" / "signing.key"),
        WB_USER="analyst-a",
    )
    return env


RunWb = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def wb(wb_env: dict[str, str]) -> RunWb:
    """Run `wb` as a user would, in its own process."""

    def run(
        *args: str, check: int | None = 0, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *args],
            env=env or wb_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check is not None and proc.returncode != check:
            raise AssertionError(
                f"wb {' '.join(args)} exited {proc.returncode}, wanted {check}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    return run


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", TOOL_VERSION)
    yield h
    h.close()
