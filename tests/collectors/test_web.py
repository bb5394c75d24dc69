"""WebCollector on pages served here: TLS certificate, dialogs, popups, downloads, cookie isolation,
per-step status. One browser for the whole module."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.webfixtures import Site, self_signed, serve

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]

Captures = dict[str, StagedCapture]
DOWNLOADED = b"#!/bin/sh\necho never run\n"


@pytest.fixture(scope="module")
def runs(
    serve: Callable[..., Site], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Captures, Site, bytes]:
    root = tmp_path_factory.mktemp("web")
    context, der = self_signed(root)
    tls = serve(Site(), context)
    tls.add("/secure", "<!doctype html><meta charset=utf-8><title>secure</title><p>over TLS</p>")
    site = serve(Site())
    site.add("/dialogs", "<title>d</title><script>alert('a');confirm('b');prompt('c')</script><p>after</p>")
    site.add(
        "/popups", "<title>p</title><script>for(let i=0;i<3;i++)window.open('/dialogs','_blank')</script>"
    )
    site.add("/set", "<title>set</title>", headers={"Set-Cookie": "session=case-a; Path=/"})
    site.add("/echo", "<title>echo</title>")
    site.add(
        "/file",
        DOWNLOADED,
        "application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="../../evil.sh"'},
    )
    site.add(
        "/blobdl",
        "<title>b</title><script>const u=URL.createObjectURL(new Blob(['made in the page'],"
        "{type:'application/x-msdownload'}));const a=document.createElement('a');a.href=u;"
        "a.download='/etc/cron.d/x';document.documentElement.appendChild(a);a.click()</script>",
    )
    site.add("/clicks", "<title>c</title><a id=a href='/file' download>get</a><script>a.click()</script>")
    canary = serve(Site())  # stands in for an internal service: never allow-listed
    c = canary.port
    site.add(
        "/sneaky",
        "<title>s</title><script>try{new WebSocket('ws://127.0.0.1:PORT/ws')}catch(e){}"
        "navigator.sendBeacon('http://127.0.0.1:PORT/beacon','x');fetch('http://localhost:PORT/f').catch(()=>0);"
        "var i=new Image();i.src='http://[::ffff:127.0.0.1]:PORT/i'</script>"
        "<iframe src='http://0x7f000001:PORT/if'></iframe>".replace("PORT", str(c)),
    )
    allow = parse_allow([f"127.0.0.1:{tls.port}", f"127.0.0.1:{site.port}"])
    settings = CaptureSettings(policy=Policy(allow), capture_timeout=60, page_timeout=20, scroll_steps=2)

    async def go() -> Captures:
        out: Captures = {}
        async with WebCollector(settings) as collector:
            for name, url in [
                ("tls", tls.url("/secure")),
                ("dialogs", site.url("/dialogs")),
                ("popups", site.url("/popups")),
                ("set", site.url("/set")),
                ("echo", site.url("/echo")),
                ("sneaky", site.url("/sneaky")),
                ("file", site.url("/file")),
                ("clicks", site.url("/clicks")),
                ("blobdl", site.url("/blobdl")),
            ]:
                out[name] = await collector.capture(url, root / name, "analyst-a", "demo", "wb/test")
        return out

    captures = asyncio.run(go())
    captures["sneaky"].record["canary_log"] = list(canary.log)
    return captures, site, der


def test_tls_certificate_is_the_one_served(runs: tuple[Captures, Site, bytes]) -> None:
    captures, _, der = runs
    cap = captures["tls"]
    assert cap.status == "captured", cap.record["steps"]
    cert = cap.record["tls_certificate"]
    assert cert["sha256"] == hashlib.sha256(der).hexdigest()
    stored = next(f for f in cap.files if f.role == "certificate")
    assert Path(stored.path).read_bytes() == der


def test_dialogs_dismissed_and_logged(runs: tuple[Captures, Site, bytes]) -> None:
    cap = runs[0]["dialogs"]
    assert cap.status == "captured"
    assert [d["type"] for d in cap.record["dialogs"]] == ["alert", "confirm", "prompt"]


def test_popups_closed_and_recorded(runs: tuple[Captures, Site, bytes]) -> None:
    cap = runs[0]["popups"]
    assert cap.status == "captured"
    assert len(cap.record["popups"]) == 3


def test_fresh_context_per_capture_no_cookie_carried(runs: tuple[Captures, Site, bytes]) -> None:
    _, site, _ = runs
    echo = [headers for path, headers in site.log if path == "/echo"]
    assert echo and all("cookie" not in h for h in echo)


def test_every_step_has_a_status_and_files_are_hashed(runs: tuple[Captures, Site, bytes]) -> None:
    cap = runs[0]["set"]
    names = [s["step"] for s in cap.record["steps"]]
    for step in ("guard", "navigate", "screenshot", "html", "mhtml", "warc", "wacz"):
        assert step in names
    assert all(s["status"] in ("ok", "failed", "skipped", "refused") for s in cap.record["steps"])
    for f in cap.files:
        assert hashlib.sha256(Path(f.path).read_bytes()).hexdigest() == f.sha256


def test_websocket_beacon_and_disguised_addresses_never_reach_an_internal_port(
    runs: tuple[Captures, Site, bytes],
) -> None:
    cap = runs[0]["sneaky"]
    assert cap.status == "captured"
    assert cap.record["canary_log"] == []
    refused = [r["target"] for r in cap.record["refused_requests"]]
    assert any(t.startswith("CONNECT 127.0.0.1:") for t in refused)  # the WebSocket, as a tunnel
    assert any(t.endswith("/beacon") for t in refused)
    assert all("google" not in t for t in refused)  # the browser's own calls never enter a capture


def test_a_url_that_is_a_download_is_kept_in_quarantine_under_our_own_name(
    runs: tuple[Captures, Site, bytes],
) -> None:
    cap = runs[0]["file"]
    assert cap.status == "captured", cap.reason
    kept = [f for f in cap.files if f.role == "download"]
    assert len(kept) == 1 and kept[0].path.read_bytes() == DOWNLOADED
    assert kept[0].path.parent == cap.folder and kept[0].path.name == "download-0000"
    assert kept[0].mime == "application/octet-stream"
    entry = cap.record["downloads"][0]
    assert entry["suggested_filename"] == "evil.sh" or "evil.sh" in entry["suggested_filename"]
    assert entry["status"] == "quarantined" and entry["sha256"] == hashlib.sha256(DOWNLOADED).hexdigest()
    assert {f.role for f in cap.files} >= {"warc", "wacz"}


def test_a_download_started_by_a_page_is_kept_beside_the_page(runs: tuple[Captures, Site, bytes]) -> None:
    cap = runs[0]["clicks"]
    assert cap.status == "captured", cap.reason
    assert "screenshot" in {f.role for f in cap.files}
    kept = [f for f in cap.files if f.role == "download"]
    assert [f.path.read_bytes() for f in kept] == [DOWNLOADED]


def test_a_page_over_the_byte_budget_is_aborted_at_the_budget_not_the_clock(
    serve: Callable[..., Site], tmp_path: Path
) -> None:
    site = serve(Site())
    site.add("/big", b"<p>" + b"filler " * ((3 << 20) // 7) + b"</p>")
    settings = CaptureSettings(
        policy=Policy(parse_allow([f"127.0.0.1:{site.port}"])), capture_timeout=300, max_bytes=1 << 20
    )

    async def go() -> StagedCapture:
        async with WebCollector(settings) as collector:
            return await collector.capture(site.url("/big"), tmp_path / "c", "analyst-a", "demo", "wb/t")

    cap = asyncio.run(go())
    assert cap.status == "failed"
    assert "byte budget" in str(cap.reason) and "exceeded" in str(cap.reason)
    assert cap.record["byte_budget_exceeded"] is True
    assert not any(s["step"] == "capture" for s in cap.record["steps"])  # not the time budget


def test_a_download_made_inside_the_page_is_kept_under_our_name_too(
    runs: tuple[Captures, Site, bytes],
) -> None:
    cap = runs[0]["blobdl"]
    kept = [f for f in cap.files if f.role == "download"]
    assert [f.path.read_bytes() for f in kept] == [b"made in the page"]
    assert all(f.path.parent == cap.folder for f in kept)
    assert "cron" in cap.record["downloads"][0]["suggested_filename"]
