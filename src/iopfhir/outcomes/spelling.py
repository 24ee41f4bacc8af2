"""How the outcome SQL is spelled on each engine: identifier quotes, days between dates,
structs, a 64-bit hash and the aggregates that take a value from the row with the least
(or greatest) ordering value. DuckDB's spelling serves an engine not known here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Spelling",
    "fhirpath_string",
    "or_by_code",
    "spelling",
    "sql_date",
    "sql_list",
    "sql_minutes",
    "sql_string",
]


@dataclass(frozen=True, slots=True)
class Spelling:
    """What differs between engines: identifier quotes, days between dates, string type,
    structs, and the value of the row with the least (greatest) ordering value."""

    quote_char: str
    days_template: str  # {a} start date, {b} end date
    string_type: str
    materialized: str = ""  # how a CTE read several times is computed once
    struct_template: str = "struct_pack({fields})"
    field_template: str = "{name} := {expr}"
    min_by: str = "arg_min"  # the value of a row with the least ordering value
    max_by: str = "arg_max"
    hash64: str = "hash"  # a 64-bit hash of its arguments
    #: whole seconds since 1970-01-01T00:00:00Z of a dateTime ``{e}`` written exactly as
    #: R4 writes one with a time and a zone (``Z`` in ``{z}``: ``+00:00``), read by the
    #: engine's own parser; NULL for anything else (the string spelling then serves). None
    #: where the engine has no strict parser of it
    zoned_seconds: str | None = None

    def q(self, name: str) -> str:
        """A quoted identifier."""
        return f"{self.quote_char}{name}{self.quote_char}"

    def days(self, a: str, b: str) -> str:
        """Whole days from date ``a`` to date ``b`` (negative when ``b`` is earlier)."""
        return self.days_template.format(a=a, b=b)

    def struct(self, **fields: str) -> str:
        """A struct of named fields (compared field by field, in this order)."""
        parts = ", ".join(self.field_template.format(name=n, expr=e) for n, e in fields.items())
        return self.struct_template.format(fields=parts)


_SPELLINGS = {
    "duckdb": Spelling(
        '"',
        "date_diff('day', {a}, {b})",
        "VARCHAR",
        "MATERIALIZED ",
        # strict formats: other text is NULL (a date alone, a leap second). DuckDB also
        # reads a zone without its colon (+0100, not R4's), which the string spelling reads as
        # no zone
        zoned_seconds="CAST(floor(epoch(try_strptime({e}, "
        "['%Y-%m-%dT%H:%M:%S{z}', '%Y-%m-%dT%H:%M:%S.%f{z}']))) AS BIGINT)",
    ),
    "spark": Spelling(
        "`",
        "datediff({b}, {a})",
        "STRING",
        struct_template="named_struct({fields})",
        field_template="'{name}', {expr}",
        min_by="min_by",
        max_by="max_by",
        hash64="xxhash64",
    ),
}


def spelling(engine_name: str) -> Spelling:
    """The spelling for an engine (DuckDB's for an engine not known here)."""
    return _SPELLINGS.get(engine_name, _SPELLINGS["duckdb"])


def sql_string(value: str) -> str:
    """A string literal (the same on every engine)."""
    return "'" + value.replace("'", "''") + "'"


def or_by_code(column: str, code_column: str, by_code: Iterable[tuple[str, str]]) -> str:
    """SQL: ``column``, else the value the code in ``code_column`` stands for (``by_code``:
    (code, value) pairs)."""
    cases = "".join(f" WHEN {sql_string(code)} THEN {sql_string(value)}" for code, value in by_code)
    return f"COALESCE({column}, CASE {code_column}{cases} END)"


def fhirpath_string(value: str) -> str:
    """A FHIRPath string literal (for paths of the views built from data)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    """A parenthesised list of string literals, for ``IN``."""
    return "(" + ", ".join(sql_string(v) for v in values) + ")"


def sql_date(expr: str) -> str:
    """The calendar date a FHIR date, dateTime or instant is written with (its first ten
    characters: no time zone is guessed), NULL when there is none: also for a year or a
    month alone (``2024``, ``2024-05``), which Spark's cast would read as its first day
    and DuckDB's would not (the same on every engine)."""
    return f"CASE WHEN length({expr}) >= 10 THEN TRY_CAST(substr({expr}, 1, 10) AS DATE) END"


def _seconds(s: Spelling, expr: str) -> str:
    """A FHIR dateTime with a time (``YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm|-hh:mm]``) as
    seconds since 1970-01-01T00:00:00Z, its offset honoured (one written without an offset
    is read as UTC); NULL without a time. Spelled with string functions, so that no engine
    reads it in a session time zone of its own; where the engine parses R4's form strictly
    (``Spelling.zoned_seconds``), its parse comes first and the string functions (a dozen
    per value, four times the cost) serve only what it does not read."""
    date = f"TRY_CAST(substr({expr}, 1, 10) AS DATE)"
    part = "TRY_CAST(substr({e}, {at}, 2) AS INT)"
    clock = " + ".join(
        f"{part.format(e=expr, at=at)} * {unit}" for at, unit in ((12, 3600), (15, 60), (18, 1))
    )
    zone = f"substr({expr}, length({expr}) - 5, 6)"  # +hh:mm
    offset = (
        f"CASE WHEN length({expr}) >= 25 AND substr({zone}, 1, 1) IN ('+', '-') "
        f"THEN (CASE WHEN substr({zone}, 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"({part.format(e=zone, at=2)} * 3600 + {part.format(e=zone, at=5)} * 60) ELSE 0 END"
    )
    days = s.days("DATE '1970-01-01'", date)
    spelled = f"(CAST({days} AS BIGINT) * 86400 + {clock} - ({offset}))"
    if s.zoned_seconds is None:
        return spelled
    # COALESCE computes an argument only where those before it are NULL (DuckDB's, Spark's)
    zoned, utc = (s.zoned_seconds.format(e=expr, z=z) for z in ("%z", "Z"))
    return f"COALESCE({zoned}, {utc}, {spelled})"


def sql_minutes(s: Spelling, start: str, end: str) -> str:
    """Whole minutes from dateTime ``start`` to dateTime ``end`` (both with a time; their
    offsets honoured, so a session that crosses midnight is as long as it was), NULL when
    either has no time or the end is before the start."""
    a, b = _seconds(s, start), _seconds(s, end)
    # the difference spelled once (a CASE on it would compute it twice): a negative one
    # made -1, then NULL
    return f"CAST(FLOOR(NULLIF(GREATEST({b} - {a}, -1), -1) / 60.0) AS BIGINT)"
