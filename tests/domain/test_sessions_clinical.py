"""Sessions as clinicians count them: meetings without the patient (team reviews, family
therapy without the patient, family education) add nothing to the patient's hours; the
program's intensity is checked per week against its minimum and maximum; a session has
the modality of its activity unless it names its own; the CPT / HCPCS codes of a session
follow its kind, length and program."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import yaml

from iopfhir.domain import Episode, Session, parse_episodes
from iopfhir.domain.sessions import kinds_without_patient
from iopfhir.errors import EpisodeInputError
from iopfhir.terminology import codes

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def _strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _example() -> dict[str, Any]:
    """The packaged mental-health example as parsed YAML (dates as strings)."""
    ref = resources.files("iopfhir").joinpath("examples/mental-health-iop.yaml")
    data: dict[str, Any] = _strings(yaml.safe_load(ref.read_text("utf-8")))
    return data


def _episode(data: dict[str, Any]) -> Episode:
    (episode,) = parse_episodes(data, source="episode.yaml")
    return episode


def _week1_meetings(kind: str, n: int = 3) -> list[dict[str, Any]]:
    """``n`` one-hour attended meetings of ``kind`` on week 1's Tuesday and Thursday
    afternoons (days on which the patient has no session)."""
    days = ["2026-03-03", "2026-03-05", "2026-03-03"]
    hours = ["13", "13", "15"]
    return [
        {
            "key": f"extra-{kind}-{i}",
            "kind": kind,
            "status": "attended",
            "start": f"{days[i]}T{hours[i]}:00:00-05:00",
            "end": f"{days[i]}T{int(hours[i]) + 1}:00:00-05:00",
            "facilitator": "th-nguyen",
            "attendees": ["dr-patel", "co-brooks"],
        }
        for i in range(n)
    ]


def test_the_kinds_without_the_patient_are_data() -> None:
    assert kinds_without_patient() == frozenset(codes()["session_kinds_without_patient"])
    assert {"team-review", "family-therapy-without-patient", "family-education"} <= (
        kinds_without_patient()
    )
    assert "family-therapy" not in kinds_without_patient()
    assert "family-education" in codes()["code_systems"]["session-kind"]["concepts"]


def test_three_team_reviews_in_week_1_change_no_patient_hours() -> None:
    data = _example()
    before = _episode(data).weekly_hours()
    data["sessions"] = data["sessions"] + _week1_meetings("team-review")
    after = _episode(data).weekly_hours()
    assert after == before
    assert after[0].hours == 9.0 and after[0].days == 3


def test_the_same_meetings_with_the_patient_do_count() -> None:
    """The control: were they group sessions, week 1 would have 3 more hours and 2 more
    days (so the test above can fail)."""
    data = _example()
    data["sessions"] = data["sessions"] + _week1_meetings("group-therapy")
    week1 = _episode(data).weekly_hours()[0]
    assert week1.hours == 12.0 and week1.days == 5


@pytest.mark.parametrize("kind", ["family-therapy-without-patient", "family-education"])
def test_family_meetings_without_the_patient_do_not_count(kind: str) -> None:
    data = _example()
    before = _episode(data).weekly_hours()
    meetings = _week1_meetings(kind, 2)
    for m in meetings:
        m["attendees"] = ["mother"]
    data["sessions"] = data["sessions"] + meetings
    episode = _episode(data)
    assert episode.weekly_hours() == before
    added = [s for s in episode.sessions if s.kind == kind and s.key.startswith("extra-")]
    assert [s.patient_present for s in added] == [False, False]
    assert [s.patient_minutes for s in added] == [0, 0]
    assert [s.delivered_minutes for s in added] == [60, 60]


def test_only_attended_sessions_count() -> None:
    data = _example()
    before = _episode(data).weekly_hours()
    extra = _week1_meetings("group-therapy", 2)
    extra[0]["status"] = "no-show"
    extra[1]["status"] = "scheduled"
    data["sessions"] = data["sessions"] + extra
    assert _episode(data).weekly_hours() == before


def test_the_packaged_example_holds_meetings_without_the_patient() -> None:
    episode = _episode(_example())
    kinds = {s.kind for s in episode.sessions if not s.patient_present}
    assert kinds == {"team-review", "family-education"}
    weeks = episode.weekly_hours()
    # the team reviews of weeks 2 and 4 and the family evening add nothing
    assert [w.hours for w in weeks[:4]] == [9.0, 9.0, 7.5, 6.0]


def _week(data: dict[str, Any], week: int) -> Any:
    return _episode(data).weekly_hours()[week]


def test_intensity_above_the_maximum_of_hours() -> None:
    data = _example()
    long_days = []
    for i, day in enumerate(["2026-03-03", "2026-03-05"]):
        long_days.append(
            {
                "key": f"long-{i}",
                "kind": "skills-group",
                "status": "attended",
                "start": f"{day}T08:00:00-05:00",
                "end": f"{day}T14:00:00-05:00",
                "facilitator": "co-brooks",
            }
        )
    data["sessions"] = data["sessions"] + long_days
    week1 = _week(data, 0)
    assert week1.hours == 21.0 and week1.days == 5
    assert week1.above_maximum and not week1.below_minimum


def test_intensity_above_the_maximum_of_days() -> None:
    data = _example()
    extra = []
    for i, day in enumerate(["2026-03-03", "2026-03-05", "2026-03-07"]):
        extra.append(
            {
                "key": f"short-{i}",
                "kind": "peer-support",
                "status": "attended",
                "start": f"{day}T16:00:00-05:00",
                "end": f"{day}T17:00:00-05:00",
                "facilitator": "ps-lee",
            }
        )
    data["sessions"] = data["sessions"] + extra
    week1 = _week(data, 0)
    assert week1.days == 6 and week1.hours == 12.0
    assert week1.above_maximum


def test_intensity_uses_the_programs_own_figures() -> None:
    data = _example()
    program = {"min_hours_per_week": 6, "min_days_per_week": 2, "max_hours_per_week": 8.5}
    data["program"] = {**data["program"], **program}
    weeks = _episode(data).weekly_hours()
    assert [w.below_minimum for w in weeks].count(True) == 0
    # 9 h weeks are over this program's 8.5 h
    assert [w.above_maximum for w in weeks] == [w.hours > 8.5 for w in weeks]
    assert weeks[0].above_maximum


def test_intensity_without_a_program_is_asam_2_1() -> None:
    data = _example()
    for field in ("program", "status", "admission", "discharge", "referral", "care_manager"):
        data.pop(field, None)
    weeks = _episode(data).weekly_hours()
    # a week of 7.5 h is under the default 9 h; a week of 2 days under the default 3
    assert [w.below_minimum for w in weeks] == [w.hours < 9 or w.days < 3 for w in weeks]
    assert any(w.below_minimum for w in weeks)


def test_program_defaults_are_asam_2_1() -> None:
    data = _example()
    program = _episode(data).program
    assert program is not None
    assert (program.max_hours_per_week, program.max_days_per_week) == (20.0, 5)


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("max_hours_per_week", 8, "$.program.max_hours_per_week"),
        ("max_days_per_week", 2, "$.program.max_days_per_week"),
    ],
)
def test_a_maximum_below_the_minimum_is_refused(field: str, value: int, path: str) -> None:
    data = _example()
    data["program"] = {**data["program"], field: value}
    with pytest.raises(EpisodeInputError) as info:
        parse_episodes(data, source="episode.yaml")
    assert path in str(info.value)


def test_the_patient_cannot_lead_a_meeting_without_them() -> None:
    data = _example()
    meeting = _week1_meetings("team-review", 1)[0]
    meeting["facilitator"] = "patient"
    meeting["attendees"] = []
    data["sessions"] = data["sessions"] + [meeting]
    with pytest.raises(EpisodeInputError) as info:
        parse_episodes(data, source="episode.yaml")
    index = len(data["sessions"]) - 1
    assert f"$.sessions[{index}].facilitator" in str(info.value)
    assert "Rivera" not in str(info.value)


# -- modality ------------------------------------------------------------------------------


def test_a_session_has_its_activitys_modality_unless_it_names_one() -> None:
    data = _example()
    by_key = {s["key"]: s for s in data["sessions"]}
    assert "modality" not in by_key["w1-mon"] and by_key["w1-mon"]["activity"] == "act-cbt-group"
    by_key["w1-wed"]["modality"] = "mi"  # the DBT skills group, this once in MI
    episode = _episode(data)
    sessions = {s.key: s for s in episode.sessions}
    assert sessions["w1-mon"].modality == "cbt"
    assert sessions["w1-wed"].modality == "mi"
    assert sessions["w2-wed"].modality == "dbt"
    assert sessions["w1-fri"].modality is None  # psychoeducation names no modality
    assert sessions["w5-thu-individual"].modality == "cbt"  # no activity, its own


def test_an_unknown_modality_is_refused_by_path() -> None:
    data = _example()
    data["sessions"][0]["modality"] = "hypnosis-xyz"
    with pytest.raises(EpisodeInputError) as info:
        parse_episodes(data, source="episode.yaml")
    assert "$.sessions[0].modality" in str(info.value)


def test_modality_is_filled_for_models_built_in_code_too() -> None:
    episode = _episode(_example())
    bare = [
        s.model_copy(update={"modality": None}) if s.activity is not None else s
        for s in episode.sessions
    ]
    assert any(s.modality is not None and s.activity is not None for s in episode.sessions)
    rebuilt = episode.model_copy(update={"sessions": bare})
    again = Episode.model_validate(rebuilt.model_dump())
    assert again.sessions == episode.sessions


# -- procedure codes -----------------------------------------------------------------------

T0 = datetime.fromisoformat("2026-03-03T10:00:00-05:00")


def _session(kind: str, minutes: int, status: str = "attended") -> Session:
    return Session(key="s", kind=kind, status=status, start=T0, end=T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, []),
        (16, ["90832"]),
        (37, ["90832"]),
        (38, ["90834"]),
        (52, ["90834"]),
        (53, ["90837"]),
        (90, ["90837"]),
    ],
)
def test_individual_psychotherapy_is_coded_by_minutes(minutes: int, expected: list[str]) -> None:
    found = _session("individual-therapy", minutes).procedure_codes("mental-health")
    assert [c.code for c in found] == expected
    assert all(c.system == CPT for c in found)


def test_individual_minutes_are_the_actual_ones_when_attended() -> None:
    planned = _session("individual-therapy", 60)
    shortened = planned.model_copy(
        update={"actual_start": T0, "actual_end": T0 + timedelta(minutes=40)}
    )
    assert [c.code for c in shortened.procedure_codes()] == ["90834"]


@pytest.mark.parametrize(
    ("kind", "program", "expected"),
    [
        ("group-therapy", "mental-health", [(CPT, "90853"), (HCPCS, "G0410")]),
        ("family-therapy", "substance-use", [(CPT, "90847")]),
        ("family-therapy-without-patient", "mental-health", [(CPT, "90846")]),
        ("multi-family-group", "mental-health", [(CPT, "90849")]),
        ("intake-assessment", "co-occurring", [(CPT, "90791")]),
        ("psychoeducation", "substance-use", [(HCPCS, "H0015")]),
        ("skills-group", "mental-health", [(HCPCS, "S9480")]),
        ("skills-group", None, []),
        ("team-review", "mental-health", []),
        ("family-education", "mental-health", []),
        ("peer-support", "substance-use", []),
    ],
)
def test_procedure_codes_by_kind_and_program(
    kind: str, program: str | None, expected: list[tuple[str, str]]
) -> None:
    found = _session(kind, 180).procedure_codes(program)
    assert [(c.system, c.code) for c in found] == expected


@pytest.mark.parametrize("status", ["no-show", "cancelled"])
def test_sessions_that_did_not_happen_have_no_procedure(status: str) -> None:
    assert _session("group-therapy", 180, status).procedure_codes("mental-health") == []


def test_scheduled_sessions_are_coded_from_the_plan() -> None:
    found = _session("individual-therapy", 45, "scheduled").procedure_codes()
    assert [c.code for c in found] == ["90834"]
