"""Times written without a UTC offset, and the time zone a user gives them.

The model accepts a datetime without an offset, so that FHIR read back is kept as written
(some EHRs and interface engines export local times that way, though R4 requires an
offset whenever a time is given). The writers refuse one and name where it is
(:func:`naive_time`). The user who knows where the data comes from names its time zone:
:func:`parse_time_zone` reads ``America/New_York``, ``UTC`` or ``-05:00``;
:func:`with_time_zone` gives a copy of an episode (or any model) whose times without an
offset are read in it; :func:`localize` does it for one datetime.

A local time is read in an IANA zone with the offset in force on its day (daylight saving
included), then held with that fixed offset, as FHIR writes it. A wall time that a clock
change skips or repeats takes the offset before the change (``fold=0``).

Imports nothing of the project.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

__all__ = ["localize", "naive_time", "parse_time_zone", "with_time_zone"]

_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
#: a zone name as the IANA database spells them (no dots, no leading ``/``: never a path)
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*$")

M = TypeVar("M")


def parse_time_zone(text: str) -> tzinfo:
    """``text`` as a time zone: an IANA name (``Europe/Berlin``, ``UTC``), ``Z``, or a
    fixed offset ``+HH:MM`` / ``-HH:MM`` (at most 14 hours, as FHIR allows). Raises
    ``ValueError`` for anything else."""
    if text == "Z":
        return UTC
    match = _OFFSET.match(text)
    if match:
        sign, hours, minutes = match.groups()
        if int(hours) > 14 or int(minutes) > 59 or (int(hours) == 14 and int(minutes)):
            raise ValueError("an offset is at most 14:00 hours")
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-delta if sign == "-" else delta)
    if not _ZONE_NAME.match(text):
        raise ValueError("not a time zone: an IANA name (America/New_York) or an offset (-05:00)")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            "unknown time zone: an IANA name (America/New_York) or an offset (-05:00)"
        ) from None


def localize(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` unchanged when it has an offset; else its wall time read in ``zone``,
    held with the fixed offset ``zone`` has at that time."""
    if moment.tzinfo is not None:
        return moment
    offset = moment.replace(tzinfo=zone).utcoffset()
    assert offset is not None  # an aware datetime always has one
    return moment.replace(tzinfo=timezone(offset))


def with_time_zone(model: M, zone: tzinfo) -> M:
    """A copy of ``model`` (an episode, or any of its parts) whose datetimes without an
    offset are read in ``zone`` (:func:`localize`); the model itself when it has none."""
    return typing.cast(M, _localized(model, zone))


def _localized(value: Any, zone: tzinfo) -> Any:
    if isinstance(value, datetime):
        return localize(value, zone)
    if isinstance(value, BaseModel):
        changed = {}
        for name, _ in _plan(type(value)):
            child = getattr(value, name)
            if child is not None:
                new = _localized(child, zone)
                if new is not child:
                    changed[name] = new
        # the same values again (times moved to an offset): the model's rules held already
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, list | tuple):
        items = [_localized(item, zone) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return type(value)(items)
    return value


def naive_time(model: BaseModel) -> str | None:
    """The JSON path (input names, ``$.sessions[3].start``) of the first datetime without
    a UTC offset in ``model`` (an episode), or ``None``."""
    for parts in _walk(model, ()):
        return "$" + "".join(parts)
    return None


def _walk(value: Any, parts: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            yield parts
    elif isinstance(value, BaseModel):
        for name, label in _plan(type(value)):
            child = getattr(value, name)
            if child is not None:
                yield from _walk(child, (*parts, label))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(item, (*parts, f"[{i}]"))


#: per model class: the fields that may hold a datetime (directly or further down)
_PLANS: dict[type[BaseModel], tuple[tuple[str, str], ...]] = {}


def _plan(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """``(field name, its input name as a path step)`` of the fields of ``cls`` that may
    hold a datetime."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple(
            (name, f".{info.alias or name}")
            for name, info in cls.model_fields.items()
            if _may_hold_time(info.annotation, set())
        )
        _PLANS[cls] = plan
    return plan


def _may_hold_time(annotation: Any, seen: set[Any]) -> bool:
    """Whether a field annotation can hold a datetime (models are searched recursively;
    ``seen`` stops recursive model references)."""
    if annotation is datetime:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return True  # already being searched: let the other branch decide
        seen.add(annotation)
        return any(_may_hold_time(f.annotation, seen) for f in annotation.model_fields.values())
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_may_hold_time(arg, seen) for arg in typing.get_args(annotation))
