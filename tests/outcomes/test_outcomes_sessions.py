"""Attendance counts each session once, whether it is recorded as an Appointment, as an
Encounter, or both (``iopfhir.outcomes.sessions``), on a small cohort whose figures are
worked out by hand, on DuckDB, on Spark and in the plain-Python reference.

Patient P, episode 2025-03-03 .. 03-30 (dates in March):

* Encounter only: 04 finished (attended), 05 finished by video (class ``VR``: attended,
  telehealth), 06 cancelled (cancelled), 07 in progress and 08 planned (not settled), 18 a
  finished team review (a kind without the patient: not counted), 31 finished (after
  discharge: not counted), 19 finished and referencing an Appointment the data does not
  hold (counted by itself: attended);
* Appointment and Encounter (``Encounter.appointment``): 10 fulfilled + finished (attended,
  once), 11 booked + cancelled (cancelled), 12 booked, no delivery extension + finished by
  video (attended, telehealth), 17 cancelled + finished (the Appointment is settled:
  cancelled), 20 pending + a cancelled and a finished Encounter (attended), 21 a declined
  team review + finished (not the patient's session: not counted);
* Appointment only: 13 no-show, 14 booked (not settled).

P: 10 settled, 6 attended (2 by video: under half), 1 no-show, 3 cancelled.
Patient Q, episode 2025-04-01 .. 04-28, Encounters only: 02 and 09 finished by video, 16
planned: 2 settled, 2 attended, both by video (half or more).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import SK, _episode, _p, _patient
from tests.outcomes.reference import compute as reference

from iopfhir.outcomes import compute
from iopfhir.outcomes.report import report_data
from iopfhir.views import Source

EXPECTED = {
    "iop-attendance": (_p(12, 12, 8), 0.6667),
    "iop-no-show": (_p(12, 12, 1), 0.0833),
    "iop-cancellation": (_p(12, 12, 3), 0.25),
    "iop-telehealth-share": (_p(8, 8, 4), 0.5),
}
#: attendance by telehealth band: band -> (denominator, numerator)
BANDS = {"under-half": (10, 6), "half-or-more": (2, 2)}


def _encounter(
    eid: str,
    pid: str,
    episode: str,
    day: str,
    status: str = "finished",
    *,
    video: bool = False,
    kind: str = "group-therapy",
    appointment: str | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"code": "VR" if video else "AMB"},
        "type": [{"coding": [{"system": SK, "code": kind}]}],
        "subject": {"reference": f"Patient/{pid}"},
        "episodeOfCare": [{"reference": f"EpisodeOfCare/{episode}"}],
        "period": {"start": f"{day}T09:00:00-05:00", "end": f"{day}T12:00:00-05:00"},
    }
    if appointment:
        r["appointment"] = [{"reference": f"Appointment/{appointment}"}]
    return r


def _appointment(
    aid: str, pid: str, day: str, status: str, *, kind: str = "group-therapy"
) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "serviceType": [{"coding": [{"system": SK, "code": kind}]}],
        "start": f"{day}T09:00:00-05:00",
        "end": f"{day}T12:00:00-05:00",
        "participant": [
            {
                "actor": {"reference": f"Patient/{pid}"},
                "status": "declined" if kind == "team-review" else "accepted",
            }
        ],
    }


def sessions_cohort() -> list[dict[str, Any]]:
    """The resources of the cohort (see the module docstring)."""
    march = "2025-03-"
    enc = [
        ("e04", "04", "finished", False, "group-therapy", None),
        ("e05", "05", "finished", True, "group-therapy", None),
        ("e06", "06", "cancelled", False, "group-therapy", None),
        ("e07", "07", "in-progress", False, "group-therapy", None),
        ("e08", "08", "planned", False, "group-therapy", None),
        ("e18", "18", "finished", False, "team-review", None),
        ("e31", "31", "finished", False, "group-therapy", None),
        ("e19", "19", "finished", False, "group-therapy", "not-in-the-data"),
        ("e10", "10", "finished", False, "group-therapy", "a10"),
        ("e11", "11", "cancelled", False, "group-therapy", "a11"),
        ("e12", "12", "finished", True, "group-therapy", "a12"),
        ("e17", "17", "finished", False, "group-therapy", "a17"),
        ("e20a", "20", "cancelled", False, "group-therapy", "a20"),
        ("e20b", "20", "finished", False, "group-therapy", "a20"),
        ("e21", "21", "finished", False, "team-review", "a21"),
    ]
    appts = [
        ("a10", "10", "fulfilled", "group-therapy"),
        ("a11", "11", "booked", "group-therapy"),
        ("a12", "12", "booked", "group-therapy"),
        ("a17", "17", "cancelled", "group-therapy"),
        ("a20", "20", "pending", "group-therapy"),
        ("a21", "21", "booked", "team-review"),
        ("a13", "13", "noshow", "group-therapy"),
        ("a14", "14", "booked", "group-therapy"),
    ]
    r: list[dict[str, Any]] = [
        _patient("P", "female", "1980-02-01"),
        _patient("Q", "male", "1975-07-01"),
        _episode("EP", "P", "mental-health", "2025-03-03", "2025-03-30", "completed", None, False),
        _episode("EQ", "Q", "mental-health", "2025-04-01", "2025-04-28", "completed", None, False),
    ]
    for eid, day, status, video, kind, appt in enc:
        r.append(
            _encounter(
                eid, "P", "EP", march + day, status, video=video, kind=kind, appointment=appt
            )
        )
    for aid, day, status, kind in appts:
        r.append(_appointment(aid, "P", march + day, status, kind=kind))
    for eid, day, status in (("q02", "02", "finished"), ("q09", "09", "finished")):
        r.append(_encounter(eid, "Q", "EQ", f"2025-04-{day}", status, video=True))
    r.append(_encounter("q16", "Q", "EQ", "2025-04-16", "planned"))
    return r


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_each_session_counted_once(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue(f"{engine_name}_engine")
    with Source.from_resources(sessions_cohort()) as source:
        outcomes = compute(source, engine)
    for measure_id, (populations, score) in EXPECTED.items():
        overall = outcomes.summary(measure_id).overall
        assert overall.populations == {**{k: 0 for k in overall.populations}, **populations}
        assert overall.score == score, measure_id
    bands = outcomes.summary("iop-attendance").strata["telehealth_band"]
    got = {v: (s.populations["denominator"], s.populations["numerator"]) for v, s in bands.items()}
    assert got == BANDS


def test_the_report_counts_the_same_sessions_by_week(duckdb_engine: Any) -> None:
    with Source.from_resources(sessions_cohort()) as source:
        outcomes = compute(source, duckdb_engine)
        data = report_data(source, duckdb_engine, outcomes)
    # (week, settled, attended, no-show, cancelled), P's and Q's summed: P 04 05 06 | 10 11
    # 12 13 | 17 19 20 (3 / 2, 4 / 2, 3 / 2 settled / attended), Q 02 | 09 (1 / 1 each)
    assert data.attendance_by_week() == [(0, 4, 3, 0, 1), (1, 5, 3, 1, 1), (2, 3, 2, 0, 1)]
    assert outcomes.summary("iop-attendance").overall.populations["denominator"] == 12


def test_duckdb_and_spark_give_each_subject_alike(duckdb_engine: Any, spark_engine: Any) -> None:
    subjects = []
    for engine in (duckdb_engine, spark_engine):
        with Source.from_resources(sessions_cohort()) as source:
            outcomes = compute(source, engine)
        subjects.append({m: sorted(map(repr, outcomes.subjects[m])) for m in EXPECTED})
    assert subjects[0] == subjects[1]
    assert len(subjects[0]["iop-attendance"]) == 2


def test_the_reference_counts_them_alike() -> None:
    ref = reference(sessions_cohort())
    for measure_id, (populations, score) in EXPECTED.items():
        assert ref[measure_id]["populations"] == populations, measure_id
        assert ref[measure_id]["score"] == score, measure_id
    bands = ref["iop-attendance"]["strata"]["telehealth_band"]
    got = {
        v: (s["populations"]["denominator"], s["populations"]["numerator"])
        for v, s in bands.items()
    }
    assert got == BANDS
