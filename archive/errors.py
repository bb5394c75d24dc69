"""The one error tree: every error the workbench raises on purpose, and the exit code each one means.

It sits below everything (archive imports nothing of the other packages) so that archive, collectors,
detectors and workbench all raise from the same root. The front ends map it once: `wb`'s ``main`` turns
a ``WorkbenchError`` into one line on standard error and its ``exit_code``; the app's ``guard`` turns it
into the page's error message. Anything else that escapes is a bug, and stays a traceback.

Exit codes follow INTERFACE.md: 1 an integrity problem, or something refused or failed; 2 a usage or
configuration error, nothing changed.

    WorkbenchError (1)
    ├── InvalidRequest (2)      the request cannot be done as asked; nothing was changed
    │   ├── ConfigError (2)     the home, its keys, its settings or a service they name cannot be used
    │   │     HomeError, SigningKeyError, S3ConfigError, Locked, WrongKey, TimestampError (archive);
    │   │     UpstreamError (collectors); NotEncrypted, BadTarget, QueueError (workbench)
    │   └── CaseError, DeletionError, BagError (archive); GuardError (collectors); UsageError,
    │         ExportError, ReportError, RedactError, ConsentError, ProfileError, TranslationError,
    │         ModelsError, ReviewError -> StaleForm, StrandError, DecisionError (workbench)
    ├── AuthError (2)           who acts is not established: SessionExpired, BadAccount (services.auth)
    │   └── AccessDenied (1)    also a Refused: the account may not do this
    ├── Refused (1, logged)     the account may not do this; one access.denied event says so
    ├── IntegrityError (1)      evidence or a package does not match what was recorded
    │     TooLarge, ConvertError, CopyMismatch (archive)
    ├── StorageError (1)        the store or a file tool could not do it
    │     BlobTooLarge, BlobRetained, CopyError -> TargetNotEmpty, MetadataError, StripError (archive)
    ├── DetectorError (1)       a detector could not run on this input
    │     PackError, ImageRefused, VideoRefused, FaceDetectorUnavailable (detectors)
    └── QueueUnavailable (1)    the queue could not take a job; the job is recorded as failed (workbench)

A message speaks of the thing ("a case needs a purpose"), never of a command-line flag: app users read
it too. ``InvalidRequest(message, field="purpose")`` names the field, and the CLI adds its flag.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "DetectorError",
    "IntegrityError",
    "InvalidRequest",
    "Refused",
    "StorageError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """The root: an error the workbench raises on purpose, with the message a person reads."""

    exit_code: ClassVar[int] = 1


class InvalidRequest(WorkbenchError):
    """The request cannot be done as asked (bad input, an unknown thing); nothing was changed.

    ``field`` names what was wrong (``"purpose"``, ``"reason"``) so that a front end can point at its
    own widget or flag; the message itself never names a flag.
    """

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(InvalidRequest):
    """The home, its keys, its settings or a service they name cannot be used as configured."""


class Refused(WorkbenchError):
    """The account may not do this. ``workbench.services.auth.refuse`` and ``deny`` log the refusal as one
    ``access.denied`` event before raising it."""

    exit_code: ClassVar[int] = 1


class IntegrityError(WorkbenchError):
    """Evidence, a copy or a package does not match what was recorded."""

    exit_code: ClassVar[int] = 1


class StorageError(WorkbenchError):
    """The store, or a tool reading or rewriting a file, could not do what was asked."""

    exit_code: ClassVar[int] = 1


class DetectorError(WorkbenchError):
    """A detector could not run on this input (missing model, unsupported format)."""

    exit_code: ClassVar[int] = 1
