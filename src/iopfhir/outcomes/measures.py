"""The program outcome measures: FHIR R4 ``Measure`` resources (package data) and their SQL.

Each measure is defined once, as a ``Measure`` in ``iopfhir/outcomes/data/Measure-*.json``
(canonical ``https://iopfhir.org/fhir/Measure/<id>``). Its subject
(``subjectCodeableConcept``: ``EpisodeOfCare`` or ``Encounter``, an inpatient stay) names the
facts table it reads (:mod:`iopfhir.outcomes.facts`); every population criterion, the
measure observation (continuous-variable scoring), each stratifier and each supplemental data
element is an SQL expression (``application/sql``) over one row of that table. A population
criterion gives the *number of units* the subject adds to the population: 0 or 1 for a
measure counting episodes, a count of sessions or weeks for one counting those.

:func:`measure_sql` puts the expressions of several measures into one statement over the facts
table, so that one pass over the data computes them all; the same text runs on DuckDB and on
Spark (the facts SQL spells the few engine differences itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

from iopfhir.errors import InputError, IopFhirError
from iopfhir.outcomes.facts import episode_facts_sql, stay_facts_sql, symptom_facts_sql
from iopfhir.outcomes.symptoms import symptom_columns

__all__ = [
    "OBSERVATION_LIMIT",
    "POPULATIONS",
    "MeasureDef",
    "ObservationRangeError",
    "OutcomesError",
    "load_measures",
    "measure",
    "measure_resource",
    "measure_sql",
    "measure_sql_parts",
    "summary_sql",
    "summary_strata",
]

#: population codes (measure-population code system) in report order
POPULATIONS = (
    "initial-population",
    "denominator",
    "denominator-exclusion",
    "numerator",
    "measure-population",
)
_OBSERVATION = "measure-observation"
#: measure observations of this size or more are not summed (the exact sum is a
#: DECIMAL(38, 10), below 10^28): no instrument score, day count or hour count comes near
OBSERVATION_LIMIT = "1e27"
_KEYS = {"EpisodeOfCare": ("episode_key", "patient_key"), "Encounter": ("stay_key", "patient_key")}


class OutcomesError(IopFhirError, ValueError):
    """A measure that cannot be found or computed (names the measure, never data)."""


class ObservationRangeError(OutcomesError, InputError):
    """Input whose measure observations cannot be summed (a score beyond any instrument's
    range): bad input, as an :class:`~iopfhir.errors.InputError` (exit 2)."""


@dataclass(frozen=True, slots=True)
class MeasureDef:
    """A measure as read from its ``Measure`` resource."""

    id: str
    url: str
    title: str
    scoring: str  # proportion | continuous-variable
    basis: str  # EpisodeOfCare | Encounter
    improvement: str | None
    populations: tuple[tuple[str, str], ...]  # (code, SQL count expression)
    observation: str | None
    strata: tuple[str, ...]
    supplemental: tuple[str, ...]

    @property
    def subject_key(self) -> str:
        """The facts column naming the subject (episode or stay key)."""
        return _KEYS[self.basis][0]


def _data() -> Any:
    return resources.files("iopfhir.outcomes") / "data"


def _code(concept: dict[str, Any]) -> str:
    return str(concept["coding"][0]["code"])


def _parse(resource: dict[str, Any]) -> MeasureDef:
    group = resource["group"][0]
    pops: list[tuple[str, str]] = []
    observation = None
    for pop in group["population"]:
        code = _code(pop["code"])
        if code == _OBSERVATION:
            observation = str(pop["criteria"]["expression"])
        else:
            pops.append((code, str(pop["criteria"]["expression"])))
    improvement = resource.get("improvementNotation")
    return MeasureDef(
        id=resource["id"],
        url=resource["url"],
        title=resource["title"],
        scoring=_code(resource["scoring"]),
        basis=_code(resource["subjectCodeableConcept"]),
        improvement=_code(improvement) if improvement else None,
        populations=tuple(pops),
        observation=observation,
        strata=tuple(s["criteria"]["expression"] for s in group.get("stratifier", [])),
        supplemental=tuple(
            s["criteria"]["expression"] for s in resource.get("supplementalData", [])
        ),
    )


@cache
def _resources() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(_data().iterdir(), key=lambda p: p.name):
        if path.name.startswith("Measure-") and path.name.endswith(".json"):
            value = orjson.loads(path.read_bytes())
            out[value["id"]] = value
    return out


def measure_resource(measure_id: str) -> dict[str, Any]:
    """The ``Measure`` resource JSON of ``measure_id`` (a copy)."""
    try:
        return orjson.loads(orjson.dumps(_resources()[measure_id]))  # type: ignore[no-any-return]
    except KeyError:
        raise OutcomesError(f"no measure {measure_id!r}") from None


def load_measures() -> list[MeasureDef]:
    """Every shipped measure, by id."""
    return [_parse(r) for r in _resources().values()]


def measure(measure_id: str) -> MeasureDef:
    """The shipped measure ``measure_id``."""
    return _parse(measure_resource(measure_id))


def _column(measure_index: int, code: str) -> str:
    return f"m{measure_index}_" + code.replace("-", "_")


def _outputs(measures: list[MeasureDef]) -> list[tuple[str, int | None]]:
    """The columns of :func:`measure_sql` as (SQL, the index of the measure they are of;
    None for the keys, index date, stratifiers and supplemental data)."""
    key, patient = _KEYS[measures[0].basis]
    out: list[tuple[str, int | None]] = [(key, None), (patient, None), ("index_date", None)]
    for m in measures:
        for column in (*m.strata, *m.supplemental):
            if (column, None) not in out:
                out.append((column, None))
    for i, m in enumerate(measures):
        # counts as BIGINT on every engine (DuckDB sums integers to HUGEINT, which is
        # slow to fetch and to sum again)
        out += [
            (f"CAST(({expr}) AS BIGINT) AS {_column(i, code)}", i) for code, expr in m.populations
        ]
        if m.observation is not None:
            out.append((f"({m.observation}) AS m{i}_observation", i))
    return out


def _basis(measures: list[MeasureDef]) -> str:
    bases = {m.basis for m in measures}
    if len(bases) != 1:
        raise OutcomesError("measure_sql takes measures of one subject type")
    return bases.pop()


def _facts(basis: str, engine_name: str, period: tuple[str, str] | None) -> str:
    if basis == "EpisodeOfCare":
        return episode_facts_sql(engine_name, period)
    return stay_facts_sql(engine_name, period)


def _statement(facts: str, columns: list[str]) -> str:
    select = ",\n  ".join(columns)
    return f"WITH facts AS (\n{facts}\n)\nSELECT\n  {select}\nFROM facts"


def measure_sql(
    measures: list[MeasureDef],
    engine_name: str,
    period: tuple[str, str] | None = None,
    *,
    ordered: bool = True,
) -> str:
    """One statement computing ``measures`` (all of one basis) per subject.

    Columns: the subject and patient keys, ``index_date``, every stratifier and supplemental
    column the measures name, then ``m<i>_<population>`` (counts) and ``m<i>_observation``
    for measure ``i`` of the list. Rows are ordered by subject key (unless ``ordered`` is
    false: for a table that is read with its own ``ORDER BY``).
    """
    basis = _basis(measures)
    sql = _statement(_facts(basis, engine_name, period), [c for c, _ in _outputs(measures)])
    return sql + (f"\nORDER BY {_KEYS[basis][0]}" if ordered else "")


#: words of SQL itself in the measures' expressions (any other name is a facts column)
_SQL_WORDS = frozenset(
    {
        *("case", "when", "then", "else", "end", "and", "or", "not", "null", "is", "in"),
        *("between", "like", "true", "false", "cast", "as", "coalesce", "nullif", "abs"),
        *("round", "floor", "ceil", "least", "greatest", "bigint", "double", "decimal"),
    }
)
_NAME = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _names(expr: str) -> set[str]:
    """The facts columns an SQL expression of a measure reads (string literals and SQL's
    own words left out; a column alias after ``AS`` is a name too, and never a facts
    column, so the expression itself is given without it)."""
    return {n.lower() for n in _NAME.findall(_LITERAL.sub("''", expr))} - _SQL_WORDS


def measure_sql_parts(
    measures: list[MeasureDef], engine_name: str, period: tuple[str, str] | None = None
) -> tuple[str, str] | None:
    """:func:`measure_sql` of episode measures as two statements an engine runs at once
    (each planned on its own core): the measures that read symptom scores over
    :func:`~iopfhir.outcomes.facts.symptom_facts_sql`, the others over the rest of the
    facts. Joined by ``episode_key`` (one row per episode in each), they give the columns
    of :func:`measure_sql`. Unordered. None when the measures do not part so: not of
    episodes, none or all of them reading symptoms, or one (or a stratifier or
    supplemental column) reading both kinds of column."""
    if _basis(measures) != "EpisodeOfCare":
        return None
    symptom = {name for _, name in symptom_columns()}
    expressions = [
        [e for _, e in m.populations] + ([m.observation] if m.observation else []) for m in measures
    ]
    main, scores = [_KEYS["EpisodeOfCare"][0]], [_KEYS["EpisodeOfCare"][0]]
    kinds: dict[int, bool] = {}  # measure index -> reads symptoms
    for sql, at in _outputs(measures)[1:]:
        if at is None:
            reads = _names(sql)
        elif at not in kinds:
            reads = set().union(*(_names(e) for e in expressions[at]))
        else:
            (scores if kinds[at] else main).append(sql)
            continue
        if reads and reads <= symptom:
            side = True
        elif reads & symptom:
            return None
        else:
            side = False
        if at is not None:
            kinds[at] = side
        (scores if side else main).append(sql)
    if not any(kinds.values()) or all(kinds.values()):
        return None
    return (
        _statement(episode_facts_sql(engine_name, period, symptoms=False), main),
        _statement(symptom_facts_sql(engine_name, period), scores),
    )


def summary_strata(measures: list[MeasureDef]) -> list[str]:
    """The stratifier columns of ``measures``, in the order :func:`summary_sql` flags them."""
    return sorted({name for m in measures for name in m.strata})


def summary_sql(measures: list[MeasureDef], table: str, *, first: int = 0) -> str:
    """The populations of ``measures`` summed over ``table`` (the rows of
    :func:`measure_sql` for them): overall and per value of each stratifier, in one
    ``GROUPING SETS`` query (DuckDB and Spark alike). ``first``: the place of
    ``measures[0]`` in the list :func:`measure_sql` was given (a part of it summed apart;
    its columns keep their names).

    Columns: ``g<k>`` (0 where the row is a stratum of the ``k``-th of
    :func:`summary_strata`, 1 elsewhere), the stratifier columns, and for measure ``i``:
    ``m<i>_subjects`` (its subjects in the group: those in one of its populations), the
    population sums (named as in :func:`measure_sql`) and, for a continuous-variable
    measure, ``m<i>_obs_sum`` / ``m<i>_obs_n`` (its observations of the measure population,
    summed as exact decimals), ``m<i>_obs_over`` (those of them too large to sum so, at
    least :data:`OBSERVATION_LIMIT` in size, or not a number: left out of the sum).
    """
    names = summary_strata(measures)
    parts = [f"GROUPING({name}) AS g{k}" for k, name in enumerate(names)] + names
    for i, m in enumerate(measures, start=first):
        cols = [_column(i, code) for code, _ in m.populations]
        member = " OR ".join(f"coalesce({c}, 0) <> 0" for c in cols) or "FALSE"
        parts.append(f"sum(CASE WHEN {member} THEN 1 ELSE 0 END) AS m{i}_subjects")
        parts += [f"sum(coalesce({c}, 0)) AS {c}" for c in cols]
        population = _column(i, "measure-population")
        if m.observation is not None and population in cols:
            counted = f"coalesce({population}, 0) > 0 AND m{i}_observation IS NOT NULL"
            # DECIMAL(38, 10) holds less than 10^28: a larger, infinite or NaN observation
            # (a score R4's decimal allows, no instrument gives) would fail the cast; it is
            # counted apart instead (NaN compares above every number, so it is counted too)
            fits = f"abs(m{i}_observation) < {OBSERVATION_LIMIT}"
            parts.append(
                f"sum(CASE WHEN {counted} AND {fits} "
                f"THEN CAST(m{i}_observation AS DECIMAL(38, 10)) END) AS m{i}_obs_sum"
            )
            parts.append(f"sum(CASE WHEN {counted} THEN 1 ELSE 0 END) AS m{i}_obs_n")
            parts.append(
                f"sum(CASE WHEN {counted} AND NOT ({fits}) THEN 1 ELSE 0 END) AS m{i}_obs_over"
            )
    sets = ", ".join(["()", *(f"({name})" for name in names)])
    select = ",\n  ".join(parts)
    return f"SELECT\n  {select}\nFROM {table}\nGROUP BY GROUPING SETS ({sets})"


def population_column(measure_index: int, code: str) -> str:
    """The result column of population ``code`` of the ``measure_index``-th measure."""
    return _column(measure_index, code)
