"""Red team: erasure is complete and takes two accounts (issue 11, RET-02).

An item is given a distinctive string in every place personal text can live (file name, EXIF, page
title, URL, caption, author, a response header, tag, note, review rationale, consent pseudonym), is
cached (thumbnail, near-duplicate index), queued in a job and exported to the app's download folder;
then one account asks for its erasure and a second approves. Afterwards no file under the home, the
database and its write-ahead log included, holds any of those strings, in UTF-8 or UTF-16. Old code
kept the capture record, notes, rationales, pseudonyms, tags, caches and freed database pages, and
took the approver as a typed name.

Each refusal (not a member, not assigned to a sensitive item, wrong role, approving one's own
request) exits 1 and is exactly one ``access.denied`` event with channel ``cli``.
"""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from archive.db import items
from archive.home import Home
from archive.staging import run_folder
from tests.collectors.webfixtures import Site, serve
from tests.conftest import RunWb, json_lines
from workbench import TOOL_VERSION
from workbench.services import auth, jobs, viewing

__all__ = ["serve"]

REPO = Path(__file__).resolve().parents[2]

Account = Callable[..., dict[str, str]]

MARKERS = {
    "file name": "zqfilename7731",
    "exif": "zqexifartist5520",
    "page title": "zqpagetitle9043",
    "url": "zqurlpath2284",
    "photo url": "zqphotopath3172",
    "caption": "zqcaption1157",
    "author": "zqauthorname7719",
    "header": "zqheadervalue6604",
    "tag": "zqtagword8812",
    "note": "zqnotetext3390",
    "rationale": "zqrationale4471",
    "pseudonym": "zqpseudo6610",
}


def marked_jpeg() -> bytes:
    """A photo whose EXIF names the marker (Artist, ImageDescription), made here."""
    img = Image.new("RGB", (160, 120), (150, 60, 30))
    for x in range(0, 160, 5):
        img.putpixel((x, (x * 7) % 120), (250, 250, 0))
    exif = Image.Exif()
    exif[0x013B] = MARKERS["exif"]  # Artist
    exif[0x010E] = f"photo by {MARKERS['exif']}"  # ImageDescription
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def marked_page(photo_path: str) -> str:
    m = MARKERS
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{m["page title"]}</title>
<meta name="author" content="{m["author"]}"><meta property="og:description" content="{m["caption"]}">
</head><body><h1>{m["page title"]}</h1><p>{m["caption"]}</p><img src="{photo_path}" alt=""></body></html>"""


def killed_run(staging: Path, text: str) -> Path:
    """A capture run's staging folder with ``text`` in a staged page, its process killed with -9."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom archive.staging import run_folder\n"
        "with run_folder(Path(sys.argv[1])) as f:\n"
        "    (f / 'page.html').write_text(sys.argv[2], encoding='utf-8')\n"
        "    print(f, flush=True)\n    time.sleep(300)\n"
    )
    staging.mkdir(mode=0o700, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", code, str(staging), text], stdout=subprocess.PIPE,
                            text=True, cwd=REPO)  # fmt: skip
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert (folder / "page.html").is_file()
    return folder


def traces(home: Path) -> list[str]:
    """Every (file, marker) where a marker's UTF-8 or UTF-16 bytes are found, reading raw bytes."""
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for what, marker in MARKERS.items():
            for codec in ("utf-8", "utf-16-le", "utf-16-be"):
                if marker.encode(codec) in data:
                    found.append(f"{path.relative_to(home)}: {what} ({codec})")
    return found


def denials(home: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(home / "archive.sqlite3")
    try:
        rows = conn.execute("SELECT actor, via FROM custody_events WHERE action='access.denied' ORDER BY seq")
        return [(str(a), str(v)) for a, v in rows]
    finally:
        conn.close()


def events_of(home: Path, item_id: str) -> list[str]:
    conn = sqlite3.connect(home / "archive.sqlite3")
    try:
        rows = conn.execute("SELECT action FROM custody_events WHERE item_id=? ORDER BY seq", (item_id,))
        return [str(r[0]) for r in rows]
    finally:
        conn.close()


def in_process(home_dir: Path, env: dict[str, str]) -> Home:
    return Home.open(home_dir, Path(env["WB_KEY"]), TOOL_VERSION)


@pytest.mark.browser
def test_after_erasure_no_file_in_the_home_holds_any_string_of_the_item(
    wb: RunWb, wb_env: dict[str, str], account: Account, serve: Callable[..., Site], tmp_path: Path
) -> None:
    m = MARKERS
    photo = marked_jpeg()
    site = serve(Site())
    photo_path = f"/{m['photo url']}.jpg"
    site.add(f"/{m['url']}.html", marked_page(photo_path), headers={"X-Note": m["header"]})
    site.add(photo_path, photo, "image/jpeg", headers={"X-Note": m["header"]})
    wb_env["WB_CAPTURE_ALLOW"] = f"127.0.0.1:{site.port}"
    home_dir = Path(wb_env["WB_HOME"])

    wb("init")
    wb("case", "create", "alpha", "--purpose", "erasure red team")
    analyst = account("ana", "analyst", "alpha")
    reviewer = account("rev", "reviewer", "alpha")
    legal = account("leg", "legal", "alpha")
    for env in (analyst, reviewer, legal):
        env["WB_CAPTURE_ALLOW"] = wb_env["WB_CAPTURE_ALLOW"]

    page = json_lines(wb("capture", "--case", "alpha", "--json", site.url(f"/{m['url']}.html")).stdout)[0]
    assert page["status"] == "captured", page
    file = tmp_path / f"{m['file name']}.jpg"
    file.write_bytes(photo)  # the same photo, also brought in as a file: one item, two sightings
    ingested = json_lines(wb("ingest", "--case", "alpha", "--json", str(file)).stdout)[0]
    item, sha = str(ingested["item_id"]), str(ingested["sha256"])
    assert ingested["status"] == "duplicate" and item != page["item_id"]

    wb("tag", item, m["tag"], env=analyst)
    wb("method-step", item, "--tool", m["note"], "--result", f"found {m['note']}", env=analyst)
    strand = json.dumps({"method": "reverse search", "note": m["rationale"]})
    wb("judge", item, "--status", "verified", "--confidence", "4", "--rationale", m["rationale"],
       "--source-analysis", strand, env=reviewer)  # fmt: skip
    wb("consent", "add", item, "--subject", m["pseudonym"], "--scope", "court")

    home = in_process(home_dir, wb_env)
    try:
        assert viewing.thumbnail_png(home, sha, 128, 0, False) is not None
        with home.reading() as conn:
            leg = auth.account_by_name(conn, "leg")
            ana = auth.account_by_name(conn, "ana")
        assert leg is not None and ana is not None
        case_id = 1
        jobs.submit(home, ana, "analyse", case_id, {"item_ids": [item]})
        params = {"profile": "internal", "recipient": "ICC OTP", "recipient_type": "court",
                  "purpose": "case file", "item_ids": [item, str(page["item_id"])]}  # fmt: skip
        export_job = jobs.submit(home, leg, "export", case_id, params)
        done = jobs.run_job(home, export_job)
        assert done is not None and done.status == "done" and done.result["included"] == 2, done
    finally:
        home.close()
    before = traces(home_dir)
    for what in MARKERS:
        assert any(t.startswith("archive.sqlite3") for t in before)
        assert any(t.endswith(f": {what} (utf-8)") for t in before), f"the test never stored the {what}"
    assert any(p.name.startswith(sha) for p in (home_dir / "index" / "thumbs").iterdir())
    # Captures, thumbnails, jobs and exports awaiting download leave nothing other accounts may read.
    loose = [p for p in [home_dir, *home_dir.rglob("*")] if p.lstat().st_mode & 0o077]
    assert loose == []

    # A capture killed with kill -9 leaves its staged page behind; a live run's folder must stay.
    dead = killed_run(home_dir / "staging", f"<title>{m['page title']}</title>{m['caption']}")
    with run_folder(home_dir / "staging") as live:
        (live / "page.html").write_text("a page being captured now", encoding="utf-8")
        assert any(t.startswith(f"staging/{dead.name}/page.html") for t in traces(home_dir))
        requested = json_lines(
            wb("delete", item, "--reason", "consent withdrawn", "--json", env=analyst).stdout
        )
        erase_and_check(wb, home_dir, item, sha, page, legal, requested, export_job)
        assert live.is_dir() and not dead.exists()
    assert list((home_dir / "staging").iterdir()) == []


def erase_and_check(
    wb: RunWb,
    home_dir: Path,
    item: str,
    sha: str,
    page: dict[str, object],
    legal: dict[str, str],
    requested: list[dict[str, object]],
    export_job: str,
) -> None:
    """Approve the erasure; then no marker is left anywhere, and the tombstone and log are whole."""
    assert requested[0]["status"] == "requested" and requested[0]["also_erases"] == [page["item_id"]]
    # An app server holding the database open keeps SQLite's write-ahead log on disk after the
    # command ends; the erasure must still leave none of the old pages in it.
    held = sqlite3.connect(home_dir / "archive.sqlite3")
    held.execute("SELECT count(*) FROM items").fetchone()
    out = json_lines(wb("delete", item, "--approve", "--json", env=legal).stdout)[0]
    assert out["status"] == "deleted" and sha in out["blobs_removed"] and out["wal_truncated"] is True
    assert sorted(out["items_deleted"]) == sorted([item, str(page["item_id"])])

    assert traces(home_dir) == []
    held.close()
    assert not (home_dir / "blobs" / sha[:2] / sha[2:4] / sha).exists()
    assert not any(p.name.startswith(sha) for p in (home_dir / "index" / "thumbs").iterdir())
    assert not (home_dir / "exports" / export_job).exists()
    db = sqlite3.connect(home_dir / "archive.sqlite3")
    tomb = db.execute(
        "SELECT sha256, deleted_at, deleted_by, deletion_approved_by, deletion_reason FROM items WHERE id=?",
        (item,),
    ).fetchone()
    db.close()
    assert tomb[0] == sha and tomb[1] and tomb[2:] == ("ana", "leg", "consent withdrawn")
    wb("verify")
    said = wb("log", item, env=legal).stdout  # RET-02: the erased item answers when it went
    assert f"was deleted on {str(tomb[1])[:10]}" in said and sha in said
    events = events_of(home_dir, item)
    assert events[-1] == "item.deleted" and "artifact.removed" in events
    assert events.index("deletion.requested") < events.index("deletion.approved") < len(events) - 1


@pytest.fixture
def world(wb: RunWb, account: Account, tmp_path: Path) -> dict[str, object]:
    """A case with one ordinary and one survivor-identifying item, and accounts around it."""
    wb("init")
    wb("case", "create", "alpha", "--purpose", "erasure permissions")
    wb("case", "create", "beta", "--purpose", "another case")
    files = []
    for n, colour in enumerate(((200, 10, 10), (10, 10, 200))):
        path = tmp_path / f"photo{n}.jpg"
        Image.new("RGB", (80, 60), colour).save(path, "JPEG")
        files.append(str(path))
    lines = json_lines(wb("ingest", "--case", "alpha", "--json", *files).stdout)
    plain, sensitive = str(lines[0]["item_id"]), str(lines[1]["item_id"])
    wb("classify", sensitive, "survivor_identifying")  # the admin is assigned; nobody else is
    envs = {
        "analyst": account("ana", "analyst", "alpha"),
        "analyst2": account("ana2", "analyst", "alpha"),
        "reviewer": account("rev", "reviewer", "alpha"),
        "legal": account("leg", "legal", "alpha"),
        "outsider": account("out", "legal", "beta"),
    }
    return {"plain": plain, "sensitive": sensitive, "sha": lines[0]["sha256"], **envs}


def refused_once(wb: RunWb, home: Path, env: dict[str, str], *args: str) -> str:
    before = denials(home)
    proc = wb("delete", *args, env=env, check=1)
    after = denials(home)
    assert len(after) == len(before) + 1 and after[-1][1] == "cli", (before, after)
    return proc.stderr


def test_each_wrong_account_is_refused_once_and_logged(
    wb: RunWb, wb_env: dict[str, str], world: dict[str, object]
) -> None:
    home = Path(wb_env["WB_HOME"])
    plain, sensitive = str(world["plain"]), str(world["sensitive"])
    analyst, reviewer, legal, outsider = (world[k] for k in ("analyst", "reviewer", "legal", "outsider"))
    assert isinstance(analyst, dict) and isinstance(reviewer, dict)
    assert isinstance(legal, dict) and isinstance(outsider, dict)

    refused_once(wb, home, outsider, plain, "--reason", "retention")  # not a member
    refused_once(wb, home, reviewer, plain, "--reason", "retention")  # wrong role
    refused_once(wb, home, analyst, sensitive, "--reason", "retention")  # member, not assigned

    wb("delete", plain, "--reason", "retention", env=analyst)
    refused_once(wb, home, analyst, plain, "--approve")  # analysts cannot approve
    refused_once(wb, home, reviewer, plain, "--approve")
    refused_once(wb, home, outsider, plain, "--approve")

    wb("delete", sensitive, "--reason", "consent withdrawn")  # the assigned admin asks
    refused_once(wb, home, wb_env, sensitive, "--approve")  # ... and cannot approve it
    refused_once(wb, home, legal, sensitive, "--approve")  # legal member, not assigned
    assert "--approve" in wb("delete", plain, "--reason", "x", "--approved-by", "leg", check=2).stderr

    def pending(env: dict[str, str]) -> list[str]:
        lines = json_lines(wb("delete", "--pending", "--json", env=env).stdout)
        return sorted(str(x["item_id"]) for x in lines if "item_id" in x)

    assert pending(wb_env) == sorted([plain, sensitive])
    assert pending(legal) == [plain]  # the sensitive item's request is not shown to the unassigned
    assert pending(outsider) == [] and pending(reviewer) == []

    sha = str(world["sha"])
    blob = home / "blobs" / sha[:2] / sha[2:4] / sha
    assert blob.exists()
    done = json_lines(wb("delete", plain, "--approve", "--json", env=legal).stdout)[0]
    assert done["status"] == "deleted" and not blob.exists()
    wb("verify")
    # `wb log` of the erased item, by id or by its hash: "deleted on <date>" to the case's members
    # (the legal basis, which may name a person, to legal and admin only); a non-member is refused.
    [by_legal] = json_lines(wb("log", sha, "--json", env=legal).stdout)
    [by_analyst] = json_lines(wb("log", plain, "--json", env=analyst).stdout)
    assert by_legal["deleted"] is True and by_legal["item_id"] == plain and by_legal["reason"] == "retention"
    assert by_analyst["sha256"] == sha and by_analyst["reason"] is None and by_analyst["approved_by"] == "leg"
    refused_log = len(denials(home))
    wb("log", plain, env=outsider, check=1)
    assert len(denials(home)) == refused_log + 1


def test_a_withdrawn_request_cannot_be_approved(
    wb: RunWb, wb_env: dict[str, str], world: dict[str, object]
) -> None:
    home = Path(wb_env["WB_HOME"])
    plain = str(world["plain"])
    analyst, analyst2, legal = world["analyst"], world["analyst2"], world["legal"]
    assert isinstance(analyst, dict) and isinstance(analyst2, dict) and isinstance(legal, dict)
    wb("delete", plain, "--reason", "retention", env=analyst)
    assert "open deletion request" in wb("delete", plain, "--reason", "again", env=legal, check=2).stderr
    refused_once(wb, home, analyst2, plain, "--withdraw")  # neither the requester nor legal/admin
    wb("delete", plain, "--withdraw", env=analyst)
    assert "no open deletion request" in wb("delete", plain, "--approve", env=legal, check=2).stderr
    sha = str(world["sha"])
    assert (home / "blobs" / sha[:2] / sha[2:4] / sha).exists()
    actions = [e["action"] for e in json_lines(wb("log", plain, "--json").stdout)]
    assert "deletion.requested" in actions and actions[-1] == "deletion.withdrawn"


def test_an_erased_survivor_items_tombstone_answers_only_legal_and_admin_members(home: Home) -> None:
    """`wb log` of an erased item ("deleted on <date>", RET-02) through ``deletion.tombstones``: of an
    item that was survivor-identifying, only legal and admin members learn it existed; an unassigned
    analyst or reviewer member, and a non-member, get nothing (the usual refusal follows)."""
    from tests.workbench.app_fixtures import make_png, make_world, store
    from workbench.services import access, deletion

    w = make_world(home, n_items=0)
    item = store(home, w.case, make_png(41), "zqsurvivor.png")
    access.classify(home, w.analyst, item, "survivor_identifying")  # the analyst is assigned
    access.assign(home, w.analyst, item, "legal")
    deletion.request_deletion(home, w.analyst, item, "consent withdrawn by zqperson")
    deletion.approve_deletion(home, w.legal, item)
    with home.reading() as conn:
        sha = conn.execute(select(items.c.sha256).where(items.c.id == item)).scalar_one()
    for who in (w.legal, w.admin):
        [gone] = deletion.tombstones(home, who, sha)
        assert gone.item_id == item and gone.reason == "consent withdrawn by zqperson"
    for who in (w.analyst, w.reviewer, w.outsider):  # even the analyst: its assignment went with the item
        assert deletion.tombstones(home, who, item) == []
