"""Erasure with a tombstone (RET-02): content goes, the chain still verifies, the hash says when."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.archive.fixtures import jpeg_with_exif
from tests.conftest import RunWb, json_lines


def test_delete_needs_a_second_person_removes_content_and_keeps_a_verifiable_tombstone(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "erasure test")
    photo = jpeg_with_exif(tmp_path / "survivor.jpg", size=(160, 120))
    keep = tmp_path / "other.txt"
    keep.write_text("unrelated evidence\n")
    lines = json_lines(wb("ingest", "--case", "alpha", "--json", str(photo), str(keep)).stdout)
    item, sha = str(lines[0]["item_id"]), str(lines[0]["sha256"])
    pre = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
    assert pre.execute("SELECT count(*) FROM fingerprints WHERE artifact_sha256=?", (sha,)).fetchone()[0] > 0
    pre.close()
    home = Path(wb_env["WB_HOME"])
    blob = home / "blobs" / sha[:2] / sha[2:4] / sha

    assert (
        "second person"
        in wb("delete", item, "--reason", "consent withdrawn", "--approved-by", "analyst-a", check=2).stderr
    )
    assert blob.exists()

    out = json_lines(
        wb("delete", item, "--reason", "consent withdrawn", "--approved-by", "legal-b", "--json").stdout
    )
    assert out[0]["status"] == "deleted" and sha in out[0]["blobs_removed"]
    assert not blob.exists()
    conn = sqlite3.connect(home / "archive.sqlite3")
    row = conn.execute(
        "SELECT sha256, deleted_at, deleted_by, deletion_approved_by, deletion_reason, title"
        " FROM items WHERE id=?",
        (item,),
    ).fetchone()
    assert (
        row[0] == sha
        and row[1]
        and row[2:5] == ("analyst-a", "legal-b", "consent withdrawn")
        and row[5] is None
    )
    assert conn.execute("SELECT original_name FROM sightings WHERE item_id=?", (item,)).fetchone() == (None,)
    assert conn.execute("SELECT count(*) FROM fingerprints WHERE artifact_sha256=?", (sha,)).fetchone() == (
        0,
    )
    sidecars = conn.execute("SELECT removed_at FROM artifacts WHERE parent_sha256=?", (sha,)).fetchall()
    assert sidecars and all(r[0] for r in sidecars)
    events = [e["action"] for e in json_lines(wb("log", item, "--json").stdout)]
    assert events[-1] == "item.deleted" and "artifact.removed" in events
    dump = "\n".join(conn.iterdump())
    assert "consent withdrawn" not in "".join(
        line for line in dump.splitlines() if line.startswith('INSERT INTO "custody_events"')
    )
    wb("verify")

    again = json_lines(wb("ingest", "--case", "alpha", "--json", str(photo), check=1).stdout)[0]
    assert again["status"] == "refused" and "deleted from the case on" in str(again["reason"])
    assert not blob.exists()
    wb("verify")


def test_with_accounts_the_approver_must_be_a_legal_or_admin_account(wb: RunWb, tmp_path: Path) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "erasure test")
    f = tmp_path / "a.txt"
    f.write_text("statement\n")
    item = str(json_lines(wb("ingest", "--case", "alpha", "--json", str(f)).stdout)[0]["item_id"])
    for name, role in (("analyst-a", "admin"), ("rev-c", "reviewer"), ("legal-b", "legal")):
        wb("user", "add", name, "--role", role, "--password-stdin", input="a long enough passphrase 123\n")
    refused = wb("delete", item, "--reason", "retention", "--approved-by", "rev-c", check=2)
    assert "legal or admin" in refused.stderr
    wb("delete", item, "--reason", "retention", "--approved-by", "legal-b")
    wb("verify")
