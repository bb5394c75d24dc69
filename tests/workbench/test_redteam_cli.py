"""Red team: the CLI acts only for an authenticated account, and every command applies the access core.

Each test here failed on the main of 2026-12-05, where `--as`/`WB_USER` chose who acted with no password
and most commands checked no permission (issue 11).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, init_home, json_lines, run_wb
from tests.workbench.app_fixtures import make_png


class World:
    """A home with a case `c1` holding a plain and a survivor-identifying photo, and accounts of every
    kind; built once for the module (every `wb` run is a process of its own, and they are not cheap)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.admin = clean_env()
        self.admin.update(
            WB_HOME=str(root / "home"), WB_KEY=str(root / "key"), WB_SESSION=str(root / "s" / FIRST_ADMIN)
        )
        init_home(self.admin)
        self.wb("case", "create", "c1", "--purpose", "red team")
        self.wb("case", "create", "other", "--purpose", "somebody else's case")
        self.photos = []
        for n in range(2):
            p = root / f"photo{n}.png"
            p.write_bytes(make_png(n + 40))
            self.photos.append(p)
        self.plain, self.secret = (
            str(json_lines(self.wb("ingest", "--json", "--case", "c1", str(p)).stdout)[0]["item_id"])
            for p in self.photos
        )
        self.wb("classify", self.secret, "survivor_identifying")
        self.analyst = self.account("ana", "analyst", "c1")  # a member, not assigned to the secret photo
        self.outsider = self.account("olga", "analyst", "other")  # not a member of c1
        self.legal = self.account("lena", "legal", "c1")
        self.reviewer = self.account("rita", "reviewer", "c1")

    def wb(
        self, *args: str, env: dict[str, str] | None = None, check: int | None = 0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_wb(env or self.admin, *args, check=check, input=input)

    def account(self, name: str, role: str, case: str | None = None) -> dict[str, str]:
        self.wb("user", "add", name, "--role", role, "--password-stdin", input=PASSWORD)
        if case:
            self.wb("member", "add", "--case", case, name)
        env = dict(self.admin, WB_SESSION=str(self.root / "s" / name))
        self.wb("login", name, "--password-stdin", input=PASSWORD, env=env)
        return env

    def anonymous(self, name: str) -> dict[str, str]:
        """An environment with no session."""
        return dict(self.admin, WB_SESSION=str(self.root / "s" / f"none-{name}"))

    def denials(self) -> list[tuple[str, str, str]]:
        """(actor, via, permission) of every access.denied event, read from the database on disk."""
        conn = sqlite3.connect(self.root / "home" / "archive.sqlite3")
        try:
            rows = conn.execute(
                "SELECT actor, via, details FROM custody_events WHERE action = 'access.denied' ORDER BY seq"
            ).fetchall()
        finally:
            conn.close()
        return [(a, v, json.loads(d).get("permission", "")) for a, v, d in rows]


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("redteam-cli"))


# -- who acts --------------------------------------------------------------------------------------


def test_as_flag_no_longer_chooses_who_acts(w: World) -> None:
    for args in (
        ("--as", FIRST_ADMIN, "case", "create", "x", "--purpose", "p"),
        ("case", "create", "x", "--purpose", "p", "--as", FIRST_ADMIN),
    ):
        assert "wb login" in w.wb(*args, env=w.analyst, check=2).stderr


def test_wb_user_without_a_session_is_refused(w: World) -> None:
    env = dict(w.anonymous("wbuser"), WB_USER=FIRST_ADMIN)
    assert (
        "log in first: wb login NAME"
        in w.wb("case", "create", "x", "--purpose", "p", env=env, check=2).stderr
    )


def test_wb_user_cannot_lift_a_session_to_another_account(w: World) -> None:
    env = dict(w.analyst, WB_USER=FIRST_ADMIN)
    assert "wb login" in w.wb("case", "create", "x", "--purpose", "p", env=env, check=2).stderr
    assert "x" not in [c["case"] for c in json_lines(w.wb("case", "list", "--json").stdout)]


def test_every_case_command_needs_a_session(w: World) -> None:
    env = w.anonymous("every")
    photo = str(w.photos[0])
    for args in (
        ("case", "list"),
        ("ingest", "--case", "c1", photo),
        ("capture", "--case", "c1", "http://127.0.0.1:9/x"),
        ("log", w.plain),
        ("detect", "--case", "c1"),
        ("similar", "--case", "c1", photo),
        ("dedup", "--case", "c1"),
        ("verify",),
        ("whoami",),
        ("user", "list"),
        ("user", "add", "mallory", "--role", "admin", "--password-stdin"),
        ("consent", "list", w.plain),
        ("transfers",),
    ):
        assert "log in first" in w.wb(*args, env=env, check=2, input=PASSWORD).stderr, args
    # and no operating-system name stands in for a session
    env = dict(env, USER=FIRST_ADMIN, LOGNAME=FIRST_ADMIN)
    assert "log in first" in w.wb("case", "list", env=env, check=2).stderr


def test_wrong_password_gives_no_session(w: World) -> None:
    env = w.anonymous("guess")
    proc = w.wb("login", "ana", "--password-stdin", input="not the password", env=env, check=2)
    assert "unknown user or wrong password" in proc.stderr
    assert not Path(env["WB_SESSION"]).exists()
    w.wb("whoami", env=env, check=2)


def test_session_file_is_private_and_the_home_holds_no_token(w: World) -> None:
    path = Path(w.analyst["WB_SESSION"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = json.loads(path.read_text())["token"]
    assert len(token) >= 40
    for f in (w.root / "home").rglob("*"):
        if f.is_file():
            assert token.encode() not in f.read_bytes(), f


def test_logout_ends_the_session_even_for_a_saved_copy_of_it(w: World) -> None:
    env = w.account("leo", "analyst", "c1")
    saved = w.root / "stolen-session"
    shutil.copy(env["WB_SESSION"], saved)
    assert json_lines(w.wb("whoami", "--json", env=env).stdout)[0]["user"] == "leo"
    w.wb("logout", env=env)
    assert not Path(env["WB_SESSION"]).exists()
    proc = w.wb("whoami", env=dict(env, WB_SESSION=str(saved)), check=2)
    assert "ended" in proc.stderr and "wb login" in proc.stderr


def test_deactivation_password_reset_and_revocation_take_effect_at_once(w: World) -> None:
    rev, pw, dee = (w.account(n, "reviewer", "c1") for n in ("rev", "pw", "dee"))
    w.wb("user", "sessions", "rev", "--revoke")
    assert "revoked" in w.wb("whoami", env=rev, check=2).stderr
    w.wb("user", "password", "pw", "--password-stdin", input="another long password")
    assert "password_changed" in w.wb("whoami", env=pw, check=2).stderr
    w.wb("login", "pw", "--password-stdin", input=PASSWORD, env=pw, check=2)
    w.wb("login", "pw", "--password-stdin", input="another long password", env=pw)
    w.wb("user", "deactivate", "dee")
    assert "deactivated" in w.wb("whoami", env=dee, check=2).stderr
    w.wb("login", "dee", "--password-stdin", input=PASSWORD, env=dee, check=2)


def test_only_admins_manage_accounts_and_sessions(w: World) -> None:
    for args in (
        ("user", "add", "mallory", "--role", "admin", "--password-stdin"),
        ("user", "role", "ana", "admin"),
        ("user", "deactivate", "rita"),
        ("user", "password", "rita", "--password-stdin"),
        ("user", "sessions", "rita", "--revoke"),
    ):
        assert "refused" in w.wb(*args, env=w.analyst, check=1, input=PASSWORD).stderr, args
    users = {u["user"]: u for u in json_lines(w.wb("user", "list", "--json").stdout)}
    assert "mallory" not in users and users["ana"]["role"] == "analyst" and users["rita"]["active"]


def test_first_admin_only_while_no_account_exists(w: World) -> None:
    env = w.anonymous("late")
    proc = w.wb("init", "--admin", "mallory", "--password-stdin", input=PASSWORD, env=env, check=2)
    assert "accounts already" in proc.stderr
    w.wb("login", "mallory", "--password-stdin", input=PASSWORD, env=env, check=2)


# -- each command as a non-member, an unassigned member and a wrong role --------------------------


def test_case_management_needs_an_admin(w: World) -> None:
    state = w.root / "state.json"
    state.write_text(json.dumps({"cookies": [], "origins": []}))
    w.wb("case", "create", "mine", "--purpose", "p", env=w.analyst, check=1)
    w.wb("case", "profile", "c1", "--set", str(state), env=w.analyst, check=1)
    w.wb("case", "profile", "c1", "--clear", env=w.analyst, check=1)
    w.wb("case", "profile", "c1", env=w.outsider, check=1)
    w.wb("member", "add", "--case", "c1", "olga", env=w.analyst, check=1)
    denied = w.denials()
    assert ("ana", "cli", "manage_cases") in denied
    assert ("olga", "cli", "read") in denied
    assert [c["case"] for c in json_lines(w.wb("case", "list", "--json", env=w.analyst).stdout)] == ["c1"]


def test_ingest_refused_to_a_non_member_and_a_wrong_role(w: World) -> None:
    new = w.root / "new.png"
    new.write_bytes(make_png(77))
    before = len(w.denials())
    for env in (w.outsider, w.legal, w.reviewer):
        proc = w.wb("ingest", "--case", "c1", "--json", str(new), env=env, check=1)
        assert "refused" in proc.stderr and proc.stdout == ""
    assert [d[1:] for d in w.denials()[before:]] == [("cli", "capture")] * 3
    stored = json_lines(w.wb("ingest", "--case", "c1", "--json", str(new), env=w.analyst).stdout)
    assert stored[0]["status"] == "stored"


def test_capture_refused_to_a_non_member_and_a_wrong_role(w: World) -> None:
    for env in (w.outsider, w.legal):
        allowed = dict(env, WB_CAPTURE_ALLOW="127.0.0.1:9")
        assert (
            "refused" in w.wb("capture", "--case", "c1", "http://127.0.0.1:9/x", env=allowed, check=1).stderr
        )
    conn = sqlite3.connect(w.root / "home" / "archive.sqlite3")
    assert conn.execute("SELECT count(*) FROM captures").fetchone()[0] == 0
    conn.close()


def test_detect_skips_items_the_account_may_not_see_and_refuses_wrong_roles(w: World) -> None:
    proc = w.wb("detect", "--case", "c1", "--only", "c2pa", w.secret, env=w.analyst, check=2)
    assert w.secret in proc.stderr and "no such live item" in proc.stderr
    rows = json_lines(w.wb("detect", "--case", "c1", "--json", "--only", "c2pa", env=w.analyst).stdout)
    assert w.secret not in [r["item_id"] for r in rows] and w.plain in [r["item_id"] for r in rows]
    w.wb("detect", "--case", "c1", "--only", "c2pa", env=w.legal, check=1)
    w.wb("detect", "--case", "c1", "--only", "c2pa", env=w.outsider, check=1)


def test_log_of_a_hidden_item_is_refused_like_an_absent_one(w: World) -> None:
    w.wb("log", w.secret, env=w.outsider, check=1)
    hidden = w.wb("log", w.secret, env=w.analyst, check=1)
    absent = w.wb("log", "0" * 32, env=w.analyst, check=1)
    assert "refused" in hidden.stderr and hidden.stderr == absent.stderr
    assert json_lines(w.wb("log", "--json", w.secret).stdout)  # the admin may


def test_verify_of_a_case_needs_membership(w: World) -> None:
    w.wb("verify", "--case", "c1", env=w.outsider, check=1)
    w.wb("verify", "--case", "c1", env=w.analyst)


def test_refusals_name_the_true_channel(w: World) -> None:
    w.wb("log", w.secret, env=w.outsider, check=1)
    assert {via for _a, via, _p in w.denials()} == {"cli"}


def test_only_an_admin_lifts_the_survivor_identifying_mark(w: World) -> None:
    w.wb("assign", w.secret, "ana")  # the analyst may now see and annotate the item ...
    w.wb("assign", w.secret, "rita")
    for env in (w.analyst, w.reviewer):  # ... but not open it to the whole case
        assert "refused" in w.wb("classify", w.secret, "public", env=env, check=1).stderr
    assert ("ana", "cli", "manage_cases") in w.denials()
    conn = sqlite3.connect(w.root / "home" / "archive.sqlite3")
    level = conn.execute("SELECT classification FROM items WHERE id = ?", (w.secret,)).fetchone()[0]
    conn.close()
    assert level == "survivor_identifying"
    w.wb("classify", w.secret, "confidential")  # the admin may
    w.wb("classify", w.secret, "survivor_identifying")
