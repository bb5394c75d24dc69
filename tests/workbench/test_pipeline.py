"""Ingest in groups: one transaction and one signed checkpoint per group, each file still on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive import ingest as ingest_module
from archive.cases import create_case
from archive.db import checkpoints, fingerprints, items, sightings
from archive.home import Home, Transaction
from archive.ingest import IngestResult, Prepared
from archive.model import Case
from archive.verify import verify
from tests.conftest import PASSWORD, admin_of
from tests.detectors.test_fingerprint import jpeg, scene
from workbench.services import auth, deletion
from workbench.services import intake as pipeline
from workbench.services.intake import ingest_paths


def new_case(home: Home) -> Case:
    with home.transaction("analyst-a") as tx:
        return create_case(tx, "demo", "test purpose")


def text_files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"statement-{i:03d}.txt"
        path.write_text(f"statement number {i}\n")
        paths.append(path)
    return paths


def count(home: Home, table: object) -> int:
    with home.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_files_ingested_together_share_checkpoints_and_the_archive_verifies(
    home: Home, tmp_path: Path
) -> None:
    case = new_case(home)
    before = count(home, checkpoints)
    paths = text_files(tmp_path / "in", 3 * pipeline.BATCH_FILES)
    results = list(ingest_paths(home, case, [str(p) for p in paths], admin_of(home)))
    assert [r.status for r in results] == ["stored"] * len(paths)
    assert [Path(r.path).name for r in results] == [p.name for p in paths]  # input order kept
    assert count(home, items) == len(paths)
    assert count(home, checkpoints) - before < len(paths)
    assert verify(home).intact


def test_exact_duplicates_in_one_group_become_sightings(home: Home, tmp_path: Path) -> None:
    case = new_case(home)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text("the same statement\n")
    results = list(ingest_paths(home, case, [str(folder)], admin_of(home)))
    assert [r.status for r in results] == ["stored", "duplicate", "duplicate"]
    assert len({r.item_id for r in results}) == 1
    assert count(home, items) == 1
    assert count(home, sightings) == 3
    assert verify(home).intact


def test_a_file_that_fails_to_record_is_refused_and_the_others_are_stored(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = new_case(home)
    paths = text_files(tmp_path / "in", 6)
    real_record = ingest_module.Ingestor.record

    def failing(self: ingest_module.Ingestor, tx: Transaction, c: Case, prepared: Prepared) -> IngestResult:
        result = real_record(self, tx, c, prepared)  # rows and events written, then the failure
        if prepared.incoming.name.endswith("statement-002.txt"):
            raise RuntimeError("disk said no")
        return result

    monkeypatch.setattr(ingest_module.Ingestor, "record", failing)
    results = list(ingest_paths(home, case, [str(p) for p in paths], admin_of(home)))
    assert [r.status for r in results] == ["stored", "stored", "refused", "stored", "stored", "stored"]
    assert "disk said no" in str(results[2].reason)
    assert count(home, items) == 5  # the failed file's rows were undone with its savepoint
    report = verify(home)
    assert report.intact, report.problems


def test_images_are_fingerprinted_before_the_ingest_returns(home: Home, tmp_path: Path) -> None:
    case = new_case(home)
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(3):
        (folder / f"photo{seed}.jpg").write_bytes(jpeg(scene(seed, (320, 240))))
    results = list(ingest_paths(home, case, [str(folder)], admin_of(home)))
    assert [r.status for r in results] == ["stored"] * 3
    with home.reading() as conn:
        printed = {
            r[0]
            for r in conn.execute(
                select(fingerprints.c.artifact_sha256).where(fingerprints.c.kind == "phash")
            )
        }
    assert printed == {r.sha256 for r in results}


def test_deleted_content_ingested_again_is_refused_and_its_bytes_are_not_kept(
    home: Home, tmp_path: Path
) -> None:
    case = new_case(home)
    paths = text_files(tmp_path / "in", 3)
    first = list(ingest_paths(home, case, [str(paths[1])], admin_of(home)))[0]
    with home.transaction("setup") as tx:
        legal = auth.add_user(tx, admin_of(home), "legal-1", "legal", PASSWORD)
        auth.add_member(tx, admin_of(home), case.id, "legal-1")
    deletion.request_deletion(home, admin_of(home), str(first.item_id), "consent withdrawn")
    deletion.approve_deletion(home, legal, str(first.item_id))
    assert first.sha256 is not None and not home.blobs.exists(first.sha256)
    results = list(ingest_paths(home, case, [str(p) for p in paths], admin_of(home)))
    assert [r.status for r in results] == ["stored", "refused", "stored"]
    assert "deleted from the case" in str(results[1].reason)
    assert not home.blobs.exists(first.sha256)
    assert verify(home).intact


def test_stopping_early_leaves_what_was_reported_recorded_and_nothing_partial(
    home: Home, tmp_path: Path
) -> None:
    case = new_case(home)
    text_files(tmp_path / "in", 3)
    big = tmp_path / "in" / "zz-large.bin"
    with big.open("wb") as fh:
        for i in range(64):
            fh.write(bytes([i]) * (1 << 20))
    run = ingest_paths(home, case, [str(tmp_path / "in")], admin_of(home))
    first = next(run)
    run.close()  # as when the person presses Ctrl-C: the worker threads stop, the large copy too
    assert first.status == "stored"
    with home.reading() as conn:
        assert conn.execute(select(items.c.id).where(items.c.id == first.item_id)).first() is not None
    assert not list((home.root / "blobs" / ".incoming").glob("put-*"))
    assert verify(home).intact
    assert [r.status for r in ingest_paths(home, case, [str(tmp_path / "in")], admin_of(home))].count(
        "refused"
    ) == 0
