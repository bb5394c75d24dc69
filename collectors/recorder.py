"""What the browser exchanged during one capture, as Playwright reports it.

The recorder listens to ``requestfinished`` and ``requestfailed`` and keeps, for each exchange, the
request, the response status and headers, the server address and the body (decoded by Chromium,
within the per-response byte budget). Media bodies become separate files, byte for byte as the
server sent them; a video the page loaded in ranges (206) is fetched once more whole, and that is
written down as a transformation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Request

from collectors.warc import Exchange

__all__ = [
    "Recorder",
    "StagedFile",
    "certificate_facts",
    "profile_secrets",
    "redact",
    "stage",
    "transformations",
]

MEDIA_TYPES = ("image/", "video/", "audio/")
MAX_FAILED_LOGGED = 200


@dataclass(frozen=True)
class StagedFile:
    """A file the capture wrote to its staging folder, hashed before anything else touches it."""

    role: str
    path: Path
    sha256: str
    size: int
    mime: str
    url: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = {"role": self.role, "sha256": self.sha256, "size": self.size, "mime": self.mime}
        if self.url:
            data["url"] = self.url
        return data


SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization", "x-csrf-token"})
REDACTED = "[redacted: the case profile's session secret]"
MIN_SECRET = 8
MAX_SECRETS = 2000


def redact(name: str, value: str, secrets: frozenset[str] = frozenset()) -> str:
    """A header value as it may enter evidence when a logged-in profile is in use: secret headers
    whole, and the profile's own cookie values wherever a site's script copies them into another
    header (double-submit CSRF: Instagram's X-CSRFToken, Angular's X-XSRF-TOKEN, ...)."""
    if name.lower() in SECRET_HEADERS:
        return REDACTED
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, REDACTED)
    return value


def profile_secrets(storage_state: str | None) -> frozenset[str]:
    """The values in a storage_state file that must never enter evidence: its cookies' values and
    its long stored values (tokens). Short values are left: they would redact ordinary text."""
    if not storage_state:
        return frozenset()
    try:
        state = json.loads(Path(storage_state).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return frozenset()
    found: set[str] = set()
    if isinstance(state, dict):
        for c in state.get("cookies") or []:
            if isinstance(c, dict) and isinstance(c.get("value"), str) and len(c["value"]) >= MIN_SECRET:
                found.add(c["value"])
        for origin in state.get("origins") or []:
            for item in (origin.get("localStorage") or []) if isinstance(origin, dict) else []:
                value = item.get("value") if isinstance(item, dict) else None
                if isinstance(value, str) and len(value) >= 2 * MIN_SECRET:
                    found.add(value)
    # Longest first, so a value that contains another is replaced whole.
    return frozenset(sorted(found, key=len, reverse=True)[:MAX_SECRETS])


def stage(folder: Path, name: str, data: bytes, role: str, mime: str, url: str | None = None) -> StagedFile:
    """Write bytes under a name the capture chose (never one from the page) and hash them."""
    path = folder / name
    path.write_bytes(data)
    return StagedFile(role, path, hashlib.sha256(data).hexdigest(), len(data), mime, url)


@dataclass
class Recorder:
    """Collects exchanges for one page; bodies larger than ``max_body`` are left out and noted."""

    max_body: int
    # With a case's logged-in profile, its session secrets never enter the evidence (SEC-03).
    redact_secrets: bool = False
    secrets: frozenset[str] = frozenset()
    exchanges: list[Exchange] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    resource_types: dict[int, str] = field(default_factory=dict)
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    http_versions: set[str] = field(default_factory=set)
    # While the page is shown again from bytes already recorded (collectors.charset), nothing new is
    # evidence: those exchanges are not recorded.
    paused: bool = False

    def on_finished(self, request: Request) -> None:
        if self.paused:
            return
        task = asyncio.ensure_future(self._record(request))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def on_failed(self, request: Request) -> None:
        if not self.paused and len(self.failed) < MAX_FAILED_LOGGED:
            self.failed.append({"url": request.url[:2000], "error": (request.failure or "failed")[:300]})

    async def drain(self, timeout: float) -> None:
        """Wait for body reads still running (bounded), then stop listening."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)
        for task in list(self.pending):
            task.cancel()

    async def _record(self, request: Request) -> None:
        with contextlib.suppress(PlaywrightError):
            response = await request.response()
            if response is None:
                return
            headers = await response.headers_array()
            note = None
            body: bytes | None = None
            length = _content_length([{"name": h["name"], "value": h["value"]} for h in headers])
            if 300 <= response.status < 400:
                note = "redirect: no body kept"
            elif length is not None and length > self.max_body:
                note = f"body of {length} bytes over the per-response budget; not kept"
            else:
                try:
                    body = await response.body()
                except PlaywrightError as exc:
                    note = f"body not available: {str(exc)[:200]}"
                if body is not None and len(body) > self.max_body:
                    body, note = None, f"body over the per-response budget ({self.max_body} bytes); not kept"
            addr = await response.server_addr()
            req_headers = await request.headers_array()
            with contextlib.suppress(PlaywrightError):
                info = await request.all_headers()
                if ":authority" in info or ":method" in info:
                    self.http_versions.add("h2")
            ex = Exchange(
                url=response.url,
                method=request.method,
                request_headers=self._kept(req_headers),
                status=response.status,
                status_text=response.status_text,
                response_headers=self._kept(headers),
                body=body,
                request_body=self._kept_body(request.post_data_buffer),
                server_ip=addr["ipAddress"] if addr else None,
                at=datetime.now(UTC),
                note=note,
            )
            self.exchanges.append(ex)
            self.resource_types[id(ex)] = request.resource_type

    def _kept(self, headers: list[Any]) -> list[tuple[str, str]]:
        return [
            (h["name"], redact(h["name"], h["value"], self.secrets) if self.redact_secrets else h["value"])
            for h in headers
        ]

    def _kept_body(self, body: bytes | None) -> bytes | None:
        """A request body as it may enter evidence: the profile's values (a CSRF token a script
        posts back, a session id in a form) replaced, as in headers."""
        if not body or not self.redact_secrets:
            return body
        for secret in self.secrets:
            body = body.replace(secret.encode("utf-8"), REDACTED.encode("utf-8"))
        return body

    def media(self) -> list[tuple[Exchange, str]]:
        """Exchanges that carried images, video or audio, once per URL, with their declared type."""
        seen: set[str] = set()
        found: list[tuple[Exchange, str]] = []
        for ex in self.exchanges:
            mime = _header(ex.response_headers, "content-type").split(";")[0].strip().lower()
            kind = self.resource_types.get(id(ex), "")
            if ex.url in seen or not (mime.startswith(MEDIA_TYPES) or kind in ("image", "media")):
                continue
            if ex.status not in (200, 206) or (ex.body is None and ex.status == 200):
                continue
            seen.add(ex.url)
            found.append((ex, mime or "application/octet-stream"))
        return found


def _content_length(headers: list[dict[str, str]]) -> int | None:
    for h in headers:
        if h["name"].lower() == "content-length":
            with contextlib.suppress(ValueError):
                return int(h["value"])
    return None


def _header(headers: list[tuple[str, str]], name: str) -> str:
    for k, v in headers:
        if k.lower() == name:
            return v
    return ""


def certificate_facts(names: list[str]) -> dict[str, Any]:
    """The served chain from CDP ``Network.getCertificate`` (base64 DER), leaf first."""
    from cryptography import x509

    chain = [base64.b64decode(n) for n in names]
    if not chain:
        return {}
    leaf = chain[0]
    facts: dict[str, Any] = {
        "der_base64": base64.b64encode(leaf).decode(),
        "sha256": hashlib.sha256(leaf).hexdigest(),
        "chain_sha256": [hashlib.sha256(c).hexdigest() for c in chain],
    }
    try:
        cert = x509.load_der_x509_certificate(leaf)
        facts.update(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    except ValueError as exc:
        facts["parse_error"] = str(exc)[:200]
    return facts


def transformations(recorder: Recorder) -> list[str]:
    """What the WARC rebuilt from these exchanges does not hold verbatim (BP-8)."""
    out = [
        "WARC rebuilt from browser-reported exchanges: bodies are as Chromium decoded them; "
        "Content-Encoding and Transfer-Encoding headers dropped and Content-Length recomputed",
        "HTTP status lines written as HTTP/1.1 whatever protocol was used on the wire",
        "redirect responses kept without bodies",
    ]
    if "h2" in recorder.http_versions:
        out.append("some exchanges were HTTP/2 (pseudo-headers dropped from WARC request records)")
    if any(ex.note for ex in recorder.exchanges):
        out.append("some response bodies were left out (over budget or unavailable): see each record")
    if recorder.redact_secrets:
        out.append(
            "values of Cookie, Set-Cookie, Authorization and X-CSRF-Token headers, and the profile's own "
            "cookie and stored values wherever another header carried them, replaced by a placeholder: "
            "the capture used the case's logged-in profile, whose secrets stay out of evidence"
        )
    if any(ex.status == 206 for ex in recorder.exchanges):
        out.append("range responses (206) are kept as the partial bodies the browser received")
    return out
