"""`wb capture`: web pages and posts into a case, with every representation a court can check.

`wb capture-target` holds the addresses an admin lets captures reach past the guard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.tools import Output, Registrar, UsageError, acting, find_case, open_home
from workbench.services.capture.profiles import set_profile

if TYPE_CHECKING:
    from collectors.web import CaptureSettings
    from workbench.services.capture.run import CaptureResult

# The browser stack (Playwright, the capture store, fingerprinting) is imported when a capture runs:
# every other `wb` command starts without it.

__all__ = ["register"]


MAX_URL_FILE = 10 << 20


def _urls(args: argparse.Namespace) -> list[str]:
    urls = list(args.urls)
    if args.file:
        path = Path(args.file)
        try:
            if path.stat().st_size > MAX_URL_FILE:
                raise UsageError(f"{path}: larger than {MAX_URL_FILE} bytes")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read: {exc}") from None
        urls += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not urls:
        raise UsageError("give at least one URL or --file")
    return urls


def _settings(args: argparse.Namespace) -> CaptureSettings:
    from collectors.guard import Policy
    from collectors.web import CaptureSettings

    if args.concurrency < 1 or args.concurrency > 8:
        raise UsageError("--concurrency must be between 1 and 8")
    policy = Policy.from_settings(args.allow)
    if not 1 <= args.max_mb <= 100_000:
        raise UsageError("--max-mb must be between 1 and 100000")
    return CaptureSettings(
        policy=policy,
        capture_timeout=max(10.0, args.timeout),
        max_bytes=args.max_mb << 20,
        max_response_bytes=min(100, args.max_mb) << 20,
        ytdlp=args.ytdlp,
    )


def cmd_capture(args: argparse.Namespace, out: Output) -> int:
    from workbench.services.capture.run import capture_urls

    urls = _urls(args)
    settings = _settings(args)
    counts = {"captured": 0, "refused": 0, "failed": 0}
    progress = _Progress(len(urls), enabled=not out.as_json and sys.stderr.isatty())

    def show(result: CaptureResult) -> None:
        counts[result.status] = counts.get(result.status, 0) + 1
        progress.step()
        if result.status != "captured":
            out.error(f"{result.url}: {result.status}: {result.reason}")
        note = " (skipped: already captured)" if result.skipped else ""
        out.record(result.as_json(), f"{result.status:9} {result.item_id or '-':20} {result.url}{note}")

    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        if args.storage_state:
            set_profile(home, case, Path(args.storage_state), by)
        capture_urls(
            home,
            case,
            urls,
            by,
            settings,
            concurrency=args.concurrency,
            again=args.again,
            on_result=show,
        )
    progress.close()
    if not out.as_json:
        out.record(
            {}, f"{counts['captured']} captured, {counts['refused']} refused, {counts['failed']} failed"
        )
    return 1 if counts["refused"] or counts["failed"] else 0


class _Progress:
    """A one-line progress bar on standard error, only on a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled

    def step(self) -> None:
        self.done += 1
        if self.enabled:
            filled = int(30 * self.done / max(1, self.total))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _targets_out(out: Output, targets: list[str]) -> None:
    for t in targets:
        out.record({"target": t}, t)
    if not out.as_json:
        out.record({}, f"{len(targets)} capture target(s) allowed")


def cmd_target_allow(args: argparse.Namespace, out: Output) -> int:
    """`wb capture-target allow HOST:PORT`."""
    from workbench.services.capture.network import allow_target

    with open_home(args) as home:
        _targets_out(out, allow_target(home, acting(home), args.target))
    return 0


def cmd_target_remove(args: argparse.Namespace, out: Output) -> int:
    """`wb capture-target remove HOST:PORT`."""
    from workbench.services.capture.network import remove_target

    with open_home(args) as home:
        _targets_out(out, remove_target(home, acting(home), args.target))
    return 0


def cmd_target_list(args: argparse.Namespace, out: Output) -> int:
    """`wb capture-target list` (admins)."""
    from workbench.services.capture.network import list_targets

    with open_home(args) as home:
        _targets_out(out, list_targets(home, acting(home)))
    return 0


def register(r: Registrar) -> None:
    """Add `wb capture`."""
    p = r.add(
        "capture", cmd_capture, "capture web pages and posts (screenshot, HTML, MHTML, WARC/WACZ, media)"
    )
    p.add_argument("--case", required=True)
    p.add_argument("urls", nargs="*", metavar="URL")
    p.add_argument("--file", help="a text file with one URL per line (# starts a comment)")
    p.add_argument("--concurrency", type=int, default=2, help="pages captured at once (default 2)")
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="let captures reach this otherwise refused address (repeatable; also $WB_CAPTURE_ALLOW)",
    )
    p.add_argument("--again", action="store_true", help="capture URLs already captured in the case anew")
    p.add_argument("--timeout", type=float, default=120.0, help="time budget per capture in seconds")
    p.add_argument("--max-mb", type=int, default=300, help="bytes one capture may receive, in MiB")
    p.add_argument(
        "--ytdlp",
        action="store_true",
        help="also fetch platform video with yt-dlp, through the same guard (off unless this or the "
        "home's setting turns it on)",
    )
    p.add_argument(
        "--storage-state",
        metavar="FILE",
        help="make FILE (Playwright storage_state JSON) the case's browser profile, then capture with it "
        "(same as `wb case profile SLUG --set FILE`; a profile is never shared between cases)",
    )

    targets = r.group(
        "capture-target", "addresses the capture guard refuses that an admin allows (HOST:PORT)"
    )
    p = r.add("allow", cmd_target_allow, "let every capture reach HOST:PORT (admins; logged)", targets)
    p.add_argument("target", metavar="HOST:PORT")
    p = r.add("remove", cmd_target_remove, "take HOST:PORT off the allowed capture targets (admins)", targets)
    p.add_argument("target", metavar="HOST:PORT")
    r.add("list", cmd_target_list, "the allowed capture targets (admins)", targets)
