"""Synthetic cohorts have realistic outcomes: the measures computed over a synthetic cohort
drawn with readmissions (SQL on DuckDB, over its NDJSON) spread (some but not all patients
respond, drop out, are readmitted, keep their aftercare), and every figure equals one
derived here, independently, from the generated episodes (the domain model, before any
FHIR). Without readmissions (the default) every episode keeps a patient of its own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Episode, Measure
from iopfhir.fhir.ndjson import write_ndjson
from iopfhir.outcomes import compute
from iopfhir.synth import synth_episodes
from iopfhir.views import Source, get_engine

DROPOUT = ("lost-to-follow-up", "left-against-advice")


@pytest.fixture(scope="module")
def episodes() -> list[Episode]:
    return list(synth_episodes(200, seed=7, readmissions=True))


@pytest.fixture(scope="module")
def outcomes(episodes: list[Episode], tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("nd")
    write_ndjson(episodes, root)
    engine = get_engine("duckdb")
    try:
        with Source.from_path(root) as source:
            yield compute(source, engine)
    finally:
        engine.close()


def _window(e: Episode, episodes: list[Episode]) -> list[Measure]:
    """The patient's measures (of any of their episodes) from 14 days before admission to
    discharge, by date: what the measures of one episode read."""
    mine = [m for other in episodes if _patient(other) == _patient(e) for m in other.measures]
    return sorted(
        (
            m
            for m in mine
            if (m.date.date() - e.admission).days >= -14 and m.date.date() <= _discharge(e)
        ),
        key=lambda m: m.date,
    )


def _totals(e: Episode, instrument: str, episodes: list[Episode]) -> list[int]:
    return [
        m.score for m in _window(e, episodes) if m.instrument == instrument and m.score is not None
    ]


def _patient(e: Episode) -> str:
    return e.patient.identifiers[0].value


def _discharge(e: Episode) -> date:
    assert e.discharge is not None and e.discharge.date is not None
    return e.discharge.date


def _readmissions(episodes: list[Episode]) -> Iterator[tuple[Episode, int | None]]:
    """Each episode with the days from its discharge to the patient's next inpatient stay
    (the referral stay of a later episode of the same patient)."""
    stays: dict[str, list[date]] = defaultdict(list)
    for e in episodes:
        if e.referral is not None and e.referral.stay is not None:
            stays[_patient(e)].append(e.referral.stay.start)
    for e in episodes:
        later = [(d - _discharge(e)).days for d in stays[_patient(e)] if d > _discharge(e)]
        yield e, min(later) if later else None


def _score(outcomes: Any, measure_id: str) -> tuple[int, int]:
    pops = outcomes.summary(measure_id).overall.populations
    return pops["numerator"], pops["denominator"] - pops.get("denominator-exclusion", 0)


def _spread(numerator: int, denominator: int) -> None:
    assert 0 < numerator < denominator, (numerator, denominator)


def test_some_respond_some_remit(episodes: list[Episode], outcomes: Any) -> None:
    for inst, prefix in (("phq-9", "phq9"), ("gad-7", "gad7")):
        scored = [t for t in (_totals(e, inst, episodes) for e in episodes) if len(t) >= 2]
        severe = [t for t in scored if t[0] >= 10]
        response = sum(t[-1] <= t[0] * 0.5 for t in severe)
        remission = sum(t[-1] < 5 for t in severe)
        assert _score(outcomes, f"iop-{prefix}-response") == (response, len(severe))
        assert _score(outcomes, f"iop-{prefix}-remission") == (remission, len(severe))
        _spread(response, len(severe))
        _spread(remission, response)  # remission is rarer than response
        points = 6 if inst == "phq-9" else 4
        better = sum(t[-1] <= t[0] - points for t in scored)
        worse = sum(t[-1] >= t[0] + points for t in scored)
        assert _score(outcomes, f"iop-{prefix}-reliable-improvement") == (better, len(scored))
        assert _score(outcomes, f"iop-{prefix}-reliable-deterioration") == (worse, len(scored))
        _spread(better, len(scored))
        _spread(worse, better)  # some get worse, fewer than get better


def test_some_drop_out(episodes: list[Episode], outcomes: Any) -> None:
    dropouts = [e for e in episodes if _disposition(e) in DROPOUT]
    _spread(len(dropouts), len(episodes))
    completed = sum(_disposition(e) == "completed" for e in episodes)
    assert _score(outcomes, "iop-completion") == (completed, len(episodes))

    def attendance(group: list[Episode]) -> float:
        statuses = [
            s.status
            for e in group
            for s in e.sessions
            if s.kind in ("group-therapy", "skills-group") and s.status != "scheduled"
        ]
        return statuses.count("attended") / len(statuses)

    stayed = [e for e in episodes if _disposition(e) not in DROPOUT]
    assert attendance(dropouts) < attendance(stayed) - 0.1
    weeks = [(_discharge(e) - e.admission).days // 7 for e in dropouts]
    planned = [(_discharge(e) - e.admission).days // 7 for e in stayed]
    assert sum(weeks) / len(weeks) < sum(planned) / len(planned)


def _disposition(e: Episode) -> str | None:
    return e.discharge.disposition if e.discharge else None


def test_some_are_readmitted(episodes: list[Episode], outcomes: Any) -> None:
    days = [d for _e, d in _readmissions(episodes)]
    for window in (30, 90):
        readmitted = sum(d is not None and d <= window for d in days)
        assert _score(outcomes, f"iop-readmission-{window}") == (readmitted, len(episodes))
        _spread(readmitted, len(episodes) // 4)  # under a quarter, as in IOP cohorts
    within_30 = sum(d is not None and d <= 30 for d in days)
    assert within_30 < sum(d is not None and d <= 90 for d in days)
    # a readmitted patient's next episode is the same Patient resource
    patients = {_patient(e) for e in episodes}
    assert len(patients) < len(episodes)
    assert len(outcomes.subjects["iop-completion"]) == len(episodes)


def test_aftercare_kept_or_missed(episodes: list[Episode], outcomes: Any) -> None:
    due = kept = 0
    visits = 0
    for e in episodes:
        for plan in e.care_plans:
            if plan.kind != "aftercare":
                continue
            for c in plan.check_ins:
                if 1 <= (c.due - _discharge(e)).days <= 183:
                    due += 1
                    kept += c.status == "completed"
            visits += sum(a.status == "fulfilled" for a in plan.appointments)
    assert _score(outcomes, "iop-checkins-kept") == (kept, due)
    _spread(kept, due)
    _spread(visits, len(episodes))


def test_safety_screens_and_quality_of_life(episodes: list[Episode], outcomes: Any) -> None:
    def positive(m: Measure) -> bool:  # PHQ-9 item 9 above 0, C-SSRS risk above none
        answers = m.answers or {}
        if m.instrument == "phq-9":
            return answers.get("q9", 0) > 0
        return m.instrument == "c-ssrs" and any(answers.values())

    screens = [
        [m for m in _window(e, episodes) if m.instrument in ("phq-9", "c-ssrs")] for e in episodes
    ]
    screened = sum(bool(ms) for ms in screens)
    flagged = sum(any(positive(m) for m in ms) for ms in screens)
    assert _score(outcomes, "iop-safety-positive") == (flagged, screened)
    _spread(flagged, len(episodes) // 2)
    for inst, prefix in (("promis-10", "promis10"), ("whodas-12", "whodas12")):
        pairs = [t for t in (_totals(e, inst, episodes) for e in episodes) if len(t) >= 2]
        _spread(len(pairs), len(episodes))
        mean = round(sum(t[-1] - t[0] for t in pairs) / len(pairs), 4)
        assert outcomes.summary(f"iop-{prefix}-change").overall.score == mean
    # functioning improves on average (PROMIS up, WHODAS down), but not for everyone
    promis = [
        t[-1] - t[0] for t in (_totals(e, "promis-10", episodes) for e in episodes) if len(t) >= 2
    ]
    assert sum(promis) > 0 and min(promis) < 0


def test_deterministic_and_seed_dependent() -> None:
    def figures(seed: int) -> list[tuple[str | None, list[int]]]:
        eps = list(synth_episodes(30, seed=seed))
        return [(_disposition(e), _totals(e, "phq-9", eps)) for e in eps]

    assert figures(3) == figures(3)
    assert figures(3) != figures(4)


def test_files_are_written_for_a_readmission(tmp_path: Path) -> None:
    """A patient with two episodes is one Patient resource in the NDJSON."""
    episodes = list(synth_episodes(60, seed=7, readmissions=True))
    write_ndjson(episodes, tmp_path)
    lines = (tmp_path / "Patient.ndjson").read_text().splitlines()
    assert len(lines) == len({_patient(e) for e in episodes}) < len(episodes)


def test_without_readmissions_one_patient_per_episode() -> None:
    """The default: the same courses (dropouts, scores, aftercare), no second episodes."""
    plain = list(synth_episodes(60, seed=7))
    assert len({_patient(e) for e in plain}) == len(plain)
    assert all(d is None for _e, d in _readmissions(plain))
    with_readmissions = list(synth_episodes(60, seed=7, readmissions=True))
    same = [
        (a.discharge, [m.score for m in a.measures]) == (b.discharge, [m.score for m in b.measures])
        for a, b in zip(plain, with_readmissions, strict=True)
    ]
    assert 0 < same.count(False) < len(same) // 4  # only the readmitted patients' next episodes
