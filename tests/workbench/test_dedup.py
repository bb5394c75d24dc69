"""Near-duplicates in a case: fingerprinted at ingest, clustered, confirmed by a person, earliest known."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image
from sqlalchemy import select, update

from archive.cases import create_case
from archive.db import custody_events, fingerprints, sightings
from archive.home import Home
from archive.model import Case
from detectors import fingerprint as fp
from tests.conftest import RunWb, admin_of, json_lines
from tests.detectors.test_fingerprint import jpeg, scene
from workbench.services.dedup import clusters as dedup
from workbench.services.intake import ingest_paths


def make_files(folder: Path) -> dict[str, Path]:
    """An original photo, a resized+recompressed copy with a 5% crop, and an unrelated photo."""
    folder.mkdir(parents=True, exist_ok=True)
    original = scene(11, (900, 700))
    w, h = original.size
    copy = original.crop((int(w * 0.02), int(h * 0.02), w - int(w * 0.01), h - int(h * 0.01)))
    copy = copy.resize((copy.width // 2, copy.height // 2), Image.Resampling.BILINEAR)
    files = {
        "original": (original, 92),
        "copy": (copy, 55),
        "unrelated": (scene(12, (900, 700)), 90),
    }
    out = {}
    for name, (img, quality) in files.items():
        out[name] = folder / f"{name}.jpg"
        out[name].write_bytes(jpeg(img, quality))
    return out


def ingest(home: Home, case: Case, *paths: Path) -> dict[str, str]:
    """Ingest files; returns file stem -> item id."""
    return {
        Path(r.path).stem: str(r.item_id)
        for r in ingest_paths(home, case, [str(p) for p in paths], admin_of(home))
    }


def new_case(home: Home, slug: str = "demo") -> Case:
    with home.transaction("analyst-a") as tx:
        return create_case(tx, slug, "test purpose")


def test_ingest_fingerprints_and_clusters_only_the_copy(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ids = ingest(home, case, *files.values())
    with home.reading() as conn:
        kinds = {r.kind for r in conn.execute(select(fingerprints.c.kind))}
    assert {"phash", "pdq", "phash_mirror"} <= kinds
    found = dedup.clusters(home, admin_of(home), case)
    assert len(found) == 1
    assert {m.item_id for m in found[0].members} == {ids["original"], ids["copy"]}
    assert found[0].kind == "duplicate"


def test_similar_lists_the_copy_with_its_distance(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ids = ingest(home, case, files["original"], files["unrelated"])
    hits = dedup.similar(home, admin_of(home), case, files["copy"])
    assert [h.item_id for h in hits] == [ids["original"]]
    assert 0 <= hits[0].distance <= dedup.DUPLICATE_THRESHOLD


def test_lost_index_is_rebuilt_from_the_table(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ingest(home, case, *files.values())
    before = [c.as_json() for c in dedup.clusters(home, admin_of(home), case)]
    shutil.rmtree(home.index_dir)
    assert [c.as_json() for c in dedup.clusters(home, admin_of(home), case)] == before
    assert any(home.index_dir.iterdir())


def _set_posted(home: Home, item_id: str, posted: datetime | None) -> None:
    with home.db.begin() as conn:
        conn.execute(update(sightings).where(sightings.c.item_id == item_id).values(posted_at=posted))


def test_confirmation_is_required_before_sightings_merge(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ids = ingest(home, case, files["original"], files["copy"])
    # The copy was posted on a platform long before the original file was ingested.
    _set_posted(home, ids["copy"], datetime(2020, 5, 1, 12, 0, tzinfo=UTC))
    (cluster,) = dedup.clusters(home, admin_of(home), case)
    anchor = next(m for m in cluster.members if m.decision == "anchor")
    other = next(m for m in cluster.members if m.decision != "anchor")
    # Before any decision only the anchor's own sightings count.
    assert {s["item_id"] for s in cluster.sightings} == {anchor.item_id}
    dedup.decide(home, admin_of(home), cluster.cluster_id, other.item_id, "confirmed")
    (after,) = dedup.clusters(home, admin_of(home), case)
    assert {s["item_id"] for s in after.sightings} == {ids["original"], ids["copy"]}
    assert after.earliest_known is not None
    assert after.earliest_known["item_id"] == ids["copy"]
    assert after.earliest_known["basis"] == "posted_at"
    assert after.earliest_known["as_of"].startswith("2020-05-01T12:00:00")
    with home.reading() as conn:
        actions = [r.action for r in conn.execute(select(custody_events.c.action))]
    assert "dedup.confirmed" in actions


def test_earliest_known_follows_the_stated_basis(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ids = ingest(home, case, files["original"], files["copy"])
    (cluster,) = dedup.clusters(home, admin_of(home), case)
    other = next(m for m in cluster.members if m.decision != "anchor")
    dedup.decide(home, admin_of(home), cluster.cluster_id, other.item_id, "confirmed")
    # No posting times: capture/ingest time decides, and the basis says so.
    (c1,) = dedup.clusters(home, admin_of(home), case)
    assert c1.earliest_known is not None and c1.earliest_known["basis"] == "seen_at"
    assert c1.earliest_known["item_id"] == ids["original"]  # ingested first
    # A posting time on the later file wins over the earlier ingest time.
    _set_posted(home, ids["copy"], datetime(2021, 1, 1, tzinfo=UTC))
    (c2,) = dedup.clusters(home, admin_of(home), case)
    assert c2.earliest_known is not None
    assert (c2.earliest_known["item_id"], c2.earliest_known["basis"]) == (ids["copy"], "posted_at")


def test_rejected_member_leaves_the_cluster(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ingest(home, case, files["original"], files["copy"])
    (cluster,) = dedup.clusters(home, admin_of(home), case)
    other = next(m for m in cluster.members if m.decision != "anchor")
    dedup.decide(home, admin_of(home), cluster.cluster_id, other.item_id, "rejected")
    assert dedup.clusters(home, admin_of(home), case) == []


def test_cli_dedup_similar_and_confirm(wb: RunWb, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    wb("init")
    wb("case", "create", "demo", "--purpose", "test")
    wb("ingest", "--case", "demo", *[str(p) for p in files.values()])
    lines = json_lines(wb("dedup", "--case", "demo", "--json").stdout)
    assert len(lines) == 1
    cluster = lines[0]
    assert set(cluster) >= {"cluster_id", "kind", "members", "earliest_known"}
    members = cluster["members"]
    assert isinstance(members, list) and len(members) == 2
    assert all(set(m) >= {"item_id", "sha256", "distance", "match"} for m in members)
    human = wb("dedup", "--case", "demo").stdout
    assert "earliest known" in human and "original" not in human.lower()
    similar = json_lines(wb("similar", "--case", "demo", str(files["unrelated"]), "--json").stdout)
    assert [s["distance"] for s in similar] == [0]  # only itself
    pending = next(m for m in members if m["decision"] == "pending")
    done = json_lines(
        wb("dedup", "confirm", str(cluster["cluster_id"]), str(pending["item_id"]), "--json").stdout
    )
    assert done[0]["decision"] == "confirmed"
    wb("dedup", "confirm", "c-0000000000000000", str(pending["item_id"]), check=2)
    again = json_lines(wb("dedup", "--case", "demo", "--json").stdout)[0]
    assert {m["decision"] for m in again["members"]} == {"anchor", "confirmed"}
    wb("dedup", "--case", "demo", "--duplicate-threshold", "20", "--related-threshold", "10", check=2)


def test_a_bomb_is_recorded_as_refused_not_decoded(home: Home, tmp_path: Path) -> None:
    from tests.detectors.test_fingerprint import bomb_png

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(29_000, 29_000))
    case = new_case(home)
    ids = ingest(home, case, bomb)
    assert ids["bomb"]
    with home.reading() as conn:
        rows = {r.kind: r.value for r in conn.execute(select(fingerprints.c.kind, fingerprints.c.value))}
    assert list(rows) == [dedup.STATUS_KIND] and rows[dedup.STATUS_KIND].startswith("refused:")
    assert dedup.clusters(home, admin_of(home), case) == []


def test_fingerprints_of_an_older_algorithm_are_made_again(home: Home, tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    case = new_case(home)
    ids = ingest(home, case, files["original"], files["copy"])
    with home.db.begin() as conn:
        conn.execute(
            update(fingerprints)
            .where(fingerprints.c.kind == "phash")
            .values(algo_version="wb-phash/0 old", value="0" * 16)
        )
    (cluster,) = dedup.clusters(home, admin_of(home), case)
    assert {m.item_id for m in cluster.members} == set(ids.values())
    with home.reading() as conn:
        versions = {
            r.algo_version for r in conn.execute(select(fingerprints).where(fingerprints.c.kind == "phash"))
        }
    assert versions == {fp.ALGO_VERSION}


def test_an_unexpected_failure_is_recorded_and_retried(tmp_path: Path) -> None:
    from workbench.services.dedup import index as dedup_index

    # A folder where a file should be: reading fails with an error no decoder expects.
    rows = dedup_index.fingerprint_file(tmp_path, "image/jpeg", "ab" * 32)
    assert [r.kind for r in rows] == [dedup_index.STATUS_KIND]
    assert rows[0].value.startswith("failed: ")
    assert not dedup_index.is_current({r.kind: r.algo_version for r in rows})
    refused = dedup_index.fingerprint_file(
        _write_bytes(tmp_path / "t.jpg", b"\xff\xd8\xff" + b"0" * 99), "image/jpeg", "cd" * 32
    )
    assert refused[0].value.startswith("refused: ")
    assert dedup_index.is_current({r.kind: r.algo_version for r in refused})


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
