"""The Detector protocol, the subject it analyses, the flag helpers and the registry.

A detector is a small class with ``name``, ``version`` and one method, ``detect(subject)``, that
returns ``archive.model.Flag`` records. Detectors are found through the entry-point group
``workbench.detectors`` (our own are registered there too, as datasette registers its defaults),
so the registry imports a detector's module only when it is asked for; modules keep heavy
libraries (OpenCV, c2pa, torch) inside functions.

Errors: ``DetectorError`` (a detector could not run) and ``detectors.imageio.ImageRefused`` (the
bytes were not decoded). The runner turns both into ``not_analysed`` flags, never a score.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from archive.errors import DetectorError
from archive.model import Flag, FlagLabel
from detectors import calibration
from detectors.imageio import ImageRefused, open_image, probe

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_EXPLANATION_WORDS",
    "Detector",
    "DetectorError",
    "Registry",
    "Subject",
    "flag_from_dict",
    "flag_to_dict",
    "label_for",
    "make_flag",
    "not_analysed",
    "on_frames",
    "registry",
    "run_detectors",
    "word_count",
]

ENTRY_POINT_GROUP = "workbench.detectors"
MAX_EXPLANATION_WORDS = 150
MIN_SIDE = 64  # pixel statistics on smaller images are noise
NOT_PROOF = "It is an indicator for a person to weigh, not proof."


@dataclass
class Subject:
    """The bytes under analysis, with a lazily decoded image shared by all detectors of a run."""

    data: bytes
    settings: Mapping[str, Any] = field(default_factory=dict)
    _image: Any = None
    _refused: str | None = None
    _sha256: str | None = None
    _gray: Any = None
    _rgb: Any = None

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.data).hexdigest()
        return self._sha256

    def format(self) -> str | None:
        """Pillow's format name from the header, or None when the bytes are not an image."""
        try:
            return probe(io.BytesIO(self.data))[0]
        except ImageRefused:
            return None

    def image(self) -> Image.Image:
        """The decoded image (guarded by ``open_image``), in RGB; raises ``ImageRefused``."""
        if self._refused is not None:
            raise ImageRefused(self._refused)
        if self._image is None:
            try:
                img = open_image(self.data)
            except ImageRefused as exc:
                self._refused = str(exc)
                raise
            self._image = img if img.mode == "RGB" else img.convert("RGB")
        return self._image  # type: ignore[no-any-return]

    def rgb(self) -> np.ndarray[Any, Any]:
        """The decoded image as a read-only uint8 RGB array, made once per run and shared."""
        import numpy as np

        if self._rgb is None:
            self._rgb = np.asarray(self.image())
            self._rgb.flags.writeable = False
        rgb: np.ndarray[Any, Any] = self._rgb
        return rgb

    def gray(self) -> np.ndarray[Any, Any]:
        """Luminance as float32, the array OpenCV and numpy work on (never decoded by OpenCV)."""
        import numpy as np

        if self._gray is None:  # cached: every pixel detector of a run reads the same array
            self._gray = np.asarray(self.image().convert("L"), dtype=np.float32)
            self._gray.flags.writeable = False  # shared by every detector of the run
        gray: np.ndarray[Any, Any] = self._gray
        return gray

    def setting(self, detector: str, key: str, default: Any = None) -> Any:
        """A detector's setting from ``settings[detector][key]``."""
        section = self.settings.get(detector)
        if isinstance(section, Mapping):
            return section.get(key, default)
        return default


@runtime_checkable
class Detector(Protocol):
    """One analysis: bytes in, flags out. No database, no network."""

    name: ClassVar[str]
    version: ClassVar[str]
    needs_pixels: ClassVar[bool]
    default: ClassVar[bool]
    summary: ClassVar[str]
    quality: ClassVar[str]

    def detect(self, subject: Subject) -> list[Flag]: ...


def word_count(text: str) -> int:
    return len(text.split())


def label_for(score: float, band: tuple[float, float]) -> FlagLabel:
    """Above the band: indicator; inside it: inconclusive; below it: no indication."""
    low, high = band
    if score >= high:
        return FlagLabel.INDICATOR
    if score > low:
        return FlagLabel.INCONCLUSIVE
    return FlagLabel.NO_INDICATION


def make_flag(
    det: type[Detector] | Detector,
    subject: Subject,
    explanation: str,
    *,
    score: float | None = None,
    threshold: float | None = None,
    band: tuple[float, float] | None = None,
    label: FlagLabel | None = None,
    details: Mapping[str, Any] | None = None,
    model_sha256: str | None = None,
    heatmap: bytes | None = None,
) -> Flag:
    """A Flag with the label derived from the band; explanations longer than 150 words are refused."""
    if word_count(explanation) > MAX_EXPLANATION_WORDS:
        raise DetectorError(f"{det.name}: explanation has {word_count(explanation)} words (max 150)")
    if label is None:
        if score is None or band is None:
            raise DetectorError(f"{det.name}: a flag without a label needs a score and a band")
        label = label_for(score, band)
    extra = dict(details or {})
    if heatmap is not None:
        extra["heatmap_png"] = heatmap  # taken out by the runner and stored as a derived artifact
    return Flag(
        detector=det.name,
        version=det.version,
        input_sha256=subject.sha256,
        label=label,
        explanation=explanation,
        score=None if score is None else round(float(score), 4),
        threshold=threshold,
        inconclusive_band=band,
        model_sha256=model_sha256,
        details=extra,
    )


def not_analysed(name: str, version: str, sha256: str, reason: str) -> Flag:
    """The flag for an input a detector did not analyse: a reason, never a score."""
    return Flag(
        detector=name,
        version=version,
        input_sha256=sha256,
        label=FlagLabel.NOT_ANALYSED,
        explanation=f"Not analysed: {reason}. No score was produced, so nothing can be read from it.",
        reason=reason,
    )


def flag_to_dict(flag: Flag) -> dict[str, Any]:
    """JSON-ready form (the ``wb analyse`` shape plus band, reason and details)."""
    return {
        "detector": flag.detector,
        "version": flag.version,
        "input_sha256": flag.input_sha256,
        "score": flag.score,
        "threshold": flag.threshold,
        "inconclusive_band": list(flag.inconclusive_band) if flag.inconclusive_band else None,
        "label": flag.label.value,
        "explanation": flag.explanation,
        "model_sha256": flag.model_sha256,
        "heatmap_sha256": flag.heatmap_sha256,
        "reason": flag.reason,
        "details": dict(flag.details),
    }


def flag_from_dict(data: Mapping[str, Any]) -> Flag:
    band = data.get("inconclusive_band")
    return Flag(
        detector=str(data["detector"]),
        version=str(data["version"]),
        input_sha256=str(data["input_sha256"]),
        label=FlagLabel(data["label"]),
        explanation=str(data["explanation"]),
        score=data.get("score"),
        threshold=data.get("threshold"),
        inconclusive_band=(float(band[0]), float(band[1])) if band else None,
        model_sha256=data.get("model_sha256"),
        heatmap_sha256=data.get("heatmap_sha256"),
        reason=data.get("reason"),
        details=dict(data.get("details") or {}),
    )


class Registry:
    """Detectors by name, loaded from the entry-point group on first use."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._classes: dict[str, type[Detector]] | None = None
        self._points: list[EntryPoint] | None = None
        self.broken: dict[str, str] = {}

    def entry_points(self) -> list[EntryPoint]:
        """The group's entry points, listed once. The analysis child lists them before it limits its
        memory: under the limit importlib.metadata's folder scans fail silently and find nothing, which
        would look like a suite without detectors rather than detectors that could not be loaded."""
        if self._points is None:
            self._points = sorted(entry_points(group=self.group), key=lambda e: e.name)
        return self._points

    def classes(self) -> dict[str, type[Detector]]:
        if self._classes is None:
            found: dict[str, type[Detector]] = {}
            for ep in self.entry_points():
                try:
                    found[ep.name] = ep.load()
                except Exception as exc:  # a broken plugin must not stop the others
                    self.broken[ep.name] = f"{type(exc).__name__}: {exc}"
            self._classes = found
        return self._classes

    def names(self) -> list[str]:
        return list(self.classes())

    def suite(self, settings: Mapping[str, Any], only: list[str] | None = None) -> list[Detector]:
        """Instances of the detectors to run: the named ones, else those enabled by default or setting."""
        out: list[Detector] = []
        for name, cls in self.classes().items():
            section = settings.get(name)
            enabled = section.get("enabled", cls.default) if isinstance(section, Mapping) else cls.default
            if (only and name in only) or (not only and enabled):
                out.append(cls())
        return out


def on_frames(det: type[Detector] | Detector) -> bool:
    """Whether a detector is meaningful on a decoded video frame (optional ``on_frames`` attribute).

    Detectors that read JPEG compression history (ELA, grid, ghost, tables) say False: a decoded
    frame carries only the video codec's traces. Plugins without the attribute are not run on frames.
    """
    return bool(getattr(det, "on_frames", False))


def run_detectors(subject: Subject, dets: list[Detector]) -> list[Flag]:
    """Each detector on one subject; a refusal or a failure becomes that detector's ``not_analysed`` flag."""
    flags: list[Flag] = []
    for det in dets:
        try:
            if det.needs_pixels and min(subject.image().size) < MIN_SIDE:
                width, height = subject.image().size
                why = f"the image is {width}x{height} pixels, too small"
                flags.append(not_analysed(det.name, det.version, subject.sha256, why))
                continue
            # Scores are placed among untouched camera photos (detectors.calibration) and
            # relabelled by the calibrated thresholds; detectors without reference statistics pass.
            flags.extend(calibration.apply(f, subject.settings) for f in det.detect(subject))
        except ImageRefused as exc:
            why = str(exc) if "MemoryError" not in str(exc) else _failure(MemoryError(str(exc)))
            flags.append(not_analysed(det.name, det.version, subject.sha256, why))
        except Exception as exc:  # stage boundary: one failing detector does not stop the others
            flags.append(not_analysed(det.name, det.version, subject.sha256, _failure(exc)))
    return flags


def _failure(exc: Exception) -> str:
    # Under the analysis's address-space limit, running out shows as MemoryError or as a library
    # that cannot be mapped ("failed to map segment"): say which limit was hit.
    text = f"{type(exc).__name__}: {str(exc)[:200]}"
    if isinstance(exc, MemoryError) or "failed to map segment" in str(exc):
        return f"the detector ran out of memory (the analysis's memory limit): {text}"
    return f"the detector failed: {text}"


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY
