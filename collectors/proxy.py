"""A small forward proxy on 127.0.0.1 that every browser request goes through.

Chromium resolves names itself, so a URL check made before a request can be defeated by DNS
rebinding (first answer public, second answer 127.0.0.1). The proxy closes that gap: it resolves
each host once per capture, checks every address with the guard, and connects to exactly the
address it checked. Plain HTTP arrives as absolute-URI requests; HTTPS and WebSockets arrive as
CONNECT tunnels (the bytes inside stay encrypted; the browser records those exchanges).

With a case's upstream proxy (``collectors.upstream``: a VPN's or Tor's SOCKS port) the proxy still
decides every host; it then asks the upstream for the exact address it checked instead of connecting
itself.

Each upstream connection carries one request (``Connection: close`` both ways), so a kept-alive
browser connection can never carry a second request to another host. Bytes from servers are
counted against the capture's budget; past it every connection is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from collectors.guard import Decision, GuardError, Policy, split_url
from collectors.upstream import Upstream

__all__ = ["GuardProxy", "ProxyStats"]

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT = 15.0
CONNECT_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 8.0
MAX_LOGGED = 200
CHUNK = 64 * 1024
_HOP = {b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization", b"te", b"upgrade"}


@dataclass
class ProxyStats:
    """What one proxy saw: refusals (with reasons), bytes received, and whether the budget broke."""

    refused: list[dict[str, str]] = field(default_factory=list)
    bytes_in: int = 0
    connections: int = 0
    budget_exceeded: bool = False
    addresses: dict[str, list[str]] = field(default_factory=dict)

    def refuse(self, target: str, reason: str, kind: str = "guard") -> None:
        """Log a request not forwarded; ``kind`` is guard (policy), network or budget."""
        if len(self.refused) < MAX_LOGGED:
            self.refused.append({"target": target[:500], "reason": reason[:300], "kind": kind})


class GuardProxy:
    """One proxy per capture (or a deny-all one for the browser's own traffic)."""

    def __init__(
        self,
        policy: Policy,
        max_bytes: int = 200 << 20,
        max_connections: int = 48,
        resolver: Callable[[str, int], Decision] | None = None,
        upstream: Upstream | None = None,
    ) -> None:
        """``upstream``: a proxy every checked connection goes through (SEC-03); its resolver is used
        unless ``resolver`` is given."""
        self.policy = policy
        self.upstream = upstream
        self.resolver = resolver or (upstream.resolver(policy) if upstream else policy.resolve_and_check)
        self.max_bytes = max_bytes
        self.stats = ProxyStats()
        self._cache: dict[tuple[str, int], Decision] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1 on a free port and return it."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def decide(self, host: str, port: int) -> Decision:
        """Resolve once per (host, port) for this proxy's life, then always answer the same."""
        key = (host.lower(), port)
        if key not in self._cache:
            try:
                decision = await asyncio.wait_for(
                    asyncio.to_thread(self.resolver, host, port), RESOLVE_TIMEOUT
                )
            except TimeoutError:
                decision = Decision(False, f"{host}: name resolution timed out", host, port)
            self._cache[key] = decision
            if decision.addresses:
                self.stats.addresses[f"{host}:{port}"] = list(decision.addresses)
        return self._cache[key]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            async with self._slots:
                self.stats.connections += 1
                await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        if len(head) > HEAD_LIMIT:
            return await _reply(writer, 431, "request head too large")
        line, _, rest = head.partition(b"\r\n")
        parts = line.split(b" ")
        if len(parts) != 3:
            return await _reply(writer, 400, "bad request line")
        method, target, version = parts
        if method == b"CONNECT":
            return await self._tunnel(target.decode("latin-1"), reader, writer)
        return await self._forward(method, target.decode("latin-1"), version, rest, reader, writer)

    async def _admit(self, label: str, host: str, port: int, writer: asyncio.StreamWriter) -> Decision | None:
        if self.stats.budget_exceeded:
            self.stats.refuse(label, "byte budget of the capture exhausted", "budget")
            await _reply(writer, 509, "capture byte budget exhausted")
            return None
        decision = await self.decide(host, port)
        if not decision.allowed:
            self.stats.refuse(label, decision.reason or "refused")
            await _reply(writer, 403, "refused by the capture guard")
            return None
        return decision

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, sep, port_text = target.rpartition(":")
        host = host.strip("[]")
        if not sep or not port_text.isdigit():
            return await _reply(writer, 400, "bad CONNECT target")
        port = int(port_text)
        label = f"CONNECT {target}"
        try:
            split_url(f"https://{target}/")
        except GuardError as exc:
            self.stats.refuse(label, str(exc))
            return await _reply(writer, 403, "refused by the capture guard")
        decision = await self._admit(label, host, port, writer)
        if decision is None:
            return
        upstream = await self._connect(decision, label, writer)
        if upstream is None:
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe(reader, writer, *upstream)

    async def _forward(
        self,
        method: bytes,
        target: str,
        version: bytes,
        rest: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        label = f"{method.decode('latin-1')} {target}"
        try:
            host, port = split_url(target)
        except GuardError as exc:
            self.stats.refuse(label, str(exc))
            return await _reply(writer, 403, "refused by the capture guard")
        if urlsplit(target).scheme.lower() != "http":
            self.stats.refuse(label, "only plain http is forwarded; https goes through CONNECT")
            return await _reply(writer, 403, "refused by the capture guard")
        decision = await self._admit(label, host, port, writer)
        if decision is None:
            return
        # An HTTP upstream takes plain http as a proxy request (absolute form) naming the checked
        # address: proxies commonly allow CONNECT to 443 only. The Host header keeps the name.
        relay = self.upstream is not None and self.upstream.scheme == "http"
        upstream = await self._connect(decision, label, writer, tunnel=not relay)
        if upstream is None:
            return
        parts = urlsplit(target)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if relay:
            ip = decision.addresses[0]
            path = f"http://{f'[{ip}]' if ':' in ip else ip}:{decision.port}{path}"
        up_reader, up_writer = upstream
        up_writer.write(method + b" " + path.encode("latin-1") + b" " + version + b"\r\n" + _headers(rest))
        await self._pipe(reader, writer, up_reader, up_writer)

    async def _connect(
        self, decision: Decision, label: str, writer: asyncio.StreamWriter, tunnel: bool = True
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            # Connect to the address the guard checked, never to the name (no second lookup); through
            # the upstream proxy, when there is one, to that same address.
            if self.upstream is not None:
                return await asyncio.wait_for(
                    self.upstream.open(decision.addresses[0], decision.port, tunnel), CONNECT_TIMEOUT + 5
                )
            return await asyncio.wait_for(
                asyncio.open_connection(decision.addresses[0], decision.port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            via = " through the upstream proxy" if self.upstream is not None else ""
            self.stats.refuse(label, f"cannot connect{via}: {exc or type(exc).__name__}", "network")
            await _reply(writer, 502, "upstream unreachable")
            return None

    async def _pipe(
        self,
        c_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        u_reader: asyncio.StreamReader,
        u_writer: asyncio.StreamWriter,
    ) -> None:
        self._writers.add(u_writer)
        try:
            up = asyncio.ensure_future(self._copy(c_reader, u_writer, count=False))
            down = asyncio.ensure_future(self._copy(u_reader, c_writer, count=True))
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if not down.done():
                # The client finished sending: let the response run to its end.
                await asyncio.wait({down})
            up.cancel()
        finally:
            self._writers.discard(u_writer)
            u_writer.close()

    async def _copy(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(CHUNK):
                if count:
                    self.stats.bytes_in += len(data)
                    if self.stats.bytes_in > self.max_bytes:
                        self.stats.budget_exceeded = True
                        for w in list(self._writers):
                            w.close()
                        return
                dst.write(data)
                await dst.drain()
            if not count and dst.can_write_eof():
                dst.write_eof()


def _headers(rest: bytes) -> bytes:
    """The request's header block without hop-by-hop headers, closing after one exchange."""
    lines = [ln for ln in rest.split(b"\r\n") if ln]
    kept = [ln for ln in lines if ln.split(b":", 1)[0].strip().lower() not in _HOP]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


async def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    body = text.encode()
    writer.write(
        f"HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"X-WB-Guard: {status}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(OSError):
        await writer.drain()
