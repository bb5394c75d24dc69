"""Encryption at rest (SEC-01): `wb init --encrypt`, login unlocks, a copied home reveals nothing.

One encrypted home is built once for the module (real `wb` processes, real SQLCipher, real age).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.home import Home, memory_root
from archive.keys import DataKey
from tests.archive.fixtures import jpeg_with_exif
from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, json_lines, run_wb
from tests.workbench.app_fixtures import make_png
from tests.workbench.browser_server import free_port
from workbench import TOOL_VERSION
from workbench.services import viewing
from workbench.services.auth import account_by_name

CAPTION = "zqcaption survivor statement near the river"
FILE_NAME = "zqfilename-witness-photo.jpg"


class World:
    """An encrypted home with a photo (EXIF GPS), a PNG, a judgement's rationale and four accounts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cfg = root / "cfg"
        self.admin = clean_env()
        self.admin.update(
            WB_HOME=str(root / "home"),
            WB_KEY=str(self.cfg / "signing.key"),
            WB_SESSION=str(self.cfg / f"session-{FIRST_ADMIN}"),
            XDG_CONFIG_HOME=str(self.cfg),
        )
        init = self.wb(
            "init", "--encrypt", "--admin", FIRST_ADMIN, "--password-stdin", "--json", input=PASSWORD
        )
        self.recovery = str(json_lines(init.stdout)[0]["recovery_key"])
        self.wb("login", FIRST_ADMIN, "--password-stdin", input=PASSWORD)
        self.wb("case", "create", "c1", "--purpose", "encryption test")
        self.wb("case", "create", "other", "--purpose", "somebody else's case")
        photo = jpeg_with_exif(root / FILE_NAME, size=(320, 240))
        png = root / "zqsecond-image.png"
        png.write_bytes(make_png(7, (200, 150)))
        self.files = {p: p.read_bytes() for p in (photo, png)}
        rows = json_lines(self.wb("ingest", "--json", "--case", "c1", str(photo), str(png)).stdout)
        assert [r["status"] for r in rows] == ["stored", "stored"]
        self.item, self.secret = str(rows[0]["item_id"]), str(rows[1]["item_id"])
        self.shas = [str(r["sha256"]) for r in rows]
        source = '{"method": "reverse search", "note": "zqsource-note"}'
        self.wb("judge", self.item, "--status", "verified", "--confidence", "4", "--rationale", CAPTION,
                "--source-analysis", source)  # fmt: skip
        self.wb("classify", self.secret, "survivor_identifying")
        self.analyst = self.account("ana", "analyst", "c1")  # a member, not assigned to the secret PNG
        self.outsider = self.account("olga", "analyst", "other")
        self.legal = self.account("lena", "legal", "c1")

    def wb(
        self, *args: str, env: dict[str, str] | None = None, check: int | None = 0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_wb(env or self.admin, *args, check=check, input=input)

    def account(self, name: str, role: str, case: str) -> dict[str, str]:
        self.wb("user", "add", name, "--role", role, "--password-stdin", input=PASSWORD)
        self.wb("member", "add", "--case", case, name)
        env = dict(self.admin, WB_SESSION=str(self.cfg / f"session-{name}"))
        self.wb("login", name, "--password-stdin", input=PASSWORD, env=env)
        return env

    def snapshot(self) -> dict[str, str]:
        """Every file of the home and the config folder (and the memory area) with its SHA-256."""
        folders = [self.root / "home", self.cfg, memory_root(self.home_id())]
        return {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith((".lock", "-shm"))
        }

    def home_id(self) -> str:
        import json

        return str(json.loads((self.root / "home" / "home.json").read_text())["home_id"])


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("enc"))
    yield world
    shutil.rmtree(memory_root(world.home_id()), ignore_errors=True)


def test_an_encrypted_home_ingests_verifies_and_shows_its_items(w: World, tmp_path: Path) -> None:
    assert "intact" in w.wb("verify").stdout
    assert [hashlib.sha256(d).hexdigest() for d in w.files.values()] == w.shas
    assert json_lines(w.wb("log", "--json", w.item).stdout)
    # The item page's pictures come through the encrypted store (thumbnail, reveal).
    keyfile = tmp_path / "data.key"
    w.wb("key", "export", "--out", str(keyfile))
    key = DataKey.parse(keyfile.read_text())
    home = Home.open(Path(w.admin["WB_HOME"]), Path(w.admin["WB_KEY"]), TOOL_VERSION, data_key=key)
    try:
        with home.reading() as conn:
            admin = account_by_name(conn, FIRST_ADMIN)
        assert admin is not None
        assert (viewing.thumbnail_png(home, w.shas[0], 96, 50, True) or b"").startswith(b"\x89PNG")
        assert (viewing.revealed_png(home, admin, w.item, w.shas[0]) or b"").startswith(b"\x89PNG")
    finally:
        home.close()


def test_an_expert_decrypts_one_blob_with_the_age_tool(w: World, tmp_path: Path) -> None:
    keyfile = tmp_path / "expert.key"
    w.wb("key", "export", "--out", str(keyfile))
    located = Path(w.wb("key", "locate", w.shas[0]).stdout.strip())
    assert w.shas[0] not in located.name and located.is_file()
    plain = subprocess.run(
        ["age", "--decrypt", "-i", str(keyfile), str(located)], capture_output=True, check=True
    ).stdout
    assert hashlib.sha256(plain).hexdigest() == w.shas[0]


def test_access_rules_hold_on_an_encrypted_home(w: World) -> None:
    w.wb("log", w.item, env=w.outsider, check=1)  # not a member of the case
    hidden = w.wb("log", w.secret, env=w.analyst, check=1)  # a member, not assigned
    assert "refused" in hidden.stderr
    assert json_lines(w.wb("log", "--json", w.item, env=w.analyst).stdout)
    photo = next(iter(w.files))
    w.wb("ingest", "--case", "c1", str(photo), env=w.legal, check=1)  # legal staff change nothing


NEW_PASSWORD = "another long passphrase"


def test_key_slots_follow_accounts_and_the_recovery_key_sets_a_lost_password(
    w: World, tmp_path: Path
) -> None:
    slots = w.root / "home" / "keys" / "slots.json"
    before = slots.read_bytes()
    w.wb("user", "add", "bob", "--role", "analyst", "--password-stdin", input=PASSWORD)
    assert slots.read_bytes() != before
    bob = dict(w.admin, WB_SESSION=str(tmp_path / "bob"))
    w.wb("login", "bob", "--password-stdin", input=PASSWORD, env=bob)
    w.wb("user", "deactivate", "bob")
    w.wb("whoami", env=bob, check=2)  # the session ended, and its sealed key with it
    w.wb("login", "bob", "--password-stdin", input=PASSWORD, env=bob, check=2)  # no slot any more
    # An admin's reset seals the key under the new password; the old one unlocks nothing.
    w.wb("user", "password", "ana", "--password-stdin", input=NEW_PASSWORD)
    w.wb("login", "ana", "--password-stdin", input=PASSWORD, env=w.analyst, check=2)
    w.wb("login", "ana", "--password-stdin", input=NEW_PASSWORD, env=w.analyst)
    # A lost password: the recovery key (shown once at init) sets a new one; a wrong key changes nothing.
    w.wb(
        "user",
        "recover",
        "lena",
        "--password-stdin",
        input=f"AAAA-{w.recovery[5:]}\n{NEW_PASSWORD}\n",
        check=2,
    )
    w.wb("user", "recover", "lena", "--password-stdin", input=f"{w.recovery.lower()}\n{NEW_PASSWORD}\n")
    w.wb("login", "lena", "--password-stdin", input=NEW_PASSWORD, env=w.legal)
    assert "lena" in w.wb("whoami", env=w.legal).stdout


def test_wrong_password_and_missing_key_exit_2_and_change_nothing(w: World, tmp_path: Path) -> None:
    nobody = dict(w.admin, WB_SESSION=str(tmp_path / "no-session"))
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text(DataKey.generate().identity + "\n")
    keyed = dict(nobody, WB_DATA_KEY_FILE=str(wrong_key))
    photo = str(next(iter(w.files)))
    before = w.snapshot()
    w.wb("login", FIRST_ADMIN, "--password-stdin", input="not the password", env=nobody, check=2)
    w.wb("login", "ana", "--password-stdin", input=PASSWORD + "x", env=nobody, check=2)
    commands = [
        ("verify",), ("case", "list"), ("ingest", "--case", "c1", photo), ("log", w.item),
        ("user", "list"), ("whoami",), ("export", "--case", "c1", "--profile", "internal", "--recipient", "r",
         "--recipient-type", "court", "--purpose", "p", "--out", str(tmp_path / "x")),
        ("dedup", "--case", "c1"), ("init",), ("key", "export", "--out", str(tmp_path / "k")),
    ]  # fmt: skip
    for n, args in enumerate(commands):  # each command once, without a key or with a wrong one in turn
        proc = w.wb(*args, env=(nobody, keyed)[n % 2], check=2)
        assert "wb:" in proc.stderr, args
    assert w.snapshot() == before
    assert not (tmp_path / "x").exists() and not (tmp_path / "k").exists()


def test_wb_serve_hands_the_key_to_the_app_in_memory_only(w: World, tmp_path: Path) -> None:
    nobody = dict(w.admin, WB_SESSION=str(tmp_path / "none"))
    assert "log in first" in w.wb("serve", "--port", "1", env=nobody, check=2).stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port)],
        env=w.admin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key_file = memory_root(w.home_id()) / f"datakey-{proc.pid}"
    try:
        for _ in range(120):
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            time.sleep(0.5)
        assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert not key_file.exists()


def test_a_copied_home_and_config_folder_reveal_no_content(w: World, tmp_path: Path) -> None:
    """Run last in the module: it ends every session first (a powered-off copy holds none)."""
    for env in (w.admin, w.analyst, w.outsider, w.legal):
        w.wb("logout", env=env)
    copy = tmp_path / "copy"
    shutil.copytree(w.root / "home", copy / "home")
    shutil.copytree(w.cfg, copy / "cfg")
    blob = b"".join(p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file())
    assert b"\xff\xd8\xff" not in blob  # JPEG start of image
    assert b"\x89PNG\r\n\x1a\n" not in blob and b"IHDR" not in blob
    assert b"Exif\x00\x00" not in blob and b"GPSLatitude" not in blob and b"TestCam" not in blob
    for text in (
        CAPTION,
        "zqcaption",
        "zqsource-note",
        FILE_NAME,
        "zqfilename",
        "zqsecond-image",
        "encryption test",
    ):
        assert text.encode() not in blob and text.encode("utf-16-le") not in blob, text
    for sha in w.shas:
        assert sha.encode() not in blob and bytes.fromhex(sha) not in blob, sha
        assert sha.upper().encode() not in blob
    assert not (copy / "home" / "keys" / "sessions").exists()  # sealed session keys live in memory
