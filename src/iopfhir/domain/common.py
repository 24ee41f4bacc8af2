"""Value types shared by the IOP model: keys, identifiers, names, periods, coded values.

Every model is an immutable pydantic model that forbids unknown fields, so a typo in an
episode file or in mapping code fails where it is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "Code",
    "HumanName",
    "Identifier",
    "Key",
    "Model",
    "Period",
    "Timestamp",
    "when",
]

#: A local key: how one part of an episode names another (``therapist-1``, ``phq9-week2``).
#: Keys become parts of FHIR ids and identifiers, so they use FHIR id characters.
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,47}$")]

#: A point in time, normally with an explicit UTC offset. A naive one (no offset) is
#: accepted so that FHIR read back keeps a dateTime as written instead of guessing a zone
#: (the reader flags it); writing FHIR refuses it, as R4 requires an offset with a time.
Timestamp = datetime

NonEmpty = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]


class Model(BaseModel):
    """Base of every domain model: immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Identifier(Model):
    """A business identifier (MRN, NPI...): a namespace URI and a value."""

    system: NonEmpty
    value: NonEmpty


class HumanName(Model):
    """A person's name: family name and given names."""

    family: NonEmpty
    given: list[NonEmpty] = Field(default_factory=list)

    def text(self) -> str:
        """The name as one line (for displays; never for logs)."""
        return " ".join([*self.given, self.family])


class Code(Model):
    """A coded value from any code system, for codes the package has no key for."""

    system: NonEmpty
    code: NonEmpty
    display: str | None = None


def when(value: date | datetime) -> datetime:
    """Order dates and datetimes together: a date counts as its start in UTC, and so does
    a naive datetime (ordering only: naive and aware values cannot be compared)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    from datetime import time

    return datetime.combine(value, time(0), tzinfo=UTC)


class Period(Model):
    """A start and an optional end; the end may not come before the start."""

    start: date | Timestamp
    end: date | Timestamp | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end is not None and when(self.end) < when(self.start):
            raise ValueError("@end: is before start")
        return self


Gender = Literal["male", "female", "other", "unknown"]


def no_clinical_status_in_error(data: Any) -> Any:
    """Raw input of a record that is ``entered-in-error`` without a clinical status keeps
    none: the default (``active``) does not apply to it (R4 con-5, ait-1/ait-2)."""
    if (
        isinstance(data, dict)
        and data.get("verification_status") == "entered-in-error"
        and "clinical_status" not in data
    ):
        return {**data, "clinical_status": None}
    return data


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """A dict without the keys whose value is ``None`` or an empty list (for compact output)."""
    return {k: v for k, v in data.items() if v is not None and v != []}
