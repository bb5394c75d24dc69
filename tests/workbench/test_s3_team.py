"""Team mode's object store through `wb` (issue 13): WB_BLOB_URL puts every blob in S3 (a real moto server on
127.0.0.1) under Object Lock; `wb verify` reads through the store; erasure meets the lock and says so."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from archive.blobs import MemoryBlobStore
from archive.home import Home, HomeError, read_info
from archive.keys import DataKey
from archive.s3blobs import Lock, S3BlobStore
from tests.conftest import RunWb, json_lines
from tests.s3server import new_bucket, s3_client
from tests.workbench.app_fixtures import make_png, make_world
from workbench import TOOL_VERSION
from workbench.services import config, intake


def test_wb_on_an_s3_store_with_object_lock(
    wb: RunWb,
    wb_env: dict[str, str],
    account: Callable[..., dict[str, str]],
    s3_endpoint: str,
    s3_env: dict[str, str],
    tmp_path: Path,
) -> None:
    bucket = new_bucket(s3_endpoint, lock=True)
    wb_env.update(s3_env, WB_BLOB_URL=f"s3://{bucket}/team-a", WB_BLOB_LOCK_MODE="compliance")
    wb_env["WB_BLOB_RETENTION_DAYS"] = "30"
    wb("init")
    wb("case", "create", "alpha", "--purpose", "object store")
    legal = account("leg", "legal", "alpha")
    (tmp_path / "a.png").write_bytes(make_png(1))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as zf:
        zf.writestr("b.png", make_png(2))
    (tmp_path / "b.zip").write_bytes(packed.getvalue())
    out = json_lines(
        wb("ingest", "--case", "alpha", "--json", str(tmp_path / "a.png"), str(tmp_path / "b.zip")).stdout
    )
    assert [r["status"] for r in out] == ["stored", "stored", "stored"], out
    a, member = out[0], out[2]

    raw = s3_client(s3_endpoint)
    keys = {o["Key"] for o in raw.list_objects_v2(Bucket=bucket, Prefix="team-a/")["Contents"]}
    assert {f"team-a/{r['sha256']}" for r in out} <= keys  # originals and the sidecars: all in the store
    local = Path(wb_env["WB_HOME"]) / "blobs"
    assert not local.exists() or not [p for p in local.rglob("*") if p.is_file()]
    head = raw.head_object(Bucket=bucket, Key=f"team-a/{a['sha256']}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    summary = json_lines(wb("verify", "--json").stdout)[-1]["summary"]
    assert summary["problems"] == 0 and summary["blobs"] == len(keys)

    # Someone with the bucket's keys stacks other bytes on a's key: the store keeps the locked original
    # version, and `wb verify` reads what the key now gives and reports it.
    raw.put_object(Bucket=bucket, Key=f"team-a/{a['sha256']}", Body=b"forged")
    found = json_lines(wb("verify", "--json", check=1).stdout)
    assert [(p["kind"], p["ref"]) for p in found[:-1]] == [("blob", a["sha256"])]
    assert f"s3://{bucket}/team-a/{a['sha256']}" in found[0]["problem"]

    # Erasure of the zip's member (and so its zip): the lock keeps the bytes; wb says until when.
    wb("delete", str(member["item_id"]), "--reason", "consent withdrawn")
    done = json_lines(wb("delete", str(member["item_id"]), "--approve", "--json", env=legal).stdout)[0]
    kept = {r["sha256"]: r for r in done["blobs_retained"]}
    assert member["sha256"] in kept and done["blobs_removed"] == []
    assert kept[member["sha256"]]["retain_until"] > "2026" and not kept[member["sha256"]]["legal_hold"]
    assert _actions(wb_env).count("erasure.retained") == len(kept)
    assert raw.list_object_versions(Bucket=bucket, Prefix=f"team-a/{member['sha256']}")["Versions"]
    assert [p["ref"] for p in json_lines(wb("verify", "--json", check=1).stdout)[:-1]] == [a["sha256"]]
    # The home remembers its store: forgetting WB_BLOB_URL, or naming another, is refused (not a new folder).
    forgot = {k: v for k, v in wb_env.items() if k != "WB_BLOB_URL"}
    assert f"s3://{bucket}/team-a" in wb("verify", env=forgot, check=2).stderr
    assert (
        "keeps its blobs in"
        in wb("verify", env={**wb_env, "WB_BLOB_URL": f"s3://{bucket}/other"}, check=2).stderr
    )
    # ...and `wb encrypt` does not turn it into a home whose blobs it could never open again.
    refused = wb("encrypt", "--admin", "leg", "--password-stdin", env=forgot, check=2, input="x")
    assert "WB_BLOB_URL" in refused.stderr


def _actions(env: dict[str, str]) -> list[str]:
    conn = sqlite3.connect(Path(env["WB_HOME"]) / "archive.sqlite3")
    try:
        return [str(a) for (a,) in conn.execute("SELECT action FROM custody_events ORDER BY seq")]
    finally:
        conn.close()


def test_a_wrong_blob_url_is_a_configuration_error(
    wb: RunWb, wb_env: dict[str, str], s3_env: dict[str, str]
) -> None:
    wb_env.update(s3_env, WB_BLOB_URL="s3://no-such-bucket-wb/x")
    proc = wb("init", check=2)
    assert "WB_BLOB_URL" in proc.stderr and "no-such-bucket-wb" in proc.stderr
    assert not (Path(wb_env["WB_HOME"]) / "home.json").exists()


def test_refused_files_on_a_locked_store_are_reported_not_crashed(s3_endpoint: str, tmp_path: Path) -> None:
    """Ingest writes before it can judge a file's type; discarding a refused file's bytes meets the lock."""
    store = S3BlobStore(
        s3_client(s3_endpoint), new_bucket(s3_endpoint, lock=True), "t", Lock("COMPLIANCE", 1), tmp_path
    )
    home = Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", TOOL_VERSION, blobs=store)
    try:
        w = make_world(home, n_items=0)
        (tmp_path / "empty.png").write_bytes(b"")
        (tmp_path / "fake.jpg").write_text("not a picture")
        (tmp_path / "real.png").write_bytes(make_png(5))
        paths = [str(tmp_path / n) for n in ("empty.png", "fake.jpg", "real.png")]
        results = list(intake.ingest_paths(home, w.case, paths, w.analyst))
        assert [r.status for r in results] == ["refused", "refused", "stored"], results
        assert "not a media file" in (results[1].reason or "") and results[1].sha256
        assert not store.exists(results[1].sha256) and store.exists(str(results[2].sha256))
    finally:
        home.close()


def test_an_encrypted_home_refuses_an_object_store(
    wb: RunWb, wb_env: dict[str, str], s3_endpoint: str, s3_env: dict[str, str]
) -> None:
    """Its blobs would reach the store as plain bytes: refused, clearly, until the two are combined."""
    wb_env.update(s3_env, WB_BLOB_URL=f"s3://{new_bucket(s3_endpoint)}/enc")
    proc = wb(
        "init",
        "--encrypt",
        "--admin",
        "alice",
        "--password-stdin",
        input="correct horse battery staple",
        check=2,
    )
    assert "WB_BLOB_URL" in proc.stderr and "encrypted" in proc.stderr
    assert not (Path(wb_env["WB_HOME"]) / "home.json").exists()


def test_an_encrypted_home_is_never_opened_on_an_outside_store(tmp_path: Path) -> None:
    key = DataKey.generate()
    Home.init(tmp_path / "home", tmp_path / "keys" / "signing.key", TOOL_VERSION, data_key=key).close()
    with pytest.raises(HomeError, match="WB_BLOB_URL"):
        Home.open(
            tmp_path / "home",
            tmp_path / "keys" / "signing.key",
            TOOL_VERSION,
            blobs=MemoryBlobStore(),
            data_key=key,
        )


def test_a_home_with_blobs_in_its_folder_does_not_switch_to_a_store(
    s3_endpoint: str, s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    bucket = new_bucket(s3_endpoint)
    used, fresh = tmp_path / "used", tmp_path / "fresh"
    for root in (used, fresh):
        Home.init(root, tmp_path / "keys" / "signing.key", TOOL_VERSION).close()
    home = Home.open(used, tmp_path / "keys" / "signing.key", TOOL_VERSION)
    home.blobs.put(io.BytesIO(b"already here"))
    home.close()
    monkeypatch.setenv("WB_BLOB_URL", f"s3://{bucket}/x")
    with pytest.raises(HomeError, match="would hide them"):
        config.blob_store(used)
    assert config.blob_store(fresh) is not None  # a home with no blobs yet takes the store, and keeps it
    assert read_info(fresh)["blobs"] == f"s3://{bucket}/x" and "blobs" not in read_info(used)
