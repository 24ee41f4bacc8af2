"""``lowBoundary()`` / ``highBoundary()`` in SQL: the least and greatest value a value's
precision allows (FHIRPath, used by SQL-on-FHIR v2 as an experimental function).

- decimal: ± half a unit of the last written digit (``1.0`` -> ``0.95`` / ``1.05``), the
  digits taken from the value's text form (the engines keep ``1.0`` as a double, which
  prints as ``1.0``), rounded to 12 decimals;
- date: missing month and day filled (``1970-06`` -> ``1970-06-01`` / ``1970-06-30``);
- dateTime: a date filled to the millisecond, with the widest time zones when none is
  given (``2010-10-10`` -> ``2010-10-10T00:00:00.000+14:00`` /
  ``2010-10-10T23:59:59.999-12:00``);
- time: filled to the millisecond (``12:34:00`` -> ``12:34:00.000`` / ``12:34:00.999``).

Which of date, dateTime and time a string is comes from the element's name (``birthDate``,
``valueDateTime``, ``valueTime``...), else from its shape.
"""

from __future__ import annotations

from iopfhir.views.dialect import Dialect

__all__ = ["decimal_boundary", "temporal_boundary", "temporal_kind"]

_DT = "^(.{10})T([0-9]{2}:[0-9]{2}:[0-9]{2})([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$"


def temporal_kind(element: str | None) -> str | None:
    """``date``, ``dateTime``, ``time`` or ``instant`` from an element name, or None."""
    if not element:
        return None
    for suffix, kind in (("DateTime", "dateTime"), ("Instant", "instant"), ("Date", "date"),
                         ("Time", "time")):  # fmt: skip
        if element.endswith(suffix) or element == kind:
            return kind
    return None


def decimal_boundary(d: Dialect, value: str, high: bool) -> str:
    """The boundary of a number ``value``."""
    text = d.try_cast(value, d.scalar_types["string"])
    digits = (
        f"CAST((CASE WHEN instr({text}, '.') > 0 THEN length({text}) - instr({text}, '.') "
        "ELSE 0 END) AS INTEGER)"
    )
    sign = "+" if high else "-"
    # a constant scale (Spark wants one) that removes the binary noise of the subtraction
    return f"round({value} {sign} 0.5 / power(10, {digits}), 12)"


def _date(d: Dialect, s: str, high: bool) -> str:
    year = f"substr({s}, 1, 4)"
    month = (
        f"(CASE WHEN length({s}) >= 7 THEN substr({s}, 6, 2) ELSE '{'12' if high else '01'}' END)"
    )
    if high:
        first = f"CAST({year} || '-' || {month} || '-01' AS DATE)"
        last = f"lpad(CAST(day(last_day({first})) AS {d.scalar_types['string']}), 2, '0')"
        day = f"(CASE WHEN length({s}) >= 10 THEN substr({s}, 9, 2) ELSE {last} END)"
    else:
        day = f"(CASE WHEN length({s}) >= 10 THEN substr({s}, 9, 2) ELSE '01' END)"
    return f"({year} || '-' || {month} || '-' || {day})"


def _fraction(frac: str, high: bool) -> str:
    fill = "9" if high else "0"
    return (
        f"(CASE WHEN {frac} = '' THEN '.{fill * 3}' WHEN length({frac}) >= 4 THEN {frac} "
        f"ELSE rpad({frac}, 4, '{fill}') END)"
    )


def temporal_boundary(d: Dialect, s: str, kind: str | None, high: bool) -> str:
    """The boundary of a date/dateTime/time string ``s`` (``kind`` None: by its shape)."""
    zone = "'-12:00'" if high else "'+14:00'"
    midnight = "'T23:59:59.999'" if high else "'T00:00:00.000'"
    pat = d.string(_DT)
    frac = f"regexp_extract({s}, {pat}, 3)"
    tz = f"regexp_extract({s}, {pat}, 4)"
    full_dt = (
        f"(regexp_extract({s}, {pat}, 1) || 'T' || regexp_extract({s}, {pat}, 2) || "
        f"{_fraction(frac, high)} || (CASE WHEN {tz} = '' THEN {zone} ELSE {tz} END))"
    )
    date_time = (
        f"(CASE WHEN length({s}) <= 10 THEN {_date(d, s, high)} || {midnight} || {zone} "
        f"ELSE {full_dt} END)"
    )
    tfrac = f"(CASE WHEN instr({s}, '.') > 0 THEN substr({s}, instr({s}, '.')) ELSE '' END)"
    time = f"(substr({s}, 1, 8) || {_fraction(tfrac, high)})"
    if kind == "time":
        return time
    if kind == "date":
        return _date(d, s, high)
    if kind in ("dateTime", "instant"):
        return date_time
    return (
        f"(CASE WHEN substr({s}, 3, 1) = ':' THEN {time} "
        f"WHEN length({s}) <= 10 THEN {_date(d, s, high)} ELSE {date_time} END)"
    )
