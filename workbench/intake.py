"""One way into the archive for every front end.

`wb ingest` (paths), the app's uploads (run as background jobs) and the web capture all store what
they bring through the same rules:

- files, folders and zips go through ``workbench.pipeline``: a zip is stored as an original and
  each member becomes its own item naming the zip as its container, whether it came from a path or
  an upload; the same refusals (empty, unreadable, a name claiming media over other bytes, unsafe
  zip members, over a limit), the same ``item.ingested`` / ``sighting.added`` events, the same
  metadata sidecar and near-duplicate fingerprints before the call returns;
- content erased from the case is never brought back: ``archive.ingest.prior_item`` refuses it
  and writes one ``ingest.refused`` event, for ingest, upload and capture alike (the capture's
  media go through it in ``workbench.capture_store``);
- follow-up analysis of what a background job stored is queued by ``workbench.jobs`` for uploads
  and captures alike; `wb ingest` leaves it to `wb detect` (INTERFACE.md, "Timing").

Front ends (commands, pages, jobs) call the functions here or in ``workbench.pipeline`` and add no
rules of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from archive.home import Home
from archive.ingest import IngestResult
from archive.metadata import ExifReader
from archive.model import Case
from collectors.files import offer_saved
from workbench.auth import Account
from workbench.pipeline import Offer, ingest_offers, ingest_paths

__all__ = ["ingest_paths", "ingest_uploads"]


def ingest_uploads(
    home: Home,
    case: Case,
    folder: Path,
    files: list[Mapping[str, Any]],
    by: Account,
    via: str = "job",
    on_progress: Callable[[float], None] | None = None,
    exif: ExifReader | None = None,
) -> list[IngestResult]:
    """Files the app saved as ``folder/N`` (``files``: their names as uploaded and their ``n``), taken
    exactly as `wb ingest` takes files: a zip is expanded into its members. Raises AccessDenied
    (logged) unless ``by`` may capture into the case."""

    def offers() -> Iterator[Offer]:
        for k, f in enumerate(files):
            yield offer_saved(folder / str(int(f["n"])), str(f["name"]), {"uploaded_via": "app"})
            if on_progress is not None:
                on_progress(k / max(1, len(files)))

    results = list(ingest_offers(home, case, offers(), by, via, exif))
    if on_progress is not None:
        on_progress(1.0)
    return results
