"""A captured page in a package: its WACZ, screenshot, HTML and capture record travel, and verify.

The capture is written to the tables the way the capture module stores one (item + linked artifacts
by role + captures row + sighting); no browser runs here. Export and verification run in-process.
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

from PIL import Image

from archive import artifacts as art
from archive.blobs import PutResult
from archive.cases import create_case
from archive.db import captures, items, sightings, utcnow
from archive.export.verify import verify_package
from archive.home import Home
from workbench.services import auth
from workbench.services.export.packages import ExportRequest, export_package

URL = "http://127.0.0.1:8000/post/1"


def _put(home: Home, data: bytes) -> PutResult:
    return home.blobs.put(io.BytesIO(data))


def _files() -> dict[str, tuple[bytes, str]]:
    shot = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 10)).save(shot, "PNG")
    wacz = io.BytesIO()
    with zipfile.ZipFile(wacz, "w") as z:
        z.writestr("datapackage.json", json.dumps({"profile": "data-package"}))
    return {
        "html": (b"<html><body><p>post</p></body></html>", "text/html"),
        "screenshot": (shot.getvalue(), "image/png"),
        "wacz": (wacz.getvalue(), "application/zip"),
        "record": (b'{"capture": "record"}', "application/json"),
    }


def store_capture(home: Home) -> tuple[str, dict[str, str]]:
    with home.transaction("analyst-a") as tx:
        case = create_case(tx, "demo", "purpose")
        hashes = {}
        for role, (data, mime) in _files().items():
            put = _put(home, data)
            art.record(tx.conn, put, mime)
            hashes[role] = put.sha256
        item_id = "0000000000aa00000001"
        tx.conn.execute(
            items.insert().values(
                id=item_id,
                case_id=case.id,
                sha256=hashes["html"],
                kind="web",
                status="unverified",
                classification="restricted",
                title="a post",
                created_at=utcnow(),
            )
        )
        art.link(tx.conn, item_id, hashes["html"], "original")
        for role, sha in hashes.items():
            if role != "html":
                art.link(tx.conn, item_id, sha, role)
            tx.event("artifact.captured", case_id=case.id, item_id=item_id, artifact_sha256=sha)
        record = {"collector": "wb/0.1", "transformations": ["WARC rebuilt from browser-decoded bodies"]}
        tx.conn.execute(
            captures.insert().values(
                id="cap1",
                case_id=case.id,
                requested_url=URL,
                final_url=URL,
                status="captured",
                started_at=utcnow(),
                ended_at=utcnow(),
                record=record,
            )
        )
        tx.conn.execute(
            sightings.insert().values(
                item_id=item_id, source="url", seen_at=utcnow(), url=URL, capture_id="cap1"
            )
        )
    return item_id, hashes


def test_capture_files_and_record_travel_and_verify(home: Home, tmp_path: Path) -> None:
    item_id, hashes = store_capture(home)
    out = tmp_path / "pkg"
    with home.transaction("setup") as tx:
        admin = auth.add_user(tx, None, "legal-a", "admin", "correct horse battery staple")
    export_package(home, ExportRequest("demo", "internal", "Court", "court", "trial", out, admin))
    folder = out / "data" / "items" / item_id
    assert (folder / "original" / f"{hashes['html']}.html").is_file()
    assert (folder / "files" / f"screenshot-{hashes['screenshot']}.png").is_file()
    assert (folder / "files" / f"wacz-{hashes['wacz']}.wacz").is_file()
    assert (folder / "files" / f"record-{hashes['record']}.json").is_file()
    record = json.loads((folder / "record.json").read_text())
    assert record["captures"][0]["requested_url"] == URL
    assert record["sightings"][0]["url"] == URL
    assert verify_package(out).intact
    text = subprocess.run(
        ["pdftotext", "-raw", str(out / "data" / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert URL in text and "WARC rebuilt from browser-decoded bodies" in text
    for sha in hashes.values():
        assert sha in text
