"""The analysis child process: one per run of many files, each file under its own time limit.

Parent side, ``Runner``: starts ``python -m workbench.services.analysis.child`` on first use and sends it one
file at a time (a JSON header line, then the bytes). The child answers with a length line and the
flags as JSON. If a file takes longer than ``Limits.seconds`` the child is killed (the next file
starts a new one); if the child dies (for instance at its memory limit) the file gets ``not_analysed``
flags with the reason, and the next file starts a new child. One child for many files means the
libraries (numpy, OpenCV, c2pa, torch) are imported once, and the learned detector's model is loaded
once per run (``detectors.learned`` keeps it by folder and weights hash).

Child side, ``serve``: sets its own address-space limit (RLIMIT_AS; not through ``preexec_fn``,
which is unsafe when the parent has threads, as the app's job runner does), then runs the suite on
each file it is sent (``run_media``) until its stdin closes.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from archive.model import Flag
from archive.sniff import sniff
from detectors.base import Subject, flag_from_dict, flag_to_dict, not_analysed, registry, run_detectors
from detectors.videoframes import VIDEO_SUFFIXES, AnalysedFrame, analyse_video, not_applicable

__all__ = ["Analysis", "Limits", "Runner", "all_not_analysed", "run_media", "run_suite", "serve"]

MAX_INPUT_BYTES = 500 * 1024 * 1024
CHILD_SHARE = 0.8  # of the time limit, for the child's own work; the rest covers start-up and output


@dataclass(frozen=True)
class Limits:
    """Per-file limits: seconds for each file, and the child process's address space."""

    seconds: float = 120.0
    memory_mb: int = 4096


@dataclass
class Analysis:
    """The flags for one input; ``heatmaps`` maps a flag's index to PNG bytes not yet stored.

    ``frames`` are a video's analysed keyframes (PNG bytes only when they are to be stored).
    """

    sha256: str
    flags: list[Flag]
    heatmaps: dict[int, bytes] = field(default_factory=dict)
    frames: list[AnalysedFrame] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The ``wb analyse``/``wb detect`` JSON shape (INTERFACE.md), with band, reason and keyframe."""
        keys = (
            "detector",
            "version",
            "score",
            "threshold",
            "label",
            "explanation",
            "model_sha256",
            "heatmap_sha256",
            "reason",
            "inconclusive_band",
        )
        out = []
        for flag in self.flags:
            full = flag_to_dict(flag)
            row = {k: full[k] for k in keys}
            for extra in ("fact", "keyframe", "calibration"):
                if extra in flag.details:
                    row[extra] = flag.details[extra]
            out.append(row)
        return {"sha256": self.sha256, "flags": out}


def all_not_analysed(
    sha256: str, settings_: Mapping[str, Any], only: list[str] | None, why: str
) -> list[Flag]:
    """A ``not_analysed`` flag with ``why`` for every detector of the suite."""
    return [not_analysed(d.name, d.version, sha256, why) for d in registry().suite(settings_, only)]


# -- the parent's side -----------------------------------------------------------------------------


class Runner:
    """A reusable analysis child process; use as a context manager, or call ``close``."""

    def __init__(self, limits: Limits = Limits(), scratch: Path | None = None) -> None:  # noqa: B008
        """``scratch``: where the child's working copies (a video, its keyframes) go instead of the
        system's temporary folder; an encrypted home's scratch area is in memory (``Home.area``)."""
        self.limits = limits
        self.scratch = scratch
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the child's stdin (it exits) and wait; kill it if it does not."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def pid(self) -> int | None:
        """The current child's process id (None before the first file or after a kill)."""
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is not None:
            self.close()  # the child died between files: start a fresh one rather than fail this file
        if self._proc is None:
            self._stderr = tempfile.TemporaryFile()
            env = dict(
                os.environ,
                WB_ANALYSIS_MEMORY_MB=str(self.limits.memory_mb),
                OMP_NUM_THREADS="1",
                OPENBLAS_NUM_THREADS="1",
                MKL_NUM_THREADS="1",
                HF_HUB_OFFLINE="1",
                TRANSFORMERS_OFFLINE="1",
            )
            if self.scratch is not None:
                env["TMPDIR"] = str(self.scratch)  # the child's tempfile calls write there
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "workbench.services.analysis.child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
            )
        return self._proc

    def analyse(
        self,
        data: bytes,
        sha256: str,
        settings_: Mapping[str, Any],
        only: list[str] | None = None,
        keep_frames: bool = False,
    ) -> Analysis:
        """The child's flags for ``data``; a timeout or a dead child gives ``not_analysed`` flags.

        With ``keep_frames`` the child writes a video's analysed keyframes as PNG files into a
        temporary folder made here (large frames would bloat the JSON reply), read back before it goes.
        """
        with tempfile.TemporaryDirectory(prefix="wb-frames-", dir=self.scratch) as folder:
            header: dict[str, Any] = {"settings": dict(settings_), "only": only, "size": len(data)}
            header.update(seconds=self.limits.seconds, frames_dir=folder if keep_frames else None)
            payload = self._exchange(header, data)
            if isinstance(payload, str):
                return Analysis(sha256, all_not_analysed(sha256, settings_, only, payload))
            try:
                return _parse(sha256, payload, Path(folder))
            except (ValueError, KeyError, TypeError, OSError) as exc:
                why = f"the analysis process gave an unreadable answer: {type(exc).__name__}"
                return Analysis(sha256, all_not_analysed(sha256, settings_, only, why))

    def _exchange(self, header: dict[str, Any], data: bytes) -> bytes | str:
        """The child's reply to one request, or why there is none."""
        deadline = time.monotonic() + self.limits.seconds
        mark = self._stderr_mark()
        proc = self._start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(header).encode() + b"\n")
            proc.stdin.write(data)
            proc.stdin.flush()
            return _read_reply(proc.stdout.fileno(), deadline)
        except TimeoutError:
            self._kill()
            return f"the analysis exceeded its time limit of {self.limits.seconds:g} s"
        except (OSError, EOFError, ValueError):  # BrokenPipeError: the child died; ValueError: a bad reply
            return self._failure(mark)

    def _stderr_mark(self) -> int:
        return self._stderr.tell() if self._stderr is not None else 0

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self.close()

    def _failure(self, mark: int) -> str:
        proc, code = self._proc, None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # alive but answering nonsense: end it
                proc.kill()
                code = proc.wait()
        tail = ["no message"]
        if self._stderr is not None:
            self._stderr.seek(mark)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-1:] or tail
        self._kill()
        return (
            f"the analysis process failed (exit {code}; memory limit {self.limits.memory_mb} MB?): "
            f"{tail[0][:200]}"
        )


def _read_reply(fd: int, deadline: float) -> bytes:
    """A length line and that many bytes from ``fd``, before ``deadline``."""
    buf = bytearray()
    need: int | None = None
    while need is None or len(buf) < need:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _w, _x = select.select([fd], [], [], left)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise EOFError
        buf += chunk
        if need is None and b"\n" in buf:
            line, _nl, rest = bytes(buf).partition(b"\n")
            need, buf = int(line), bytearray(rest)
    return bytes(buf[:need])


def _parse(sha: str, payload: bytes, folder: Path) -> Analysis:
    doc = json.loads(payload.decode("utf-8"))
    result = Analysis(sha, [])
    for i, raw in enumerate(doc["flags"]):
        details = dict(raw.get("details") or {})
        if png := details.pop("heatmap_png_b64", None):
            result.heatmaps[i] = base64.b64decode(png)
        result.flags.append(flag_from_dict(dict(raw, details=details)))
    for fr in doc.get("frames") or []:
        # The file name is the child's frame number, never anything taken from the input.
        png = (folder / f"{int(fr['file'])}.png").read_bytes() if fr.get("file") is not None else b""
        result.frames.append(
            AnalysedFrame(float(fr["t"]), int(fr["frame_index"]), png, str(fr["sha256"]), str(fr["decoder"]))
        )
    return result


# -- the child's side ------------------------------------------------------------------------------


def _broken(sha256: str, only: list[str] | None) -> list[Flag]:
    return [
        not_analysed(name, "?", sha256, f"the detector could not be loaded: {why}")
        for name, why in registry().broken.items()
        if not only or name in only
    ]


def run_suite(data: bytes, settings_: Mapping[str, Any], only: list[str] | None = None) -> list[Flag]:
    """The suite on an image in this process (the child's body; also used by the benchmark)."""
    subject = Subject(data, settings_)
    return run_detectors(subject, registry().suite(settings_, only)) + _broken(subject.sha256, only)


def run_media(
    data: bytes, settings_: Mapping[str, Any], only: list[str] | None = None, seconds: float = 120.0
) -> tuple[list[Flag], list[AnalysedFrame]]:
    """The suite on an image, or on a video's bytes and keyframes, within ``seconds``."""
    deadline = time.monotonic() + seconds
    mime = sniff(data[:4096])
    subject = Subject(data, settings_)
    if not mime.startswith("video/") and (mime.startswith("image/") or subject.format() is not None):
        return run_suite(data, settings_, only), []
    dets = registry().suite(settings_, only)
    flags = run_detectors(subject, [d for d in dets if not d.needs_pixels])
    if not mime.startswith("video/"):  # a PDF, a web page, audio: no pixels to analyse (not a failure)
        why = f"not an image or a video (the file's bytes say {mime})"
        skipped = [not_applicable(d, subject.sha256, why) for d in dets if d.needs_pixels]
        return flags + skipped + _broken(subject.sha256, only), []
    with tempfile.TemporaryDirectory(prefix="wb-video-") as tmp:
        # OpenCV reads from a path; the name comes from the sniffed type, never from the input.
        path = Path(tmp) / f"video{VIDEO_SUFFIXES.get(mime, '.bin')}"
        path.write_bytes(data)
        pixel = [d for d in dets if d.needs_pixels]
        more, frames = analyse_video(path, subject.sha256, settings_, pixel, deadline)
    return flags + more + _broken(subject.sha256, only), frames


def _reply(flags: list[Flag], frames: list[AnalysedFrame], frames_dir: str | None) -> bytes:
    out = []
    for flag in flags:
        row = flag_to_dict(flag)
        if isinstance(png := row["details"].pop("heatmap_png", None), bytes):
            row["details"]["heatmap_png_b64"] = base64.b64encode(png).decode()
        out.append(row)
    shown = []
    for n, f in enumerate(frames):
        if frames_dir is not None:
            (Path(frames_dir) / f"{n}.png").write_bytes(f.png)
        shown.append(
            {
                "t": f.t,
                "frame_index": f.index,
                "sha256": f.sha256,
                "decoder": f.decoder,
                "file": n if frames_dir is not None else None,
            }
        )
    return json.dumps({"flags": out, "frames": shown}).encode()


def serve() -> int:
    """The child: limit memory, then answer one request per header line until stdin closes."""
    limit = int(os.environ.get("WB_ANALYSIS_MEMORY_MB") or Limits().memory_mb) * 1024 * 1024
    registry().entry_points()  # which detectors exist is known before the limit (see there)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Answers go to a private copy of stdout; anything a library prints lands on stderr instead.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    while line := stdin.readline():
        received = time.monotonic()
        request = json.loads(line)
        size = int(request["size"])
        if size > MAX_INPUT_BYTES:
            return 2  # the parent guards sizes; a larger request is a protocol error
        data = stdin.read(size)
        seconds = float(request.get("seconds") or Limits().seconds) * CHILD_SHARE
        left = max(0.1, seconds - (time.monotonic() - received))
        flags, frames = run_media(data, request.get("settings") or {}, request.get("only"), left)
        body = _reply(flags, frames, request.get("frames_dir"))
        stdout.write(b"%d\n" % len(body) + body)
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
