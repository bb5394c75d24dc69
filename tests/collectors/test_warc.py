"""WARC and WACZ writing from recorded exchanges (no browser)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from collectors.warc import Exchange, Resource, build_wacz, validate_wacz, write_warc


def _exchanges() -> list[Exchange]:
    at = datetime(2026, 3, 3, 10, 0, 0, tzinfo=UTC)
    page = Exchange(
        "http://127.0.0.1:9/p",
        "GET",
        [("Accept", "*/*")],
        200,
        "OK",
        [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", "5")],
        "<p>Привіт</p>".encode(),
        server_ip="127.0.0.1",
        at=at,
    )
    img = Exchange(
        "http://127.0.0.1:9/i.jpg",
        "GET",
        [],
        200,
        "OK",
        [("Content-Type", "image/jpeg")],
        b"\xff\xd8\xff\xe0jpeg",
        server_ip="127.0.0.1",
        at=at,
    )
    return [page, img]


def test_warc_has_request_response_pairs_and_urn_resources(tmp_path: Path) -> None:
    warc = tmp_path / "c.warc.gz"
    shot = Resource("urn:wb:screenshot:abc", "image/png", b"\x89PNG fake")
    meta = Resource("urn:wb:capture-record", "application/json", b"{}", kind="metadata")
    write_warc(warc, _exchanges(), [shot, meta], {"software": "wb/test"})
    with warc.open("rb") as fh:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r) for r in ArchiveIterator(fh)]
        kinds = [(k, u) for k, u, _ in records]
    assert kinds[0][0] == "warcinfo"
    assert ("response", "http://127.0.0.1:9/p") in kinds and ("request", "http://127.0.0.1:9/p") in kinds
    assert ("resource", "urn:wb:screenshot:abc") in kinds and ("metadata", "urn:wb:capture-record") in kinds


def test_decoded_bodies_lose_content_encoding_and_get_their_length(tmp_path: Path) -> None:
    warc = tmp_path / "c.warc.gz"
    write_warc(warc, _exchanges(), [], {})
    with warc.open("rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI").endswith("/p"):
                assert rec.http_headers.get_header("Content-Encoding") is None
                body = rec.content_stream().read()
                assert rec.http_headers.get_header("Content-Length") == str(len(body))
                assert body == "<p>Привіт</p>".encode()
                assert rec.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"


def test_wacz_from_the_warc_validates(tmp_path: Path) -> None:
    warc = tmp_path / "c.warc.gz"
    write_warc(warc, _exchanges(), [], {})
    wacz = tmp_path / "c.wacz"
    build_wacz(warc, wacz, "http://127.0.0.1:9/p", "t", _exchanges()[0].at)
    assert validate_wacz(wacz)
