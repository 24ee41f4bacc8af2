"""Sessions: one scheduled meeting of the program with the patient, and what happened.

A session is scheduled, attended, a no-show or cancelled. Attended sessions carry the
actual times; group sessions list other attendees by key (family members, co-leaders).
"""

from __future__ import annotations

from typing import Any

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

    @model_validator(mode="before")
    @classmethod
    def _attended_times(cls, data: Any) -> Any:
        """An attended session without recorded actual times took place as planned: actual
        = planned (FHIR has one Encounter.period, so the two cannot be told apart)."""
        if (
            isinstance(data, dict)
            and data.get("status") == "attended"
            and data.get("actual_start") is None
            and data.get("actual_end") is None
            and data.get("start") is not None
            and data.get("end") is not None
        ):
            data = {**data, "actual_start": data["start"], "actual_end": data["end"]}
        return data

    @model_validator(mode="after")
    def _times(self) -> Session:
        if self.end < self.start:
            raise ValueError("@end: is before start")
        if self.kind is not None and self.kind_code is not None:
            raise ValueError("@kind_code: a session has a kind or a kind_code, not both")
        if self.cancel_reason is not None and self.status != "cancelled":
            raise ValueError("@cancel_reason: only a cancelled session has a cancel reason")
        if len(set(self.attendees)) != len(self.attendees):
            raise ValueError("@attendees: lists an attendee twice")
        if self.facilitator is not None and self.facilitator in self.attendees:
            raise ValueError("@attendees: lists the facilitator (who attends anyway)")
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
