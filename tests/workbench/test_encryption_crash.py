"""kill -9 during `wb encrypt` and during an encrypted `wb ingest`: nothing lost, the home verifies
after resuming (a few rounds here; bench/encrypt_crash.py runs ten)."""

from __future__ import annotations

import shutil
from pathlib import Path

from archive.home import memory_root, read_info
from tests.workbench.crash_rounds import encrypt_rounds, ingest_rounds


def test_wb_encrypt_killed_three_times_resumes_and_verifies(tmp_path: Path) -> None:
    rounds = encrypt_rounds(tmp_path, rounds=3, files=6)
    try:
        final = rounds[-1]
        assert final.verified, final.detail
        assert final.detail.startswith("resumed")  # the kills came before the conversion was done
        assert all(r.killed_after >= 1 for r in rounds[:-1])
        assert read_info(tmp_path / "home").get("encryption")
        assert not list((tmp_path / "home" / "blobs").glob("??/??/" + "?" * 64))  # no plain blob left
    finally:
        shutil.rmtree(memory_root(read_info(tmp_path / "home")["home_id"]), ignore_errors=True)


def test_an_encrypted_ingest_killed_loses_nothing(tmp_path: Path) -> None:
    rounds = ingest_rounds(tmp_path, rounds=2, files=6)
    try:
        assert all(r.verified for r in rounds), [r.detail for r in rounds]
    finally:
        shutil.rmtree(memory_root(read_info(tmp_path / "home")["home_id"]), ignore_errors=True)
