"""A time-stamping authority of the tests' own on 127.0.0.1: ``openssl ts -reply`` behind an HTTP handler.

``make_authority(folder)`` makes a test root CA and a TSA certificate with openssl (extended key usage
timeStamping, critical, as RFC 3161 requires); ``TsaServer`` answers RFC 3161 queries over HTTP with
``openssl ts -reply``. ``mode`` makes it misbehave: "down" refuses with HTTP 503, "other" stamps
different bytes than were asked for (a token that does not match).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

__all__ = ["Authority", "TsaServer", "make_authority"]

CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
TSA_EXTENSIONS = (
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"
)


@dataclass(frozen=True)
class Authority:
    folder: Path

    @property
    def ca_pem(self) -> Path:
        """The chain a client trusts (here: the root alone)."""
        return self.folder / "ca.crt"

    @property
    def config(self) -> Path:
        return self.folder / "tsa.cnf"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_authority(folder: Path) -> Authority:
    """A root CA and a TSA certificate signed by it, with keys, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=Test TSA Root",
        "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder,
    )  # fmt: skip
    _openssl("req", *curve, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA", cwd=folder)
    (folder / "tsa.ext").write_text(TSA_EXTENSIONS)
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "tsa.crt", "-days", "30", "-extfile", "tsa.ext", cwd=folder,
    )  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(CONFIG.format(dir=folder))
    return Authority(folder)


class TsaServer:
    """Serves RFC 3161 over HTTP on 127.0.0.1 until closed; ``url`` is where to send queries."""

    def __init__(self, authority: Authority, mode: str = "ok") -> None:
        self.authority = authority
        self.mode = mode
        self.queries = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.queries += 1
                if server.mode == "down":
                    self.send_error(503, "down for the test")
                    return
                reply = server.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"

    def reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            q = Path(tmp) / "query.tsq"
            if self.mode == "other":
                # A well-formed token over other bytes: what a confused or hostile TSA might send.
                digest = hashlib.sha256(b"not what was asked").hexdigest()
                _openssl("ts", "-query", "-digest", digest, "-sha256", "-cert", "-out", str(q), cwd=Path(tmp))
            else:
                q.write_bytes(query)
            out = Path(tmp) / "reply.tsr"
            _openssl(
                "ts", "-reply", "-config", str(self.authority.config), "-queryfile", str(q),
                "-out", str(out), cwd=self.authority.folder,
            )  # fmt: skip
            return out.read_bytes()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> TsaServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
