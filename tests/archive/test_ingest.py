"""`wb ingest`: files, folders and zips become hashed artifacts with sidecars, sightings and refusals."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.archive.fixtures import jpeg_with_exif, png_bytes, zip_with
from tests.conftest import RunWb, json_lines


def setup_case(wb: RunWb) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "ingest tests")


def sidecar_of(home: Path, item_sha: str) -> dict[str, object]:
    import sqlite3

    conn = sqlite3.connect(home / "archive.sqlite3")
    (side,) = conn.execute(
        "SELECT sha256 FROM artifacts WHERE parent_sha256=? AND operation='metadata-sidecar'", (item_sha,)
    ).fetchone()
    blob = home / "blobs" / side[:2] / side[2:4] / side
    data: dict[str, object] = json.loads(blob.read_text(encoding="utf-8"))
    return data


def test_a_photo_is_stored_unchanged_with_a_sidecar_of_its_metadata(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    setup_case(wb)
    photo = jpeg_with_exif(tmp_path / "photo.jpg")
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    (line,) = json_lines(wb("ingest", "--case", "alpha", str(photo), "--json").stdout)
    assert line["status"] == "stored" and line["sha256"] == before and line["item_id"]
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before
    sidecar = sidecar_of(Path(wb_env["WB_HOME"]), before)
    tags = sidecar["tags"]
    assert isinstance(tags, dict)
    assert tags["ExifIFD:DateTimeOriginal"] == "2022:03:01 10:15:30"
    assert abs(float(tags["Composite:GPSLatitude"]) - 49.9935) < 1e-3
    assert abs(float(tags["Composite:GPSLongitude"]) - 36.2304) < 1e-3
    assert not any(k.startswith("System:") for k in tags)  # our copy's path and permissions are not evidence


def test_exact_duplicates_become_sightings_of_one_item(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    setup_case(wb)
    a = tmp_path / "a.png"
    a.write_bytes(png_bytes())
    b = tmp_path / "copy of a.png"
    b.write_bytes(png_bytes())
    first, second = json_lines(wb("ingest", "--case", "alpha", str(a), str(b), "--json").stdout)
    assert (first["status"], second["status"]) == ("stored", "duplicate")
    assert first["item_id"] == second["item_id"]
    import sqlite3

    conn = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
    names = [r[0] for r in conn.execute("SELECT original_name FROM sightings ORDER BY id")]
    assert names == [str(a), str(b)]
    assert conn.execute("SELECT count(*) FROM artifacts WHERE operation IS NULL").fetchone()[0] == 1


def test_refusals_have_reasons_and_exit_1_while_the_rest_is_stored(wb: RunWb, tmp_path: Path) -> None:
    setup_case(wb)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.png").write_text("just some text, not an image\n")
    (tmp_path / "good.txt").write_text("a statement\n")
    os.symlink(tmp_path / "good.txt", tmp_path / "link.txt")
    proc = wb("ingest", "--case", "alpha", str(tmp_path), "--json", check=1)
    by_name = {Path(str(r["path"])).name: r for r in json_lines(proc.stdout)}
    assert by_name["good.txt"]["status"] == "stored"
    assert by_name["empty.jpg"]["status"] == "refused" and "empty" in str(by_name["empty.jpg"]["reason"])
    assert by_name["notes.png"]["status"] == "refused" and "text/plain" in str(by_name["notes.png"]["reason"])
    assert by_name["link.txt"]["status"] == "refused" and "link" in str(by_name["link.txt"]["reason"])
    assert "refused" in proc.stderr
    wb("verify")


def test_a_png_named_jpeg_is_stored_as_png_and_the_mismatch_is_said(wb: RunWb, tmp_path: Path) -> None:
    setup_case(wb)
    (tmp_path / "pic.jpeg").write_bytes(png_bytes())
    (line,) = json_lines(wb("ingest", "--case", "alpha", str(tmp_path / "pic.jpeg"), "--json").stdout)
    assert line["status"] == "stored" and line["mime"] == "image/png"
    assert line["note"] == "declared .jpeg but the content is image/png"


def test_zip_members_become_artifacts_naming_the_zip_and_unsafe_members_are_refused(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    setup_case(wb)
    z = zip_with(
        tmp_path / "field.zip",
        [
            ("photos/one.png", png_bytes(color=(1, 2, 3))),
            ("../outside.png", png_bytes()),
            ("/abs.png", png_bytes()),
            ("sub/../../twice.png", png_bytes()),
        ],
        symlink="link.png",
    )
    proc = wb("ingest", "--case", "alpha", str(z), "--json", check=1)
    lines = json_lines(proc.stdout)
    assert (
        lines[0]["path"] == str(z)
        and lines[0]["status"] == "stored"
        and lines[0]["mime"] == "application/zip"
    )
    statuses = {str(r["path"]).split("!", 1)[1]: (r["status"], r["reason"]) for r in lines[1:]}
    assert statuses["photos/one.png"][0] == "stored"
    for bad in ("../outside.png", "/abs.png", "sub/../../twice.png", "link.png"):
        assert statuses[bad][0] == "refused", bad
    assert not (tmp_path / "outside.png").exists() and not Path("/abs.png").exists()
    import sqlite3

    conn = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
    (details,) = conn.execute(
        "SELECT s.details FROM sightings s JOIN items i ON i.id = s.item_id WHERE i.sha256 = ?",
        (hashlib.sha256(png_bytes(color=(1, 2, 3))).hexdigest(),),
    ).fetchone()
    assert json.loads(details)["container_sha256"] == lines[0]["sha256"]
    assert json.loads(details)["member"] == "photos/one.png"


def test_file_system_times_and_device_label_are_recorded_as_found(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    setup_case(wb)
    f = tmp_path / "clip.txt"
    f.write_text("recorded on a phone\n")
    os.utime(f, (1_600_000_000, 1_600_000_000))
    wb("ingest", "--case", "alpha", "--device", "SD card 3", str(f))
    import sqlite3

    conn = sqlite3.connect(Path(wb_env["WB_HOME"]) / "archive.sqlite3")
    (details,) = conn.execute("SELECT details FROM sightings").fetchone()
    recorded = json.loads(details)
    assert recorded["mtime"] == "2020-09-13T12:26:40.000000Z"
    assert recorded["device"] == "SD card 3"


def test_hostile_names_are_data_and_printed_escaped(wb: RunWb, tmp_path: Path) -> None:
    setup_case(wb)
    names = ["--help.txt", 'it\'s "quoted" & spaced.txt', "report\u202efdp.txt", "bell\x07\x1b[31m.txt"]
    for name in names:
        (tmp_path / name).write_text(name)
    out = wb("ingest", "--case", "alpha", *[str(tmp_path / n) for n in names]).stdout
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b" in out and "\\u202e" in out
    assert out.count("stored ") == len(names)


def test_the_custody_log_of_an_item_lists_its_ingest(wb: RunWb, tmp_path: Path) -> None:
    setup_case(wb)
    photo = jpeg_with_exif(tmp_path / "photo.jpg")
    (line,) = json_lines(wb("ingest", "--case", "alpha", str(photo), "--json").stdout)
    events = json_lines(wb("log", str(line["item_id"]), "--json").stdout)
    assert [e["action"] for e in events] == ["item.ingested", "artifact.derived"]
    assert events[0]["artifact_sha256"] == line["sha256"] and events[0]["actor"] == "analyst-a"
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
