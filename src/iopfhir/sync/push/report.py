"""What a push did: :class:`PushReport`, its planned requests and its conflicts.

Plain values filled in by the steps of a push (:mod:`.run`); no I/O. Imports only
:mod:`iopfhir.errors` and :mod:`iopfhir.sync.capabilities` (the write mode).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from iopfhir.errors import Issue
from iopfhir.sync.capabilities import WriteMode

__all__ = ["ConflictDetail", "PlannedRequest", "PushReport"]


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One write a push sends (or would send): method and URL path, never a body."""

    method: str
    url: str
    chunk: int

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True, slots=True)
class ConflictDetail:
    """A resource another client changed in the same elements we change."""

    resource: str
    elements: tuple[str, ...]


@dataclass
class PushReport:
    """What a push did. :meth:`summary` is the five counts; the rest are details.

    ``failed`` counts resources not written because of an error (including those of
    chunks not attempted after a failed one). ``not_accepted`` counts, per type, the
    resources the server does not take (``not_accepted_reasons`` says why); they are not
    in the five counts.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    round_trips: int = 0
    mode: WriteMode = "transaction"
    dry_run: bool = False
    total: int = 0
    chunks: int = 0
    chunks_written: int = 0
    not_accepted: Counter[str] = field(default_factory=Counter)
    not_accepted_reasons: dict[str, str] = field(default_factory=dict)
    dropped_references: int = 0
    merged: list[str] = field(default_factory=list)
    conflicts: list[ConflictDetail] = field(default_factory=list)
    written: list[tuple[str, str]] = field(default_factory=list)
    not_written: list[str] = field(default_factory=list)
    matched_existing: int = 0
    planned: list[PlannedRequest] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def writes(self) -> int:
        """Resources created or updated."""
        return self.created + self.updated

    def summary(self) -> dict[str, int]:
        """``{"created", "updated", "unchanged", "failed", "round_trips"}``."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "round_trips": self.round_trips,
        }

    def to_json(self) -> str:
        """The summary as one JSON object."""
        return orjson.dumps(self.summary()).decode()

    def details(self) -> dict[str, Any]:
        """Everything but the planned requests, JSON-ready (no patient data)."""
        return {
            **self.summary(),
            "mode": self.mode,
            "dry_run": self.dry_run,
            "total": self.total,
            "chunks": self.chunks,
            "chunks_written": self.chunks_written,
            "not_accepted": dict(self.not_accepted),
            "not_accepted_reasons": self.not_accepted_reasons,
            "dropped_references": self.dropped_references,
            "merged": self.merged,
            "conflicts": [
                {"resource": c.resource, "elements": list(c.elements)} for c in self.conflicts
            ],
            "matched_existing": self.matched_existing,
            "not_written": self.not_written,
            "issues": [str(i) for i in self.issues],
        }
