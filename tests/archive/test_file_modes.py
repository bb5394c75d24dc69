"""Home files are private to the account that runs the workbench, whatever the umask (issue 11).

Survivor material must not be readable by other local accounts: every file under a home has no
group or other permission bits (0600, blobs 0400) and every folder is 0700. Each test runs under
umask 000, the worst a user's shell can hand us, and walks every path under the home.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.home import Home
from tests.archive.fixtures import jpeg_with_exif
from tests.conftest import RunWb, json_lines
from tests.workbench.app_fixtures import make_png, make_world
from workbench import TOOL_VERSION
from workbench.services import jobs, viewing


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run the test (and the `wb` processes it starts, which inherit it) under umask 000."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def loose_paths(root: Path) -> list[str]:
    """Every path under ``root`` (root included) that another local account could read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {mode:04o}")
    return found


def test_cli_init_ingest_and_export_leave_only_private_files(
    open_umask: None, wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "file modes")
    photo = jpeg_with_exif(tmp_path / "photo.jpg", size=(120, 90))
    stored = json_lines(wb("ingest", "--case", "alpha", "--json", str(photo)).stdout)
    assert stored[0]["status"] == "stored"
    out = tmp_path / "package"
    wb("export", "--case", "alpha", "--profile", "internal", "--recipient", "Court X",
       "--recipient-type", "court", "--purpose", "trial", "--out", str(out))  # fmt: skip
    home = Path(wb_env["WB_HOME"])
    # SQLite removes -wal and -shm when its last connection closes; a reader held open (as the app's
    # server does) keeps them, and they must be as private as the database.
    reader = sqlite3.connect(home / "archive.sqlite3")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM items").fetchone()
    for name in ("archive.sqlite3", "archive.sqlite3-wal", "archive.sqlite3-shm", "home.json"):
        assert (home / name).is_file(), name
    sha = str(stored[0]["sha256"])
    blob = home / "blobs" / sha[:2] / sha[2:4] / sha
    assert stat.S_IMODE(blob.stat().st_mode) == 0o400
    assert stat.S_IMODE((home / "archive.sqlite3").stat().st_mode) == 0o600
    assert any((home / "index").iterdir()), "the near-duplicate index was written"
    assert loose_paths(home) == []
    reader.close()
    assert loose_paths(out) == []  # a package written by this process is private too


def test_app_jobs_thumbnails_and_exports_awaiting_download_are_private(
    open_umask: None, tmp_path: Path
) -> None:
    home = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", TOOL_VERSION)
    try:
        w = make_world(home, reviews=1, n_items=1)
        uploads = jobs.save_uploads(home, [("upload.png", make_png(5))])
        assert (home.index_dir / "uploads" / uploads.folder).is_dir()
        sha = next(home.blobs.hashes())
        viewing.thumbnail_png(home, sha, 64, 10, True)
        params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
                  "purpose": "case file", "item_ids": [w.items[0]]}  # fmt: skip
        job_id = jobs.submit(home, w.legal, "export", w.case.id, params)
        done = jobs.run_job(home, job_id)
        assert done is not None and done.status == "done", done
        assert any((home.root / "exports" / job_id).rglob("*"))
        assert any((home.index_dir / "thumbs").iterdir())
        assert loose_paths(home.root) == []
    finally:
        home.close()


def test_a_home_made_before_the_rule_is_made_private_when_opened(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "signing.key"
    home = Home.init(tmp_path / "home", key, TOOL_VERSION)
    home.close()
    for path in [home.root, *home.root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert loose_paths(home.root)
    Home.open(home.root, key, TOOL_VERSION).close()
    assert loose_paths(home.root) == []
