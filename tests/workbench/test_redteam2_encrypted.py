"""Red team, encryption at rest (issue 12): no plain copy of an item reaches the disk while it is worked on,
and a powered-off copy of the machine does not open the home.

One encrypted home for the module (real `wb` processes, real SQLCipher and age).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive.home import Home
from archive.keys import Locked
from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, json_lines, run_wb
from tests.detectors.conftest import clip
from workbench import TOOL_VERSION
from workbench.services import auth, sessions
from workbench.services.auth import AuthError
from workbench.services.sessions import token_digest
from workbench.services.unlock import keyring_of


@dataclass
class Enc:
    root: Path
    env: dict[str, str]
    tmp: Path  # stands for /tmp: a folder on disk
    recovery: str


@pytest.fixture(scope="module")
def enc(tmp_path_factory: pytest.TempPathFactory) -> Enc:
    root = tmp_path_factory.mktemp("rt2enc")
    tmp = root / "system-tmp"
    tmp.mkdir()
    env = clean_env()
    env.update(
        WB_HOME=str(root / "home"),
        WB_KEY=str(root / "cfg" / "signing.key"),
        WB_SESSION=str(root / "cfg" / "session"),
        XDG_CONFIG_HOME=str(root / "cfg"),
        TMPDIR=str(tmp),
    )
    init = run_wb(
        env, "init", "--encrypt", "--admin", FIRST_ADMIN, "--password-stdin", "--json", input=PASSWORD
    )
    run_wb(env, "login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
    run_wb(env, "case", "create", "c1", "--purpose", "video")
    return Enc(root, env, tmp, str(json_lines(init.stdout)[0]["recovery_key"]))


def _watch(folder: Path, stop: threading.Event, seen: set[str]) -> None:
    """Note every name that appears in ``folder`` while the analysis runs."""
    while not stop.is_set():
        with os.scandir(folder) as entries:
            seen.update(e.name for e in entries)
        stop.wait(0.002)


def test_analysing_a_video_of_an_encrypted_home_writes_nothing_to_the_temporary_folder(enc: Enc) -> None:
    """The analysis child wrote the video whole, and the parent made the keyframes' folder, in the
    system's temporary folder (on disk on most machines; a child killed at its time or memory limit
    leaves them there for good)."""
    video = clip(enc.root / "zqwitness.avi", "MJPG", shots=2)
    (row,) = json_lines(run_wb(enc.env, "ingest", "--json", "--case", "c1", str(video)).stdout)
    assert row["status"] == "stored"
    seen: set[str] = set()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(enc.tmp, stop, seen))
    watcher.start()
    try:
        (done,) = json_lines(run_wb(enc.env, "detect", "--json", "--case", "c1").stdout)
    finally:
        stop.set()
        watcher.join()
    assert any(f.get("keyframe") for f in done["flags"])  # the video's frames were analysed
    assert not [n for n in seen if n.startswith(("wb-video-", "wb-frames-"))], seen
    assert not list(enc.tmp.iterdir())


def test_plain_copies_are_not_written_inside_the_encrypted_home(enc: Enc) -> None:
    """A careless `--out` inside the home folder would put the data key, or a package of plain
    evidence, into every copy of the encrypted home."""
    home = enc.root / "home"
    key = run_wb(enc.env, "key", "export", "--out", str(home / "data.key"), check=2)
    assert "inside the encrypted home" in key.stderr, key.stderr
    out = home / "package"
    args = ("--case", "c1", "--profile", "internal", "--recipient", "ICC OTP", "--recipient-type", "court")
    package = run_wb(enc.env, "export", *args, "--purpose", "case file", "--out", str(out), check=2)
    assert "inside the encrypted home" in package.stderr, package.stderr
    assert not (home / "data.key").exists() and not out.exists()
    run_wb(enc.env, "key", "export", "--out", str(enc.root / "elsewhere.key"))  # outside: as before


def test_a_powered_off_copy_does_not_open_the_home_even_without_logout(
    enc: Enc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "seized"
    shutil.copytree(enc.root / "home", copy / "home")  # the disk: home and config folder, not memory
    shutil.copytree(enc.root / "cfg", copy / "cfg")
    token = json.loads((copy / "cfg" / "session").read_text())["token"]
    assert not any(token_digest(token) in p.name for p in (copy / "home").rglob("*"))
    # The seized machine's memory is gone: its copy is opened with an empty memory folder.
    (tmp_path / "memory").mkdir()
    monkeypatch.setenv("WB_MEMORY_DIR", str(tmp_path / "memory"))
    keyring = keyring_of(copy / "home")
    assert keyring is not None
    with pytest.raises(Locked):
        keyring.session_key(token, token_digest(token))


def test_the_recovery_service_itself_checks_the_recovery_key(enc: Enc) -> None:
    """`wb user recover` checked the recovery key in the command, and the service set any account's
    password for whoever called it with the home open (the app and the workers hold it open): the
    check belongs to the service, as every other access check does."""
    keyring = keyring_of(enc.root / "home")
    assert keyring is not None
    key = keyring.unlock(keyring.slot_id(FIRST_ADMIN), PASSWORD)
    home = Home.open(enc.root / "home", Path(enc.env["WB_KEY"]), TOOL_VERSION, data_key=key)
    try:
        with pytest.raises(AuthError):
            sessions.recover_password(home, FIRST_ADMIN, "AAAA-BBBB-CCCC-DDDD", "taken-over-password")
        with home.reading() as conn:
            assert auth.authenticate(conn, FIRST_ADMIN, PASSWORD).name == FIRST_ADMIN  # unchanged
        sessions.recover_password(home, FIRST_ADMIN, enc.recovery, PASSWORD)  # the right key still works
    finally:
        home.close()
