"""An upstream proxy behind the guard (SEC-03): every request still passes the guard proxy, which
asks the upstream for the exact address it checked; with socks5h the upstream resolves names and the
guard checks its answers. The upstream here is our own small proxy that logs what passes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from collectors.guard import GuardError, Policy, parse_allow
from collectors.upstream import Upstream
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.upstream_proxy import RecordingProxy, recording_proxy
from tests.collectors.webfixtures import Site, png, self_signed, serve

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]

Captures = dict[str, StagedCapture]


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingProxy]:
    yield from recording_proxy({"witness.example": "127.0.0.1", "inside.example": "127.0.0.1"})


@pytest.fixture(scope="module")
def runs(
    serve: Callable[..., Site], upstream: RecordingProxy, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Captures, Site, Site]:
    root = tmp_path_factory.mktemp("upstream")
    site = serve(Site())
    tls = serve(Site(), self_signed(root)[0])
    tls.add("/secure", "<!doctype html><meta charset=utf-8><title>secure</title>")
    canary = serve(Site())  # an inside service the upstream can reach: the guard must keep it out
    site.add("/pic.png", png((200, 10, 10)), "image/png")
    site.add(
        "/page",
        f"<!doctype html><meta charset=utf-8><title>through</title><img src='/pic.png'>"
        f"<img src='http://inside.example:{canary.port}/x.png'>",
    )
    allow = Policy(parse_allow([f"127.0.0.1:{site.port}", f"127.0.0.1:{tls.port}"]))
    base = CaptureSettings(policy=allow, capture_timeout=60, page_timeout=20, scroll_steps=1)

    async def go() -> Captures:
        out: Captures = {}
        for scheme, cases in (
            (
                "socks5h",
                {
                    "tor": f"http://witness.example:{site.port}/page",
                    "unknown": f"http://nowhere.example:{site.port}/",
                },
            ),
            ("http", {"http": f"http://127.0.0.1:{site.port}/page", "https": tls.url("/secure")}),
        ):
            settings = replace(base, upstream=Upstream.parse(f"{scheme}://127.0.0.1:{upstream.port}"))
            async with WebCollector(settings) as collector:
                for name, url in cases.items():
                    out[name] = await collector.capture(url, root / name, "analyst-a", "demo", "t")
        return out

    captures = asyncio.run(go())
    captures["https"].record["tls_port"] = tls.port
    return captures, site, canary


def test_names_are_resolved_by_the_upstream_and_every_request_goes_through_it(
    runs: tuple[Captures, Site, Site], upstream: RecordingProxy
) -> None:
    captures, site, _ = runs
    cap = captures["tor"]
    assert cap.status == "captured", (cap.reason, cap.record["steps"])
    assert cap.record["title"] == "through"
    assert "RESOLVE witness.example" in upstream.log
    assert upstream.log.count(f"CONNECT 127.0.0.1:{site.port}") >= 2  # the page and its picture
    assert {p for p, _ in site.log} >= {"/page", "/pic.png"}


def test_the_guard_checks_the_upstream_s_answers(
    runs: tuple[Captures, Site, Site], upstream: RecordingProxy
) -> None:
    captures, _, canary = runs
    cap = captures["tor"]
    assert "RESOLVE inside.example" in upstream.log
    assert not any(f":{canary.port}" in line for line in upstream.log)  # never asked to connect there
    assert canary.log == []
    refused = [r for r in cap.record["refused_requests"] if "inside.example" in r["target"]]
    assert refused and "loopback" in refused[0]["reason"]


def test_the_record_names_the_upstream_in_its_network_profile(
    runs: tuple[Captures, Site, Site], upstream: RecordingProxy
) -> None:
    rec = runs[0]["tor"].record
    assert rec["network_profile"].startswith("through the local guard proxy, then the upstream proxy")
    assert rec["upstream_proxy"]["url"] == f"socks5h://127.0.0.1:{upstream.port}"
    assert rec["upstream_proxy"]["names_resolved_by"].startswith("the upstream proxy")
    assert rec["budgets"]["upstream_proxy"] == rec["upstream_proxy"]


def test_a_name_the_upstream_cannot_resolve_is_refused_without_a_local_lookup(
    runs: tuple[Captures, Site, Site], upstream: RecordingProxy
) -> None:
    cap = runs[0]["unknown"]
    assert cap.status == "refused"
    assert "upstream proxy did not resolve" in str(cap.reason)
    assert "RESOLVE nowhere.example" in upstream.log


def test_an_http_upstream_is_asked_for_the_checked_address(
    runs: tuple[Captures, Site, Site], upstream: RecordingProxy
) -> None:
    captures, site, _ = runs
    assert captures["http"].status == "captured", captures["http"].reason
    # Plain http goes as a proxy request naming the checked address, not as a CONNECT tunnel.
    assert f"HTTP GET http://127.0.0.1:{site.port}/page" in upstream.log
    assert f"HTTP GET http://127.0.0.1:{site.port}/pic.png" in upstream.log
    assert not any(line.startswith(f"HTTP CONNECT 127.0.0.1:{site.port}") for line in upstream.log)
    # https goes as a CONNECT tunnel to the checked address.
    secure = captures["https"]
    assert secure.status == "captured", secure.reason
    assert f"HTTP CONNECT 127.0.0.1:{secure.record['tls_port']}" in upstream.log


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://127.0.0.1:21",
        "socks5://user:pw@127.0.0.1:9050",
        "socks5h://127.0.0.1",
        "http://127.0.0.1:3128/x",
    ],
)
def test_a_bad_proxy_url_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(GuardError, match="proxy"):
        Upstream.parse(bad)
