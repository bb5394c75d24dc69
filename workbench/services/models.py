"""Model packs in a home, and calibrations: the services behind `wb model`.

- ``add_pack``: an administrator adds a model pack folder (``detectors.modelpack``). Every weight's
  SHA-256 is checked against the manifest, the folder's manifest, weights and licence are copied
  into the home (``models/NAME``), and the pack is registered in the detector settings, so that
  every analysis runs it. A folder without ``manifest.json`` may match a manifest the workbench
  ships (Tiny-LaDeDa) by its weights' SHA-256.
- ``calibrate_pack``: an administrator replaces a pack's reference statistics with its scores on
  the organisation's own untouched photos.
- ``calibrate_case``: a case member who may judge marks photos known to be authentic, from the same
  source or device; the thresholds of every scored detector for that case are re-derived from them
  (``detectors.calibration``: raised, never lowered) and recorded in the custody log with the
  photos' hashes. ``wb detect`` in that case then uses them, and each flag says so.

Photos are analysed in the same limited child process as any analysis.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from archive.db import flags as flags_table
from archive.db import settings, utc_text, utcnow
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Case, Flag, FlagLabel
from detectors.aiview import Signal, ai_signals
from detectors.calibration import CASE_KEY, DEFAULT_RATE, LOWER_RATE, Reference, achieved_rate, shipped
from detectors.modelpack import (
    Manifest,
    PackError,
    find_shipped_manifest,
    load_pack,
    parse_manifest,
    read_manifest,
    verify,
)
from workbench.services.access import authorise, log_access
from workbench.services.auth import Account, Perm, check_case, refuse

__all__ = [
    "MIN_CASE_PHOTOS",
    "ModelsError",
    "MIN_HOME_PHOTOS",
    "PackInfo",
    "add_pack",
    "ai_view",
    "calibrate_case",
    "calibrate_pack",
    "list_packs",
    "signals_from_rows",
    "with_case_calibration",
]


class ModelsError(InvalidRequest, ValueError):
    """A request that cannot be done as asked (a missing folder, too few photos, a duplicate name)."""


DETECTORS_KEY = "detectors"  # the detector settings every analysis reads (workbench.services.analysis.run)
CASE_CAL_KEY = "calibration:case:{}"
MIN_HOME_PHOTOS = 10
MIN_CASE_PHOTOS = 3
# Adding packs and replacing their reference statistics changes every analysis of the home: only
# roles that set home-wide minimums (administrators) may do it.
HOME_PERM = Perm.SET_MINIMUMS


@dataclass(frozen=True)
class PackInfo:
    """A registered pack as `wb model list` shows it."""

    name: str
    version: str
    task: str
    model_sha256: str
    source: str
    licence: str
    calibration: str
    threshold: float | None
    rate: float | None = None  # the false-positive rate the calibration's photos can show

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _read_detector_settings(home: Home) -> dict[str, Any]:
    with home.reading() as conn:
        row = conn.execute(select(settings.c.value).where(settings.c.key == DETECTORS_KEY)).first()
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def _packs(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    section = found.get("model_pack")
    packs = section.get("packs") if isinstance(section, Mapping) else None
    return [dict(p) for p in packs] if isinstance(packs, list) else []


def _home_only(home: Home, by: Account, via: str) -> None:
    from workbench.services.auth import can

    if not can(by, HOME_PERM):
        raise refuse(home, by, HOME_PERM, via)


def _manifest_for(folder: Path, manifest_path: Path | None) -> Manifest:
    if manifest_path is not None:
        return read_manifest(manifest_path)
    if (folder / "manifest.json").is_file():
        return read_manifest(folder / "manifest.json")
    found = find_shipped_manifest(folder)
    if found is None:
        raise PackError(
            f"{folder} has no manifest.json and its files match none of the manifests the workbench "
            "ships; write a manifest (docs/detectors.md, 'Model packs') or name the manifest file to use"
        )
    return found


def add_pack(
    home: Home, by: Account, folder: Path, manifest_path: Path | None = None, via: str = "cli"
) -> PackInfo:
    """Check a pack folder's weights against its manifest, copy it into the home and register it."""
    _home_only(home, by, via)
    if not folder.is_dir():
        raise ModelsError(f"{folder} is not a folder")
    manifest = _manifest_for(folder, manifest_path)
    weights = verify(manifest, folder)  # before anything reads the weights
    if any(p["name"] == manifest.name for p in _packs(_read_detector_settings(home))):
        raise ModelsError(f"a model pack named {manifest.name} is registered already")
    target = home.area("models") / manifest.name
    if target.exists():
        shutil.rmtree(target)  # left over from an add that failed before it was registered
    target.mkdir(parents=True, mode=0o700)
    for fname, path in weights.items():
        shutil.copyfile(path, target / fname)
    for extra in ("LICENSE", "LICENCE", "LICENSE.txt"):
        if (folder / extra).is_file():
            shutil.copyfile(folder / extra, target / extra)
    manifest_text = json.dumps(manifest.raw, indent=1, sort_keys=True)
    (target / "manifest.json").write_text(manifest_text, encoding="utf-8")
    try:
        pack = load_pack(target)  # hashes checked again on the copy, then the model is built once
    except PackError:
        shutil.rmtree(target)
        raise
    entry = {
        "name": manifest.name,
        "dir": str(target),
        "model_sha256": manifest.model_sha256,
        "manifest_sha256": hashlib.sha256(manifest_text.encode()).hexdigest(),
    }
    with home.transaction(by.name, via) as tx:
        current = _locked_settings(tx.conn)
        section = dict(current.get("model_pack") or {})
        section["packs"] = [*_packs(current), entry]
        section["enabled"] = True
        current["model_pack"] = section
        _write(tx.conn, DETECTORS_KEY, current)
        tx.event(
            "model.added",
            details={
                "name": manifest.name,
                "version": manifest.version,
                "model_sha256": manifest.model_sha256,
                "manifest_sha256": entry["manifest_sha256"],
            },
        )
    return _info(pack.manifest, entry)


def _locked_settings(conn: Any) -> dict[str, Any]:
    row = conn.execute(select(settings.c.value).where(settings.c.key == DETECTORS_KEY)).first()
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def _write(conn: Any, key: str, value: Any) -> None:
    conn.execute(delete(settings).where(settings.c.key == key))
    conn.execute(settings.insert().values(key=key, value=value))


def _info(manifest: Manifest, entry: Mapping[str, Any]) -> PackInfo:
    cal = entry.get("calibration")
    ref: Reference | None
    if isinstance(cal, Mapping) and cal.get("scores"):
        ref = Reference.from_json(manifest.name, cal, kind="home")
    else:
        ref = manifest.reference()
    return PackInfo(
        name=manifest.name,
        version=manifest.version,
        task=manifest.task,
        model_sha256=manifest.model_sha256,
        source=manifest.source,
        licence=manifest.licence,
        calibration=f"{ref.name} ({ref.ident}, n={ref.n})" if ref else "none: every score is uncalibrated",
        threshold=ref.threshold() if ref else None,
        rate=achieved_rate(ref.n, DEFAULT_RATE) if ref else None,
    )


def list_packs(home: Home, by: Account) -> list[PackInfo]:
    """The registered packs (any logged-in account may see which models run; they hold no case data)."""
    out = []
    for entry in _packs(_read_detector_settings(home)):
        try:
            manifest = read_manifest(Path(entry["dir"]) / "manifest.json")
        except PackError as exc:
            out.append(
                PackInfo(entry["name"], "?", "?", entry.get("model_sha256", "?"), "", "", str(exc), None)
            )
            continue
        out.append(_info(manifest, entry))
    return out


def _scores(
    home: Home, photos: Sequence[bytes], only: list[str] | None, extra: Mapping[str, Any] | None = None
) -> dict[str, list[float]]:
    """Raw scores per calibration key (detector name or ``pack:NAME``), analysed in the limited child."""
    from workbench.services.analysis.child import Runner
    from workbench.services.analysis.run import analyse_bytes, load_settings

    settings_ = dict(load_settings(home), **(extra or {}))
    settings_.pop(CASE_KEY, None)
    out: dict[str, list[float]] = {}
    with Runner(scratch=home.area("scratch")) as runner:
        for data in photos:
            for flag in analyse_bytes(data, settings_, only, runner=runner).flags:
                if flag.score is None or flag.label.value in ("not_analysed", "information"):
                    continue
                key = str(flag.details.get("calibration_key") or flag.detector)
                out.setdefault(key, []).append(float(flag.score))
    return out


def calibrate_pack(home: Home, by: Account, name: str, photos: Sequence[bytes], via: str = "cli") -> PackInfo:
    """Replace a pack's reference statistics with its scores on the organisation's untouched photos."""
    _home_only(home, by, via)
    if len(photos) < MIN_HOME_PHOTOS:
        raise ModelsError(
            f"a pack calibration needs at least {MIN_HOME_PHOTOS} untouched photos, got {len(photos)}"
        )
    current = _read_detector_settings(home)
    entry = next((p for p in _packs(current) if p["name"] == name), None)
    if entry is None:
        raise ModelsError(f"no model pack named {name} (see wb model list)")
    only = {"model_pack": dict(current.get("model_pack") or {}, packs=[entry], enabled=True)}
    got = _scores(home, photos, ["model_pack"], only).get(f"pack:{name}", [])
    if len(got) < MIN_HOME_PHOTOS:
        raise ModelsError(f"only {len(got)} of the photos could be scored; {MIN_HOME_PHOTOS} are needed")
    hashes = sorted(hashlib.sha256(p).hexdigest() for p in photos)
    with home.transaction(by.name, via) as tx:
        event = tx.event(
            "model.calibrated",
            details={"name": name, "model_sha256": entry["model_sha256"], "n": len(got), "photos": hashes},
        )
        cal = {
            "name": f"{len(got)} untouched photos calibrated by {by.name} on {utc_text(utcnow())[:10]}",
            "scores": sorted(got),
            "id": f"custody {event.event_id[:12]}",
        }
        locked = _locked_settings(tx.conn)
        section = dict(locked.get("model_pack") or {})
        section["packs"] = [dict(p, calibration=cal) if p["name"] == name else p for p in _packs(locked)]
        locked["model_pack"] = section
        _write(tx.conn, DETECTORS_KEY, locked)
        entry = dict(entry, calibration=cal)
    return _info(read_manifest(Path(entry["dir"]) / "manifest.json"), entry)


@dataclass(frozen=True)
class CaseCalibration:
    """What a case calibration set: per detector, the photos' thresholds and the ones now in force."""

    event_id: str
    n_photos: int
    thresholds: dict[str, dict[str, float]]  # key -> {"case": t, "shipped": t or None, "used": t}

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "n_photos": self.n_photos, "thresholds": self.thresholds}


def _reference_for(key: str, settings_: Mapping[str, Any]) -> Reference | None:
    if not key.startswith("pack:"):
        return shipped(key)
    for entry in _packs(settings_):
        if f"pack:{entry['name']}" == key:
            cal = entry.get("calibration")
            if isinstance(cal, Mapping) and cal.get("scores"):
                return Reference.from_json(key, cal, kind="home")
            return read_manifest(Path(entry["dir"]) / "manifest.json").reference()
    return None


def _item_photos(home: Home, by: Account, case: Case, item_ids: Sequence[str], via: str) -> list[bytes]:
    """The bytes of the case's items named, each checked visible to ``by`` (a refusal is logged)."""
    from workbench.services.analysis.run import MAX_INPUT_BYTES

    out = []
    for item_id in item_ids:
        row = authorise(home, by, item_id, Perm.READ, via)
        if row.case_id != case.id:
            raise ModelsError(f"item {item_id} is not in case {case.slug}")
        with home.blobs.open(row.sha256) as fh:
            out.append(fh.read(MAX_INPUT_BYTES + 1))
    return out


def calibrate_case(
    home: Home,
    by: Account,
    case: Case,
    photos: Sequence[bytes],
    via: str = "cli",
    item_ids: Sequence[str] = (),
) -> CaseCalibration:
    """Re-derive the case's thresholds from photos known to be authentic (same source or device):
    files given (``photos``) and the case's own items marked authentic (``item_ids``)."""
    check_case(home, by, Perm.JUDGE, case.id, via)
    photos = [*photos, *_item_photos(home, by, case, item_ids, via)]
    if len(photos) < MIN_CASE_PHOTOS:
        raise ModelsError(
            f"a case calibration needs at least {MIN_CASE_PHOTOS} authentic photos, got {len(photos)}"
        )
    found = _scores(home, photos, None)
    usable = {k: v for k, v in found.items() if len(v) >= MIN_CASE_PHOTOS}
    if not usable:
        raise ModelsError("no scored detector could score the photos (are they images?)")
    hashes = sorted(hashlib.sha256(p).hexdigest() for p in photos)
    current = _read_detector_settings(home)
    thresholds: dict[str, dict[str, float]] = {}
    for key, scores in sorted(usable.items()):
        ref = _reference_for(key, current)
        case_t = Reference(key, "", tuple(sorted(scores))).threshold(DEFAULT_RATE)
        entry = {"case": case_t, "used": max(case_t, ref.threshold(DEFAULT_RATE)) if ref else case_t}
        if ref is not None:
            entry["shipped"] = ref.threshold(DEFAULT_RATE)
        thresholds[key] = entry
    with home.transaction(by.name, via) as tx:
        event = tx.event(
            "calibration.case_set",
            case_id=case.id,
            details={
                "photos": hashes,
                "items": sorted(item_ids),
                "n": len(photos),
                "detectors": sorted(usable),
                "thresholds": {k: round(v["used"], 4) for k, v in thresholds.items()},
                "rate": DEFAULT_RATE,
                "lower_rate": LOWER_RATE,
            },
        )
        name = f"case {case.slug}, {len(photos)} photos marked authentic by {by.name}"
        value = {
            "event_id": event.event_id,
            "photos": hashes,
            "detectors": {
                k: {"name": name, "scores": sorted(v), "id": f"custody {event.event_id[:12]}"}
                for k, v in usable.items()
            },
        }
        _write(tx.conn, CASE_CAL_KEY.format(case.id), value)
    return CaseCalibration(event.event_id, len(photos), thresholds)


def _case_calibration(home: Home, case_id: int) -> dict[str, Any] | None:
    """The case's calibration as stored, or None: a section of the detector settings (JSON, as the
    detectors read it: ``detectors.calibration.CASE_KEY``), not a record of its own."""
    with home.reading() as conn:
        row = conn.execute(
            select(settings.c.value).where(settings.c.key == CASE_CAL_KEY.format(case_id))
        ).first()
    return dict(row.value) if row is not None and isinstance(row.value, dict) else None


def with_case_calibration(home: Home, case_id: int, settings_: Mapping[str, Any]) -> dict[str, Any]:
    """Detector settings with the case's calibration added (``detectors.calibration.CASE_KEY``)."""
    out = dict(settings_)
    found = _case_calibration(home, case_id)
    if found is not None:
        out[CASE_KEY] = found
    return out


def parse_manifest_text(text: str) -> Manifest:
    """A manifest from its JSON text (for tests and tools)."""
    return parse_manifest(json.loads(text))


def ai_view(home: Home, by: Account, item_id: str, via: str = "cli") -> list[Signal]:
    """The item's AI-generation signals from its latest stored flags, listed apart, never merged.

    The item must be visible to ``by`` (``access.authorise``; a refusal is logged). Reading it is
    logged as a view (``item.viewed``), as opening the item is.
    """
    row = log_access(home, by, item_id, "item.viewed", via)
    with home.reading() as conn:
        rows = conn.execute(
            select(flags_table).where(flags_table.c.input_sha256 == row.sha256).order_by(flags_table.c.id)
        ).mappings()
        return signals_from_rows([dict(r) for r in rows])


def signals_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Signal]:
    """The AI-generation view of stored flag rows (oldest first): the latest flag per detector and
    fact or pack counts. For rows a service already read for an account (the app's item page)."""
    latest: dict[tuple[str, str], Flag] = {}
    for r in rows:
        details = dict(r["details"] or {})
        key = (str(r["detector"]), str(details.get("fact") or details.get("pack") or ""))
        latest[key] = Flag(
            detector=str(r["detector"]),
            version=str(r["version"]),
            input_sha256=str(r["input_sha256"]),
            label=FlagLabel(r["label"]),
            explanation=str(r["explanation"]),
            score=r["score"],
            threshold=r["threshold"],
            model_sha256=r["model_sha256"],
            details=details,
        )
    return ai_signals(latest.values())
