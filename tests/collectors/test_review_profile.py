"""Review of a case profile's secrets against a site whose own script copies a cookie's value into
another header (double-submit CSRF, as Instagram's X-CSRFToken and Angular's X-XSRF-TOKEN do): the
value must not reach the WARC or the record under a header name the redaction did not know."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from tests.collectors.webfixtures import Site, serve

__all__ = ["serve"]

pytestmark = [pytest.mark.browser]

CSRF = "csrf-9f8e7d6c5b4a-value"
SESSION = "session-0a1b2c3d4e5f-value"
TOKEN = "bearer-token-in-local-storage-5566778899"

PAGE = """<!doctype html><title>feed</title><p>members</p><script>
const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
fetch('/api', {headers: {'X-CSRFToken': csrf, 'X-XSRF-TOKEN': csrf,
  'X-Auth': localStorage.getItem('tok')}});
fetch('/api', {method: 'POST', body: 'csrfmiddlewaretoken=' + csrf + '&q=1'});
</script>"""


def test_a_cookie_value_copied_into_another_header_is_redacted(
    serve: Callable[..., Site], tmp_path: Path
) -> None:
    site = serve(Site())
    site.add("/feed", PAGE)
    site.add("/api", '{"ok": true}', "application/json", headers={"X-Echo": f"csrf={CSRF}"})
    origin = f"http://127.0.0.1:{site.port}"
    cookie = {"domain": "127.0.0.1", "path": "/", "expires": -1, "secure": False, "sameSite": "Lax"}
    state = {
        "cookies": [
            {**cookie, "name": "csrftoken", "value": CSRF, "httpOnly": False},
            {**cookie, "name": "sessionid", "value": SESSION, "httpOnly": True},
        ],
        "origins": [{"origin": origin, "localStorage": [{"name": "tok", "value": TOKEN}]}],
    }
    profile = tmp_path / "state.json"
    profile.write_text(json.dumps(state), encoding="utf-8")
    settings = CaptureSettings(
        policy=Policy(parse_allow([f"127.0.0.1:{site.port}"])),
        capture_timeout=30,
        page_timeout=10,
        scroll_steps=1,
        storage_state=str(profile),
    )

    async def go() -> StagedCapture:
        async with WebCollector(settings) as collector:
            return await collector.capture(f"{origin}/feed", tmp_path / "cap", "analyst-a", "demo", "wb/t")

    cap = asyncio.run(go())
    assert cap.status == "captured", cap.reason
    api = [h for p, h in site.log if p == "/api"]
    assert api and api[0].get("x-csrftoken") == CSRF  # the site really sent the copy (and logged in)
    warc = next(f for f in cap.files if f.role == "warc")
    data = gzip.decompress(warc.path.read_bytes())
    assert b"/api" in data and b"&q=1" in data  # the exchanges are in the WARC, their secrets are not
    for secret in (CSRF, SESSION, TOKEN):
        assert secret.encode() not in data, secret
        assert secret not in json.dumps(cap.record), secret
    assert b"[redacted" in data
