"""Value types shared by the IOP model: keys, identifiers, names, periods, coded values.

Every model is an immutable pydantic model that forbids unknown fields, so a typo in an
episode file or in mapping code fails where it is written.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

__all__ = [
    "Age",
    "AgeRange",
    "Code",
    "Coding",
    "ConditionTime",
    "Day",
    "HumanName",
    "Identifier",
    "Key",
    "Model",
    "OwnRules",
    "PartialDate",
    "Period",
    "Timestamp",
    "date_text",
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


class PartialDate(date):
    """A date known to the year or to the month only (R4 ``date``/``dateTime`` allow
    ``1965`` and ``1965-03``, as a birth date or a condition's onset often is). It is a
    :class:`date` - its first day - wherever days are compared or counted, so every rule
    of the model treats it as it treated the first day before; :func:`date_text` writes
    it as given. Arithmetic and ``replace`` give a plain ``date``."""

    __slots__ = ("precision",)
    precision: Literal["year", "month"]

    def __new__(
        cls, year: int, month: int = 1, day: int = 1, precision: str | None = None
    ) -> PartialDate:
        if precision is None:  # what date arithmetic and replace() ask for: a plain day
            return date(year, month, day)  # type: ignore[return-value]
        if precision not in ("year", "month") or day != 1 or (precision == "year" and month != 1):
            raise ValueError(f"not a partial date: precision {precision!r}")
        made = super().__new__(cls, year, month, 1)
        made.precision = precision  # type: ignore[assignment]
        return made

    @classmethod
    def parse(cls, text: str) -> date | None:
        """``YYYY`` or ``YYYY-MM`` as a partial date, ``YYYY-MM-DD`` as a date; None if
        ``text`` is none of the three (or no day of the calendar)."""
        match = _PARTIAL.fullmatch(text)
        if match is None:
            return None
        year, month, day = match.groups()
        try:
            if day is not None:
                return date(int(year), int(month), int(day))
            return cls(int(year), int(month or 1), 1, "month" if month else "year")
        except ValueError:
            return None

    def text(self) -> str:
        """The date as R4 writes it: ``YYYY`` or ``YYYY-MM``."""
        if self.precision == "year":
            return f"{self.year:04d}"
        return f"{self.year:04d}-{self.month:02d}"

    def replace(self, *args: Any, **kwargs: Any) -> date:  # type: ignore[override]
        """A plain ``date`` (the replaced day is no longer a partial one)."""
        return date(self.year, self.month, 1).replace(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartialDate, (self.year, self.month, 1, self.precision))

    def __repr__(self) -> str:
        return f"PartialDate({self.text()!r})"


#: R4's date without its time: a year, a year and month, or a full date
_PARTIAL: Final = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def date_text(value: date | datetime) -> str:
    """A date as R4 writes it (``YYYY``, ``YYYY-MM`` for a :class:`PartialDate`,
    ``YYYY-MM-DD``), a timestamp in ISO 8601."""
    if type(value) is PartialDate:
        return value.text()
    return value.isoformat()


def _read_day(value: Any) -> Any:
    """An episode file's ``1965`` / ``1965-03`` as a :class:`PartialDate` (anything else
    goes on to pydantic's own date parsing and its errors)."""
    if isinstance(value, str) and len(value) < 10:
        parsed = PartialDate.parse(value)
        if parsed is not None:
            return parsed
    return value


#: A date field of the model: a full date, or a :class:`PartialDate` (year or year and
#: month), written in episode files as R4 writes it (by ``dump_episode``: a serializer
#: function here would run inside pydantic's serializer, which turns an exception raised
#: there - a SIGTERM's, among others - into a warning or an error of its own)
Day = Annotated[
    date,
    BeforeValidator(_read_day),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$",
            "description": "a date: YYYY-MM-DD, or YYYY-MM / YYYY when known only so far",
        }
    ),
]


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


class Coding(Model):
    """One more coding of the concept a :class:`Code` holds (ICD-10-CM beside SNOMED CT)."""

    system: NonEmpty
    code: NonEmpty
    display: str | None = None


class Code(Model):
    """A coded value from any code system, for codes the package has no key for.

    ``also``: the concept's other codings, in order (a Condition coded in SNOMED CT and
    ICD-10-CM); ``text``: the concept's text (the source's, even where it repeats the
    display)."""

    system: NonEmpty
    code: NonEmpty
    display: str | None = None
    also: tuple[Coding, ...] = ()
    text: str | None = None


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

    start: Day | Timestamp
    end: Day | Timestamp | None = None

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

    Two empty lists are kept, where an absent list means every one and ``[]`` means none:
    a care plan's ``teams`` (a dict with an ``intent``: the episode's teams) and an
    episode's ``diagnoses_listed`` (a dict with a ``patient``: its diagnoses)."""
    kept = "teams" if "intent" in data else "diagnoses_listed" if "patient" in data else None
    return {k: v for k, v in data.items() if v is not None and (v != [] or k == kept)}
