"""Computing the measures over a source: per-subject counts (SQL) and their summaries.

:func:`compute` registers the IOP views over a :class:`~iopfhir.views.Source` on an engine
(each with only the columns the measures read: :func:`~iopfhir.outcomes.columns.outcome_views`),
runs one statement per subject type (episodes, inpatient stays; :func:`measure_sql`) and
returns :class:`Outcomes`: for each measure its per-subject rows (:class:`SubjectResult`) and
its summary (:class:`Summary`: population counts and score, overall and per stratum).

Summing the per-subject counts into populations is plain addition over the rows the engine
returned, so every engine that returns the same rows gives the same figures. Scores:
proportion = numerator / (denominator - denominator exclusions); continuous-variable = the mean
of the measure observations of the measure population; both rounded to 4 decimals, none when
the denominator is empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iopfhir.outcomes.columns import outcome_views
from iopfhir.outcomes.measures import (
    MeasureDef,
    OutcomesError,
    load_measures,
    measure_sql,
    population_column,
)
from iopfhir.views import Engine, Source

__all__ = [
    "Outcomes",
    "Stratum",
    "SubjectResult",
    "Summary",
    "compute",
    "parse_period",
]

_UNKNOWN = "unknown"
_NEW: Any = object()  # not seen yet


@dataclass(frozen=True, slots=True)
class SubjectResult:
    """One subject's part in a measure."""

    subject_key: str  # EpisodeOfCare/... or Encounter/... (an inpatient stay)
    patient_key: str | None
    index_date: str | None
    populations: dict[str, int]
    observation: float | None
    strata: dict[str, str]
    evaluated: tuple[str, ...]  # keys of the resources used (besides the subject)


@dataclass(frozen=True, slots=True)
class Stratum:
    """Populations and score of one stratum (or of the whole cohort)."""

    populations: dict[str, int]
    score: float | None


@dataclass(frozen=True, slots=True)
class Summary:
    """A measure over the cohort: overall, and per stratifier value."""

    overall: Stratum
    strata: dict[str, dict[str, Stratum]]  # stratifier -> value -> stratum


@dataclass
class Outcomes:
    """Every measure computed over one source and period."""

    period: tuple[str, str] | None
    measures: list[MeasureDef]
    subjects: dict[str, list[SubjectResult]] = field(default_factory=dict)

    def summary(self, measure_id: str) -> Summary:
        """The summary of ``measure_id``."""
        m = self.measure(measure_id)
        rows = self.subjects[measure_id]
        strata: dict[str, dict[str, Stratum]] = {}
        for name in m.strata:
            groups: dict[str, list[SubjectResult]] = {}
            for row in rows:
                groups.setdefault(row.strata[name], []).append(row)
            strata[name] = {value: _stratum(m, groups[value]) for value in sorted(groups)}
        return Summary(_stratum(m, rows), strata)

    def measure(self, measure_id: str) -> MeasureDef:
        """The definition of ``measure_id``."""
        for m in self.measures:
            if m.id == measure_id:
                return m
        raise OutcomesError(f"measure {measure_id!r} was not computed")

    def report_period(self) -> tuple[str, str]:
        """The period asked for, else the first and last index dates (else today unknown)."""
        if self.period is not None:
            return self.period
        dates = sorted(
            r.index_date for rows in self.subjects.values() for r in rows if r.index_date
        )
        if not dates:
            raise OutcomesError("no subject has an index date: give a period")
        return dates[0], dates[-1]


def _score(m: MeasureDef, pops: Mapping[str, int], observations: list[float]) -> float | None:
    if m.scoring == "continuous-variable":
        return round(sum(observations) / len(observations), 4) if observations else None
    den = pops.get("denominator", 0) - pops.get("denominator-exclusion", 0)
    return round(pops.get("numerator", 0) / den, 4) if den > 0 else None


def _stratum(m: MeasureDef, rows: Iterable[SubjectResult]) -> Stratum:
    pops = {code: 0 for code, _ in m.populations}
    observations: list[float] = []
    for row in rows:
        for code, count in row.populations.items():
            pops[code] += count
        if row.observation is not None and row.populations.get("measure-population", 0) > 0:
            observations.append(row.observation)
    return Stratum(pops, _score(m, pops, observations))


def parse_period(text: str) -> tuple[str, str]:
    """``START/END`` (ISO dates) as a pair; raises OutcomesError when malformed."""
    parts = text.split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (dt.date.fromisoformat(p) for p in parts)
    except ValueError:
        raise OutcomesError(
            "a period is START/END, two ISO dates (2025-01-01/2025-12-31)"
        ) from None
    if end < start:
        raise OutcomesError("the period ends before it starts")
    return start.isoformat(), end.isoformat()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _stratum_value(name: str, value: Any) -> str:
    if value is None:
        return _UNKNOWN
    if name == "period":
        code = int(value)
        return f"{code // 10}-Q{code % 10}"
    return str(value)


def _subject_rows(
    measures: list[MeasureDef], columns: list[str], rows: list[tuple[Any, ...]]
) -> dict[str, list[SubjectResult]]:
    """Each measure's subjects (those in one of its populations) from the statement's rows.

    Done column by column (the rows transposed once), the parts every measure shares (keys,
    index date, strata values) once per row; subjects with the same population counts share
    one (read-only) counts dict, as those with the same strata share one strata dict: this
    runs over every subject of every measure.
    """
    at = {name: i for i, name in enumerate(columns)}
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) or [() for _ in columns]
    lists = sorted({m.strata for m in measures})
    values = {
        name: [_stratum_value(name, v) for v in cols[at[name]]]
        for name in sorted({name for names in lists for name in names})
    }
    by_list: dict[tuple[str, ...], list[dict[str, str]]] = {
        names: [
            dict(zip(names, vals, strict=True))
            for vals in zip(*(values[n] for n in names), strict=True)
        ]
        if names
        else [{} for _ in rows]
        for names in lists
    }
    patients = [_text(v) for v in cols[at["patient_key"]]]
    dates = [_text(v) for v in cols[at["index_date"]]]
    texts: dict[str, list[str]] = {}  # a key column as text, made once for every measure
    evaluated: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    out: dict[str, list[SubjectResult]] = {}
    for i, m in enumerate(measures):
        codes = [code for code, _ in m.populations]
        pops = [cols[at[population_column(i, code)]] for code in codes]
        obs_at = at.get(f"m{i}_observation")
        observations = (
            [None if v is None else float(v) for v in cols[obs_at]]
            if obs_at is not None
            else [None] * len(rows)
        )
        if m.subject_key not in texts:
            texts[m.subject_key] = [str(v) for v in cols[at[m.subject_key]]]
        keys = texts[m.subject_key]
        if m.supplemental not in evaluated:
            extra = [cols[at[c]] for c in m.supplemental]
            evaluated[m.supplemental] = [
                tuple(str(v) for v in vals if v is not None)
                for vals in zip(*extra, strict=True)
            ] if extra else [()] * len(rows)  # fmt: skip
        used = evaluated[m.supplemental]
        strata = by_list[m.strata]
        seen: dict[tuple[Any, ...], dict[str, int] | None] = {}
        subjects: list[SubjectResult] = []
        for r, vals in enumerate(zip(*pops, strict=True)):
            counts = seen.get(vals, _NEW)
            if counts is _NEW:
                made = {code: int(v or 0) for code, v in zip(codes, vals, strict=True)}
                counts = seen[vals] = made if any(made.values()) else None
            if counts is None:
                continue
            subjects.append(
                SubjectResult(
                    keys[r], patients[r], dates[r], counts, observations[r], strata[r], used[r]
                )
            )
        out[m.id] = subjects
    return out


def compute(
    source: Source,
    engine: Engine,
    *,
    period: tuple[str, str] | None = None,
    measure_ids: Iterable[str] | None = None,
) -> Outcomes:
    """Compute the measures (all shipped ones by default) over ``source`` on ``engine``."""
    measures = load_measures()
    if measure_ids is not None:
        wanted = list(measure_ids)
        known = {m.id for m in measures}
        missing = [w for w in wanted if w not in known]
        if missing:
            raise OutcomesError(f"no measure {missing[0]!r}")
        measures = [m for m in measures if m.id in wanted]
    for table, view in outcome_views(engine.name).items():
        engine.register(table, view, source)
    out = Outcomes(period, measures)
    for basis in ("EpisodeOfCare", "Encounter"):
        group = [m for m in measures if m.basis == basis]
        if not group:
            continue
        result = engine.query(measure_sql(group, engine.name, period))
        out.subjects.update(_subject_rows(group, result.columns, result.rows))
    return out
