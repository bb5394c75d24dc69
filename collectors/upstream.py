"""An upstream proxy behind the guard (SEC-03): a VPN's or Tor's SOCKS port, or an HTTP proxy, that
the investigator runs, so the capture does not leave from the workstation's own address.

The guard proxy (``collectors.proxy``) stays the browser's only way out and keeps every check: it
decides each host as before, then asks the upstream for a tunnel to the exact address it checked,
never to a name. Who resolves names:

- ``socks5://`` and ``http://``: this workstation (as without an upstream), then the upstream is asked
  for the checked address (an HTTP upstream: ``CONNECT`` for https, a proxy request naming the
  address for plain http);
- ``socks5h://``: the upstream (Tor's SOCKS ``RESOLVE`` extension, so no name query leaves outside the
  tunnel); the guard checks every address it answers, and an upstream that cannot resolve is a clear
  refusal, not a silent local lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from archive.errors import ConfigError
from collectors.guard import Decision, GuardError, Policy, parse_host_ip

__all__ = ["SCHEMES", "Upstream", "UpstreamError"]

SCHEMES = ("socks5", "socks5h", "http")
TIMEOUT = 10.0
_SOCKS_ERRORS = {
    1: "general failure",
    2: "connection not allowed by its rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class UpstreamError(ConfigError, OSError):
    """The upstream proxy refused, failed or spoke something else; the message says which."""


@dataclass(frozen=True)
class Upstream:
    """One upstream proxy: scheme, host and port (no credentials: none enter settings or records)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Upstream:
        """``socks5://HOST:PORT``, ``socks5h://HOST:PORT`` or ``http://HOST:PORT``; GuardError otherwise."""
        text = url.strip()
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise GuardError(f"proxy {text!r}: the scheme must be one of {', '.join(SCHEMES)}")
        if "@" in parts.netloc:
            raise GuardError(f"proxy {text!r}: credentials in the proxy URL are not supported")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise GuardError(f"proxy {text!r}: give only scheme, host and port")
        try:
            port = parts.port
        except ValueError:
            raise GuardError(f"proxy {text!r}: the port is not valid") from None
        host = (parts.hostname or "").strip()
        if not host or not port:
            raise GuardError(f"proxy {text!r}: give a host and a port, e.g. socks5h://127.0.0.1:9050")
        return cls(scheme, host.lower(), port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def remote_dns(self) -> bool:
        return self.scheme == "socks5h"

    def as_record(self) -> dict[str, Any]:
        """What the capture record says about the route its requests took."""
        return {
            "url": self.url,
            "names_resolved_by": "the upstream proxy (SOCKS RESOLVE)"
            if self.remote_dns
            else "this workstation",
            "guard": "every address checked by the local guard proxy before the upstream is asked for it",
        }

    def profile(self) -> str:
        """One line for the record's network profile."""
        dns = "names resolved by the upstream proxy" if self.remote_dns else "names resolved here"
        return f"through the local guard proxy, then the upstream proxy {self.url} ({dns}; addresses checked)"

    async def open(
        self, address: str, port: int, tunnel: bool = True
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ``address:port`` (an IP the guard checked) through the upstream; with
        ``tunnel`` False (an HTTP upstream relaying plain http) the connection to the upstream itself."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), TIMEOUT)
        if not tunnel and self.scheme == "http":
            return reader, writer
        try:
            if self.scheme == "http":
                await asyncio.wait_for(_http_connect(reader, writer, address, port), TIMEOUT)
            else:
                await asyncio.wait_for(_socks_connect(reader, writer, address, port), TIMEOUT)
        except BaseException:
            writer.close()
            raise
        return reader, writer

    def resolve(self, host: str) -> list[str]:
        """Addresses of ``host`` as the upstream resolves them (Tor's SOCKS RESOLVE); blocking."""
        name = host.encode("idna")
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            sock.sendall(b"\x05\x01\x00")
            if _recv(sock, 2) != b"\x05\x00":
                raise UpstreamError("the upstream proxy wants authentication or is no SOCKS5 proxy")
            sock.sendall(b"\x05\xf0\x00\x03" + bytes([len(name)]) + name + b"\x00\x00")
            head = _recv(sock, 4)
            if head[1] != 0:
                why = _SOCKS_ERRORS.get(head[1], f"error {head[1]}")
                raise UpstreamError(f"the upstream proxy did not resolve {host}: {why}")
            return [_read_addr(head[3], lambda n: _recv(sock, n))]

    def resolver(self, policy: Policy) -> Callable[[str, int], Decision]:
        """The guard's decision function for this upstream: the local one, or resolve-then-check."""
        if not self.remote_dns:
            return policy.resolve_and_check

        def decide(host: str, port: int) -> Decision:
            try:
                ip = parse_host_ip(host)
            except GuardError as exc:
                return Decision(False, str(exc), host, port)
            if ip is not None or policy.deny_all:
                return policy.resolve_and_check(host, port)
            try:
                found = self.resolve(host)
            except (OSError, UnicodeError, IndexError) as exc:
                return Decision(False, f"{host}: the upstream proxy did not resolve it ({exc})", host, port)
            for addr in found:
                decision = policy.check_address(host, port, ipaddress.ip_address(addr))
                if not decision.allowed:
                    return Decision(False, decision.reason, host, port, tuple(found))
            return Decision(True, None, host, port, tuple(found))

        return decide


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise UpstreamError("the upstream proxy closed the connection")
        data += chunk
    return data


def _read_addr(kind: int, read: Callable[[int], bytes]) -> str:
    if kind == 1:
        return str(ipaddress.IPv4Address(read(4)))
    if kind == 4:
        return str(ipaddress.IPv6Address(read(16)))
    raise UpstreamError(f"the upstream proxy answered an address of type {kind}")


def _target(address: str, port: int) -> bytes:
    ip = ipaddress.ip_address(address)
    kind = b"\x01" if ip.version == 4 else b"\x04"
    return kind + ip.packed + struct.pack(">H", port)


async def _socks_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, port: int
) -> None:
    writer.write(b"\x05\x01\x00")
    await writer.drain()
    if await reader.readexactly(2) != b"\x05\x00":
        raise UpstreamError("the upstream proxy wants authentication or is no SOCKS5 proxy")
    writer.write(b"\x05\x01\x00" + _target(address, port))
    await writer.drain()
    head = await reader.readexactly(4)
    if head[1] != 0:
        raise UpstreamError(
            f"the upstream proxy refused {address}:{port}: {_SOCKS_ERRORS.get(head[1], head[1])}"
        )
    size = {1: 4, 4: 16}.get(head[3])
    if size is None and head[3] == 3:
        size = (await reader.readexactly(1))[0]
    if size is None:
        raise UpstreamError("the upstream proxy answered an unknown address type")
    await reader.readexactly(size + 2)


async def _http_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, port: int
) -> None:
    target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(b" ")
    if len(status) < 2 or status[1] != b"200":
        line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:200]
        raise UpstreamError(f"the upstream proxy refused {target}: {line}")
