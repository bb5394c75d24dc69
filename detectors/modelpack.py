"""Model packs: a published detector an organisation obtained itself, in a documented folder.

A pack is a folder with ``manifest.json`` and the weight files it names (format in
docs/detectors.md, "Model packs"). The SHA-256 of every weight file is checked against the manifest
before anything reads the file; a mismatch is a refusal with a plain message, never a score. Weights
are loaded offline: PyTorch state dicts through ``torch.load(weights_only=True)`` (no pickled code
runs) into an architecture that an **adapter** builds, or ONNX files through ``onnxruntime``.

Adapters are small classes named in the manifest (``"adapter": "tiny_ladeda"``): ours are listed in
``ADAPTERS``; a plugin adds its own through the entry-point group ``workbench.model_adapters``, so a
stronger model needs only a manifest and, at most, a small adapter module.

The workbench ships adapters and manifests, never weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol

from archive.model import Flag
from detectors.base import DetectorError, Subject, make_flag
from detectors.calibration import Reference

__all__ = [
    "ADAPTERS",
    "ADAPTER_GROUP",
    "FORMAT",
    "Manifest",
    "ModelPackDetector",
    "PackError",
    "Scorer",
    "file_sha256",
    "find_shipped_manifest",
    "load_pack",
    "read_manifest",
    "shipped_manifests",
    "verify",
]

FORMAT = "wb-model-pack/1"
ADAPTER_GROUP = "workbench.model_adapters"
ADAPTERS = {
    "tiny_ladeda": "detectors.adapters.tiny_ladeda:TinyLaDeDaAdapter",
    "onnx_image": "detectors.adapters.onnx_image:OnnxImageAdapter",
}
TASKS = {"ai_generated": "AI-generation", "manipulated": "manipulation"}
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SHA = re.compile(r"^[0-9a-f]{64}$")
REQUIRED = ("format", "name", "version", "source", "licence", "task", "adapter", "weights", "input", "output")


class PackError(DetectorError):
    """A model pack that must not be used: a bad manifest, a missing file or a wrong SHA-256."""


class Scorer(Protocol):
    """What an adapter builds: a loaded model that scores one RGB image (uint8 HxWx3)."""

    def score(self, rgb: Any) -> float: ...


class Adapter(Protocol):
    """Builds a Scorer from a checked manifest and the paths of its (already hash-checked) weights."""

    def __call__(self, manifest: Manifest, weights: Mapping[str, Path]) -> Scorer: ...


@dataclass(frozen=True)
class Manifest:
    """A parsed, checked manifest (see docs/detectors.md for every field)."""

    name: str
    version: str
    source: str
    licence: str
    task: str
    adapter: str
    weights: dict[str, str]  # file name -> SHA-256
    input: dict[str, Any]
    output: dict[str, Any]
    stated: dict[str, Any] = field(default_factory=dict)  # the authors' stated error rates
    calibration: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def model_sha256(self) -> str:
        """The weights' SHA-256 (one file), or the SHA-256 of the per-file hashes in name order."""
        digests = [self.weights[k] for k in sorted(self.weights)]
        return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()

    def reference(self) -> Reference | None:
        """The manifest's calibration statistics (scores on untouched camera photos), if any."""
        if not self.calibration.get("scores"):
            return None
        return Reference.from_json(f"pack:{self.name}", self.calibration, kind="pack")


def parse_manifest(data: Any, where: str = "manifest.json") -> Manifest:
    """A Manifest from JSON data; anything missing or malformed is a PackError naming the field."""
    if not isinstance(data, dict):
        raise PackError(f"{where} is not a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise PackError(f"{where} lacks {', '.join(missing)}")
    if data["format"] != FORMAT:
        raise PackError(f"{where}: format {data['format']!r} is not {FORMAT!r}")
    name = str(data["name"])
    if not NAME.match(name):
        raise PackError(f"{where}: name {name!r} must be lower-case letters, digits, '.', '_' or '-'")
    if data["task"] not in TASKS:
        raise PackError(f"{where}: task must be one of {', '.join(TASKS)}")
    weights = data["weights"]
    if not isinstance(weights, list) or not weights:
        raise PackError(f"{where}: weights must list at least one {{'file', 'sha256'}}")
    files: dict[str, str] = {}
    for entry in weights:
        fname, sha = str(entry.get("file", "")), str(entry.get("sha256", "")).lower()
        if not fname or "/" in fname or "\\" in fname or fname.startswith("."):
            raise PackError(f"{where}: weight file name {fname!r} must be a plain file name in the folder")
        if not SHA.match(sha):
            raise PackError(f"{where}: the SHA-256 of {fname} must be 64 hex digits")
        files[fname] = sha
    for key in ("input", "output"):
        if not isinstance(data[key], dict):
            raise PackError(f"{where}: {key} must be an object")
    manifest = Manifest(
        name=name,
        version=str(data["version"])[:40],
        source=str(data["source"])[:400],
        licence=str(data["licence"])[:400],
        task=str(data["task"]),
        adapter=str(data["adapter"]),
        weights=files,
        input=dict(data["input"]),
        output=dict(data["output"]),
        stated=dict(data.get("stated_error_rates") or {}),
        calibration=dict(data.get("calibration") or {}),
        raw=data,
    )
    try:
        manifest.reference()
    except ValueError as exc:
        raise PackError(f"{where}: {exc}") from None
    return manifest


def read_manifest(path: Path) -> Manifest:
    """Read and check a manifest file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"cannot read the manifest {path}: {exc}") from None
    return parse_manifest(data, str(path))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(manifest: Manifest, folder: Path) -> dict[str, Path]:
    """Every weight file present with the SHA-256 the manifest states; else a PackError saying which."""
    out: dict[str, Path] = {}
    for fname, expected in sorted(manifest.weights.items()):
        path = folder / fname
        if not path.is_file():
            raise PackError(f"model pack {manifest.name}: weight file {fname} is missing from {folder}")
        got = file_sha256(path)
        if got != expected:
            raise PackError(
                f"model pack {manifest.name} refused: {fname} has SHA-256 {got}, but the manifest states "
                f"{expected}. The file is not the one the manifest describes (changed, damaged or "
                "another model); it was not loaded."
            )
        out[fname] = path
    return out


def shipped_manifests() -> list[Manifest]:
    """The manifests the workbench ships for published models (``detectors/packs/*.json``)."""
    out = []
    for entry in sorted(resources.files("detectors").joinpath("packs").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            out.append(parse_manifest(json.loads(entry.read_text()), f"shipped manifest {entry.name}"))
    return out


def find_shipped_manifest(folder: Path) -> Manifest | None:
    """A shipped manifest whose weight files are all in ``folder`` with the stated SHA-256."""
    for manifest in shipped_manifests():
        try:
            verify(manifest, folder)
        except PackError:
            continue
        return manifest
    return None


def _adapter(name: str) -> Adapter:
    target = ADAPTERS.get(name)
    if target is None:
        for ep in entry_points(group=ADAPTER_GROUP):
            if ep.name == name:
                loaded: Adapter = ep.load()
                return loaded
        known = sorted(set(ADAPTERS) | {ep.name for ep in entry_points(group=ADAPTER_GROUP)})
        raise PackError(f"no model adapter named {name!r} is installed (known: {', '.join(known)})")
    module, _, attr = target.partition(":")
    import importlib

    found: Adapter = getattr(importlib.import_module(module), attr)
    return found


@dataclass
class LoadedPack:
    manifest: Manifest
    folder: Path
    scorer: Scorer


# Loaded packs by (folder, model SHA-256): an analysis child serves a whole run, so a pack loads once.
_LOADED: dict[tuple[str, str, str, str], LoadedPack] = {}


def load_pack(folder: Path) -> LoadedPack:
    """The pack in ``folder``: manifest read, every weight's SHA-256 checked, then the model built.

    The hashes are checked on every call (a file replaced since the last load is refused), before
    the cached model is reused.
    """
    manifest = read_manifest(folder / "manifest.json")
    weights = verify(manifest, folder)
    # The built model depends on the weights, the adapter and the input spec; the manifest's other
    # fields (calibration, stated rates) are read afresh on every call.
    key = (
        str(folder.resolve()),
        manifest.model_sha256,
        manifest.adapter,
        json.dumps(manifest.input, sort_keys=True),
    )
    if key not in _LOADED:
        adapter = _adapter(manifest.adapter)
        try:
            scorer = adapter(manifest, weights)
        except PackError:
            raise
        except Exception as exc:  # a state dict that does not fit the architecture, a bad ONNX file
            raise PackError(
                f"model pack {manifest.name}: the weights do not load into adapter {manifest.adapter}: "
                f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        _LOADED[key] = LoadedPack(manifest, folder, scorer)
    return LoadedPack(manifest, folder, _LOADED[key].scorer)


def _stated_text(manifest: Manifest) -> str:
    stated = manifest.stated
    if not stated:
        return "Its authors stated no error rates."
    text = str(stated.get("summary") or "")[:300]
    return f"Stated or measured for it: {text}" if text else "Its authors stated no error rates."


class ModelPackDetector:
    """Runs every model pack registered in the home (setting ``model_pack.packs``), one flag each."""

    name: ClassVar[str] = "model_pack"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = True
    on_frames: ClassVar[bool] = True
    default: ClassVar[bool] = False  # `wb model add` turns it on
    summary: ClassVar[str] = "published models an organisation added with `wb model add` (none ships)"
    quality: ClassVar[str] = "each pack's flag states its calibration and the rates measured for it"

    def detect(self, subject: Subject) -> list[Flag]:
        packs = subject.setting(self.name, "packs") or []
        if not packs:
            raise DetectorError("no model pack is registered (wb model add FOLDER)")
        flags = []
        for entry in packs:
            folder = Path(str(entry.get("dir", "")))
            pack = load_pack(folder)
            flags.append(self._flag(subject, pack, entry))
        return flags

    def _flag(self, subject: Subject, pack: LoadedPack, entry: Mapping[str, Any]) -> Flag:
        import numpy as np

        m = pack.manifest
        raw = float(pack.scorer.score(np.asarray(subject.rgb())))
        home_cal = entry.get("calibration")
        ref = home_cal if isinstance(home_cal, Mapping) and home_cal.get("scores") else m.calibration
        meaning = str(m.output.get("meaning") or "the model's score")[:160]
        shown = f"raw score {raw:.3f}"
        if m.output.get("activation") == "sigmoid":
            shown = f"logit {raw:.2f} (sigmoid {1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, raw)))):.2f})"
        text = (
            f"Model pack {m.name} {m.version} ({TASKS[m.task]}; weights SHA-256 {m.model_sha256[:16]}...): "
            f"{shown}; {meaning}. {_stated_text(m)} Models fail on images unlike their training data and "
            "on re-encoded, resized or screenshotted files. Not proof."
        )
        details: dict[str, Any] = {
            "pack": m.name,
            "pack_version": m.version,
            "task": m.task,
            "source": m.source,
            "licence": m.licence,
            "calibration_key": f"pack:{m.name}",
        }
        if ref and ref.get("scores"):
            details["reference"] = dict(ref)
        cut = float(m.output.get("threshold", 0.0))  # the model's own cut; calibration replaces it
        return make_flag(
            self,
            subject,
            text,
            score=raw,
            threshold=cut,
            band=(cut, cut),
            model_sha256=m.model_sha256,
            details=details,
        )
