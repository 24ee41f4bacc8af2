"""Small readers of FHIR datatypes (dates, codings, names), keys, and the key allocator.

Everything here tolerates odd input: a value of the wrong shape reads as ``None``. The
helpers every resource family of the reader shares live here and only here: datatypes,
project codes (:func:`concept_key`), iopfhir's own identifiers (:func:`own_key`), keys
made from ids and full URLs (:func:`url_tail`, :class:`KeyAllocator`).

Imports: :mod:`iopfhir.domain` (value types), :mod:`iopfhir.terminology`,
:mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Set
from datetime import UTC, date, datetime, time
from typing import Any

from iopfhir.domain import Code, HumanName, Identifier, Period
from iopfhir.fhir.conventions import parse_identifier
from iopfhir.terminology import code_system, code_system_url

__all__ = [
    "KeyAllocator",
    "as_dict",
    "as_list",
    "codings",
    "concept_key",
    "email",
    "extension",
    "first_code",
    "human_name",
    "identifiers",
    "one_of",
    "own_key",
    "parse_date",
    "parse_moment",
    "parse_period",
    "parse_timestamp",
    "phone",
    "sanitize_key",
    "text",
    "url_tail",
]

_KEY_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,47}$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


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


def codings(concept: Any) -> Iterator[tuple[str | None, str]]:
    """``(system, code)`` of every coding of a CodeableConcept (or of a single Coding)."""
    if not isinstance(concept, dict):
        return
    items = concept.get("coding") if "coding" in concept else [concept]
    for coding in as_list(items):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            system = coding.get("system")
            yield (system if isinstance(system, str) else None), coding["code"]


def first_code(concepts: Any) -> Code | None:
    """The first coding with a system and a code, as a domain :class:`Code`."""
    for concept in as_list(concepts):
        if not isinstance(concept, dict):
            continue
        items = concept.get("coding") if "coding" in concept else [concept]
        for coding in as_list(items):
            if not isinstance(coding, dict):
                continue
            system, code = text(coding.get("system")), text(coding.get("code"))
            if system and code:
                return Code(system=system, code=code, display=text(coding.get("display")))
    return None


def concept_key(concepts: Any, system_name: str) -> str | None:
    """The code of the first coding from the project code system ``system_name`` (in one
    CodeableConcept or a list of them) that the system knows."""
    system = code_system_url(system_name)
    known = code_system(system_name)["concepts"]
    for concept in as_list(concepts):
        for sys, code in codings(concept):
            if sys == system and code in known:
                return code
    return None


def one_of(value: Any, allowed: Set[str], default: str) -> str:
    """``value`` when it is one of the ``allowed`` codes, else ``default``."""
    return value if isinstance(value, str) and value in allowed else default


def parse_date(value: Any) -> date | None:
    """A FHIR date or dateTime as a date (partial dates read as their first day)."""
    if not isinstance(value, str):
        return None
    head = value[:10] if len(value) > 10 else value
    match = _DATE.match(head)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        return date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None


def parse_timestamp(value: Any) -> datetime | None:
    """A dateTime/instant with a time as an aware datetime (UTC when no offset is given);
    a bare date reads as midnight UTC."""
    if not isinstance(value, str):
        return None
    if "T" not in value:
        day = parse_date(value)
        return datetime.combine(day, time(0), tzinfo=UTC) if day else None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_moment(value: Any) -> date | datetime | None:
    """A FHIR date as a :class:`date`, a dateTime with a time as an aware datetime."""
    if not isinstance(value, str):
        return None
    if "T" in value:
        return parse_timestamp(value)
    return parse_date(value)


def parse_period(value: Any) -> Period | None:
    """A FHIR Period as a domain Period (``None`` without a start or when disordered)."""
    if not isinstance(value, dict):
        return None
    start = parse_moment(value.get("start"))
    if start is None:
        return None
    end = parse_moment(value.get("end"))
    try:
        return Period(start=start, end=end)
    except ValueError:
        return Period(start=start)


def identifiers(resource: dict[str, Any]) -> list[Identifier]:
    """The identifiers with both a system and a value."""
    out = []
    for ident in as_list(resource.get("identifier")):
        if isinstance(ident, dict):
            system, value = text(ident.get("system")), text(ident.get("value"))
            if system and value:
                out.append(Identifier(system=system, value=value))
    return out


def human_name(resource: dict[str, Any]) -> HumanName | None:
    """The first usable name (official first); ``None`` when there is none."""
    names = [n for n in as_list(resource.get("name")) if isinstance(n, dict)]
    names.sort(key=lambda n: 0 if n.get("use") == "official" else 1)
    for name in names:
        given = [g for g in as_list(name.get("given")) if text(g)]
        family = text(name.get("family"))
        if family:
            return HumanName(family=family, given=given)
        if text(name.get("text")):
            return HumanName(family=name["text"].strip())
        if given:
            return HumanName(family=given[-1], given=given[:-1])
    return None


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


def own_key(resource: dict[str, Any], *kinds: str) -> tuple[str, str] | None:
    """``(episode key, local key)`` from iopfhir's own identifier of one of ``kinds``."""
    for ident in as_list(resource.get("identifier")):
        if isinstance(ident, dict):
            parsed = parse_identifier(ident.get("system"), ident.get("value"))
            if parsed and parsed[0] in kinds:
                return parsed[1], parsed[2]
    return None


def url_tail(url: str | None) -> str | None:
    """The last part of a full URL (the uuid of a ``urn:uuid``, the id of a RESTful URL):
    what a key is made from when a resource has no id."""
    if not url:
        return None
    if url.startswith("urn:uuid:") or url.startswith("urn:oid:"):
        return url.rsplit(":", 1)[-1]
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def sanitize_key(raw: str) -> str:
    """A domain key (``[A-Za-z0-9][A-Za-z0-9.-]{0,47}``) made from any string, deterministically.

    A string that is already a key is kept; otherwise other characters become ``-`` and a
    string too long keeps its end plus a short hash, so distinct inputs stay distinct.
    """
    if _KEY_OK.match(raw):
        return raw
    cleaned = re.sub(r"[^A-Za-z0-9.\-]+", "-", raw).strip("-.") or "x"
    if not cleaned[0].isalnum():
        cleaned = "x" + cleaned
    if cleaned != raw or len(cleaned) > 48:
        digest = hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
        if len(cleaned) > 48:
            cleaned = cleaned[: 48 - 9].rstrip("-.") + "-" + digest
    return cleaned


class KeyAllocator:
    """Unique keys within one namespace, from preferred names; deterministic in call order."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def reserve(self, key: str) -> None:
        """Mark a key as taken (keys read from our own identifiers)."""
        self._used.add(key)

    def take(self, preferred: str) -> str:
        """A free key based on ``preferred``."""
        base = sanitize_key(preferred)
        key = base
        n = 2
        while key in self._used:
            suffix = f"-{n}"
            key = base[: 48 - len(suffix)] + suffix
            n += 1
        self._used.add(key)
        return key
