"""Evidence-grade capture of one web page with Playwright and Debian's Chromium.

``WebCollector`` holds one browser; ``capture(url, folder, ...)`` gives each URL a fresh context
behind its own guard proxy (``collectors.proxy``), records every exchange, and stages in ``folder``:
full-page PNG (height capped, cap recorded), rendered HTML, MHTML (CDP ``Page.captureSnapshot``),
page text, embedded media byte for byte, a WARC and a WACZ, and the capture record (CAP-01).
Nothing here touches the database; ``workbench.services.capture.run`` stores what is staged.

Layers of the network guard, outermost first: the browser's own traffic goes to a deny-all proxy;
each capture's context has a proxy that resolves once, checks addresses and connects to exactly
those; ``context.route`` refuses non-http(s) schemes and bad IP literals before Chromium sends
anything; service workers are blocked (they bypass routing). Chromium itself stops redirect chains
after 20 hops (ERR_TOO_MANY_REDIRECTS); the record keeps the chain.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from collectors import charset, ytdlp
from collectors.downloads import ROLE as DOWNLOAD
from collectors.downloads import Quarantine
from collectors.outcome import (
    CaptureSettings,
    StagedCapture,
    Steps,
    document_cut,
    download_verdict,
    network_facts,
    server_ip,
    verdict,
    within_budget,
)
from collectors.pagemedia import FETCH_TIMEOUT_MS, fetch_whole, named_media, not_a_medium
from collectors.platforms import extract_post
from collectors.proxy import GuardProxy
from collectors.recorder import (
    Recorder,
    StagedFile,
    certificate_facts,
    profile_secrets,
    redact,
    stage,
    transformations,
)
from collectors.warc import Resource, build_wacz, write_warc
from collectors.webpage import Targets, listen, page_facts, route_guard, screenshot, scroll_page

__all__ = ["CHROMIUM", "LAUNCH_FLAGS", "CaptureSettings", "StagedCapture", "WebCollector"]

CHROMIUM = "/usr/bin/chromium"
GUARD_HEADER = "x-wb-guard"
LAUNCH_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-pings",
    "--dns-prefetch-disable",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--proxy-bypass-list=<-loopback>",
)


# Headers that no longer describe the bytes once the browser's decoded body is served again.
_REFRAMED = {"content-encoding", "content-length", "transfer-encoding", "content-type"}
PACKAGING_RESERVE = 15.0  # closing the context (its drain waits up to 10 s), WARC and WACZ
DOWNLOAD_WAIT = 60.0


def _left(deadline: float, most: float) -> float:
    """Seconds to give a step: at most ``most``, never past ``deadline``, at least one."""
    return max(1.0, min(most, deadline - time.monotonic()))


def clock_sync() -> str:
    """Whether the workstation's clock is NTP-synchronised (BP-6), as systemd reports it."""
    try:
        out = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return {"yes": "synchronized", "no": "not synchronized"}.get(out, "unknown")


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WebCollector:
    """One Chromium for many captures; each capture gets a fresh context and its own proxy."""

    def __init__(self, settings: CaptureSettings, work_dir: Path | None = None) -> None:
        """``work_dir``: where the browser may put downloads while they stream (inside the archive
        home, so nothing a page sends lands outside it); a temporary folder of Playwright's if None."""
        self.settings = settings
        self.work_dir = work_dir
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._quiet: GuardProxy | None = None
        self._clock = "unknown"
        self._targets = Targets()

    async def __aenter__(self) -> WebCollector:
        self._pw = await async_playwright().start()
        # The browser's own background traffic goes to a proxy that refuses everything.
        self._quiet = GuardProxy(replace(self.settings.policy, deny_all=True), max_bytes=0)
        await self._quiet.start()
        self._browser = await self._pw.chromium.launch(
            executable_path=CHROMIUM,
            args=list(LAUNCH_FLAGS),
            proxy={"server": self._quiet.url, "bypass": "<-loopback>"},
            handle_sigint=False,
            downloads_path=self.work_dir / "browser-downloads" if self.work_dir else None,
        )

        await self._targets.start(self._browser)
        self._clock = await asyncio.to_thread(clock_sync)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(PlaywrightError):
            if self._browser is not None:
                await self._browser.close()
        if self._pw is not None:
            await self._pw.stop()
        if self._quiet is not None:
            await self._quiet.close()

    @property
    def background_refusals(self) -> list[dict[str, str]]:
        """What Chromium tried to reach on its own (blocked, never evidence)."""
        return list(self._quiet.stats.refused) if self._quiet else []

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        assert self._browser is not None
        return {"playwright": version("playwright"), "browser": f"chromium/{self._browser.version}"}

    async def capture(self, url: str, folder: Path, collector_id: str, case: str, tool: str) -> StagedCapture:
        """Capture ``url`` into ``folder``; always returns a staged capture with a clear status."""
        folder.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC)
        record: dict[str, Any] = {
            "requested_url": url,
            "started_at": utc(started),
            "utc_offset": time.strftime("%z"),
            "collector_id": collector_id,
            "case": case,
            "tool_version": tool,
            **self.versions(),
            "launch_flags": list(LAUNCH_FLAGS),
            "viewport": {"width": self.settings.viewport[0], "height": self.settings.viewport[1]},
            "network_profile": self.settings.profile(),
            "upstream_proxy": self.settings.upstream.as_record() if self.settings.upstream else None,
            "clock_sync": self._clock,
            "browser_background_blocked": len(self.background_refusals),
            "budgets": self.settings.as_record(),
        }
        staged = StagedCapture(url, "failed", None, folder, record)
        steps = Steps()
        pre = self.settings.policy.check_url(url)
        if pre.allowed:
            pre = await asyncio.to_thread(self.settings.resolver(), pre.host, pre.port)
        if not pre.allowed:
            staged.status, staged.reason = "refused", pre.reason
            steps.add("guard", "refused", pre.reason)
        else:
            steps.add("guard", "ok", None)
            try:
                await asyncio.wait_for(self._in_context(staged, steps), self.settings.capture_timeout)
            except TimeoutError:
                steps.add("capture", "failed", f"capture exceeded {self.settings.capture_timeout} s")
                staged.status, staged.reason = "failed", f"capture exceeded {self.settings.capture_timeout} s"
        record["ended_at"] = utc(datetime.now(UTC))
        record["steps"] = steps.done
        record["status"] = staged.status
        record["reason"] = staged.reason
        return staged

    async def _in_context(self, staged: StagedCapture, steps: Steps) -> None:
        assert self._browser is not None
        s = self.settings
        proxy = GuardProxy(s.policy, max_bytes=s.max_bytes, upstream=s.upstream)
        await proxy.start()
        recorder = Recorder(
            max_body=s.max_response_bytes,
            redact_secrets=bool(s.storage_state),
            secrets=await asyncio.to_thread(profile_secrets, s.storage_state),
        )
        quarantine = Quarantine(staged.folder, max_bytes=s.max_response_bytes)
        events: dict[str, list[dict[str, str]]] = {"dialogs": [], "popups": [], "refused": []}
        ids: tuple[str, str] | None = None
        opened = time.monotonic()
        # What may still wait (yt-dlp, downloads) ends this long before the capture's own budget, so
        # closing and packaging still happen and the page is kept rather than lost to the clock.
        deadline = opened + s.capture_timeout - PACKAGING_RESERVE
        try:
            context = await self._browser.new_context(
                proxy={"server": proxy.url, "bypass": "<-loopback>"},
                service_workers="block",
                accept_downloads=True,
                ignore_https_errors=True,
                viewport={"width": s.viewport[0], "height": s.viewport[1]},
                storage_state=s.storage_state,
            )
        except PlaywrightError as exc:
            # A profile the browser refuses (or one gone from disk): this URL fails with the reason,
            # and its proxy is closed rather than left listening for the rest of the run.
            await proxy.close()
            reason = f"the browser context could not be opened: {str(exc).splitlines()[0][:300]}"
            steps.add("open_context", "failed", reason, opened)
            staged.status, staged.reason = "failed", reason
            return
        try:
            await context.route("**/*", route_guard(s.policy, events["refused"]))
            page = await context.new_page()
            listen(context, page, recorder, events, quarantine.on_download)
            cdp = await context.new_cdp_session(page)
            with contextlib.suppress(PlaywrightError, KeyError):
                info = (await cdp.send("Target.getTargetInfo"))["targetInfo"]
                ids = (str(info["browserContextId"]), str(info["targetId"]))
            steps.add("open_context", "ok", None, opened)
            response = await self._load(page, cdp, staged, steps, proxy, quarantine, recorder.secrets)
            if staged.status == "captured" and proxy.stats.budget_exceeded and document_cut(staged, recorder):
                # The document itself broke the budget: what would be captured is a cut page.
                staged.status = "failed"
                staged.reason = f"byte budget of {s.max_bytes} bytes exceeded while loading the page: aborted"
            elif staged.status == "captured":
                await self._collect(page, cdp, context, staged, steps, recorder, response, deadline)
                if s.ytdlp:
                    await self._ytdlp(staged, steps, proxy, deadline)
            if staged.status == "download" or quarantine.started:
                wait = _left(deadline, DOWNLOAD_WAIT)
                await steps.run("downloads", quarantine.settle(wait), wait + 5)
                download_verdict(staged, quarantine)
        finally:
            closing = time.monotonic()
            await recorder.drain(10.0)
            with contextlib.suppress(PlaywrightError):
                await context.close()
            await proxy.close()
            steps.add("close_context", "ok", None, closing)
            if ids is not None:
                # Chromium's own count: a popup whose first response had not arrived counts too.
                events["popups"] = self._targets.popups(*ids)
            network_facts(staged, events, proxy, recorder, quarantine)
        if proxy.stats.budget_exceeded and staged.status == "captured":
            staged.reason = "byte budget exceeded: the capture is incomplete"
        if proxy.stats.budget_exceeded and staged.status == "failed":
            staged.reason = (
                f"byte budget of {s.max_bytes} bytes exceeded while loading the page: capture aborted"
                if "budget" in str(staged.reason)
                else f"byte budget of {s.max_bytes} bytes exceeded; {staged.reason}"
            )
        if staged.status == "captured":
            staged.files.extend(quarantine.files)
            await self._package(staged, steps, recorder)

    async def _load(
        self,
        page: Page,
        cdp: CDPSession,
        staged: StagedCapture,
        steps: Steps,
        proxy: GuardProxy,
        quarantine: Quarantine,
        secrets: frozenset[str],
    ) -> Response | None:
        s = self.settings
        await steps.run("cdp", cdp.send("Network.enable"), 10)
        arrived: set[str] = set()

        def document(request: Request) -> None:
            # A main-frame document that arrived whole; a redirect on the way finishes too, so only
            # the one the frame committed to (its URL) counts below.
            if request.is_navigation_request() and request.frame == page.main_frame:
                arrived.add(request.url)

        page.on("requestfinished", document)
        response = await steps.run(
            "navigate",
            within_budget(
                page.goto(staged.url, wait_until="load", timeout=s.page_timeout * 1000),
                proxy,
                lambda: page.main_frame.url in arrived,
            ),
            s.page_timeout + 5,
        )
        page.remove_listener("requestfinished", document)
        chain: list[dict[str, Any]] = []
        guard = None
        if response is not None:
            req = response.request.redirected_from
            while req is not None and len(chain) <= s.max_redirects:
                prior = await req.response()
                chain.insert(0, {"url": req.url, "status": prior.status if prior else None})
                req = req.redirected_from
            headers = await response.headers_array()
            staged.record.update(
                http_status=response.status,
                http_status_text=response.status_text,
                response_headers=[
                    [h["name"], redact(h["name"], h["value"], secrets) if s.storage_state else h["value"]]
                    for h in headers
                ],
                server_ip=server_ip(await response.server_addr()),
            )
            guard = next((h["value"] for h in headers if h["name"].lower() == GUARD_HEADER), None)
        staged.record["redirect_chain"] = chain
        staged.record["final_url"] = response.url if response is not None else page.url
        verdict(staged, steps, proxy, response is not None, guard)
        nav = next((x["reason"] for x in steps.done if x["step"] == "navigate" and x["reason"]), "")
        if response is None and "Download is starting" in str(nav):
            staged.status, staged.reason = "download", None
            await quarantine.wait_started(5.0)
            if quarantine.entries:
                staged.record["final_url"] = quarantine.entries[0]["url"]
        if len(chain) > s.max_redirects:
            staged.status, staged.reason = "refused", f"more than {s.max_redirects} redirects"
        return response

    async def _collect(
        self,
        page: Page,
        cdp: CDPSession,
        context: BrowserContext,
        staged: StagedCapture,
        steps: Steps,
        recorder: Recorder,
        response: Response | None,
        deadline: float,
    ) -> None:
        s, rec, folder = self.settings, staged.record, staged.folder
        if response is not None:
            await steps.run("encoding", self._encoding(page, response, staged, recorder), s.page_timeout + 10)
        await steps.run("scroll", scroll_page(page, s.scroll_steps), 30)
        facts = await steps.run("page_facts", page_facts(page), 20) or {}
        rec.update(title=facts.get("title", ""), user_agent=facts.get("user_agent", ""))
        html = await steps.run("html", page.content(), 20)
        post: asyncio.Future[dict[str, Any] | None] | None = None
        if html is not None:
            staged.files.append(stage(folder, "page.html", html.encode("utf-8"), "html", "text/html"))
            # Post context is parsed in a thread while the browser renders the screenshot.
            final = str(rec.get("final_url") or staged.url)
            post = asyncio.ensure_future(steps.run("post", asyncio.to_thread(extract_post, final, html), 30))
        shot = await steps.run("screenshot", screenshot(page, s.screenshot_max_height), 60)
        if shot is not None:
            png, info = shot
            rec["screenshot"] = info
            staged.files.append(stage(folder, "screenshot.png", png, "screenshot", "image/png"))
        text = facts.get("text")
        if isinstance(text, str):
            staged.files.append(stage(folder, "page.txt", text.encode("utf-8"), "text", "text/plain"))
        snap = await steps.run("mhtml", cdp.send("Page.captureSnapshot", {"format": "mhtml"}), 60)
        if snap is not None:
            mhtml = str(snap.get("data", "")).encode("utf-8")
            staged.files.append(stage(folder, "page.mhtml", mhtml, "mhtml", "multipart/related"))
        if post is not None:
            staged.post = await post or {}
        if any(str(v).startswith("blob:") for v in facts.get("videos") or []):
            rec["media_notes_page"] = [
                "a video played from a blob: URL (Media Source Extensions): the platform served it in "
                "pieces; the pieces are stored as the browser received them"
            ]
        named = await steps.run("media_listed", named_media(page), 10) or []
        await self._certificate(cdp, staged, steps)
        await recorder.drain(20.0)
        await steps.run("media", self._media(context, staged, recorder), 120)
        await steps.run(
            "media_whole", self._named(context, staged, named, deadline), _left(deadline, 120) + 5
        )

    async def _encoding(
        self, page: Page, response: Response, staged: StagedCapture, recorder: Recorder
    ) -> None:
        """Record the document's encoding and why; show it again as UTF-8 when the browser misread it."""
        headers = await response.all_headers()
        body: bytes | None = None
        with contextlib.suppress(PlaywrightError):
            body = await response.body()
        if body is not None and len(body) > self.settings.max_response_bytes:
            body = None  # over the per-response budget: the browser's choice stands, unchecked
        browser = str(await page.evaluate("document.characterSet"))
        found = charset.decide(headers.get("content-type", ""), body, browser)
        staged.record["encoding"] = found.as_record()
        if not found.rerender or body is None:
            return
        final = response.url
        kept = {k: v for k, v in headers.items() if k not in _REFRAMED}
        kept["content-type"] = (
            f"{headers.get('content-type', 'text/html').split(';')[0].strip()}; charset=utf-8"
        )

        async def same_bytes(route: Route) -> None:
            await route.fulfill(status=response.status, headers=kept, body=body)

        def this_document(url: str) -> bool:
            return url == final

        # The exchanges of this second showing are not evidence: the first load's are recorded.
        recorder.paused = True
        await page.route(this_document, same_bytes)
        try:
            await page.reload(wait_until="load", timeout=self.settings.page_timeout * 1000)
        finally:
            await page.unroute(this_document)
            recorder.paused = False
        staged.record["encoding"]["after"] = str(await page.evaluate("document.characterSet"))

    async def _ytdlp(self, staged: StagedCapture, steps: Steps, proxy: GuardProxy, deadline: float) -> None:
        """The optional second path for video, through this capture's proxy and budget, within the
        time the capture has left (a slow video must not cost the page its capture)."""
        s = self.settings
        final = str(staged.record.get("final_url") or staged.url)
        limit = _left(deadline, s.ytdlp_timeout)
        work = ytdlp.fetch(final, staged.folder, proxy.url, s.max_response_bytes, limit)
        got = await steps.run("ytdlp", work, limit + 5)
        if got is None:
            staged.record["ytdlp"] = {"version": ytdlp.version(), "status": "failed", "reason": "see steps"}
            return
        known = {f.sha256 for f in staged.files if f.role == "media"}
        for f in got.files:
            if f.role == "media" and f.sha256 in known:
                got.record.setdefault("same_as_browser", []).append(f.sha256)
            else:
                staged.files.append(f)
        staged.record["ytdlp"] = got.record

    async def _certificate(self, cdp: CDPSession, staged: StagedCapture, steps: Steps) -> None:
        final = str(staged.record.get("final_url") or "")
        if not final.startswith("https://"):
            staged.record["tls_certificate"] = None
            steps.add("certificate", "skipped", "not https")
            return
        origin = "/".join(final.split("/", 3)[:3])
        got = await steps.run("certificate", cdp.send("Network.getCertificate", {"origin": origin}), 10)
        facts = certificate_facts(list((got or {}).get("tableNames", [])))
        staged.record["tls_certificate"] = facts or None
        staged.record["tls_errors_ignored"] = True
        if facts:
            der = base64.b64decode(facts["der_base64"])
            staged.files.append(
                stage(staged.folder, "certificate.der", der, "certificate", "application/pkix-cert")
            )

    async def _media(self, context: BrowserContext, staged: StagedCapture, recorder: Recorder) -> None:
        """Media the browser received, whole (a medium it took in ranges is fetched again whole)."""
        s, notes = self.settings, []
        for ex, mime in recorder.media():
            body = ex.body
            if ex.status == 206 or body is None:
                got = await fetch_whole(context.request, ex.url, s.max_response_bytes, s.policy)
                if got.body is None:
                    notes.append(f"{ex.url[:300]}: served in ranges and not refetched whole ({got.reason})")
                    continue
                body = got.body
                notes.append("a medium served in ranges (206) was fetched again whole with one GET")
            if body:
                self._stage_media(staged, body, mime, ex.url)
        staged.record["media_notes"] = sorted(set(notes))

    async def _named(
        self, context: BrowserContext, staged: StagedCapture, named: list[dict[str, str]], deadline: float
    ) -> None:
        """Every medium the page names that the browser did not receive whole, fetched whole within the
        time the capture has left; the record lists each named medium and how it was kept."""
        s = self.settings
        kept = {f.url for f in staged.files if f.role == "media"}
        listed: list[dict[str, Any]] = staged.record.setdefault("media_named", [])
        if named:
            urls = list(staged.post.get("media_urls") or [])
            staged.post["media_urls"] = list(dict.fromkeys([*urls, *(e["url"] for e in named)]))
        for entry in named:
            url, how = entry["url"], "received by the browser"
            if url not in kept:
                limit = int(_left(deadline, FETCH_TIMEOUT_MS / 1000) * 1000)
                got = await fetch_whole(context.request, url, s.max_response_bytes, s.policy, limit)
                if got.body and (why := not_a_medium(got.mime, got.body)):
                    got = replace(got, body=None, reason=why)
                if got.body:
                    self._stage_media(staged, got.body, got.mime or "application/octet-stream", url)
                    kept.add(url)
                    how = "fetched whole by the capture (the browser fetched only a range or nothing)"
                else:
                    how = f"not kept: {got.reason or 'empty body'}"
            listed.append({**entry, "kept": how})

    def _stage_media(self, staged: StagedCapture, body: bytes, mime: str, url: str) -> None:
        n = sum(1 for f in staged.files if f.role == "media")
        staged.files.append(stage(staged.folder, f"media-{n:04d}", body, "media", mime, url))

    async def _package(self, staged: StagedCapture, steps: Steps, recorder: Recorder) -> None:
        rec = staged.record
        rec["transformations"] = transformations(recorder)
        if note := (rec.get("encoding") or {}).get("transformation"):
            rec["transformations"].append(note)
        rec["exchanges"] = len(recorder.exchanges)
        resources = [
            Resource(f"urn:wb:{f.role}:{f.sha256}", f.mime, f.path.read_bytes())
            for f in staged.files
            if f.role in ("screenshot", "mhtml", DOWNLOAD)
        ]
        rec["artifacts_before_warc"] = [f.as_json() for f in staged.files]
        meta = json.dumps(rec, ensure_ascii=False, sort_keys=True).encode("utf-8")
        resources.append(Resource("urn:wb:capture-record", "application/json", meta, kind="metadata"))
        warc = staged.folder / "capture.warc.gz"
        info = {
            "software": str(rec.get("tool_version")),
            "format": "WARC File Format 1.1",
            "browser": str(rec.get("browser")),
        }
        sha = await steps.run(
            "warc", asyncio.to_thread(write_warc, warc, recorder.exchanges, resources, info), 120
        )
        if sha is None:
            return
        staged.files.append(StagedFile("warc", warc, sha, warc.stat().st_size, "application/warc"))
        wacz = staged.folder / "capture.wacz"
        final = str(rec.get("final_url") or staged.url)
        page_ex = [ex for ex in recorder.exchanges if ex.url == final and ex.status < 300]
        started = page_ex[0].at if page_ex else datetime.now(UTC)
        wsha = await steps.run(
            "wacz", asyncio.to_thread(build_wacz, warc, wacz, final, str(rec.get("title", "")), started), 120
        )
        if wsha is not None:
            staged.files.append(StagedFile("wacz", wacz, wsha, wacz.stat().st_size, "application/wacz"))
