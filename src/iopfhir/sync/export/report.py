"""What an export gives back: :class:`ExportReport`, :class:`ExportedFile`,
:class:`ExportProgress`, and the error it raises, :class:`ExportError`.

Counts, local file names and the server's error issues (scrubbed of credentials): never
patient data, never a token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iopfhir.errors import Issue, SyncError

__all__ = ["ExportError", "ExportProgress", "ExportReport", "ExportedFile", "ProgressCallback"]


class ExportError(SyncError):
    """A Bulk Data export could not complete; ``report`` says what was downloaded."""

    default_code = "incomplete"


@dataclass(frozen=True, slots=True)
class ExportedFile:
    """One file of the manifest as it is in the output folder.

    ``path`` is relative to the folder (``Patient.ndjson``, ``error/OperationOutcome.ndjson``);
    ``fetched`` is False when an earlier run had already downloaded it (a resumed export).
    """

    type: str
    path: str
    bytes: int
    lines: int
    error: bool = False
    fetched: bool = True


@dataclass(frozen=True, slots=True)
class ExportProgress:
    """One step: ``phase`` is ``kickoff``, ``poll`` (``note``: the server's X-Progress,
    shortened), ``download`` (``done`` of ``total`` files) or ``complete``."""

    phase: str
    done: int = 0
    total: int | None = None
    note: str = ""


ProgressCallback = Callable[[ExportProgress], None]


@dataclass
class ExportReport:
    """What :func:`~iopfhir.sync.export.export` did.

    ``status_url``: the server's status endpoint of the job; ``transaction_time``: the
    manifest's (the ``_since`` of the next incremental export); ``files``: every output and
    error file, in manifest order; ``resources``: lines (resources) per type in the output
    files; ``issues``: the error files' OperationOutcome issues; ``failed``: local paths of
    files that did not pass the size checks (a rerun fetches them again); ``resumed``: an
    unfinished export in the folder was continued; ``polls``: status requests sent;
    ``deleted``: the job was deleted on the server afterwards.
    """

    out_dir: Path
    status_url: str | None = None
    transaction_time: str | None = None
    requires_access_token: bool = False
    files: list[ExportedFile] = field(default_factory=list)
    resources: Counter[str] = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resumed: bool = False
    polls: int = 0
    deleted: bool = False

    @property
    def fetched(self) -> int:
        """Files downloaded by this run."""
        return sum(1 for f in self.files if f.fetched)

    def summary(self) -> dict[str, Any]:
        """Counts only, for ``iopfhir export``'s last line."""
        return {
            "transaction_time": self.transaction_time,
            "files": len(self.files),
            "fetched": self.fetched,
            "error_files": sum(1 for f in self.files if f.error),
            "resources": dict(sorted(self.resources.items())),
            "issues": len(self.issues),
            "failed": len(self.failed),
            "resumed": self.resumed,
            "deleted": self.deleted,
        }
