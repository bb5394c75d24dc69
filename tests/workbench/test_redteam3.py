"""Red team 3 (after issue 11, against the features added since): paths that still named a hidden item.

The world: case "demo" (make_world) with a captured page whose post names its author, classified
survivor-identifying by the analyst (who stays assigned); an ordinary photo seen on that page stays
visible to the unassigned members ("reviewer", "legal"). Each test failed on the main of
2026-12-06 12:20 UTC (commit 280fd9e) and names what leaked there. One home for the module, services
called directly with real files.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive.home import Home
from collectors.outcome import StagedCapture
from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, init_home, run_wb
from tests.workbench.app_fixtures import World, make_png, make_world
from tests.workbench.test_redteam_visibility import _staged
from workbench import access, records, reports
from workbench.access import ItemFilter
from workbench.capture_store import store_staged
from workbench.clitools import TOOL_VERSION

PAGE = "http://127.0.0.1:9/post/31"
HANDLE, NAME, POST_ID = "@zqsurvivorhandle", "Zq Survivor Name", "zqpost31"


@dataclass
class Setup:
    w: World
    page_id: str
    photo_id: str  # an ordinary photo seen on the hidden page
    tmp: Path


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("redteam3")
    home = Home.init(tmp / "home", tmp / "keys" / "signing.key", TOOL_VERSION)
    try:
        w = make_world(home, reviews=2, n_items=1)
        folder = tmp / "staged"
        folder.mkdir()
        staged = StagedCapture(
            PAGE,
            "captured",
            None,
            folder,
            {"final_url": PAGE, "title": "a post"},
            [
                _staged(folder, "screenshot", make_png(81, (120, 90)), "image/png"),
                _staged(
                    folder, "media", make_png(82, (50, 40)), "image/png", "http://127.0.0.1:9/m/street.png"
                ),
            ],
            post={"caption": "a street", "handle": HANDLE, "display_name": NAME, "post_id": POST_ID},
        )
        stored = store_staged(home, w.case, staged, "analyst", "cli", None)
        assert stored.item_id is not None
        access.classify(home, w.analyst, stored.item_id, "survivor_identifying")
        yield Setup(w, stored.item_id, stored.stored_media[0].item_id, tmp)
    finally:
        home.close()


def _pdf_text(path: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return done.stdout.decode()


def test_a_visible_photo_does_not_name_the_author_of_the_hidden_page_it_was_seen_on(s: Setup) -> None:
    """Leaked: the photo's sightings (Sightings tab, `wb report`, an export's record) gave an unassigned
    member the hidden page's author handle, display name and post id, and searching the handle found
    the photo (a hit that confirms who the hidden page is by)."""
    secrets = (HANDLE, NAME, POST_ID)
    for who in (s.w.reviewer, s.w.legal):
        seen = json.dumps(records.item_sightings(s.w.home, who, s.photo_id), default=str)
        report = s.tmp / f"{who.name}.pdf"
        reports.write_report(s.w.home, who, report, item_id=s.photo_id)
        for where, shown in (("sightings", seen), ("report", _pdf_text(report))):
            assert not [x for x in secrets if x in shown], (who.name, where)
        with s.w.home.reading() as conn:
            _, hits = access.list_items(conn, who, s.w.case.id, ItemFilter(text="zqsurvivorhandle"))
        assert hits == 0, who.name
    with s.w.home.reading() as conn:  # the assigned analyst still finds and reads them
        _, hits = access.list_items(conn, s.w.analyst, s.w.case.id, ItemFilter(text="zqsurvivorhandle"))
    assert hits == 2 and HANDLE in json.dumps(
        records.item_sightings(s.w.home, s.w.analyst, s.photo_id), default=str
    )


# -- the CLI ---------------------------------------------------------------------------------------


@dataclass
class Cli:
    admin: dict[str, str]
    analyst: dict[str, str]  # "ana", a member of case c1


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("redteam3-cli")
    admin = dict(clean_env(), WB_HOME=str(root / "home"), WB_KEY=str(root / "key"))
    admin["WB_SESSION"] = str(root / "s" / FIRST_ADMIN)
    init_home(admin)
    run_wb(admin, "case", "create", "c1", "--purpose", "red team 3")
    run_wb(admin, "user", "add", "ana", "--role", "analyst", "--password-stdin", input=PASSWORD)
    run_wb(admin, "member", "add", "--case", "c1", "ana")
    analyst = dict(admin, WB_SESSION=str(root / "s" / "ana"))
    run_wb(analyst, "login", "ana", "--password-stdin", input=PASSWORD)
    return Cli(admin, analyst)


def test_a_session_alone_does_not_change_its_accounts_password(cli: Cli) -> None:
    """Leaked: `wb user password ana` in ana's session (a terminal left open, a copied session file)
    set a new password without the current one: a login of the intruder's own that outlives the
    session, and the owner locked out (the app asked for the current password, the service did not)."""
    stolen = dict(cli.analyst)
    proc = run_wb(
        stolen,
        "user",
        "password",
        "ana",
        "--password-stdin",
        input="a wrong guess\nintruder password 1\n",
        check=None,
    )
    assert proc.returncode != 0 and "current password" in proc.stderr
    run_wb(stolen, "whoami")  # nothing changed: the session still holds
    run_wb(
        dict(stolen, WB_SESSION=stolen["WB_SESSION"] + "-2"),
        "login",
        "ana",
        "--password-stdin",
        input=PASSWORD,
    )
    # With the current password first, the owner changes it (and every session ends).
    new = "a brand new long password"
    run_wb(stolen, "user", "password", "ana", "--password-stdin", input=f"{PASSWORD}\n{new}\n")
    run_wb(stolen, "whoami", check=2)
    run_wb(stolen, "login", "ana", "--password-stdin", input=new)
