"""A small upstream proxy for tests, on 127.0.0.1: SOCKS5 (CONNECT and Tor's RESOLVE extension) and
HTTP (CONNECT, and plain-http proxy requests) on one port, with its own name table instead of DNS,
logging every request it serves."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["RecordingProxy", "recording_proxy"]


@dataclass
class RecordingProxy:
    """``names``: what RESOLVE answers (no DNS here); ``log``: "RESOLVE name", "CONNECT ip:port"."""

    names: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    port: int = 0


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(30)


def _handler(proxy: RecordingProxy) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(30)
            with contextlib.suppress(OSError, ConnectionError, ValueError):
                first = _exactly(sock, 1)
                if first == b"\x05":
                    self._socks(sock)
                else:
                    self._http(sock, first)

        def _socks(self, sock: socket.socket) -> None:
            methods = _exactly(sock, _exactly(sock, 1)[0])
            sock.sendall(b"\x05\x00" if 0 in methods else b"\x05\xff")
            _ver, cmd, _rsv, kind = _exactly(sock, 4)
            if kind == 1:
                host = str(ipaddress.IPv4Address(_exactly(sock, 4)))
            elif kind == 4:
                host = str(ipaddress.IPv6Address(_exactly(sock, 16)))
            else:
                host = _exactly(sock, _exactly(sock, 1)[0]).decode("idna")
            port = struct.unpack(">H", _exactly(sock, 2))[0]
            if cmd == 0xF0:
                proxy.log.append(f"RESOLVE {host}")
                found = proxy.names.get(host)
                if found is None:
                    sock.sendall(b"\x05\x04\x00\x01" + bytes(6))
                else:
                    sock.sendall(b"\x05\x00\x00\x01" + ipaddress.IPv4Address(found).packed + b"\x00\x00")
                return
            proxy.log.append(f"CONNECT {host}:{port}")
            address = proxy.names.get(host, host)
            with socket.create_connection((address, port), timeout=10) as up:
                sock.sendall(b"\x05\x00\x00\x01" + bytes(6))
                _pipe(sock, up)

        def _http(self, sock: socket.socket, first: bytes) -> None:
            head = first
            while b"\r\n\r\n" not in head and len(head) < 8192:
                head += _exactly(sock, 1)
            method, target = head.split(b" ")[:2]
            if method != b"CONNECT":
                self._relay(sock, head, method.decode(), target.decode())
                return
            host, _, port = target.decode().rpartition(":")
            proxy.log.append(f"HTTP CONNECT {host}:{port}")
            with socket.create_connection((host.strip("[]"), int(port)), timeout=10) as up:
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(sock, up)

        def _relay(self, sock: socket.socket, head: bytes, method: str, target: str) -> None:
            """A plain-http proxy request (absolute form): sent on in origin form."""
            proxy.log.append(f"HTTP {method} {target}")
            parts = urlsplit(target)
            line, _, rest = head.partition(b"\r\n")
            origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            version = line.split(b" ")[2]
            with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as up:
                up.sendall(f"{method} {origin} ".encode() + version + b"\r\n" + rest)
                _pipe(sock, up)

    return Handler


def recording_proxy(names: dict[str, str]) -> Iterator[RecordingProxy]:
    """Run a RecordingProxy on a free 127.0.0.1 port for a fixture's life."""
    proxy = RecordingProxy(names)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield proxy
    server.shutdown()
    server.server_close()
