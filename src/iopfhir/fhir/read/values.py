"""Small readers of FHIR datatypes (dates, codings, names, identifiers), and the notes of
what they cannot take.

Everything here tolerates odd input: a value of the wrong shape reads as ``None``, and is
reported: a parser given ``at`` (the FHIRPath of the value, ``Patient.birthDate``) that
cannot take a value present in the input, or can take it only in part (a
time dropped from a date), calls :func:`note`, which counts ``"<path>: <reason>"`` in the
``unmapped`` counter of the read in progress (set by :func:`noting`; reasons name the
datatype and what was done, never the value). A dateTime without a time zone is kept as
written (a naive datetime) and noted, never shifted to UTC, unless the user named the time
zone of such times (:func:`noting`'s ``time_zone``: then read in it, and noted so). The
helpers every resource family of the reader shares live here and only here: datatypes,
project codes (:func:`concept_key`), iopfhir's own identifiers (:func:`own_key`); the keys
made from ids and full URLs live in :mod:`iopfhir.fhir.read.keys`.

Imports: :mod:`iopfhir.domain` (value types), :mod:`iopfhir.terminology`,
:mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from iopfhir.domain import Code, Coding, HumanName, Identifier, PartialDate, Period
from iopfhir.domain.times import localize
from iopfhir.fhir.conventions import ID_BASE, parse_identifier
from iopfhir.terminology import code_system, code_system_url, codes

__all__ = [
    "as_dict",
    "as_list",
    "codings",
    "concept_key",
    "duration_minutes",
    "email",
    "extension",
    "first_code",
    "human_name",
    "identifiers",
    "note",
    "note_telecoms",
    "noting",
    "one_of",
    "own_identifiers",
    "own_key",
    "own_key_or_none",
    "parse_date",
    "parse_moment",
    "parse_own",
    "parse_period",
    "parse_timestamp",
    "phone",
    "program_codes",
    "text",
]

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


#: the ``unmapped`` counter of the read in progress (None outside :func:`noting`)
_NOTES: ContextVar[Counter[str] | None] = ContextVar("iopfhir_read_notes", default=None)
#: the time zone the user gave for times written without an offset (set by :func:`noting`)
_ZONE: ContextVar[tzinfo | None] = ContextVar("iopfhir_read_zone", default=None)
#: an EHR's own program codes the user gave a program type for (set by :func:`noting`)
_PROGRAMS: ContextVar[Mapping[tuple[str, str], str]] = ContextVar(
    "iopfhir_read_programs", default=MappingProxyType({})
)

#: reasons, one wording each (the CLI prints them; tests match them)
NOT_A_DATE: Final = "not a valid date (dropped)"
TIME_DROPPED: Final = "dateTime read as a date (time dropped)"
NOT_A_DATETIME: Final = "not a valid dateTime (dropped)"
NO_ZONE: Final = "dateTime without a time zone (kept as written)"
NO_ZONE_GIVEN: Final = "dateTime without a time zone (read in the time zone given)"
DATE_AS_TIME: Final = "date without a time (read as midnight UTC of its first day)"
DATE_AS_LOCAL_TIME: Final = (
    "date without a time (read as midnight of its first day in the time zone given)"
)
END_BEFORE_START: Final = "period end before start (end dropped)"


@contextmanager
def noting(
    unmapped: Counter[str],
    time_zone: tzinfo | None = None,
    program_codes: Mapping[tuple[str, str], str] | None = None,
) -> Iterator[Counter[str]]:
    """Within the block, :func:`note` counts into ``unmapped``, times written without
    an offset are read in ``time_zone`` (kept as written when it is ``None``), and an
    EpisodeOfCare typed with one of ``program_codes`` (checked: an EHR's own program codes,
    :mod:`iopfhir.terminology.programs`) is of the program type given for it."""
    token = _NOTES.set(unmapped)
    zone_token = _ZONE.set(time_zone)
    programs_token = _PROGRAMS.set(MappingProxyType(dict(program_codes or {})))
    try:
        yield unmapped
    finally:
        _PROGRAMS.reset(programs_token)
        _ZONE.reset(zone_token)
        _NOTES.reset(token)


def program_codes() -> Mapping[tuple[str, str], str]:
    """The program codes of the read in progress (:func:`noting`), in the order given."""
    return _PROGRAMS.get()


def note(at: str | None, reason: str, n: int = 1) -> None:
    """Count ``n`` values at FHIRPath ``at`` that could not be taken as they are."""
    notes = _NOTES.get()
    if notes is not None and at is not None:
        notes[f"{at}: {reason}"] += n


def as_list(value: Any) -> list[Any]:
    """A list element as a list (a single value becomes a one-item list)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_dict(value: Any) -> dict[str, Any]:
    """An object element as a dict (anything else reads as an empty one)."""
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str | None:
    """A non-empty string, or ``None``."""
    return value if isinstance(value, str) and value.strip() else None


def codings(concept: Any) -> list[tuple[str | None, str]]:
    """``(system, code)`` of every coding of a CodeableConcept (or of a single Coding).

    A list, not a generator: most concepts have one coding, and the readers ask for the
    codings of most resources several times."""
    if not isinstance(concept, dict):
        return []
    items = concept.get("coding") if "coding" in concept else [concept]
    if type(items) is not list:
        items = as_list(items)
    out = []
    for coding in items:
        if isinstance(coding, dict):
            code = coding.get("code")
            if isinstance(code, str):
                system = coding.get("system")
                out.append(((system if isinstance(system, str) else None), code))
    return out


def first_code(concepts: Any, at: str | None = None) -> Code | None:
    """The first coding with a system and a code, as a domain :class:`Code`, with the other
    codings of its CodeableConcept (``also``) and the concept's text (even where it repeats
    the display): the whole concept, as R4 had it.

    ``at`` (the FHIRPath of ``concepts``): what the Code cannot hold is counted there - a
    coding without a system and a code, and, in a list of concepts where the model holds
    one, each concept after the one kept."""
    if type(concepts) is dict and type(items := concepts.get("coding")) is list and items:
        # one CodeableConcept whose first coding has both (most): what the loop finds first
        coding = items[0]
        if type(coding) is dict:
            system, code = coding.get("system"), coding.get("code")
            if type(system) is str and type(code) is str and system.strip() and code.strip():
                kept = _code(system, code, text(coding.get("display")))
                if len(items) > 1 or "text" in concepts:
                    return _whole(concepts, items, 0, kept, at)
                return kept
    listed = as_list(concepts)
    for n, concept in enumerate(listed):
        if not isinstance(concept, dict):
            continue
        items = concept.get("coding") if "coding" in concept else [concept]
        items = items if type(items) is list else as_list(items)
        for i, coding in enumerate(items):
            if not isinstance(coding, dict):
                continue
            system, code = coding.get("system"), coding.get("code")
            if (
                isinstance(system, str)
                and isinstance(code, str)
                and system.strip()
                and code.strip()
            ):
                kept = _code(system, code, text(coding.get("display")))
                if at is not None and len(listed) > n + 1:
                    note(at, "a concept after the one kept (dropped)", len(listed) - n - 1)
                return _whole(concept if "coding" in concept else {}, items, i, kept, at)
    return None


def _whole(
    concept: dict[str, Any], items: list[Any], index: int, kept: Code, at: str | None
) -> Code:
    """``kept`` (``items[index]``) with the other codings of its ``concept`` and its text;
    a coding without a system and a code is counted at ``at``."""
    also = []
    for i, coding in enumerate(items):
        if i == index:
            continue
        system = coding.get("system") if isinstance(coding, dict) else None
        code = coding.get("code") if isinstance(coding, dict) else None
        if text(system) and text(code):
            also.append(Coding(system=system, code=code, display=text(coding.get("display"))))
        elif at is not None:
            note(f"{at}.coding", "without a system and a code (dropped)")
    label = text(concept.get("text"))  # kept even when it repeats the display: written back
    if not also and label is None:
        return kept
    return kept.model_copy(update={"also": tuple(also), "text": label})


@lru_cache(maxsize=4096)
def _code(system: str, code: str, display: str | None) -> Code:
    """A :class:`Code` (frozen, so one instance may stand for every equal coding)."""
    return Code(system=system, code=code, display=display)


def concept_key(concepts: Any, system_name: str) -> str | None:
    """The code of the first coding from the project code system ``system_name`` (in one
    CodeableConcept or a list of them) that the system knows."""
    system, known = _project_system(system_name)
    for concept in as_list(concepts):
        for sys, code in codings(concept):
            if sys == system and code in known:
                return code
    return None


@lru_cache(maxsize=64)
def _project_system(name: str) -> tuple[str, dict[str, Any]]:
    """The URL and the concepts of project code system ``name`` (looked up once: the
    readers ask for a few systems on most resources)."""
    return code_system_url(name), code_system(name)["concepts"]


def one_of(value: Any, allowed: Set[str], default: str) -> str:
    """``value`` when it is one of the ``allowed`` codes, else ``default``."""
    return value if isinstance(value, str) and value in allowed else default


def parse_date(value: Any, at: str | None = None) -> date | None:
    """A FHIR date or dateTime as a date: a year or a year and month as a
    :class:`~iopfhir.domain.PartialDate` (kept as given), a dateTime's time dropped
    (noted at ``at``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        note(at, NOT_A_DATE)
        return None
    head = value[:10] if len(value) > 10 else value
    match = _DATE.match(head)
    if not match or (len(value) > 10 and value[10] != "T"):
        note(at, NOT_A_DATE)
        return None
    year, month, day = match.groups()
    try:
        if day is None:  # R4's year or year-month: kept as given (written back so)
            return PartialDate(int(year), int(month or 1), 1, "month" if month else "year")
        parsed = date(int(year), int(month), int(day))
    except ValueError:
        note(at, NOT_A_DATE)
        return None
    if len(value) > 10:
        note(at, TIME_DROPPED)
    return parsed


#: minutes per UCUM unit of a Duration (s, min, h: the terminology's ``duration_seconds``)
_MINUTES: Final = {unit: seconds / 60 for unit, seconds in codes()["duration_seconds"].items()}
#: the longest session length read (the terminology's ``session_max_minutes``: a day)
_MAX_MINUTES: Final[int] = codes()["session_max_minutes"]


def duration_minutes(value: Any, at: str) -> timedelta | None:
    """A length: a positiveInt of minutes (``Appointment.minutesDuration``) or an R4
    Duration in s, min or h (``Encounter.length``); another value is noted at ``at``."""
    if isinstance(value, dict):
        number, unit = value.get("value"), value.get("code") or value.get("unit")
        scale = _MINUTES.get(unit) if isinstance(unit, str) else None
    else:
        number, scale = value, 1.0
    minutes = 0.0
    if scale and isinstance(number, int | float) and not isinstance(number, bool):
        minutes = number * scale
    if not 0 < minutes <= _MAX_MINUTES:
        note(at, "not a duration of at most a day (dropped)")
        return None
    return timedelta(minutes=minutes)


def parse_timestamp(value: Any, at: str | None = None) -> datetime | None:
    """A dateTime/instant with a time as a datetime: aware when the input gives an offset,
    naive (kept as written, noted at ``at``) when it does not; a bare date reads as
    midnight UTC (noted). Within :func:`noting` given a time zone, a time without an offset
    and a bare date's midnight are read in that zone (noted)."""
    if value is None:
        return None
    if not isinstance(value, str):
        note(at, NOT_A_DATETIME)
        return None
    found = _TIMESTAMPS.get(value)
    if found is None:  # a session's times recur (Appointment and Encounter): parsed once
        if len(_TIMESTAMPS) >= _TIMESTAMPS_KEPT:
            _TIMESTAMPS.clear()
        found = _TIMESTAMPS[value] = _timestamp(value)
    moment, reason = found
    if reason is not None:
        zone = _ZONE.get()
        if zone is not None and moment is not None and reason in _LOCAL:
            moment, reason = localize(moment.replace(tzinfo=None), zone), _LOCAL[reason]
        note(at, reason)
    return moment


#: what a time zone given changes: the reading of a time without one, and of a bare date
_LOCAL: Final = {NO_ZONE: NO_ZONE_GIVEN, DATE_AS_TIME: DATE_AS_LOCAL_TIME}


#: text → (its datetime, the note it takes) for :func:`parse_timestamp`; bounded
_TIMESTAMPS: dict[str, tuple[datetime | None, str | None]] = {}
_TIMESTAMPS_KEPT = 4096


def _timestamp(value: str) -> tuple[datetime | None, str | None]:
    if "T" not in value:
        day = parse_date(value)
        if day is None:
            return None, NOT_A_DATETIME
        return datetime.combine(day, time(0), tzinfo=UTC), DATE_AS_TIME
    written = value.replace("Z", "+00:00")
    if "." in written:  # digits of a second past the sixth dropped (none without a ".")
        written = _FRACTION.sub(r"\1", written)
    try:
        moment = datetime.fromisoformat(written)
    except ValueError:
        return None, NOT_A_DATETIME
    return moment, (NO_ZONE if moment.tzinfo is None else None)


def parse_moment(value: Any, at: str | None = None) -> date | datetime | None:
    """A FHIR date as a :class:`date`, a dateTime with a time as a datetime."""
    if isinstance(value, str) and "T" in value:
        return parse_timestamp(value, at)
    return parse_date(value, at)


def parse_period(value: Any, at: str | None = None) -> Period | None:
    """A FHIR Period as a domain Period (``None`` without a start; a disordered end is
    dropped). Values that cannot be taken are noted at ``at.start`` / ``at.end``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        note(at, "not a Period (dropped)")
        return None
    start = parse_moment(value.get("start"), at and f"{at}.start")
    if start is None:
        if value.get("end") is not None:
            note(at, "period without a start (dropped)")
        return None
    end = parse_moment(value.get("end"), at and f"{at}.end")
    try:
        return Period(start=start, end=end)
    except (ValueError, TypeError):
        note(at, END_BEFORE_START)
        return Period(start=start)


def identifiers(resource: dict[str, Any], at: str | None = None) -> list[Identifier]:
    """The identifiers with both a system and a value (others noted at ``at``)."""
    out = []
    for ident in as_list(resource.get("identifier")):
        if isinstance(ident, dict):
            system, value = text(ident.get("system")), text(ident.get("value"))
            if system and value:
                out.append(_identifier(system, value))
                if len(ident) > 2 and at is not None:  # more than the system and value
                    for part in _IDENTIFIER_PARTS_NOT_KEPT:
                        if ident.get(part) is not None:
                            note(f"{at}.{part}", "not kept (dropped)")
                continue
        note(at, "identifier without a system and a value (dropped)")
    return out


#: the parts of an Identifier the model does not keep (it keeps the system and the value:
#: what names the record; a ``type`` such as an MRN's ``MR`` is said to be dropped)
_IDENTIFIER_PARTS_NOT_KEPT: Final = ("use", "type", "period", "assigner")


@lru_cache(maxsize=512)
def _identifier(system: str, value: str) -> Identifier:
    """An :class:`Identifier` (frozen, of two strings: one instance may stand for every
    equal one; the practitioners every patient names are read again for each, while a
    patient's own identifiers pass through: a few hundred are enough)."""
    return Identifier(system=system, value=value)


def human_name(resource: dict[str, Any], at: str | None = None) -> HumanName | None:
    """The first usable name (official first); ``None`` when there is none. Names that
    are not HumanName objects, or hold nothing usable, are noted at ``at``."""
    names = []
    for name in as_list(resource.get("name")):
        if isinstance(name, dict):
            names.append(name)
        else:
            note(at, "not a HumanName (dropped)")
    names.sort(key=lambda n: 0 if n.get("use") == "official" else 1)
    if len(names) > 1:
        note(at, "more than one name (kept the official or first)")
    for name in names:
        written = as_list(name.get("given"))
        given = [g for g in written if text(g)]
        if len(given) != len(written):
            # R4 JSON: a null in the array is a given name with only an extension (``_given``)
            empty = name.get("_given") is not None and all(g is None or text(g) for g in written)
            reason = "no value, only an extension (dropped)" if empty else "not a string (dropped)"
            note(at and f"{at}.given", reason)
        family = text(name.get("family"))
        found = None
        if family:
            found = HumanName(family=family, given=given)
        elif name.get("family") is not None:
            note(at and f"{at}.family", "not a string (dropped)")
        # the model's name has a family: without one, the text or the last given name is
        # read as it, and written back so (counted: the source had no family)
        if found is None and text(name.get("text")):
            found = HumanName(family=name["text"].strip())
            note(at and f"{at}.family", "missing (the text read as the family name)")
        elif found is None and name.get("text") is not None:
            note(at and f"{at}.text", "not a string (dropped)")
        if found is None and given:
            found = HumanName(family=given[-1], given=given[:-1])
            note(at and f"{at}.family", "missing (the last given name read as it)")
        if found is not None:
            if at is not None:
                for part in _NAME_PARTS_NOT_KEPT:
                    if name.get(part):
                        note(f"{at}.{part}", "not kept (dropped)")
            return found
    # a name holding none of these (a data-absent-reason extension only) loses nothing
    return None


#: the parts of a HumanName the model does not keep (``use`` and ``text`` say how the
#: name is used and shown, not what it is)
_NAME_PARTS_NOT_KEPT: Final = ("prefix", "suffix", "period")


def note_telecoms(resource: dict[str, Any], at: str, systems: tuple[str, ...] = ("phone",)) -> None:
    """Count the ``telecom`` entries of ``resource`` (at ``at``) the model does not hold:
    it keeps the first one with a value of each of ``systems`` (:func:`phone`,
    :func:`email`), not the others, nor a kept one's ``use``, ``rank`` or ``period``."""
    telecoms = resource.get("telecom")
    if not telecoms:
        return
    seen: set[str] = set()
    for telecom in as_list(telecoms):
        system = telecom.get("system") if isinstance(telecom, dict) else None
        system = system if type(system) is str else None  # a list or object: no system
        if system in systems and system not in seen and text(telecom.get("value")):
            seen.add(system)
            for part in ("use", "rank", "period"):
                if telecom.get(part) is not None:
                    note(f"{at}.{part}", "not kept (dropped)")
            continue
        if system in systems:
            note(at, f"another {system} after the first (dropped)")
        elif system in _TELECOM_SYSTEMS:
            note(at, f"a contact point by {system} (dropped)")
        else:
            note(at, "a contact point without a known system (dropped)")


#: R4 ``ContactPoint.system`` codes
_TELECOM_SYSTEMS: Final = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


def phone(resource: dict[str, Any]) -> str | None:
    """The first phone number in ``telecom``."""
    for telecom in as_list(resource.get("telecom")):
        if isinstance(telecom, dict) and telecom.get("system") == "phone":
            value = text(telecom.get("value"))
            if value:
                return value
    return None


def email(resource: dict[str, Any]) -> str | None:
    """The first email address in ``telecom``."""
    for telecom in as_list(resource.get("telecom")):
        if isinstance(telecom, dict) and telecom.get("system") == "email":
            value = text(telecom.get("value"))
            if value:
                return value
    return None


def extension(element: Any, url: str) -> dict[str, Any] | None:
    """The first extension with ``url`` on an element."""
    if not isinstance(element, dict):
        return None
    for ext in as_list(element.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def parse_own(ident: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(kind, episode key, local key)`` of one Identifier element iopfhir wrote, else
    ``None`` (also when its system or value is no string, as others' data may have)."""
    system, value = ident.get("system"), ident.get("value")
    if type(system) is not str or type(value) is not str:
        return None
    return parse_identifier(system, value)


def own_key(resource: dict[str, Any], *kinds: str) -> tuple[str, str] | None:
    """``(episode key, local key)`` from iopfhir's own identifier of one of ``kinds``."""
    idents = resource.get("identifier")
    if idents is None:
        return None
    for ident in idents if type(idents) is list else as_list(idents):
        if isinstance(ident, dict):
            system = ident.get("system")
            if type(system) is str and not system.startswith(ID_BASE):
                continue  # not iopfhir's (what parse_identifier answers, without the call)
            parsed = parse_identifier(system, ident.get("value"))
            if parsed and parsed[0] in kinds:
                return parsed[1], parsed[2]
    return None


def own_key_or_none(resource: dict[str, Any], *kinds: str) -> tuple[str, str] | None:
    """:func:`own_key`, or ``None`` where it raises: an identifier whose system or value is
    no string (not R4; seen in others' data) is not iopfhir's, and must not stop a read
    outside a mapping step (grouping, tagging, telling iopfhir's own data)."""
    try:
        return own_key(resource, *kinds)
    except AttributeError:
        return None


def own_identifiers(resource: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(kind, episode key, local key)`` of each of iopfhir's own identifiers of
    ``resource``, in order: what :func:`own_key` picks from (the first of its kinds).
    Raises ``AttributeError`` where :func:`own_key` would if it got there (an identifier
    whose system or value is no string)."""
    idents = resource.get("identifier")
    if idents is None:
        return []
    out = []
    for ident in idents if type(idents) is list else as_list(idents):
        if isinstance(ident, dict):
            system = ident.get("system")
            if type(system) is str and not system.startswith(ID_BASE):
                continue
            parsed = parse_identifier(system, ident.get("value"))
            if parsed:
                out.append(parsed)
    return out
