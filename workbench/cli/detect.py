"""`wb analyse`, `wb detect` and `wb detectors`: manipulation and AI-generation indicators.

Every result is an indicator with its limits written out, never a verdict; nothing here changes a
verification status.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cli.tools import Output, Registrar, UsageError, acting, find_case, open_home
from workbench.services import config

if TYPE_CHECKING:
    from archive.model import Flag
    from workbench.services.analysis.run import Analysis, Limits

# The detector stack (Pillow, numpy, the detectors' registry) loads when an analysis command runs,
# not for every `wb`.

__all__ = ["register"]


def _limits(args: argparse.Namespace) -> Limits:
    from detectors.base import registry
    from workbench.services.analysis.run import Limits

    unknown = sorted(set(args.only or []) - set(registry().names()))
    if unknown:
        raise UsageError(f"unknown detector(s): {', '.join(unknown)} (see `wb detectors`)")
    if args.time_limit <= 0 or args.memory_limit < 256:
        raise UsageError("--time-limit must be positive and --memory-limit at least 256 MB")
    return Limits(seconds=args.time_limit, memory_mb=args.memory_limit)


def _show(out: Output, name: str, analysis: Analysis) -> None:
    lines = [f"{name}  sha256 {analysis.sha256}"]
    for f in analysis.flags:
        score = "-" if f.score is None else f"{f.score:.3f}"
        where = _where(f)
        # A score inside the band is printed as "inconclusive", never as a verdict word.
        lines.append(f"  {f.detector + where:24} {f.label.value:14} score {score:>6}  {f.explanation}")
    if out.as_json:
        out.record(analysis.as_json(), "")
        return
    for line in lines:
        out.record({}, line)


def _analyse_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The home's detector settings (its model packs, calibration rate, detectors turned on or off)
    where a home exists, as the logged-in account; the environment's alone where there is none."""
    from workbench.services.analysis.run import load_settings

    if not (config.home_path(args.home) / "home.json").is_file():
        return load_settings(None)
    with open_home(args) as home:
        acting(home)
        return load_settings(home)


def cmd_analyse(args: argparse.Namespace, out: Output) -> int:
    from workbench.services.analysis.child import Runner
    from workbench.services.analysis.run import MAX_INPUT_BYTES, analyse_bytes, is_failure

    settings_ = _analyse_settings(args)
    limits = _limits(args)
    failed = 0
    with Runner(limits) as runner:  # one child for all the files, each under its own time limit
        for name in args.files:
            path = Path(name)
            try:
                with path.open("rb") as fh:
                    data = fh.read(MAX_INPUT_BYTES + 1)
            except OSError as exc:
                out.error(f"{name}: cannot read: {exc.strerror}")
                failed += 1
                continue
            analysis = analyse_bytes(data, settings_, args.only or None, limits, runner=runner)
            failed += any(is_failure(f) for f in analysis.flags)
            _show(out, name, analysis)
    return 1 if failed else 0


def cmd_detect(args: argparse.Namespace, out: Output) -> int:
    from workbench.services.analysis.run import analyse_items, is_failure

    failed = 0
    limits = _limits(args)
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        seen = []
        for item_id, analysis in analyse_items(home, case, args.items, by, "cli", args.only or None, limits):
            seen.append(item_id)
            failed += any(is_failure(f) for f in analysis.flags)
            row = analysis.as_json()
            row["item_id"] = item_id
            _show_item(out, item_id, analysis, row)
    missing = sorted(set(args.items) - set(seen))
    for item_id in missing:
        out.error(f"{item_id}: no such live item in case {args.case}")
    if missing and not seen:
        raise UsageError("none of the named items is in this case")
    return 1 if failed or missing else 0


def _where(flag: Flag) -> str:
    """The keyframe time of a video keyframe's flag (for example ' @12.40s'), else nothing."""
    frame = flag.details.get("keyframe")
    return f" @{float(frame['t']):.2f}s" if isinstance(frame, dict) else ""


def _show_item(out: Output, item_id: str, analysis: Analysis, row: dict[str, object]) -> None:
    labels = ", ".join(f"{f.detector}{_where(f)}={f.label.value}" for f in analysis.flags)
    out.record(row, f"{item_id} {analysis.sha256[:12]} {labels}")


def cmd_detectors(args: argparse.Namespace, out: Output) -> int:
    from detectors.base import on_frames, registry
    from detectors.calibration import shipped_summary
    from workbench.services.analysis.run import load_settings

    reg = registry()
    settings_ = load_settings(None)
    active = {d.name for d in reg.suite(settings_)}
    for name, cls in reg.classes().items():
        on = name in active
        calibrated = shipped_summary(name)
        out.record(
            {
                "detector": name,
                "version": cls.version,
                "default": cls.default,
                "enabled": on,
                "summary": cls.summary,
                "quality": cls.quality,
                "calibration": calibrated,
                "on_video_frames": on_frames(cls),
            },
            f"{name:16} {cls.version:5} {'on ' if on else 'off'} {cls.summary} | quality: {cls.quality}"
            + (f" | {calibrated}" if calibrated else ""),
        )
    for name, why in reg.broken.items():
        out.error(f"{name}: could not be loaded: {why}")
    return 1 if reg.broken else 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", action="append", metavar="DETECTOR", help="run only this detector (repeatable)")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per file (default 120)")
    p.add_argument("--memory-limit", type=int, default=4096, help="MB of address space per file")


def register(r: Registrar) -> None:
    """Add `wb analyse`, `wb detect` and `wb detectors`."""
    p = r.add("analyse", cmd_analyse, "run the manipulation/AI indicators on files without storing them")
    p.add_argument("files", nargs="+")
    _common(p)
    p = r.add("detect", cmd_detect, "(re)run the indicators on a case's stored items and record the flags")
    p.add_argument("--case", required=True)
    p.add_argument("items", nargs="*", help="item ids (default: every live item of the case)")
    _common(p)
    r.add("detectors", cmd_detectors, "list the detectors with version and measured quality")
