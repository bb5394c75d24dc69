"""`wb model add|list|calibrate`: model packs and calibrations (services in ``workbench.services.models``).

A model pack whose weights do not match its manifest's SHA-256 is refused (exit 1); nothing of it
is loaded or registered.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.tools import Output, Registrar, UsageError, acting, find_case, open_home

if TYPE_CHECKING:
    from workbench.services import models

# Model packs and the detector stack load when a model command runs, not for every `wb`.

__all__ = ["register"]


def _photos(folder: str) -> list[bytes]:
    """The regular files directly in ``folder`` (sorted, hidden ones left out)."""
    from workbench.services.analysis.run import MAX_INPUT_BYTES

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{folder} is not a folder")
    out = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        with path.open("rb") as fh:
            out.append(fh.read(MAX_INPUT_BYTES + 1))
    if not out:
        raise UsageError(f"{folder} holds no files")
    return out


def _rate(info: models.PackInfo) -> str:
    if info.rate is None:
        return ""
    few = " (too few photos to show 5%)" if info.rate > 0.05 + 1e-9 else ""
    return f" (false-positive rate at most {info.rate:.1%} on photos like those{few})"


def _show(out: Output, info: models.PackInfo) -> None:
    threshold = "-" if info.threshold is None else f"{info.threshold:.3g}"
    if out.as_json:
        out.record(info.as_json(), "")
        return
    for line in (
        f"{info.name} {info.version}  {info.task}  weights sha256 {info.model_sha256}",
        f"  indicator above {threshold}{_rate(info)}; calibration: {info.calibration}",
        f"  source: {info.source}",
        f"  licence: {info.licence}",
    ):
        out.record({}, line)


def _run(out: Output, fn: object) -> int:
    from detectors.modelpack import PackError

    try:
        return int(fn())  # type: ignore[operator]
    except PackError as exc:
        out.error(f"wb: refused: {exc}")
        return 1


def cmd_add(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import models

    def go() -> int:
        with open_home(args) as home:
            by = acting(home)
            manifest = Path(args.manifest) if args.manifest else None
            _show(out, models.add_pack(home, by, Path(args.folder), manifest))
        return 0

    return _run(out, go)


def cmd_list(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import models

    with open_home(args) as home:
        by = acting(home)
        packs = models.list_packs(home, by)
    for info in packs:
        _show(out, info)
    if not packs and not out.as_json:
        out.record({}, "no model pack is registered (wb model add FOLDER)")
    return 0


def cmd_calibrate(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import models

    def go() -> int:
        with open_home(args) as home:
            by = acting(home)
            photos = _photos(args.authentic) if args.authentic else []
            if args.case:
                case = find_case(home, args.case)
                done = models.calibrate_case(home, by, case, photos, item_ids=args.item or [])
                for key, t in done.thresholds.items():
                    shipped = t.get("shipped")
                    was = "-" if shipped is None else f"{shipped:.4g}"
                    line = (
                        f"{key:28} authentic photos' threshold {t['case']:.4g}; shipped {was}; "
                        f"in force for the case {t['used']:.4g}"
                    )
                    out.record(dict(t, detector=key, event_id=done.event_id), line)
                out.record(
                    {}, f"case {case.slug}: calibration of {done.n_photos} photos, custody {done.event_id}"
                )
                return 0
            if not args.name or not photos or args.item:
                raise UsageError(
                    "a pack calibration takes NAME and --authentic DIR; --item needs --case SLUG"
                )
            _show(out, models.calibrate_pack(home, by, args.name, photos))
        return 0

    return _run(out, go)


def cmd_signals(args: argparse.Namespace, out: Output) -> int:
    from workbench.services import models

    with open_home(args) as home:
        signals = models.ai_view(home, acting(home), args.item)
    for s in signals:
        found = {True: "FOUND", False: "not found", None: "-"}[s.found]
        if s.label == "inconclusive":  # a weak trace or a score in the band: neither found nor absent
            found = "inconclusive"
        out.record(s.as_json(), f"{s.signal}: {found}; {s.what} | {s.strength}")
    if not out.as_json:
        out.record(
            {}, "Each signal stands alone; together they are not a verdict, and none changes the status."
        )
    return 0


def register(r: Registrar) -> None:
    """Add `wb model add|list|calibrate`."""
    group = r.group("model", "model packs (published detectors you obtained) and calibrations")
    p = r.add("add", cmd_add, "check a model pack's SHA-256 and register it (admins)", group)
    p.add_argument("folder", help="folder with manifest.json and the weight files")
    p.add_argument("--manifest", help="manifest file, when the folder has none")
    r.add("list", cmd_list, "the registered model packs, their hashes and calibrations", group)
    p = r.add(
        "calibrate",
        cmd_calibrate,
        "re-derive thresholds from untouched photos: a pack's (admins), or a case's (every scored detector)",
        group,
    )
    p.add_argument("name", nargs="?", help="model pack name (not needed with --case)")
    p.add_argument("--authentic", metavar="DIR", help="folder of photos known to be authentic")
    p.add_argument(
        "--item",
        action="append",
        metavar="ID",
        help="with --case: a case item known to be authentic (repeatable)",
    )
    p.add_argument("--case", help="calibrate this case's thresholds (photos from the same source or device)")
    p = r.add(
        "signals", cmd_signals, "an item's AI-generation signals, each with its strength (no verdict)", group
    )
    p.add_argument("item", help="item id")
