"""Parts of held elements the model has no place for, counted where their readers read
(issue 11, faithful import): each was dropped in silence before.

* An Appointment participant's ``required``, ``status`` and ``period`` beyond what the
  writer gives (``accepted``, no ``required``; the patient of a kind without them
  ``information-only`` / ``declined``).
* A relapse-prevention activity's detail parts its reader does not read (a ``kind``, a
  support's ``description``, a status other than ``in-progress``), and an activity's
  ``progress``; a check-in's ``scheduledPeriod.end``, a ``location``, a status no check-in
  has (read as ``scheduled``).
* A schedule's ``repeat`` parts beyond a Schedule (``when``, ``count``, a frequency other
  than once a day on its days) and a ``Timing.code``.
* A total Observation's value that is no score of the instrument (a bound ``< 5``).

Each on the two examples' resources, by both readers (NDJSON and Bundle); the examples
alone count nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fhir.both_readers import FORMS, unmapped_delta
from tests.fhir.example_resources import example_resources

NO_PLACE = "no place in the IOP model (dropped)"
NOT_KEPT = "not kept (dropped)"
RELAPSE = "relapse-prevention"
AFTERCARE = "aftercare"
LOINC = "http://loinc.org"


def _plans(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        r
        for r in resources
        if r["resourceType"] == "CarePlan"
        and any(c.get("code") == kind for cc in r.get("category", []) for c in cc["coding"])
    ]


def _changed(change: Callable[[list[dict[str, Any]]], None]) -> tuple[Any, Any]:
    plain = example_resources()
    more = copy.deepcopy(plain)
    change(more)
    return plain, more


@FORMS
def test_appointment_participant_parts(tmp_path: Path, form: str) -> None:
    changed = 0

    def change(resources: list[dict[str, Any]]) -> None:
        nonlocal changed
        for res in resources:
            if res["resourceType"] == "Appointment" and len(res.get("participant", [])) > 1:
                staff = res["participant"][1]
                staff["required"] = "optional"
                staff["status"] = "tentative"
                staff["period"] = {"start": "2025-01-06T10:00:00Z"}
                changed += 1

    delta, _, _ = unmapped_delta(*_changed(change), tmp_path, form)
    assert changed > 20
    assert dict(delta) == {
        f"Appointment.participant.required: {NOT_KEPT}": changed,
        f"Appointment.participant.status: {NOT_KEPT}": changed,
        f"Appointment.participant.period: {NO_PLACE}": changed,
    }


@FORMS
def test_appointment_participant_parts_not_given(tmp_path: Path, form: str) -> None:
    """A participant without ``status`` (R4 requires one; some senders leave it out) or
    ``required`` has nothing of them to drop: neither is counted."""
    changed = 0

    def change(resources: list[dict[str, Any]]) -> None:
        nonlocal changed
        for res in resources:
            if res["resourceType"] == "Appointment":
                for part in res.get("participant", []):
                    part.pop("status", None)
                    part.pop("required", None)
                    changed += 1

    delta, _, _ = unmapped_delta(*_changed(change), tmp_path, form)
    assert changed > 20
    assert dict(delta) == {}


@FORMS
def test_relapse_and_check_in_activity_parts(tmp_path: Path, form: str) -> None:
    def change(resources: list[dict[str, Any]]) -> None:
        for plan in _plans(resources, RELAPSE):
            first = plan["activity"][0]
            first["detail"]["kind"] = "Task"
            first["detail"]["status"] = "completed"
            first["progress"] = [{"text": "talked it through"}]
            support = next(a for a in plan["activity"] if "performer" in a["detail"])
            support["detail"]["description"] = "my sister"
        for plan in _plans(resources, AFTERCARE):
            check = next(a for a in plan["activity"] if "detail" in a)
            check["detail"]["scheduledPeriod"]["end"] = "2026-06-01"
            check["detail"]["location"] = {"display": "home"}
            check["detail"]["status"] = "on-hold"

    delta, after, _ = unmapped_delta(*_changed(change), tmp_path, form)
    assert dict(delta) == {
        f"CarePlan.activity.detail.kind: {NO_PLACE}": 2,
        f"CarePlan.activity.detail.status: {NO_PLACE}": 2,
        f"CarePlan.activity.progress: {NO_PLACE}": 2,
        f"CarePlan.activity.detail.description: {NO_PLACE}": 2,
        f"CarePlan.activity.detail.scheduledPeriod.end: {NO_PLACE}": 2,
        f"CarePlan.activity.detail.location: {NO_PLACE}": 2,
        "CarePlan.activity.detail.status: not a check-in's (read as scheduled)": 2,
    }
    # what the readers read is read as before
    for ep in after.episodes:
        assert ep.relapse_prevention is not None and ep.relapse_prevention.triggers
        assert ep.aftercare is not None and ep.aftercare.check_ins


@FORMS
def test_schedule_parts_beyond_a_schedule(tmp_path: Path, form: str) -> None:
    def change(resources: list[dict[str, Any]]) -> None:
        for plan in _plans(resources, "treatment"):
            for activity in plan["activity"]:
                timing = activity.get("detail", {}).get("scheduledTiming")
                if timing is not None:
                    timing["repeat"]["when"] = ["MORN"]
                    timing["code"] = {"text": "weekly"}
                    if "frequency" in timing["repeat"]:  # once a day on its days: derived
                        timing["repeat"]["frequency"] = 2
                    return

    delta, _, _ = unmapped_delta(*_changed(change), tmp_path, form)
    at = "CarePlan.activity.detail.scheduledTiming"
    assert dict(delta) == {
        f"{at}.repeat.when: not taken (dropped)": 1,
        f"{at}.repeat.frequency: not taken (dropped)": 1,
        f"{at}.code: not taken (dropped)": 1,
    }


@FORMS
def test_a_bounded_total_is_no_score(tmp_path: Path, form: str) -> None:
    def change(resources: list[dict[str, Any]]) -> None:
        for res in resources:
            if res["resourceType"] != "Observation" or "valueQuantity" not in res:
                continue
            if "44261-6" in [c["code"] for c in res["code"]["coding"]]:
                quantity = res["valueQuantity"]
                quantity["comparator"] = "<"
                return

    delta, after, before = unmapped_delta(*_changed(change), tmp_path, form)
    assert dict(delta) == {"Observation.value: not a score of the instrument (dropped)": 1}
    # the score comes from the answers, as before
    assert [m.score for e in after.episodes for m in e.measures] == [
        m.score for e in before.episodes for m in e.measures
    ]


@FORMS
@pytest.mark.parametrize("kept", ["start", "end", "reversed"])
def test_an_attended_sessions_period_with_one_end(tmp_path: Path, form: str, kept: str) -> None:
    """R4 allows a Period with one end only; the model keeps a session's actual times as a
    pair, so the session reads as held as planned and the end given is counted, not lost
    in silence (a reversed period likewise)."""
    booked = set()

    def change(resources: list[dict[str, Any]]) -> None:
        booked.update(
            f"Appointment/{r['id']}" for r in resources if r["resourceType"] == "Appointment"
        )
        for res in resources:
            refs = {a.get("reference") for a in res.get("appointment", [])}
            if (
                res["resourceType"] == "Encounter"
                and res.get("status") == "finished"
                and refs & booked
            ):
                period = res["period"]
                if kept == "reversed":
                    res["period"] = {"start": period["end"], "end": period["start"]}
                else:
                    res["period"] = {kept: period[kept]}
                return

    delta, after, _ = unmapped_delta(*_changed(change), tmp_path, form)
    assert dict(delta) == {
        "Encounter.period: one end only or reversed (read as the planned times)": 1
    }
    attended = [s for e in after.episodes for s in e.sessions if s.status == "attended"]
    assert attended and all(s.actual_start is not None for s in attended)


NO_START = "Flag.period: without a start (written as the score's time)"
AN_END = "Flag.period: an end or extension (dropped)"
OTHER_START = "Flag.period.start: not the score's time (written as it)"


@FORMS
@pytest.mark.parametrize(
    ("period", "counted"),
    [
        ({"end": "2026-03-20"}, [NO_START, AN_END]),
        (None, []),  # nothing lost: the start written again is derived, as the Flag is
        ({"start": "2001-01-01T00:00:00Z"}, [OTHER_START]),
    ],
)
def test_a_safety_flags_period_beyond_the_scores_time(
    tmp_path: Path, form: str, period: dict[str, str] | None, counted: list[str]
) -> None:
    """A Flag the answers raise is written again from its score, its period starting at the
    score's time: a period that says something else is counted, not lost in silence."""

    def change(resources: list[dict[str, Any]]) -> None:
        flag = next(r for r in resources if r["resourceType"] == "Flag")
        if period is None:
            del flag["period"]
        else:
            flag["period"] = period

    delta, _, _ = unmapped_delta(*_changed(change), tmp_path, form)
    assert dict(delta) == dict.fromkeys(counted, 1)


ORDINAL_URL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


@FORMS
@pytest.mark.parametrize("agrees", [True, False])
def test_an_answers_ordinal_value(tmp_path: Path, form: str, agrees: bool) -> None:
    """An answer's ``ordinalValue`` equal to the points its code gives is what the writer
    says again; another value is counted (the answer keeps its code's points)."""

    def change(resources: list[dict[str, Any]]) -> None:
        qr = next(r for r in resources if r["resourceType"] == "QuestionnaireResponse")
        answer = next(a for i in qr["item"] for a in i.get("answer", []) if "valueCoding" in a)
        code = answer["valueCoding"]["code"]
        points = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}[code]
        stated = points if agrees else points + 1
        answer["valueCoding"]["extension"] = [{"url": ORDINAL_URL, "valueDecimal": stated}]

    delta, after, before = unmapped_delta(*_changed(change), tmp_path, form)
    where = "QuestionnaireResponse.item.answer.value"
    expected = (
        {} if agrees else {f"{where}: an ordinal value other than the answer's points (dropped)": 1}
    )
    assert dict(delta) == expected
    assert [m.answers for e in after.episodes for m in e.measures] == [
        m.answers for e in before.episodes for m in e.measures
    ]


@FORMS
@pytest.mark.parametrize(
    ("name", "counted"),
    [
        ({"given": ["Dana", "M."]}, "missing (the last given name read as it)"),
        ({"text": "Dana M. Rivera"}, "missing (the text read as the family name)"),
    ],
)
def test_a_name_without_a_family(
    tmp_path: Path, form: str, name: dict[str, Any], counted: str
) -> None:
    """R4's HumanName may have no family; the model's has one, read from the text or the
    last given name: what was done is counted, not passed off as the source's."""

    def change(resources: list[dict[str, Any]]) -> None:
        for res in resources:
            if res["resourceType"] == "Patient":
                res["name"] = [name]
                return

    delta, _, _ = unmapped_delta(*_changed(change), tmp_path, form)
    assert dict(delta) == {f"Patient.name.family: {counted}": 1}
