"""Session Encounters that link to no EpisodeOfCare of the data (US Core Encounters carry no
``episodeOfCare``; a partial export lacks the episode one names) are of the patient's IOP
episode whose dates hold them, as the import reads them and as attendance counts them: their
hours count in intensity (and in the report's weeks), their clinicians in continuity. One
linked to another program's episode of the data stays that program's; an unlinked visit of
no session kind (a primary-care visit during the program, in a whole-system export) is not
the episode's. DuckDB, Spark and the plain loop agree with the hand-computed figures."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import _episode, _patient
from tests.outcomes.figures import overall_agrees, with_weekly_hours

HACC = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/episodeofcare-type",
                "code": "hacc"}]
}  # fmt: skip


def _encounter(
    vid: str,
    day: str,
    episode: str | None,
    *,
    klass: str = "AMB",
    end: str | None = None,
    cpt: str = "90853",
) -> dict[str, Any]:
    """Patient C's finished Encounter on ``day``, 09:00-11:00 (an inpatient stay to
    ``end``), typed by CPT ``cpt`` (90853 group psychotherapy: a session; 99213 an office
    visit: none), with Practitioner P1, linked to ``episode`` (None: to none)."""
    r: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": vid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "type": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": cpt}]}],
        "subject": {"reference": "Patient/C"},
        "participant": [{"individual": {"reference": "Practitioner/P1"}}],
        "period": {"start": f"{day}T09:00:00Z", "end": f"{end or day}T11:00:00Z"},
    }
    if episode is not None:
        r["episodeOfCare"] = [{"reference": f"EpisodeOfCare/{episode}"}]
    return r


def cohort() -> list[dict[str, Any]]:
    # 2025-03-03 (a Monday) to 2025-03-30: four whole weeks
    iop = _episode("EC", "C", "mental-health", "2025-03-03", "2025-03-30", "completed",
                   None, True)  # fmt: skip
    other = {**_episode("EH", "C", "mental-health", "2025-01-01", None, None, None, False),
             "type": [HACC]}  # fmt: skip
    return [
        _patient("C", "female", "1970-02-01"),
        iop,
        other,
        # an inpatient stay discharged three days before admission, with P1
        _encounter("s1", "2025-02-20", None, klass="IMP", end="2025-02-28"),
        _encounter("u1", "2025-03-04", None),  # linked to none: EC's (2 h, and P1)
        _encounter("u2", "2025-03-11", "gone"),  # to an episode the data lack: EC's (2 h)
        _encounter("u3", "2025-03-12", "EH"),  # to the hacc episode: not EC's
        _encounter("l1", "2025-03-18", "EC"),  # linked to EC (2 h)
        _encounter("o1", "2025-03-20", None, cpt="99213"),  # no session: not EC's
        _encounter("u4", "2025-04-15", None),  # after discharge: a follow-up, not EC's hours
    ]


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_unlinked_encounters_are_of_the_episode_that_holds_them(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    outcomes, weeks = with_weekly_hours(cohort(), engine)
    # u1 + u2 + l1: 6 hours over four whole weeks (u3 is the hacc episode's, o1 no
    # session, u4 after)
    assert outcomes.summary("iop-intensity-hours").overall.score == 1.5
    # P1, of the stay before admission, takes part in u1
    continuity = outcomes.summary("iop-continuity-inpatient").overall.populations
    assert (continuity["denominator"], continuity["numerator"]) == (1, 1)
    # u4: a visit 16 days after discharge
    assert outcomes.summary("iop-followup-30").overall.populations["numerator"] == 1
    assert outcomes.summary("iop-followup-7").overall.populations["numerator"] == 0
    # the report's weeks: the same hours, in program weeks 0, 1 and 2
    assert weeks == {0: 2.0, 1: 2.0, 2: 2.0}


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = overall_agrees(cohort(), duckdb_engine)
    assert ref["iop-intensity-hours"]["score"] == 1.5
    assert ref["iop-continuity-inpatient"]["populations"]["numerator"] == 1
