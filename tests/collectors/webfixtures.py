"""Fixture web servers on 127.0.0.1 for capture tests, with content made in the test (shared by
tests/collectors and tests/workbench)."""

from __future__ import annotations

import datetime as dt
import io
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

UKRAINIAN = "Свідчення про обстріл школи в Харкові, 3 березня"
ARABIC = "شهادة عن قصف المدرسة في حلب"


@dataclass
class Site:
    """Routes: path -> (status, headers, body). Every request's path and headers are logged."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes | str,
        ctype: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = (status, {"Content-Type": ctype, **(headers or {})}, data)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            site.log.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            status, headers, body = site.routes.get(self.path.split("?")[0], (404, {}, b"not found"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[..., Site]]:
    """Start sites on 127.0.0.1 (plain or TLS) for the module; all stopped at its end."""
    servers: list[ThreadingHTTPServer] = []

    def start(site: Site, context: ssl.SSLContext | None = None) -> Site:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
            site.scheme = "https"
        site.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return site

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def gps_jpeg(color: tuple[int, int, int] = (180, 40, 40)) -> bytes:
    """A JPEG with EXIF GPS (Kharkiv), made here."""
    img = Image.new("RGB", (320, 200), color)
    exif = Image.Exif()
    gps = {1: "N", 2: (49.0, 59.0, 30.0), 3: "E", 4: (36.0, 13.0, 50.0)}
    exif[0x8825] = gps
    exif[0x0110] = "FixtureCam"
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, "PNG")
    return out.getvalue()


def webm() -> bytes:
    """A real five-frame VP8 WebM, made with OpenCV here."""

    import cv2
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "v.webm")
        fourcc = cv2.VideoWriter_fourcc(*"VP80")  # type: ignore[attr-defined]
        writer = cv2.VideoWriter(path, fourcc, 5, (64, 48))
        for i in range(5):
            writer.write(np.full((48, 64, 3), i * 40, np.uint8))
        writer.release()
        return Path(path).read_bytes()


def self_signed(folder: Path) -> tuple[ssl.SSLContext, bytes]:
    """A self-signed certificate for 127.0.0.1, made here; returns the server context and the DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wb fixture")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, cert.public_bytes(serialization.Encoding.DER)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean; tests write their own ``do_GET``."""

    def send_html(self, page: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on 127.0.0.1 (a free port) for a module fixture: yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
