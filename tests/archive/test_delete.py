"""Erasure with a tombstone (RET-02): content goes, the chain still verifies, the hash says when.

The permission side (who may ask, who may approve) is in tests/workbench/test_redteam_erasure.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.archive.fixtures import jpeg_with_exif, zip_with
from tests.conftest import BOTH_ENGINES, FIRST_ADMIN, RunWb, json_lines
from tests.rawdb import raw_db

Account = Callable[..., dict[str, str]]


@BOTH_ENGINES  # on PostgreSQL too: the purge, the VACUUM after it, the tombstone that still verifies
def test_an_approved_request_removes_content_and_keeps_a_verifiable_tombstone(
    wb: RunWb, wb_env: dict[str, str], account: Account, tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "erasure test")
    legal = account("legal-b", "legal", "alpha")
    photo = jpeg_with_exif(tmp_path / "survivor.jpg", size=(160, 120))
    keep = tmp_path / "other.txt"
    keep.write_text("unrelated evidence\n")
    lines = json_lines(wb("ingest", "--case", "alpha", "--json", str(photo), str(keep)).stdout)
    item, sha = str(lines[0]["item_id"]), str(lines[0]["sha256"])
    kept = str(lines[1]["sha256"])
    home = Path(wb_env["WB_HOME"])
    pre = raw_db(wb_env)
    assert pre.one("SELECT count(*) FROM fingerprints WHERE artifact_sha256=?", (sha,)) > 0
    pre.close()
    blob = home / "blobs" / sha[:2] / sha[2:4] / sha

    wb("delete", item, "--reason", "consent withdrawn")
    assert blob.exists()  # a request alone changes nothing
    out = json_lines(wb("delete", item, "--approve", "--json", env=legal).stdout)
    assert (
        out[0]["status"] == "deleted" and sha in out[0]["blobs_removed"] and out[0]["items_deleted"] == [item]
    )
    assert not blob.exists()
    assert (home / "blobs" / kept[:2] / kept[2:4] / kept).exists()
    conn = raw_db(wb_env)
    (row,) = conn.execute(
        "SELECT sha256, deleted_at, deleted_by, deletion_approved_by, deletion_reason, title"
        " FROM items WHERE id=?",
        (item,),
    )
    assert row[0] == sha and row[1] and row[2:5] == (FIRST_ADMIN, "legal-b", "consent withdrawn")
    assert row[5] is None
    assert conn.one("SELECT count(*) FROM sightings WHERE item_id=?", (item,)) == 0
    assert conn.one("SELECT count(*) FROM fingerprints WHERE artifact_sha256=?", (sha,)) == 0
    sidecars = conn.execute("SELECT removed_at FROM artifacts WHERE parent_sha256=?", (sha,))
    assert sidecars and all(r[0] for r in sidecars)
    events = conn.execute("SELECT action, details FROM custody_events WHERE item_id=? ORDER BY seq", (item,))
    assert events[-1][0] == "item.deleted" and "artifact.removed" in [e[0] for e in events]
    log = repr(conn.execute("SELECT * FROM custody_events"))
    conn.close()
    assert "consent withdrawn" not in log
    wb("verify")

    again = json_lines(wb("ingest", "--case", "alpha", "--json", str(photo), check=1).stdout)[0]
    assert again["status"] == "refused" and "deleted from the case on" in str(again["reason"])
    assert not blob.exists()
    wb("verify")


def test_erasing_a_zip_member_erases_the_zip_that_holds_its_bytes(
    wb: RunWb, wb_env: dict[str, str], account: Account, tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "erasure test")
    legal = account("legal-b", "legal", "alpha")
    bundle = zip_with(tmp_path / "bundle.zip", [("statement.txt", b"a witness statement\n")])
    lines = json_lines(wb("ingest", "--case", "alpha", "--json", str(bundle)).stdout)
    member = next(r for r in lines if str(r["path"]).endswith("bundle.zip!statement.txt"))
    container = next(r for r in lines if str(r["path"]).endswith("bundle.zip"))
    requested = json_lines(wb("delete", str(member["item_id"]), "--reason", "retention", "--json").stdout)
    assert requested[0]["also_erases"] == [container["item_id"]]
    wb("delete", str(container["item_id"]), "--reason", "retention")  # asked twice, answered once
    out = json_lines(wb("delete", str(member["item_id"]), "--approve", "--json", env=legal).stdout)[0]
    assert sorted(out["items_deleted"]) == sorted([member["item_id"], container["item_id"]])
    home = Path(wb_env["WB_HOME"])
    db = raw_db(wb_env)
    assert [r[0] for r in db.execute("SELECT status FROM deletion_requests")] == ["approved", "approved"]
    db.close()
    for r in (member, container):
        sha = str(r["sha256"])
        assert not (home / "blobs" / sha[:2] / sha[2:4] / sha).exists()
    wb("verify")
