"""What the report shows beyond the measure results: per-episode facts, scores by week,
sessions and hours by program week, and the readmission curve.

The measure results (:class:`~iopfhir.outcomes.Outcomes`) carry counts and scores, not the
shape of care over time. :func:`report_data` reads that shape in SQL on the same engine and
views the measures use:

* the episode facts of :func:`~iopfhir.outcomes.facts.episode_facts_sql` (same period, same
  definitions: days to readmission and to follow-up, program limits), plus the program's
  maximum hours a week from the ``iop-episode-of-care`` view;
* symptom scores (every instrument of :data:`~iopfhir.outcomes.facts.INSTRUMENTS`) in the
  window the measures use (14 days before admission to discharge), by week since admission;
  a score before admission counts as week 0, and the last score of a week stands for it;
* the patient's sessions by program week and status, as the attendance measures count them
  (:mod:`~iopfhir.outcomes.sessions`: each once, as an Appointment, an Encounter or both);
  attended session Encounters (hours and days) by program week, as the intensity measures
  count them.

Everything is summed in Python over the rows the engine returned, in a fixed order, so the
same source gives the same data on every engine.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from iopfhir.outcomes.columns import outcome_views
from iopfhir.outcomes.compute import Outcomes
from iopfhir.outcomes.facts import INSTRUMENTS, episode_facts_sql, iop_episode, spelling
from iopfhir.outcomes.observations import scores_sql
from iopfhir.outcomes.sessions import episode_hours_sql, sessions_ctes
from iopfhir.outcomes.spelling import sql_date as _date
from iopfhir.outcomes.symptoms import BASELINE_DAYS_BEFORE, SCORE_STATUSES
from iopfhir.terminology.instruments import instrument
from iopfhir.views import Engine, Source

__all__ = [
    "CURVE_DAYS",
    "EpisodeFacts",
    "ReportData",
    "ScorePoint",
    "WeekRow",
    "report_data",
]

#: the readmission curve runs to this many days after discharge
CURVE_DAYS = 90


@dataclass(frozen=True, slots=True)
class EpisodeFacts:
    """One IOP episode of the report (its row of the episode facts)."""

    episode_key: str
    patient_key: str
    program_type: str | None
    admission_date: str | None
    discharge_date: str | None
    disposition: str | None
    sessions_settled: int
    sessions_attended: int
    weeks_full: int | None
    days_to_readmission: int | None
    days_to_followup: int | None
    min_hours_per_week: float | None
    max_hours_per_week: float | None


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """An episode's score for one instrument in one week since admission (the week's last)."""

    episode_key: str
    instrument: str  # instrument id, e.g. phq-9
    week: int
    date: str
    score: float


@dataclass(frozen=True, slots=True)
class WeekRow:
    """One program week of one episode: sessions by status, attended hours."""

    episode_key: str
    week: int
    settled: int = 0
    attended: int = 0
    noshow: int = 0
    cancelled: int = 0
    hours: float = 0.0
    days: int = 0
    whole: bool = False  # a whole week of a discharged episode (what intensity counts)


@dataclass
class ReportData:
    """The rows behind the report's charts and per-patient sections."""

    episodes: list[EpisodeFacts]
    scores: list[ScorePoint] = field(default_factory=list)
    weeks: list[WeekRow] = field(default_factory=list)

    @property
    def patients(self) -> list[str]:
        """The patient keys, sorted."""
        return sorted({e.patient_key for e in self.episodes})

    def instruments(self) -> list[str]:
        """Instrument ids with at least one score, in :data:`INSTRUMENTS` order."""
        present = {p.instrument for p in self.scores}
        return [i for i in INSTRUMENTS.values() if i in present]

    def median_trajectory(self, instrument_id: str) -> list[tuple[int, float, int]]:
        """(week, median score, number of episodes scored that week), by week."""
        by_week: dict[int, list[float]] = {}
        for p in self.scores:
            if p.instrument == instrument_id:
                by_week.setdefault(p.week, []).append(p.score)
        return [(w, float(statistics.median(v)), len(v)) for w, v in sorted(by_week.items())]

    def attendance_by_week(self) -> list[tuple[int, int, int, int, int]]:
        """(week, settled, attended, no-show, cancelled) summed over episodes, by week."""
        sums: dict[int, list[int]] = {}
        for r in self.weeks:
            if r.settled:
                s = sums.setdefault(r.week, [0, 0, 0, 0])
                for i, v in enumerate((r.settled, r.attended, r.noshow, r.cancelled)):
                    s[i] += v
        return [(w, *v) for w, v in sorted(sums.items())]  # type: ignore[misc]

    def whole_weeks(self) -> list[WeekRow]:
        """The whole weeks of discharged episodes (zero-hour weeks included)."""
        return [r for r in self.weeks if r.whole]

    def readmission_curve(
        self, group: str | None = None, days: int = CURVE_DAYS
    ) -> list[tuple[int, float, int, int]]:
        """(day, share readmitted within that many days, readmitted, discharged), day 0..days.

        Over discharged episodes (of program type ``group`` when given); the share at 30 and
        90 days is what the readmission measures count (an admission 1-30 / 1-90 days after).
        """
        eps = [
            e
            for e in self.episodes
            if e.discharge_date is not None and (group is None or e.program_type == group)
        ]
        if not eps:
            return []
        gaps = sorted(e.days_to_readmission for e in eps if e.days_to_readmission is not None)
        out, j = [], 0
        for day in range(days + 1):
            while j < len(gaps) and gaps[j] <= day:
                j += 1
            out.append((day, round(j / len(eps), 4), j, len(eps)))
        return out


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _episodes_sql(engine_name: str, period: tuple[str, str] | None) -> str:
    facts = episode_facts_sql(engine_name, period)
    return (
        f"WITH facts AS (\n{facts}\n)\n"
        "SELECT f.episode_key, f.patient_key, f.program_type, f.admission_date, "
        "f.discharge_date, f.disposition, f.sessions_settled, f.sessions_attended, "
        "f.weeks_full, f.days_to_readmission, f.days_to_followup, f.min_hours_per_week, "
        "e.max_hours_per_week\n"
        "FROM facts f LEFT JOIN episode e ON e.episode_key = f.episode_key\n"
        "ORDER BY f.episode_key"
    )


def _ep_cte(engine_name: str) -> str:
    s = spelling(engine_name)
    return (
        f"SELECT episode_key, patient_key, {_date(s.q('start'))} AS start_d, "  # noqa: S608
        f"{_date(s.q('end'))} AS end_d FROM episode WHERE {iop_episode()}"
    )


def _scores_sql(engine_name: str) -> str:
    s = spelling(engine_name)
    loincs = _in(instrument(i).total_code for i in INSTRUMENTS.values())
    return f"""WITH ep AS ({_ep_cte(engine_name)})
SELECT ep.episode_key, x.loinc, x.score, x.effective, x.observation_key,
  CAST(x.d AS {s.string_type}) AS d, {s.days("ep.start_d", "x.d")} AS day
FROM (SELECT observation_key, patient_key, loinc, score, effective, {_date("effective")} AS d
      FROM {scores_sql("s")} WHERE loinc IN {loincs} AND status IN {_in(SCORE_STATUSES)}
        AND score IS NOT NULL) x
JOIN ep ON x.patient_key = ep.patient_key
WHERE {s.days("ep.start_d", "x.d")} >= -{BASELINE_DAYS_BEFORE}
  AND (ep.end_d IS NULL OR x.d <= ep.end_d)
ORDER BY ep.episode_key, x.loinc, x.d, x.effective, x.observation_key"""  # noqa: S608


def _sessions_sql(engine_name: str) -> str:
    s = spelling(engine_name)
    week = f"CAST(FLOOR({s.days('ep.start_d', 'x.d')} / 7.0) AS BIGINT)"
    return f"""WITH ep AS ({_ep_cte(engine_name)}),
{sessions_ctes(s).rstrip(",")}
SELECT ep.episode_key, {week} AS week, x.status, COUNT(*) AS n
FROM ses x
JOIN ep ON x.patient_key = ep.patient_key
WHERE {s.days("ep.start_d", "x.d")} >= 0 AND (ep.end_d IS NULL OR x.d <= ep.end_d)
GROUP BY ep.episode_key, {week}, x.status
ORDER BY ep.episode_key, week, x.status"""  # noqa: S608


def _hours_sql(engine_name: str) -> str:
    s = spelling(engine_name)
    week = f"CAST(FLOOR({s.days('ep.start_d', 'x.d')} / 7.0) AS BIGINT)"
    in_episode = f"{s.days('ep.start_d', 'x.d')} >= 0 AND (ep.end_d IS NULL OR x.d <= ep.end_d)"
    return f"""WITH ep AS ({_ep_cte(engine_name)})
SELECT ep.episode_key, {week} AS week, SUM(x.minutes) AS minutes,
  COUNT(DISTINCT x.d) AS days
FROM ({episode_hours_sql(s, in_episode)}) x
JOIN ep ON x.episode_key = ep.episode_key
GROUP BY ep.episode_key, {week}
ORDER BY ep.episode_key, week"""  # noqa: S608


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _episode(row: dict[str, Any]) -> EpisodeFacts:
    return EpisodeFacts(
        episode_key=str(row["episode_key"]),
        patient_key=str(row["patient_key"]),
        program_type=_text(row["program_type"]),
        admission_date=_text(row["admission_date"]),
        discharge_date=_text(row["discharge_date"]),
        disposition=_text(row["disposition"]),
        sessions_settled=int(row["sessions_settled"] or 0),
        sessions_attended=int(row["sessions_attended"] or 0),
        weeks_full=_int(row["weeks_full"]),
        days_to_readmission=_int(row["days_to_readmission"]),
        days_to_followup=_int(row["days_to_followup"]),
        min_hours_per_week=_num(row["min_hours_per_week"]),
        max_hours_per_week=_num(row["max_hours_per_week"]),
    )


def _scores(rows: list[dict[str, Any]], keep: set[str]) -> list[ScorePoint]:
    by_code = {instrument(i).total_code: i for i in INSTRUMENTS.values()}
    last: dict[tuple[str, str, int], ScorePoint] = {}
    for row in rows:  # ordered by date: the week's last score wins
        key = str(row["episode_key"])
        if key not in keep:
            continue
        week = max(0, int(row["day"]) // 7)
        inst = by_code[str(row["loinc"])]
        last[(key, inst, week)] = ScorePoint(key, inst, week, str(row["d"]), float(row["score"]))
    order = list(INSTRUMENTS.values())
    return sorted(last.values(), key=lambda p: (p.episode_key, order.index(p.instrument), p.week))


_STATUS_FIELD = {"noshow": "noshow", "cancelled": "cancelled"}


def _weeks(
    episodes: list[EpisodeFacts], sessions: list[dict[str, Any]], hours: list[dict[str, Any]]
) -> list[WeekRow]:
    cells: dict[tuple[str, int], dict[str, Any]] = {}
    full = {e.episode_key: e.weeks_full for e in episodes}
    for row in sessions:
        key = str(row["episode_key"])
        if key not in full:
            continue
        cell = cells.setdefault((key, int(row["week"])), {})
        status, n = str(row["status"]), int(row["n"])
        if status in ("fulfilled", "noshow", "cancelled"):
            cell["settled"] = cell.get("settled", 0) + n
            name = _STATUS_FIELD.get(status, "attended")
            cell[name] = cell.get(name, 0) + n
    for row in hours:
        key = str(row["episode_key"])
        if key not in full:
            continue
        cell = cells.setdefault((key, int(row["week"])), {})
        cell["hours"] = round(float(row["minutes"] or 0) / 60.0, 2)
        cell["days"] = int(row["days"] or 0)
    for e in episodes:  # every whole week is a row, a week without sessions too
        for week in range(e.weeks_full or 0):
            cells.setdefault((e.episode_key, week), {})["whole"] = True
    return [WeekRow(key, week, **cells[(key, week)]) for key, week in sorted(cells)]


def report_data(source: Source, engine: Engine, outcomes: Outcomes) -> ReportData:
    """Read the report's rows from ``source`` on ``engine`` (the period of ``outcomes``).

    Registers the views the measures use (as :func:`~iopfhir.outcomes.compute` does), so it
    may run on a fresh engine or on the one ``compute`` used.
    """

    def statements(name: str) -> tuple[str, str, str, str]:
        return (_episodes_sql(name, outcomes.period), _scores_sql(name), _sessions_sql(name),
                _hours_sql(name))  # fmt: skip

    if outcomes.repeated:  # read as the measures were: each resource once
        source = source.without_repeats()
    # the views with the columns the measures and these statements read (planned in the
    # DuckDB spelling: the same columns on every engine)
    views = outcome_views(engine.name, *statements("duckdb"), program_codes=outcomes.program_codes)
    for table, view in views.items():
        engine.register(table, view, source)
    texts = statements(engine.name)
    episodes = [_episode(r) for r in engine.query(texts[0]).to_dicts()]
    keep = {e.episode_key for e in episodes}
    scores = _scores(engine.query(texts[1]).to_dicts(), keep)
    weeks = _weeks(
        episodes,
        engine.query(texts[2]).to_dicts(),
        engine.query(texts[3]).to_dicts(),
    )
    return ReportData(episodes, scores, weeks)
