"""WARC and WACZ writing for one capture.

The WARC holds a request and a response record for the page and for every resource the browser
loaded, rebuilt from what Chromium reports (Playwright response events): bodies are the decoded
bytes, so ``Content-Encoding`` and ``Transfer-Encoding`` are dropped and ``Content-Length`` is
recomputed, and HTTP/2 exchanges are written as HTTP/1.1. The capture lists these facts in its
``transformations``. Screenshot, MHTML and the capture record go in as ``resource``/``metadata``
records with ``urn:`` target URIs, so a replay tool shows the page and not the JSON.

warcio writes SHA-1 block and payload digests; the capture keeps its own SHA-256 of every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from collectors.digest import file_sha256

__all__ = ["Exchange", "Resource", "build_wacz", "validate_wacz", "write_warc"]

_DROP = {"content-encoding", "transfer-encoding", "content-length"}
_WACZ_LOCK = threading.Lock()


@dataclass
class Exchange:
    """One request and its response as the browser saw them."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    status_text: str
    response_headers: list[tuple[str, str]]
    body: bytes | None
    request_body: bytes | None = None
    server_ip: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    note: str | None = None  # why the body is missing or partial


@dataclass(frozen=True)
class Resource:
    """A file made by the capture itself (screenshot, MHTML, record), stored under a ``urn:``."""

    uri: str
    mime: str
    data: bytes
    kind: str = "resource"  # resource | metadata


def _date(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_warc(
    path: Path, exchanges: Sequence[Exchange], resources: Sequence[Resource], info: dict[str, str]
) -> str:
    """Write the gzipped WARC and return its SHA-256."""
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, info))
        for ex in exchanges:
            _write_exchange(writer, ex)
        for res in resources:
            record = writer.create_warc_record(
                res.uri,
                res.kind,
                payload=io.BytesIO(res.data),
                length=len(res.data),
                warc_content_type=res.mime,
            )
            writer.write_record(record)
    return file_sha256(path)


def _write_exchange(writer: WARCWriter, ex: Exchange) -> None:
    body = ex.body or b""
    headers = [(k, v) for k, v in ex.response_headers if k.lower() not in _DROP]
    headers.append(("Content-Length", str(len(body))))
    reason = ex.status_text or "-"
    http = StatusAndHeaders(f"{ex.status} {reason}", headers, protocol="HTTP/1.1")
    warc_headers = {"WARC-Date": _date(ex.at)}
    if ex.server_ip:
        warc_headers["WARC-IP-Address"] = ex.server_ip
    response = writer.create_warc_record(
        ex.url,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=http,
        warc_headers_dict=warc_headers,
    )
    target = _request_target(ex.url)
    req_body = ex.request_body or b""
    req_headers = [(k, v) for k, v in ex.request_headers if not k.startswith(":")]
    if req_body:
        req_headers = [(k, v) for k, v in req_headers if k.lower() != "content-length"]
        req_headers.append(("Content-Length", str(len(req_body))))
    req_http = StatusAndHeaders(f"{ex.method} {target} HTTP/1.1", req_headers, is_http_request=True)
    request = writer.create_warc_record(
        ex.url,
        "request",
        payload=io.BytesIO(req_body),
        length=len(req_body),
        http_headers=req_http,
        warc_headers_dict={"WARC-Date": _date(ex.at)},
    )
    # The pair writer links the two with WARC-Concurrent-To, as replay tools expect.
    writer.write_request_response_pair(request, response)


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def build_wacz(warc: Path, out: Path, page_url: str, title: str, started: datetime) -> str:
    """Package the WARC as a WACZ with one page entry; returns the WACZ's SHA-256.

    ``started`` must be the WARC-Date of the page's response record: py-wacz matches pages by URL
    and that timestamp.
    """
    from wacz.main import main as wacz_main

    pages = out.with_suffix(".pages.jsonl")
    ts = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"},
        {"id": hashlib.sha256(page_url.encode()).hexdigest()[:16], "url": page_url, "ts": ts, "title": title},
    ]
    pages.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    args = ["create", "-o", str(out), "-p", str(pages), str(warc)]
    code = _quiet(wacz_main, args)
    pages.unlink(missing_ok=True)
    if code != 0 or not out.is_file():
        raise RuntimeError(f"wacz create exited {code}")
    return file_sha256(out)


def validate_wacz(path: Path) -> bool:
    """True when py-wacz's own validator accepts the file."""
    from wacz.main import main as wacz_main

    return _quiet(wacz_main, ["validate", "-f", str(path)]) == 0


def _quiet(func: object, args: list[str]) -> int:
    # py-wacz prints progress to stdout, which belongs to the CLI's JSON Lines; the lock keeps two
    # captures from swapping stdout under each other.
    assert callable(func)
    with _WACZ_LOCK, contextlib.redirect_stdout(io.StringIO()):
        try:
            return int(func(args) or 0)
        except SystemExit as exc:
            return int(exc.code or 0) if isinstance(exc.code, int) else 1
