"""The guard proxy: resolves once, connects to exactly the checked address, refuses the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from collectors.guard import Decision, Policy, parse_allow
from collectors.proxy import GuardProxy
from tests.collectors.webfixtures import Site, serve

__all__ = ["serve"]


async def _ask(proxy_port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _site(serve: Callable[..., Site]) -> Site:
    site = serve(Site())
    site.add("/hello", "hello from the fixture")
    site.add("/big", b"x" * 200_000, "application/octet-stream")
    return site


def test_forwards_allowed_plain_http_and_closes_after_one_exchange(serve: Callable[..., Site]) -> None:
    site = _site(serve)

    async def run() -> bytes:
        proxy = GuardProxy(Policy(parse_allow([f"127.0.0.1:{site.port}"])))
        port = await proxy.start()
        try:
            req = f"GET {site.url('/hello')} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
            return await _ask(port, req.encode())
        finally:
            await proxy.close()

    reply = asyncio.run(run())
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"hello from the fixture")
    assert site.log[-1][1].get("connection") == "close"


def test_refuses_the_port_beside_the_allowed_one(serve: Callable[..., Site]) -> None:
    site = _site(serve)

    async def run() -> tuple[bytes, bytes, GuardProxy]:
        proxy = GuardProxy(Policy(parse_allow([f"127.0.0.1:{site.port}"])))
        port = await proxy.start()
        try:
            plain = await _ask(port, f"GET http://127.0.0.1:{site.port + 1}/x HTTP/1.1\r\n\r\n".encode())
            tunnel = await _ask(port, f"CONNECT 127.0.0.1:{site.port + 1} HTTP/1.1\r\n\r\n".encode())
            return plain, tunnel, proxy
        finally:
            await proxy.close()

    plain, tunnel, proxy = asyncio.run(run())
    assert plain.startswith(b"HTTP/1.1 403") and tunnel.startswith(b"HTTP/1.1 403")
    assert [r["kind"] for r in proxy.stats.refused] == ["guard", "guard"]
    assert all("loopback" in r["reason"] for r in proxy.stats.refused)


def test_resolves_once_and_connects_to_the_checked_address(serve: Callable[..., Site]) -> None:
    """DNS rebinding: a second answer pointing elsewhere is never asked for nor used."""
    site = _site(serve)
    answers = ["127.0.0.1", "10.0.0.1"]
    calls: list[str] = []
    policy = Policy(parse_allow([f"127.0.0.1:{site.port}"]))

    def rebinding(host: str, port: int) -> Decision:
        calls.append(host)
        return policy.check_address(host, port, __import__("ipaddress").ip_address(answers[len(calls) - 1]))

    async def run() -> list[bytes]:
        proxy = GuardProxy(policy, resolver=rebinding)
        port = await proxy.start()
        try:
            req = f"GET http://evil.example:{site.port}/hello HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode()
            return [await _ask(port, req), await _ask(port, req)]
        finally:
            await proxy.close()

    replies = asyncio.run(run())
    assert calls == ["evil.example"]
    assert all(r.endswith(b"hello from the fixture") for r in replies)


def test_byte_budget_cuts_the_capture(serve: Callable[..., Site]) -> None:
    site = _site(serve)

    async def run() -> tuple[bytes, bytes, GuardProxy]:
        proxy = GuardProxy(Policy(parse_allow([f"127.0.0.1:{site.port}"])), max_bytes=50_000)
        port = await proxy.start()
        try:
            first = await _ask(port, f"GET {site.url('/big')} HTTP/1.1\r\n\r\n".encode())
            second = await _ask(port, f"GET {site.url('/hello')} HTTP/1.1\r\n\r\n".encode())
            return first, second, proxy
        finally:
            await proxy.close()

    first, second, proxy = asyncio.run(run())
    assert len(first) < 200_000 and proxy.stats.budget_exceeded
    assert second.startswith(b"HTTP/1.1 509")


def test_deny_all_proxy_refuses_everything(serve: Callable[..., Site]) -> None:
    site = _site(serve)

    async def run() -> bytes:
        proxy = GuardProxy(Policy(parse_allow([f"127.0.0.1:{site.port}"]), deny_all=True))
        port = await proxy.start()
        try:
            return await _ask(port, f"GET {site.url('/hello')} HTTP/1.1\r\n\r\n".encode())
        finally:
            await proxy.close()

    assert asyncio.run(run()).startswith(b"HTTP/1.1 403")
