"""Provenance facts: C2PA content credentials, AI-generator signatures and metadata traces.

These read what the file says about itself. Such claims can be stripped or forged by anyone who
controls the file; what they *can* show is a declaration (an AI tool saying it made the image),
a cryptographic break (credentials that no longer match the pixels) or a trace of software.
Absence of any of them means nothing, and is reported neutrally.
"""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from archive.model import Flag, FlagLabel
from detectors.base import Subject, make_flag
from detectors.metaread import Meta, exif_thumbnail, parse_exif_date, read_meta, trailing_bytes

__all__ = ["AiSignatureDetector", "C2paDetector", "MetadataTracesDetector"]

AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "compositeSynthetic")
GENERATORS = (
    "dall-e",
    "dall·e",
    "midjourney",
    "stable diffusion",
    "stablediffusion",
    "comfyui",
    "automatic1111",
    "invokeai",
    "novelai",
    "firefly",
    "imagen",
    "bing image creator",
    "leonardo.ai",
    "ideogram",
    "gpt-4o",
    "chatgpt",
    "openai",
    "sora",
    "runway",
    "gemini",
    "grok",
    "flux",
    "nano banana",
)
PNG_GENERATOR_KEYS = (
    "parameters",
    "prompt",
    "workflow",
    "dream",
    "invokeai_metadata",
    "sd-metadata",
    "generation_data",
    "negative_prompt",
)
EDITORS = (
    "photoshop",
    "lightroom",
    "gimp",
    "affinity",
    "pixelmator",
    "snapseed",
    "picsart",
    "paint.net",
    "capture one",
    "luminar",
    "canva",
    "facetune",
    "meitu",
    "photopea",
    "darktable",
    "rawtherapee",
)
_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "HEIF": "image/heic",
    "AVIF": "image/avif",
    "GIF": "image/gif",
}

C2PA_QUALITY = "corpus c2pa_ai: presence and state matched the corpus manifest on 16 of 16 files"
AI_QUALITY = (
    "Measured (bench/indicators.py): 0 of 20 untouched corpus photos flagged; the corpus holds no "
    "generator-labelled files, so recall is unmeasured"
)
THUMB_DIFFERS = "the embedded EXIF thumbnail differs from the image"
GRID = 32
WINDOW = 6
# Untouched corpus photos with thumbnails reach at most 0.20; a region replaced in the test, 0.86.
LOCAL_DIFF = 0.5
TRACES_QUALITY = "Measured (bench/indicators.py): 4 of 20 untouched corpus photos show such traces"


def _mime(subject: Subject) -> str | None:
    head = subject.data[:16]
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        return "image/avif" if head[8:12] == b"avif" else "image/heic"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(b"\xff\xd8\xff"):  # JPEG, including MPO (Pillow's name for multi-picture JPEG)
        return "image/jpeg"
    fmt = subject.format()
    return _MIME.get(fmt or "")


class C2paDetector:
    """C2PA content credentials as three separate facts: presence, signature state, declared source."""

    name: ClassVar[str] = "c2pa"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = False
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "C2PA content credentials: presence, cryptographic state, declared source"
    quality: ClassVar[str] = C2PA_QUALITY

    def detect(self, subject: Subject) -> list[Flag]:
        mime = _mime(subject)
        if mime is None:
            return [self._absent(subject, "the format is not one C2PA is read from here")]
        try:
            reader = self._reader(subject, mime)
        except Exception as exc:  # c2pa raises its own tree; each is a fact to report
            text = f"{type(exc).__name__}: {exc}"
            if "ManifestNotFound" in text or "NotSupported" in text:
                return [self._absent(subject, "no content credentials were found")]
            if "Remote" in text:
                return [self._remote(subject)]
            return [self._unreadable(subject, text[:300])]
        with reader:
            return self._facts(subject, reader)

    def _reader(self, subject: Subject, mime: str) -> Any:
        import c2pa

        config: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        anchors = subject.setting(self.name, "trust_anchors") or os.environ.get("WB_C2PA_TRUST_ANCHORS")
        if anchors:
            config["trust"] = {"trust_anchors": Path(anchors).read_text()}
        ctx = c2pa.Context(settings=c2pa.Settings.from_dict(config))
        return c2pa.Reader(mime, io.BytesIO(subject.data), context=ctx)

    def _absent(self, subject: Subject, why: str) -> Flag:
        text = (
            f"Content credentials (C2PA): absent ({why}). Most genuine photos carry none, and any "
            "upload or re-save removes them, so their absence says nothing about authenticity. "
            "Nothing is suspicious here."
        )
        return make_flag(
            self, subject, text, label=FlagLabel.INFORMATION, details={"fact": "presence", "present": False}
        )

    def _remote(self, subject: Subject) -> Flag:
        text = (
            "Content credentials (C2PA): the file points to credentials stored online. They were not "
            "fetched, because the workbench makes no outside connections; their state is unknown. "
            "This is neither a sign of editing nor of authenticity."
        )
        return make_flag(
            self,
            subject,
            text,
            label=FlagLabel.INFORMATION,
            details={"fact": "presence", "present": True, "remote": True},
        )

    def _unreadable(self, subject: Subject, error: str) -> Flag:
        text = (
            "Content credentials (C2PA) seem to be present but could not be read. A damaged manifest "
            "can come from editing, from a tool that mishandles credentials, or from transfer; it is "
            "not proof of either authenticity or manipulation."
        )
        return make_flag(
            self,
            subject,
            text,
            label=FlagLabel.INFORMATION,
            details={"fact": "presence", "present": True, "error": error},
        )

    def _facts(self, subject: Subject, reader: Any) -> list[Flag]:
        state = str(reader.get_validation_state() or "Unknown")
        results = reader.get_validation_results() or {}
        failures = sorted({f.get("code", "") for f in results.get("activeManifest", {}).get("failure", [])})
        store = json.loads(reader.json())
        active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
        sources, actions = _source_types(store)
        presence = make_flag(
            self,
            subject,
            (
                f"Content credentials (C2PA): present ({len(store.get('manifests', {}))} manifest(s)). "
                "Credentials record who signed the file and what they declared; they are claims by the "
                "signer, checked cryptographically below, not an independent proof of what the image shows."
            ),
            label=FlagLabel.INFORMATION,
            details={"fact": "presence", "present": True},
        )
        return [
            presence,
            self._signature(subject, state, failures, active),
            self._source(subject, sources, actions, len(active.get("ingredients", []))),
        ]

    def _signature(self, subject: Subject, state: str, failures: list[str], active: dict[str, Any]) -> Flag:
        untrusted = "signingCredential.untrusted" in failures
        meaning = {
            "Trusted": "the signature is intact and the signer's certificate is on the configured "
            "trust list.",
            "Valid": "the signature and hashes are intact, but the signer is not on the trust list"
            + (" (normal for test and many self-issued certificates)" if untrusted else "")
            + "; who signed is therefore not vouched for.",
            "Invalid": "the credentials do not match this file: it was changed after signing, or the "
            "manifest is damaged or forged. This shows a change, not what changed or who changed it.",
        }.get(state, "the state could not be determined.")
        text = (
            f"C2PA cryptographic state: {state} - {meaning} Failure codes: {', '.join(failures) or 'none'}."
        )
        label = FlagLabel.INDICATOR if state == "Invalid" else FlagLabel.INFORMATION
        issuer = (active.get("signature_info") or {}).get("issuer")
        return make_flag(
            self,
            subject,
            text,
            label=label,
            details={
                "fact": "signature",
                "state": state,
                "failure_codes": failures,
                "signer": issuer,
                "claim_generator": active.get("claim_generator"),
            },
        )

    def _source(self, subject: Subject, sources: list[str], actions: list[str], ingredients: int) -> Flag:
        ai = [s for s in sources if s in AI_SOURCE_TYPES]
        chain = ", ".join(actions[:12]) or "none recorded"
        text = (
            f"C2PA declared source type: {', '.join(sources) or 'none declared'}. Edit chain: {chain}; "
            f"{ingredients} ingredient(s). "
            + ("The signer declares that generative AI made or helped make this image. " if ai else "")
            + "A declaration is only as reliable as the signer and is checked only if the signature is."
        )
        return make_flag(
            self,
            subject,
            text,
            label=FlagLabel.INDICATOR if ai else FlagLabel.INFORMATION,
            details={
                "fact": "source_type",
                "digital_source_types": sources,
                "actions": actions[:50],
                "ingredients": ingredients,
            },
        )


def _source_types(store: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Declared digital source types and action names over every manifest in the store."""
    sources: set[str] = set()
    actions: list[str] = []
    for manifest in store.get("manifests", {}).values():
        for assertion in manifest.get("assertions", []):
            if not str(assertion.get("label", "")).startswith("c2pa.actions"):
                continue
            for act in (assertion.get("data") or {}).get("actions", []):
                actions.append(str(act.get("action", "?")))
                dst = act.get("digitalSourceType")
                if dst:
                    sources.add(str(dst).rsplit("/", 1)[-1])
    return sorted(sources), actions


class AiSignatureDetector:
    """Generator traces: IPTC DigitalSourceType in XMP, generator names, PNG text chunks of generators."""

    name: ClassVar[str] = "ai_signature"
    version: ClassVar[str] = "1.0"
    needs_pixels: ClassVar[bool] = False
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "AI-generator signatures in XMP, Software/CreatorTool and PNG text chunks"
    quality: ClassVar[str] = AI_QUALITY

    def detect(self, subject: Subject) -> list[Flag]:
        meta = read_meta(subject.data)
        found = _ai_traces(meta, subject.data)
        if found:
            text = (
                "AI-generator signature found: " + "; ".join(found)[:400] + ". Image generators write "
                "these labels themselves, so this strongly suggests the file passed through such a "
                f"tool, though labels can be copied into any file. {AI_QUALITY}. "
                "It is an indicator, not proof."
            )
            return [make_flag(self, subject, text, label=FlagLabel.INDICATOR, details={"traces": found})]
        text = (
            "No AI-generator signature was found (IPTC source type, generator names, generator text "
            "chunks). Platforms and re-saving strip these labels, so their absence does not show the "
            "image is camera-made."
        )
        return [make_flag(self, subject, text, label=FlagLabel.NO_INDICATION, details={"traces": []})]


def _ai_traces(meta: Meta, data: bytes) -> list[str]:
    found: list[str] = []
    for value in meta.xmp_values("Iptc4xmpExt:DigitalSourceType") + meta.xmp_values("DigitalSourceType"):
        if value.rsplit("/", 1)[-1] in AI_SOURCE_TYPES:
            found.append(f"IPTC DigitalSourceType {value.rsplit('/', 1)[-1]}")
    named: tuple[tuple[str, str | None], ...] = (
        ("Software", meta.software),
        ("CreatorTool", _first(meta.xmp_values("xmp:CreatorTool"))),
    )
    for label, tool in named:
        if tool and any(g in tool.lower() for g in GENERATORS):
            found.append(f"{label} names a generator ({tool[:60]!r})")
    keys = [k for k in meta.text_chunks if k.lower() in PNG_GENERATOR_KEYS]
    if keys:
        found.append(f"PNG text chunks written by image generators: {', '.join(sorted(keys))}")
    if b"Steps: " in data and b"Sampler: " in data and b"Seed: " in data:
        found.append("Stable Diffusion generation parameters (Steps/Sampler/Seed) embedded")
    return sorted(set(found))


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


class MetadataTracesDetector:
    """Editing software, XMP history, contradictory timestamps, thumbnail mismatch, trailing data."""

    name: ClassVar[str] = "metadata_traces"
    version: ClassVar[str] = "1.1"  # 1.1: a thumbnail that differs in one region is a trace too
    needs_pixels: ClassVar[bool] = False
    default: ClassVar[bool] = True
    summary: ClassVar[str] = "editing software, XMP history, timestamps, EXIF thumbnail, trailing data"
    quality: ClassVar[str] = TRACES_QUALITY

    def detect(self, subject: Subject) -> list[Flag]:
        meta = read_meta(subject.data)
        edits = _software(meta) + _history(meta) + _timestamps(meta) + _thumbnail(meta, subject)
        info = []
        if tail := trailing_bytes(subject.data, meta.fmt):
            info.append(f"{tail[0]} bytes after the end of the image: {tail[1]}")
        details = {"edit_traces": edits, "other_traces": info}
        if edits:
            text = (
                "Metadata shows traces of processing: " + "; ".join(edits)[:450] + ". Such traces often "
                "come from harmless steps (export, resizing, a phone's own software) and are easy to add "
                f"or remove. {TRACES_QUALITY}. They call for questions, not conclusions; this is not proof."
            )
            return [make_flag(self, subject, text, label=FlagLabel.INDICATOR, details=details)]
        text = (
            "No editing traces in the metadata (software, XMP history, timestamps, thumbnail)"
            + (f"; note: {info[0]}" if info else "")
            + ". Metadata is easily stripped or rewritten, so this does not show the image is unedited. "
            + TRACES_QUALITY
            + "."
        )
        label = FlagLabel.INFORMATION if info else FlagLabel.NO_INDICATION
        return [make_flag(self, subject, text, label=label, details=details)]


def _software(meta: Meta) -> list[str]:
    tools: list[str] = [meta.software or ""] + meta.xmp_values("xmp:CreatorTool")
    return [
        f"made or saved by editing software ({t[:60]!r})"
        for t in tools
        if any(e in t.lower() for e in EDITORS)
    ]


def _history(meta: Meta) -> list[str]:
    acts = meta.xmp_values("stEvt:action")
    agents = sorted(set(meta.xmp_values("stEvt:softwareAgent")))[:3]
    if not acts or all(a in ("created",) for a in acts):
        return []
    return [f"XMP edit history with {len(acts)} step(s) ({', '.join(sorted(set(acts)))[:80]}) by {agents}"]


def _timestamps(meta: Meta) -> list[str]:
    orig, mod = parse_exif_date(meta.original_date), parse_exif_date(meta.modify_date)
    xmp_create = parse_exif_date(_first(meta.xmp_values("xmp:CreateDate")))
    out: list[str] = []
    if orig and mod and mod - orig > timedelta(hours=15):  # beyond any time-zone slip
        out.append(f"modified {mod - orig} after it was taken")
    if orig and mod and orig - mod > timedelta(hours=15):
        out.append("the recorded modification precedes the recorded capture")
    if orig and xmp_create and abs(orig - xmp_create) > timedelta(hours=15):
        out.append("EXIF and XMP creation dates disagree")
    if orig and orig > datetime.now() + timedelta(days=1):
        out.append("the capture date lies in the future")
    return out


def _thumbnail(meta: Meta, subject: Subject) -> list[str]:
    thumb = exif_thumbnail(meta)
    if thumb is None:
        return []
    from detectors.imageio import ImageRefused, open_image

    try:
        small = open_image(thumb, max_pixels=1_000_000).convert("L")
        main = open_image(subject.data, draft=("L", small.size)).convert("L")
    except ImageRefused:
        return []
    return _thumbnail_differs(small, main)


def _thumbnail_differs(thumb: Any, main: Any) -> list[str]:
    """Compare the EXIF thumbnail with the image on a 32x32 grid, as a whole and region by region.

    Cameras write the thumbnail when they take the photo; an editor that keeps it leaves a picture of
    the image before the edit. A whole different picture shows as a low correlation; a local edit
    (a region replaced) as a 6x6-cell window whose normalised difference stays high even when each
    cell may shift by one (thumbnails are cropped or scaled slightly differently by cameras).
    """
    import numpy as np

    thumb = _trim_bars(thumb)
    ta, ma = thumb.size[0] / thumb.size[1], main.size[0] / main.size[1]
    if abs(ta - ma) / ma > 0.15 and abs(1 / ta - ma) / ma > 0.15:
        return [THUMB_DIFFERS]  # a different shape (rotation is allowed: some cameras store it turned)
    a = _z(np.asarray(thumb.resize((GRID, GRID)), dtype=np.float32))
    b = _z(np.asarray(main.resize((GRID, GRID)), dtype=np.float32))
    corr, best = max(
        ((float((a * c).mean()), c) for c in (b, np.rot90(b, 1), np.rot90(b, -1))), key=_first_of
    )
    if corr <= 0.6:
        return [THUMB_DIFFERS]
    if _local_difference(a, best) > LOCAL_DIFF:
        return [THUMB_DIFFERS + " in one region (edited after the thumbnail was written?)"]
    return []


def _first_of(pair: tuple[float, Any]) -> float:
    return pair[0]


def _z(arr: Any) -> Any:
    return (arr - arr.mean()) / (arr.std() + 1e-6)


def _local_difference(a: Any, b: Any) -> float:
    """The largest mean difference of z-scored grids over a 6x6-cell window, each cell free to shift by 1."""
    import numpy as np

    pad = np.pad(b, 1, mode="edge")
    n = a.shape[0]
    diff = np.min(
        [np.abs(a - pad[1 + dy : n + 1 + dy, 1 + dx : n + 1 + dx]) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
        axis=0,
    )
    win = np.lib.stride_tricks.sliding_window_view(diff, (WINDOW, WINDOW)).mean(axis=(2, 3))
    return float(win.max())


def _trim_bars(img: Any) -> Any:
    """Cameras letterbox thumbnails with black bars: compare only the picture inside them."""
    import numpy as np

    arr = np.asarray(img, dtype=np.float32)
    rows = np.nonzero(arr.mean(axis=1) > 8)[0]
    cols = np.nonzero(arr.mean(axis=0) > 8)[0]
    if len(rows) < 8 or len(cols) < 8:
        return img
    return img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
