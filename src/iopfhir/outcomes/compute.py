"""Computing the measures over a source: per-subject counts (SQL) and their summaries.

:func:`compute` registers the IOP views over a :class:`~iopfhir.views.Source` on an engine
(each with only the columns the measures read: :func:`~iopfhir.outcomes.columns.outcome_views`),
runs one statement per subject type (episodes, inpatient stays; :func:`measure_sql`) into a
table on the engine (both at once where the engine can: ``create_tables``) and returns
:class:`Outcomes`: for each measure its per-subject rows (:class:`SubjectResult`, built when
first read) and its summary (:class:`Summary`: population counts and score, overall and per
stratum), summed on the engine from that table
(:func:`~iopfhir.outcomes.measures.summary_sql`: a ``GROUPING SETS`` query; where the engine
runs statements at once, ``query_many``, and the subjects are few, one per part of
:data:`_SUMMARY_PART` measures: a summary's planning, on one core, grows with its measures).

Summing the per-subject counts into populations is plain addition (integers, and the
observations as exact decimals), so every engine that computes the same per-subject rows
gives the same figures, and they equal the sums over the subjects. Scores:
proportion = numerator / (denominator - denominator exclusions); continuous-variable = the mean
of the measure observations of the measure population; both rounded to 4 decimals, none when
the denominator is empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from iopfhir.outcomes.columns import outcome_views
from iopfhir.outcomes.facts import iop_episode, other_program
from iopfhir.outcomes.lookups import repeats_sql
from iopfhir.outcomes.measures import (
    OBSERVATION_LIMIT,
    MeasureDef,
    ObservationRangeError,
    OutcomesError,
    load_measures,
    measure_sql,
    measure_sql_parts,
    population_column,
    summary_sql,
    summary_strata,
)
from iopfhir.terminology.programs import ProgramCodes, check_program_codes
from iopfhir.views import Engine, Source, ViewResult

__all__ = [
    "Outcomes",
    "Stratum",
    "SubjectResult",
    "Subjects",
    "Summary",
    "compute",
    "parse_period",
]

_UNKNOWN = "unknown"
#: measures summed in one statement where the engine runs several at once, up to this many
#: subjects (on two cores: 1,000 episodes, a 35-measure summary planned in 90 ms beside a
#: 20 ms fetch of the rows, 26 ms faster in parts; 10,000, 24 ms slower)
_SUMMARY_PART = 12
_SUMMARY_SPLIT_SUBJECTS = 4000
_NEW: Any = object()  # not seen yet
_REPEATS = "_iopfhir_repeats"


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
    subjects: Mapping[str, list[SubjectResult]] = field(default_factory=dict)
    #: summaries computed with the subjects (:func:`compute`: on the engine); any other
    #: measure's is summed from its subjects
    summaries: dict[str, Summary] = field(default_factory=dict)
    #: copies of resources given more than once that were left out (each counted once)
    repeated: int = 0
    #: episodes, sessions and scores whose date is a year or a month only (R4 allows them):
    #: no measure can place them on a day, so they count in none
    undated: int = 0
    #: episodes without a start (R4 allows a period with an end only): counted in the
    #: measures their discharge is enough for (readmission, follow-up, completion,
    #: aftercare), while their sessions and scores, placed by weeks from the start, are in
    #: none
    unstarted: int = 0
    #: EpisodeOfCare resources typed only as another program (no iopfhir program type, no
    #: IOP billing code, no program extension: an EHR's other services), left out
    other_programs: int = 0
    #: the local program codes the episodes were read with (:mod:`~iopfhir.outcomes.programs`)
    program_codes: ProgramCodes = field(default_factory=dict)

    def summary(self, measure_id: str) -> Summary:
        """The summary of ``measure_id``."""
        known = self.summaries.get(measure_id)
        if known is not None:
            return known
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
        if dates:
            return dates[0], dates[-1]
        # no unit is in any measure's populations (an episode still open, with no data
        # yet): the period is still that of the units read
        units = self.subjects.index_range() if isinstance(self.subjects, Subjects) else None
        if units is None:
            raise OutcomesError(
                "the source holds no IOP episode (EpisodeOfCare with a patient and a "
                "period.start) and no inpatient stay (Encounter with a period.end): nothing "
                "to report on; give a period for reports that count none"
            )
        return units


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


class _SubjectTable:
    """The per-subject rows of one statement, turned into each measure's
    :class:`SubjectResult` list when first asked for.

    Done column by column (the rows transposed once), the parts every measure shares (keys,
    index date, strata values) once; subjects with the same population counts share one
    (read-only) counts dict, as those with the same strata share one strata dict.
    """

    def __init__(
        self, measures: list[MeasureDef], columns: list[str], rows: list[tuple[Any, ...]]
    ) -> None:
        self.measures = {m.id: (i, m) for i, m in enumerate(measures)}
        self.at = {name: i for i, name in enumerate(columns)}
        self.size = len(rows)
        self._rows: list[tuple[Any, ...]] | None = rows
        self._cols: list[tuple[Any, ...]] = [() for _ in columns]
        self._strata: dict[tuple[str, ...], list[dict[str, str]]] = {}
        self._texts: dict[str, list[str]] = {}  # a key column as text, made once
        self._evaluated: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        self._shared: tuple[list[str | None], list[str | None]] | None = None

    @property
    def cols(self) -> list[tuple[Any, ...]]:
        """The rows transposed (done when a measure's subjects are first built)."""
        if self._rows is not None:
            if self._rows:
                self._cols = list(zip(*self._rows, strict=True))
            self._rows = None
        return self._cols

    def strata(self, names: tuple[str, ...]) -> list[dict[str, str]]:
        if names not in self._strata:
            values = [[_stratum_value(name, v) for v in self.cols[self.at[name]]] for name in names]
            self._strata[names] = (
                [dict(zip(names, vals, strict=True)) for vals in zip(*values, strict=True)]
                if names
                else [{} for _ in range(self.size)]
            )
        return self._strata[names]

    def index_range(self) -> tuple[str, str] | None:
        """The first and last index dates of every unit read, in a population or not."""
        dates = [d for d in (_text(v) for v in self.cols[self.at["index_date"]]) if d]
        return (min(dates), max(dates)) if dates else None

    def build(self, measure_id: str) -> list[SubjectResult]:
        i, m = self.measures[measure_id]
        at, cols, size = self.at, self.cols, self.size
        if self._shared is None:
            self._shared = (
                [_text(v) for v in cols[at["patient_key"]]],
                [_text(v) for v in cols[at["index_date"]]],
            )
        patients, dates = self._shared
        codes = [code for code, _ in m.populations]
        pops = [cols[at[population_column(i, code)]] for code in codes]
        obs_at = at.get(f"m{i}_observation")
        observations = (
            [None if v is None else float(v) for v in cols[obs_at]]
            if obs_at is not None
            else [None] * size
        )
        if m.subject_key not in self._texts:
            self._texts[m.subject_key] = [str(v) for v in cols[at[m.subject_key]]]
        keys = self._texts[m.subject_key]
        if m.supplemental not in self._evaluated:
            extra = [cols[at[c]] for c in m.supplemental]
            self._evaluated[m.supplemental] = [
                tuple(str(v) for v in vals if v is not None)
                for vals in zip(*extra, strict=True)
            ] if extra else [()] * size  # fmt: skip
        used = self._evaluated[m.supplemental]
        strata = self.strata(m.strata)
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
        return subjects


class Subjects(Mapping[str, list[SubjectResult]]):
    """Each measure's subjects (those in one of its populations), by measure id.

    A measure's list is built from the engine's rows the first time it is asked for: the
    summaries do not need them (:func:`compute` sums the populations on the engine), so a
    caller who only wants the figures does not pay for a Python object per subject and
    measure.
    """

    def __init__(self) -> None:
        self._built: dict[str, list[SubjectResult]] = {}
        self._tables: dict[str, _SubjectTable] = {}

    def add(self, table: _SubjectTable) -> None:
        for measure_id in table.measures:
            self._built.pop(measure_id, None)
            self._tables[measure_id] = table

    def __getitem__(self, measure_id: str) -> list[SubjectResult]:
        if measure_id not in self._built:
            table = self._tables.get(measure_id)
            if table is None:
                raise KeyError(measure_id)
            self._built[measure_id] = table.build(measure_id)
        return self._built[measure_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def index_range(self) -> tuple[str, str] | None:
        """The first and last index dates of every unit read (episodes and stays), whether
        or not a measure counts it."""
        ranges = [
            r for t in {id(t): t for t in self._tables.values()}.values() if (r := t.index_range())
        ]
        if not ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def __len__(self) -> int:
        return len(self._tables)


def _subject_rows(
    measures: list[MeasureDef], columns: list[str], rows: list[tuple[Any, ...]]
) -> Subjects:
    """Each measure's subjects from the per-subject statement's rows (built when read)."""
    out = Subjects()
    out.add(_SubjectTable(measures, columns, rows))
    return out


def _summaries(
    measures: list[MeasureDef], result: ViewResult, first: int = 0
) -> dict[str, Summary]:
    """Each measure's :class:`Summary` from the rows of :func:`summary_sql` (``first``: as
    it was given).

    Stratum values are named as in the subjects (:func:`_stratum_value`: values that read
    the same are one stratum); a stratum is listed only where the measure has a subject.
    """
    names = summary_strata(measures)
    at = {name: i for i, name in enumerate(result.columns)}
    flags = [at[f"g{k}"] for k in range(len(names))]
    # each row's stratifier and value (None: the overall row), read once for every measure
    groups: list[tuple[str, str] | None] = []
    for row in result.rows:
        grouped = [k for k, f in enumerate(flags) if not row[f]]
        name = names[grouped[0]] if grouped else None
        groups.append(None if name is None else (name, _stratum_value(name, row[at[name]])))
    out: dict[str, Summary] = {}
    for i, m in enumerate(measures, start=first):
        codes = [code for code, _ in m.populations]
        overall = _Sums(codes)
        by: dict[str, dict[str, _Sums]] = {name: {} for name in m.strata}
        members = at[f"m{i}_subjects"]
        columns = [(code, at[population_column(i, code)]) for code in codes]
        obs = (at[f"m{i}_obs_n"], at[f"m{i}_obs_sum"]) if f"m{i}_obs_n" in at else None
        if obs is not None:
            _check_observations(m, [row[at[f"m{i}_obs_over"]] for row in result.rows])
        for row, group in zip(result.rows, groups, strict=True):
            if group is None:
                target = overall
            else:
                name, value = group
                if name not in by or not row[members]:
                    continue
                target = by[name].setdefault(value, _Sums(codes))
            target.add(row, columns, obs)
        strata = {
            name: {value: groups[value].stratum(m) for value in sorted(groups)}
            for name, groups in by.items()
        }
        out[m.id] = Summary(overall.stratum(m), strata)
    return out


def _check_observations(m: MeasureDef, over: list[Any]) -> None:
    """Raise an :class:`ObservationRangeError` when a measure observation of ``m`` was too large
    to sum (``over``: the ``obs_over`` counts of the summary rows, each subject counted
    in the overall row and in one stratum per stratifier): a score R4's decimal allows
    (``1e29``, or one read as infinite) that no instrument gives. Named by the elements it
    comes from, never by its value."""
    if any(over):
        raise ObservationRangeError(
            f"measure {m.id}: a measure observation of {OBSERVATION_LIMIT} or more, or not "
            "a number, cannot be summed: an instrument score out of any instrument's range "
            "(Observation.valueQuantity.value, valueInteger or valueString, or a "
            "QuestionnaireResponse item.answer.value[x])"
        )


class _Sums:
    """Population counts and observations of one stratum, summed over summary rows."""

    def __init__(self, codes: list[str]) -> None:
        self.pops = {code: 0 for code in codes}
        self.obs_sum = Decimal(0)
        self.obs_n = 0

    def add(
        self, row: tuple[Any, ...], columns: list[tuple[str, int]], obs: tuple[int, int] | None
    ) -> None:
        """Add a summary row: ``columns`` (population code, its column), ``obs`` (the
        columns of the observations' count and sum)."""
        pops = self.pops
        for code, c in columns:
            pops[code] += int(row[c] or 0)
        if obs is not None and row[obs[0]]:
            self.obs_n += int(row[obs[0]])
            self.obs_sum += Decimal(row[obs[1]])

    def stratum(self, m: MeasureDef) -> Stratum:
        if m.scoring == "continuous-variable":
            score = round(float(self.obs_sum / self.obs_n), 4) if self.obs_n else None
            return Stratum(self.pops, score)
        return Stratum(self.pops, _score(m, self.pops, []))


def _summary_parts(
    engine: Engine, at_once: bool, group: list[MeasureDef], table: str
) -> list[tuple[int, int]]:
    """The parts of ``group`` summed each in one statement, (first, end): where the engine
    runs statements at once (``at_once``) and the subjects are few, parts of
    :data:`_SUMMARY_PART` measures (the summary's planning, on one core, is then its work,
    and grows with its measures); else one (its rows are the work, beside the fetch of the
    subjects' rows)."""
    size = len(group)
    if at_once and size > _SUMMARY_PART:
        count = engine.query(f"SELECT count(*) FROM {table}").rows[0][0]  # noqa: S608
        if int(count) <= _SUMMARY_SPLIT_SUBJECTS:
            size = _SUMMARY_PART
    return [(k, min(k + size, len(group))) for k in range(0, len(group), size)]


def compute(
    source: Source,
    engine: Engine,
    *,
    period: tuple[str, str] | None = None,
    measure_ids: Iterable[str] | None = None,
    program_codes: ProgramCodes | None = None,
) -> Outcomes:
    """Compute the measures (all shipped ones by default) over ``source`` on ``engine``.

    ``program_codes`` maps an EHR's own codes for its IOP programs, ``(system, code)``, to
    iopfhir's program types: an EpisodeOfCare typed with one is an IOP episode of that
    program type (:mod:`~iopfhir.outcomes.programs`), not one of another program.

    A resource the measures read given more than once (overlapping NDJSON exports) counts
    once: found beside the measures (:func:`~iopfhir.outcomes.lookups.repeats_sql`), the
    measures are then computed again over ``source.without_repeats()`` (the first copy of
    each ``Type/id``, as the import reads it); :attr:`Outcomes.repeated` says how many
    copies were left out.
    """
    measures = load_measures()
    if measure_ids is not None:
        wanted = list(measure_ids)
        known = {m.id for m in measures}
        missing = [w for w in wanted if w not in known]
        if missing:
            raise OutcomesError(f"no measure {missing[0]!r}")
        measures = [m for m in measures if m.id in wanted]
    local = check_program_codes(program_codes or {})
    outcomes, repeated = _compute(source, engine, period, measures, local)
    if repeated:
        once = source.without_repeats()
        outcomes, _ = _compute(once, engine, period, measures, local)
        outcomes.repeated = once.repeated
    return outcomes


def _compute(
    source: Source,
    engine: Engine,
    period: tuple[str, str] | None,
    measures: list[MeasureDef],
    program_codes: dict[tuple[str, str], str],
) -> tuple[Outcomes, int]:
    """The outcomes of ``measures`` over ``source``, and whether a resource repeats there
    (the count of :func:`~iopfhir.outcomes.lookups.repeats_sql`, computed beside them)."""
    for table, view in outcome_views(engine.name, program_codes=program_codes).items():
        engine.register(table, view, source)
    create_many = getattr(engine, "create_tables", None)
    groups: list[tuple[list[MeasureDef], str]] = []  # the measures of a basis, their rows
    tables: list[tuple[str, str]] = []
    for basis in ("EpisodeOfCare", "Encounter"):
        group = [m for m in measures if m.basis == basis]
        if not group:
            continue
        # the per-subject rows kept as a table: fetched once, and summed on the engine
        table = f"_iopfhir_subjects_{basis.lower()}"
        # where the engine runs statements at once, the episodes' symptom measures are
        # computed beside the others: the statement's planning, single-threaded, is much
        # of its time, and the parts share nothing but the episodes
        split = measure_sql_parts(group, engine.name, period) if create_many else None
        if split is None:
            tables.append((table, measure_sql(group, engine.name, period, ordered=False)))
            groups.append((group, table))
            continue
        main, scores = f"{table}_main", f"{table}_scores"
        tables += [(main, split[0]), (scores, split[1])]
        key = group[0].subject_key
        joined = f"(SELECT * FROM {main} JOIN {scores} USING ({key})) {table}"  # noqa: S608
        groups.append((group, joined))
    # on a core the subjects' statements leave (their planning is single-threaded)
    tables.append((_REPEATS, repeats_sql(engine.name, iop_episode(), other_program())))
    # the tables of every basis, at once where the engine can
    if create_many is not None:
        create_many(tables)
    else:
        for table, sql in tables:
            engine.create_table(table, sql)
    many = getattr(engine, "query_many", None)
    parts = [_summary_parts(engine, many is not None, group, table) for group, table in groups]
    statements = [f"SELECT * FROM {_REPEATS}"]  # noqa: S608 (our own name)
    for (group, table), spans in zip(groups, parts, strict=True):
        statements.append(f"SELECT * FROM {table} ORDER BY {group[0].subject_key}")  # noqa: S608
        statements += [summary_sql(group[a:b], table, first=a) for a, b in spans]
    # the rows and the sums of every basis, at once where the engine can
    results = iter(many(statements) if many else [engine.query(sql) for sql in statements])
    found = next(results).rows[0]
    repeated, undated, unstarted, others = (int(n or 0) for n in found[:4])
    subjects = Subjects()
    summaries: dict[str, Summary] = {}
    for (group, _), spans in zip(groups, parts, strict=True):
        rows = next(results)
        subjects.add(_SubjectTable(group, rows.columns, rows.rows))
        for a, b in spans:
            summaries.update(_summaries(group[a:b], next(results), first=a))
    out = Outcomes(
        period,
        measures,
        subjects,
        summaries,
        undated=undated,
        unstarted=unstarted,
        other_programs=others,
        program_codes=program_codes,
    )
    return out, repeated
