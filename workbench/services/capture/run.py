"""Web captures into the archive: run the collector, then store what it staged.

1. Resume: a URL already captured in the case is skipped unless ``again`` (a re-capture is a new
   capture and a new sighting, so a post can be followed over time).
2. Collect: ``collectors.web`` stages files and a capture record in a folder inside the home.
3. Archive: the staged files go into the blob store (their SHA-256 is checked against the hash the
   collector took at the moment of capture), then one transaction writes the ``captures`` row, the
   page item, one item per embedded medium, sightings and custody events (ids and hashes only).
4. Detect: ``workbench.services.dedup.clusters.on_stored`` for every stored medium before returning.

The page item's original is the capture's WARC (the network evidence as received); the WACZ,
screenshot, HTML, MHTML, text, certificate, manifest and record are linked to it with their roles.
Later captures of the same post (same canonical URL) add their artifacts and a sighting to the
same page item.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from archive.db import captures, items, settings
from archive.home import Home
from archive.metadata import ExifReader
from archive.model import Case
from archive.staging import run_folder, sweep
from collectors.platforms import canonical_url
from collectors.web import CaptureSettings, StagedCapture, WebCollector
from workbench.services.access import WITHHELD, find_visible, withhold_hidden_media
from workbench.services.auth import Account, Perm, check_case, require
from workbench.services.capture.network import check_run_targets, with_network, with_refusal_hint
from workbench.services.capture.profiles import profile_of
from workbench.services.capture.store import CaptureResult, store_staged
from workbench.services.dedup import clusters as dedup

__all__ = [
    "CaptureResult",
    "already_captured",
    "as_seen",
    "capture_options",
    "capture_urls",
    "set_capture_options",
]

OPTIONS_KEY = "capture"


def capture_options(home: Home) -> dict[str, Any]:
    """The home's capture settings (``{"ytdlp": bool}``); yt-dlp is off unless turned on."""
    with home.reading() as conn:
        row = conn.execute(select(settings.c.value).where(settings.c.key == OPTIONS_KEY)).first()
    found = dict(row.value) if row is not None and isinstance(row.value, dict) else {}
    return {"ytdlp": bool(found.get("ytdlp", False))}


def set_capture_options(home: Home, by: Account | None, via: str, *, ytdlp: bool) -> None:
    """Turn the yt-dlp path on or off for every capture in this home (admins; logged)."""
    with home.transaction(by.name if by else "nobody", via) as tx:
        require(by, Perm.MANAGE_CAPTURE, tx=tx)
        tx.conn.execute(settings.delete().where(settings.c.key == OPTIONS_KEY))
        tx.conn.execute(settings.insert().values(key=OPTIONS_KEY, value={"ytdlp": ytdlp}))
        tx.event("settings.changed", details={"scope": OPTIONS_KEY, "ytdlp": ytdlp})


def already_captured(home: Home, case: Case, url: str) -> CaptureResult | None:
    """The latest successful capture of ``url`` (as given, or canonically the same) in the case."""
    keys = {url, canonical_url(url)}
    with home.reading() as conn:
        row = conn.execute(
            select(captures.c.id, captures.c.record, captures.c.final_url, captures.c.requested_url)
            .where(and_(captures.c.case_id == case.id, captures.c.status == "captured"))
            .where(captures.c.requested_url.in_(keys) | captures.c.final_url.in_(keys))
            .order_by(captures.c.started_at.desc())
        ).first()
        if row is None:
            return None
        item = conn.execute(select(items.c.id).where(items.c.id == row.record.get("item_id"))).first()
    return CaptureResult(
        url=url,
        status="captured",
        reason="already captured in this case; skipped (ask to capture again for a new capture)",
        capture_id=row.id,
        item_id=item.id if item else None,
        requested_url=row.requested_url,
        final_url=row.final_url,
        artifacts=list(row.record.get("artifacts", [])),
        post=dict(row.record.get("post", {})),
        skipped=True,
    )


def capture_urls(
    home: Home,
    case: Case,
    urls: list[str],
    by: Account,
    settings: CaptureSettings,
    *,
    concurrency: int = 2,
    again: bool = False,
    via: str = "cli",
    on_result: Callable[[CaptureResult], None] = lambda r: None,
) -> list[CaptureResult]:
    """Capture each URL (at most ``concurrency`` at once); results in the order they finish.

    The case's own browser profile, if it names one, is the only one used
    (``workbench.services.capture.profiles``), and its upstream proxy, if it names one; the home's allowed
    capture targets join the run's (``workbench.services.capture.network``). A refusal by the guard says
    how an admin allows the target; raises ``ProfileError`` when that profile changed on disk since it was
    set, and AccessDenied (logged) unless ``by`` may capture into the case, and unless it is an admin when
    ``settings`` carries targets of the run's own (``check_run_targets``)."""
    check_case(home, by, Perm.CAPTURE, case.id, via)
    check_run_targets(home, case, by, settings, via)
    settings = with_network(home, case, _with_case_profile(home, case, settings))

    def seen(result: CaptureResult) -> CaptureResult:
        if result.status == "refused":
            result = replace(result, reason=with_refusal_hint(result.url, result.reason))
        return as_seen(home, by, result)

    done = asyncio.run(
        _capture_all(
            home, case, urls, by.name, settings, concurrency, again, via, lambda r: on_result(seen(r))
        )
    )
    return [seen(r) for r in done]


def as_seen(home: Home, by: Account, result: CaptureResult) -> CaptureResult:
    """A capture's outcome as the capturing account may see it (visibility follows the bytes).

    The page item may be hidden from it (a page classified survivor-identifying, captured again or
    asked for again): then no id, file or post detail of it is given, only "restricted content
    withheld". Otherwise the entries of media hidden from it are withheld from the files listed (a
    page captured before lists, in its stored record, a photo the account may not see)."""
    if result.item_id is None:
        return result
    with home.reading() as conn:
        if find_visible(conn, by, result.item_id) is None:
            reason = f"{result.reason}; {WITHHELD}" if result.reason else WITHHELD
            return replace(result, item_id=None, artifacts=[], post={}, stored_media=[], reason=reason)
        shown = {"item_id": result.item_id, "artifacts": result.artifacts, "post": result.post}
        shown = withhold_hidden_media(conn, by, result.item_id, shown)
        media = [m for m in result.stored_media if find_visible(conn, by, m.item_id) is not None]
    return replace(result, artifacts=shown["artifacts"], post=shown["post"], stored_media=media)


def _with_case_profile(home: Home, case: Case, chosen: CaptureSettings) -> CaptureSettings:
    """The case's own profile (or none), and yt-dlp when the run or the home's setting asks for it."""
    ytdlp = chosen.ytdlp or capture_options(home)["ytdlp"]
    profile = profile_of(home, case)
    if profile is None:
        return replace(chosen, storage_state=None, storage_state_facts=None, ytdlp=ytdlp)
    return replace(
        chosen, storage_state=str(profile.path), storage_state_facts=profile.as_record(), ytdlp=ytdlp
    )


async def _capture_all(
    home: Home,
    case: Case,
    urls: list[str],
    actor: str,
    settings: CaptureSettings,
    concurrency: int,
    again: bool,
    via: str,
    on_result: Callable[[CaptureResult], None],
) -> list[CaptureResult]:
    results: list[CaptureResult] = []
    todo = _to_capture(home, case, urls, again, results, on_result)
    if not todo:
        return results
    # Pages a killed run left (they may hold since-erased items); then a folder of this run's own.
    sweep(home.area("staging"))
    with run_folder(home.area("staging")) as staging:
        return await _capture_in(
            home, case, todo, actor, settings, concurrency, via, on_result, results, staging
        )


async def _capture_in(
    home: Home,
    case: Case,
    todo: list[str],
    actor: str,
    settings: CaptureSettings,
    concurrency: int,
    via: str,
    on_result: Callable[[CaptureResult], None],
    results: list[CaptureResult],
    staging: Path,
) -> list[CaptureResult]:
    exif = ExifReader()
    # One writer thread: SQLite takes one writer at a time, and exiftool is one kept-open process.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wb-capture-store")
    gate = asyncio.Semaphore(max(1, concurrency))
    # At most one staged capture per browser slot waits for the writer, so staging stays bounded.
    backlog = asyncio.Semaphore(2 * max(1, concurrency))
    try:
        async with WebCollector(settings, work_dir=staging) as collector:

            async def one(url: str) -> None:
                async with backlog:
                    folder = Path(tempfile.mkdtemp(prefix="cap-", dir=staging))
                    try:
                        async with gate:
                            staged = await _guarded(collector, url, folder, actor, case, home)
                        # Stored outside the gate: the next page loads while this one is written.
                        loop = asyncio.get_running_loop()
                        result = await loop.run_in_executor(
                            writer, _store, home, case, staged, actor, via, exif
                        )
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                results.append(result)
                on_result(result)

            await asyncio.gather(*(one(u) for u in todo))
    finally:
        writer.shutdown(wait=True)
        exif.close()
    return results


async def _guarded(
    collector: WebCollector, url: str, folder: Path, actor: str, case: Case, home: Home
) -> StagedCapture:
    """Stage boundary: an unexpected error (a browser crash) fails this URL, not the whole run."""
    try:
        return await collector.capture(url, folder, actor, case.slug, home.custody.tool_version)
    except Exception as exc:  # recorded as the capture's reason and stored as a failed capture
        reason = f"capture error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        record = {
            "requested_url": url,
            "started_at": now,
            "ended_at": now,
            "status": "failed",
            "reason": reason,
        }
        return StagedCapture(url, "failed", reason, folder, record)


def _to_capture(
    home: Home,
    case: Case,
    urls: list[str],
    again: bool,
    results: list[CaptureResult],
    on_result: Callable[[CaptureResult], None],
) -> list[str]:
    """Resume: report URLs already captured in the case, return the ones to capture (once each)."""
    todo: list[str] = []
    for url in dict.fromkeys(urls):
        done = None if again else already_captured(home, case, url)
        if done is not None:
            results.append(done)
            on_result(done)
        else:
            todo.append(url)
    return todo


def _store(
    home: Home, case: Case, staged: StagedCapture, actor: str, via: str, exif: ExifReader
) -> CaptureResult:
    result = store_staged(home, case, staged, actor, via, exif)
    for media in result.stored_media:
        dedup.on_stored(home, case, media.item_id, media.sha256, media.mime)
    return result
