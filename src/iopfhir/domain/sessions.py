"""Sessions: one scheduled meeting of the program with the patient, and what happened.

A session is scheduled, attended, a no-show or cancelled. Attended sessions carry the
actual times; group sessions list other attendees by key (family members, co-leaders).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from iopfhir.domain.common import Code, Key, Model, Timestamp
from iopfhir.domain.vocabulary import SessionKind, SessionStatus

__all__ = ["Session"]


class Session(Model):
    """One session (FHIR Appointment, plus an Encounter when it took place or is planned)."""

    key: Key
    kind: SessionKind | None = None
    kind_code: Code | None = None
    status: SessionStatus
    start: Timestamp
    end: Timestamp
    actual_start: Timestamp | None = None
    actual_end: Timestamp | None = None
    telehealth: bool = False
    facilitator: Key | None = None
    attendees: list[Key] = Field(default_factory=list)
    activity: Key | None = None
    cancel_reason: str | None = None

    @model_validator(mode="after")
    def _times(self) -> Session:
        if self.end < self.start:
            raise ValueError("@end: is before start")
        if (self.actual_start is None) != (self.actual_end is None):
            raise ValueError("@actual_end: actual_start and actual_end go together")
        if self.actual_start is not None and self.actual_end is not None:
            if self.status != "attended":
                raise ValueError(f"@actual_start: a {self.status} session has no actual times")
            if self.actual_end < self.actual_start:
                raise ValueError("@actual_end: is before actual_start")
        return self

    @property
    def delivered_minutes(self) -> int:
        """Minutes actually delivered (0 unless attended)."""
        if self.status != "attended":
            return 0
        start = self.actual_start or self.start
        end = self.actual_end or self.end
        return int((end - start).total_seconds() // 60)
