"""Value types shared by the IOP model: keys, identifiers, names, periods, coded values.

Every model is an immutable pydantic model that forbids unknown fields, so a typo in an
episode file or in mapping code fails where it is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "Age",
    "AgeRange",
    "Code",
    "ConditionTime",
    "HumanName",
    "Identifier",
    "Key",
    "Model",
    "OwnRules",
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


class OwnRules(Model):
    """A model whose own rules (:meth:`check`) run once, when it is made: a model holding
    it (an :class:`~iopfhir.domain.Episode`) does not run them again, as it would a
    ``model_validator(mode="after")`` (pydantic runs those again for every model instance
    a field receives). A ``model_copy(update=...)`` is not checked: call :meth:`check` on
    it, or give its fields to the holder to validate."""

    def model_post_init(self, context: Any, /) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``ValueError`` (``@field: message``) if the model breaks one of its rules."""


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
    return datetime.combine(value, _MIDNIGHT, tzinfo=UTC)


#: the start of a day, for :func:`when` (made once: it is asked of every date ordered)
_MIDNIGHT = time(0)


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


class Age(Model):
    """An age (R4 ``Age``: a UCUM quantity in years, months, weeks, days, hours, minutes)."""

    value: float = Field(ge=0)
    unit: Literal["a", "mo", "wk", "d", "h", "min"] = "a"


class AgeRange(Model):
    """A range of ages (R4 ``Range`` of ``Age``s); at least one bound."""

    low: Age | None = None
    high: Age | None = None

    @model_validator(mode="after")
    def _bound(self) -> AgeRange:
        if self.low is None and self.high is None:
            raise ValueError("@low: an age range has a low or a high bound")
        return self


class ConditionTime(Model):
    """When a condition began or ended, in a form other than a date (R4 ``onset[x]`` /
    ``abatement[x]``: a ``Period``, an ``Age``, a ``Range`` of ages or a ``string``).
    Exactly one of the four is set; a plain date is given as a date instead."""

    period: Period | None = None
    age: Age | None = None
    age_range: AgeRange | None = None
    text: NonEmpty | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ConditionTime:
        given = [f for f in ("period", "age", "age_range", "text") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("@period: give exactly one of period, age, age_range, text")
        return self


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
    """A dict without the keys whose value is ``None`` or an empty list (for compact output).

    One empty list is kept: a care plan's ``teams`` (a dict with an ``intent``), where an
    absent list means every team of the episode and ``[]`` means none."""
    plan = "intent" in data
    return {k: v for k, v in data.items() if v is not None and (v != [] or (plan and k == "teams"))}
