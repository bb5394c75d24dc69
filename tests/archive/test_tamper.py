"""Tampering with files, custody rows and checkpoints is detected and named (PRE-02, COC-01), on SQLite
and on PostgreSQL.

The attacker here can edit the database directly (dropping the append-only triggers first) and the
files of the home, but not the signing key kept outside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.cases import create_case
from archive.home import Home
from archive.verify import Problem, verify
from tests.conftest import BOTH_ENGINES, RunWb, admin_of, json_lines
from tests.rawdb import RawDb, raw_db
from workbench.services.intake import ingest_paths

# The verifier reads rows the same way on any engine: PostgreSQL runs the tests that touch its own forms
# (the triggers, an edit, a truncation), not every tampering again.
ON_BOTH = BOTH_ENGINES


@pytest.fixture
def filled(home: Home, tmp_path: Path) -> Iterator[Home]:
    with home.transaction("analyst-a") as tx:
        case = create_case(tx, "alpha", "test tampering")
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_text(f"file number {i}\n" * 50)
    results = list(ingest_paths(home, case, [str(tmp_path / f"f{i}.txt") for i in range(3)], admin_of(home)))
    assert [r.status for r in results] == ["stored"] * 3
    assert verify(home).intact
    yield home


def raw(home: Home) -> RawDb:
    conn = raw_db(home)
    conn.drop_append_only()
    return conn


def positions(problems: list[Problem], kind: str) -> set[int | None]:
    return {p.position for p in problems if p.kind == kind}


@ON_BOTH
def test_the_database_refuses_update_and_delete_on_the_log(filled: Home) -> None:
    conn = raw_db(filled)
    for statement in (
        "UPDATE custody_events SET action='x' WHERE seq=2",
        "DELETE FROM custody_events WHERE seq=2",
        "DELETE FROM checkpoints",
    ):
        with pytest.raises(conn.error, match="append-only"):
            conn.execute(statement)
    if conn.postgres:  # TRUNCATE fires no row trigger: its own statement trigger refuses it
        for table in ("custody_events", "checkpoints"):
            with pytest.raises(conn.error, match="append-only"):
                conn.execute(f"TRUNCATE {table} CASCADE")
    assert conn.one("SELECT count(*) FROM custody_events") > 2
    conn.close()


def test_a_flipped_byte_names_its_file(filled: Home) -> None:
    with filled.reading() as conn:
        sha = conn.exec_driver_sql("SELECT sha256 FROM items ORDER BY id LIMIT 1").scalar_one()
    path = Path(filled.blobs.locate(sha))  # the home's local store: locate names the file
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verify(filled).problems
    assert [(p.kind, p.ref) for p in problems] == [("blob", sha)]
    assert str(path) in problems[0].problem


def test_a_removed_file_is_reported_missing(filled: Home) -> None:
    with filled.reading() as conn:
        sha = conn.exec_driver_sql("SELECT sha256 FROM items ORDER BY id LIMIT 1").scalar_one()
    filled.blobs.delete(sha)
    problems = verify(filled).problems
    assert len(problems) == 1 and problems[0].ref == sha and "missing" in problems[0].problem


@ON_BOTH
def test_an_edited_event_is_named_by_position(filled: Home) -> None:
    raw(filled).execute("UPDATE custody_events SET actor='someone-else' WHERE seq=3")
    problems = verify(filled).problems
    assert 3 in positions(problems, "event")
    assert any("edited" in p.problem for p in problems if p.position == 3)


def test_an_edit_with_the_chain_rehashed_forward_breaks_the_signed_root(filled: Home) -> None:
    from archive.custody import event_hash

    conn = raw(filled)
    rows = conn.dicts("SELECT * FROM custody_events ORDER BY seq")
    rows[1]["actor"] = "someone-else"
    prev = rows[0]["event_hash"]
    for row in rows[1:]:
        row["prev_hash"] = prev
        row["event_hash"] = prev = event_hash(row)
        conn.execute(
            "UPDATE custody_events SET actor=?, prev_hash=?, event_hash=? WHERE seq=?",
            (row["actor"], row["prev_hash"], row["event_hash"], row["seq"]),
        )
    problems = verify(filled).problems
    assert problems and {p.kind for p in problems} == {"checkpoint"}
    assert any("Merkle root" in p.problem for p in problems)


def test_a_deleted_event_is_named(filled: Home) -> None:
    raw(filled).execute("DELETE FROM custody_events WHERE seq=4")
    problems = verify(filled).problems
    assert 4 in positions(problems, "event")


def test_an_inserted_event_is_named(filled: Home) -> None:
    conn = raw(filled)
    conn.execute("UPDATE custody_events SET seq = seq + 1000 WHERE seq >= 3")
    conn.execute("UPDATE custody_events SET seq = seq - 999 WHERE seq >= 1000")
    conn.execute(
        "INSERT INTO custody_events SELECT 3, 'forged', at, actor, via, 'item.viewed', case_id, item_id, "
        "artifact_sha256, before_sha256, after_sha256, details, tool_version, prev_hash, event_hash "
        "FROM custody_events WHERE seq = 2"
    )
    problems = verify(filled).problems
    assert 3 in positions(problems, "event")


def test_reordered_events_are_named(filled: Home) -> None:
    conn = raw(filled)
    conn.execute("UPDATE custody_events SET seq = -1 WHERE seq = 2")
    conn.execute("UPDATE custody_events SET seq = 2 WHERE seq = 3")
    conn.execute("UPDATE custody_events SET seq = 3 WHERE seq = -1")
    problems = verify(filled).problems
    assert {2, 3} <= positions(problems, "event")


@ON_BOTH
def test_truncating_the_log_with_its_checkpoints_is_caught_by_the_witness(filled: Home) -> None:
    conn = raw(filled)
    size = conn.one("SELECT max(seq) FROM custody_events")
    conn.execute("DELETE FROM custody_events WHERE seq > ?", (size - 2,))
    conn.execute("DELETE FROM checkpoints WHERE tree_size > ?", (size - 2,))
    problems = verify(filled).problems
    assert any(p.ref == "witness" for p in problems)


def test_a_replaced_checkpoint_signature_is_named(filled: Home) -> None:
    conn = raw(filled)
    ((cp_id, sig),) = conn.execute("SELECT id, signature FROM checkpoints ORDER BY id DESC LIMIT 1")
    forged = ("0" if sig[0] != "0" else "1") + sig[1:]
    conn.execute("UPDATE checkpoints SET signature=? WHERE id=?", (forged, cp_id))
    problems = verify(filled).problems
    assert [p.ref for p in problems] == [f"checkpoint:{cp_id}"]
    assert "signature" in problems[0].problem


def test_wb_verify_reports_one_json_line_per_problem_and_exits_1(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "p")
    (tmp_path / "a.txt").write_text("alpha\n")
    sha = json_lines(wb("ingest", "--case", "alpha", str(tmp_path / "a.txt"), "--json").stdout)[0]["sha256"]
    assert json_lines(wb("verify", "--json").stdout)[-1]["summary"]["problems"] == 0
    blob = Path(wb_env["WB_HOME"]) / "blobs" / str(sha)[:2] / str(sha)[2:4] / str(sha)
    blob.chmod(0o600)
    blob.write_text("alpha!\n")
    lines = json_lines(wb("verify", "--json", check=1).stdout)
    assert lines[0]["kind"] == "blob" and lines[0]["ref"] == sha
    assert set(lines[0]) == {"kind", "ref", "position", "problem"}
    assert lines[-1]["summary"]["problems"] == 1
