"""Shapes of others' R4 data the reader got wrong, read as R4 allows them.

- A patient without an EpisodeOfCare, known only by its reference (``Patient/x``, an
  absolute ``http://.../Patient/x``): the reader keeps that reference as an identifier;
  written and read again, the episode keeps its key (the reference's slashes are not
  iopfhir's ``<episode>/<key>``).
- A MedicationStatement / MedicationRequest with a structured Dosage, or several: the
  model keeps the first dosage text there is (a structured first Dosage hid a second's
  text); an AllergyIntolerance of two categories, a reaction with a description or onset:
  what the model does not keep is counted at its FHIRPath, not dropped without a word.
- An Appointment with ``start`` and ``minutesDuration`` and no ``end``, an Encounter with
  ``period.start`` and ``length``: the session ends when its length says, not when it
  starts (the length was dropped as having no place in the model).
- A Patient whose ``gender`` is a list or an object (no R4, but seen): counted at its
  FHIRPath, where the import stopped with an internal error.
- A score given over an ``effectivePeriod`` with an end: the measure keeps the start; the
  end is counted, not dropped without a word.
- Two total-score Observations of one instrument at one time with different values (a
  duplicate, a correction): one measure, keyed by the first, had the last one's score and
  nothing said the other was dropped.
- An EpisodeOfCare diagnosis with a ``role`` (chief complaint, admission...), or naming a
  Condition the input does not hold: counted, where both went without a word.
- A QuestionnaireResponse item of an instrument (one choice) with two answers: the first is
  scored, the second counted, where it went without a word.
- An EpisodeOfCare naming a team the input does not hold (another server's CareTeam, a
  display): counted, where it went without a word.
- An AllergyIntolerance without a clinical status (R4 ait-1 requires one unless it was
  entered in error): counted at ``AllergyIntolerance.clinicalStatus``, where the reason was
  the model's refusal (``AllergyIntolerance: invalid``), which names no FHIRPath.
- A booked Appointment whose Encounter was cancelled, a cancelled Encounter alone: the
  session is cancelled and written back with its cancelled Encounter (the first was read
  as scheduled and written with a planned Encounter; the second as an invented
  Appointment, its Encounter dropped without a word).
- A score with no effective time, only ``issued``: its date is the ``issued`` instant,
  which was also counted as dropped.
- A Condition without a category (R4 0..*): written back with ``problem-list-item``, as
  the IOP profile requires one; counted, where the default went without a word.
- A score whose Observation is preliminary or amended: the model holds no status and
  writes ``final``: counted; a cancelled one is no result and no measure (it was one).
- A history Bundle (``_history``): the newest version of each resource is read, and a
  resource whose newest entry is a deletion is not (older versions were read as current).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from both_readers import FORMS, read_both

from iopfhir.cli import main
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir, read_fhir_streamed

_PHQ9_TOTAL = {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]}


def _score(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": _PHQ9_TOTAL,
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-01-01T10:00:00Z",
        "valueInteger": 5,
    }


@pytest.mark.parametrize(
    ("entries", "key"),
    [
        # no Patient resource: the score's subject is all there is
        ([{"resource": _score("Patient/x")}], "ref-Patient-x"),
        # a Patient with no identifier, at an absolute URL, referenced by a version
        (
            [
                {
                    "fullUrl": "http://ehr.example/fhir/Patient/p6",
                    "resource": {"resourceType": "Patient", "id": "p6"},
                },
                {"resource": _score("http://ehr.example/fhir/Patient/p6/_history/3")},
            ],
            "p6",
        ),
    ],
)
def test_episode_of_a_referenced_patient_keeps_its_key(
    entries: list[dict[str, Any]], key: str
) -> None:
    first = read_fhir({"resourceType": "Bundle", "type": "collection", "entry": entries})
    assert [e.key for e in first.episodes] == [key]
    again = read_fhir(collection_bundle(first.episodes))
    assert [e.key for e in again.episodes] == [key]
    assert again.episodes == first.episodes


_RXNORM = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312938"}]}
_ACTIVE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "code": "active",
        }
    ]
}


def _medications() -> list[dict[str, Any]]:
    """A patient's medication data as an EHR writes it: structured dosages, a tapering
    second instruction, an allergy of two categories with a described reaction."""
    return [
        {"resourceType": "Patient", "id": "p1"},
        {
            "resourceType": "MedicationStatement",
            "id": "ms1",
            "status": "active",
            "medicationCodeableConcept": _RXNORM,
            "subject": {"reference": "Patient/p1"},
            "dosage": [
                {
                    "sequence": 1,
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                },
                {"sequence": 2, "text": "50 mg at night"},
            ],
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": _RXNORM,
            "subject": {"reference": "Patient/p1"},
            "dosageInstruction": [{"text": "one tablet daily"}, {"text": "two after week 2"}],
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": {"reference": "Patient/p1"},
            "clinicalStatus": _ACTIVE,
            "category": ["food", "medication"],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91935009"}]},
            "reaction": [
                {
                    "manifestation": [
                        {"coding": [{"system": "http://snomed.info/sct", "code": "39579001"}]}
                    ],
                    "description": "described in words",
                    "onset": "2012-06-01",
                    "severity": "severe",
                }
            ],
        },
    ]


@FORMS
def test_dosages_and_allergy_details_beyond_the_model_are_counted(
    tmp_path: Path, form: str
) -> None:
    result = read_both(_medications(), tmp_path, form)
    (episode,) = result.episodes
    # the text of a Dosage after a structured one is the one the model can keep
    assert [m.dosage for m in episode.medications] == ["50 mg at night"]
    assert [p.dosage for p in episode.prescriptions] == ["one tablet daily"]
    assert [a.category for a in episode.allergies] == ["food"]
    unmapped = result.unmapped
    assert unmapped["MedicationStatement.dosage.timing: not kept (dropped)"] == 1
    assert unmapped["MedicationRequest.dosageInstruction.text: of a further dosage (dropped)"] == 1
    assert (
        unmapped["AllergyIntolerance.category: a further category after the first (dropped)"] == 1
    )
    assert unmapped["AllergyIntolerance.reaction.description: not kept (dropped)"] == 1
    assert unmapped["AllergyIntolerance.reaction.onset: not kept (dropped)"] == 1
    # reasons name paths, never the values read
    assert not any("night" in r or "week" in r or "words" in r for r in unmapped)


_P1 = {"reference": "Patient/p1"}


def _booked(**times: Any) -> dict[str, Any]:
    """Appointment a1, booked for patient p1 (``times``: its start, end or length)."""
    return {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        **times,
        "participant": [{"actor": _P1, "status": "accepted"}],
    }


def _visit(eid: str, status: str, **more: Any) -> dict[str, Any]:
    """An ambulatory Encounter of patient p1 (``more``: its period, length, appointment)."""
    amb = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": amb,
        "subject": _P1,
        **more,
    }


def _open_ended() -> list[dict[str, Any]]:
    """An Appointment booked with a start and ``minutesDuration`` only, an Encounter with a
    start and ``length`` only (both R4: ``end`` is 0..1), and one with a length no session has."""
    hours = {"value": 1.5, "unit": "hours", "system": "http://unitsofmeasure.org", "code": "h"}
    return [
        {"resourceType": "Patient", "id": "p1"},
        _booked(start="2024-01-08T10:00:00Z", minutesDuration=45),
        _visit("e1", "finished", period={"start": "2024-01-09T10:00:00-05:00"}, length=hours),
        _visit(
            "e2",
            "finished",
            period={"start": "2024-01-10T10:00:00Z"},
            length={"value": 3, "unit": "wk"},
        ),
    ]


@FORMS
def test_a_session_without_an_end_ends_after_its_length(tmp_path: Path, form: str) -> None:
    result = read_both(_open_ended(), tmp_path, form)
    (episode,) = result.episodes
    ends = {s.key: (s.end - s.start).total_seconds() / 60 for s in episode.sessions}
    assert ends == {"a1": 45, "e1": 90, "e2": 0}
    unmapped = result.unmapped
    # the lengths read are held, not dropped; the one no session has is counted, as is
    # the end it leaves open
    assert not any(r.startswith("Appointment.minutesDuration") for r in unmapped)
    assert unmapped["Encounter.length: not a duration of at most a day (dropped)"] == 1
    assert (
        unmapped["Encounter.period.end: missing (the session is read as ending when it starts)"]
        == 1
    )
    assert "Encounter.length: no place in the IOP model (dropped)" not in unmapped
    # written and read back, the end stays where the length put it
    again = read_fhir(collection_bundle(result.episodes))
    assert again.episodes == result.episodes


@pytest.mark.parametrize("gender", [["female"], {"code": "female"}])
def test_a_gender_that_is_no_code_is_counted_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gender: object
) -> None:
    source = tmp_path / "patient.json"
    source.write_text(json.dumps({"resourceType": "Patient", "id": "p1", "gender": gender}))
    assert main(["import", str(source), "--summary"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["patients"] == 1
    assert summary["unmapped"]["Patient"] == {"Patient.gender: not a code (dropped)": 1}
    assert "female" not in out.err


@FORMS
def test_the_end_of_a_scores_effective_period_is_counted(tmp_path: Path, form: str) -> None:
    score = _score("Patient/p1")
    del score["effectiveDateTime"]
    score["effectivePeriod"] = {"start": "2024-01-01T10:00:00Z", "end": "2024-01-01T10:10:00Z"}
    instant = {**_score("Patient/p1"), "id": "o2", "valueInteger": 7}
    del instant["effectiveDateTime"]
    instant["effectiveInstant"] = "2024-01-02T10:00:00Z"
    resources = [{"resourceType": "Patient", "id": "p1"}, score, instant]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert [(m.key, m.total) for m in episode.measures] == [("o1", 5), ("o2", 7)]
    assert result.unmapped == {"Observation.effectivePeriod.end: not kept (dropped)": 1}


@FORMS
def test_a_second_total_at_the_same_time_is_counted_not_swapped_in(
    tmp_path: Path, form: str
) -> None:
    first = _score("Patient/p1")
    second = {**_score("Patient/p1"), "id": "o2", "valueInteger": 7}
    same = {**_score("Patient/p1"), "id": "o3"}  # a duplicate of the first: nothing lost
    result = read_both(
        [{"resourceType": "Patient", "id": "p1"}, first, second, same], tmp_path, form
    )
    (episode,) = result.episodes
    assert [(m.key, m.total) for m in episode.measures] == [("o1", 5)]
    assert result.unmapped == {"Observation: another total at the same time (dropped)": 1}


@FORMS
def test_an_episode_diagnosis_role_and_a_missing_condition_are_counted(
    tmp_path: Path, form: str
) -> None:
    patient = {"reference": "Patient/p1"}
    icd = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]}
    chief = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/diagnosis-role", "code": "CC"}]
    }
    resources = [
        {"resourceType": "Patient", "id": "p1"},
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": patient,
            "code": icd,
            "category": [{"coding": [{"code": "problem-list-item"}]}],
        },
        {
            "resourceType": "EpisodeOfCare",
            "id": "eoc1",
            "status": "active",
            "patient": patient,
            "period": {"start": "2024-01-02"},
            "diagnosis": [
                {"condition": {"reference": "Condition/c1"}, "role": chief, "rank": 1},
                {"condition": {"reference": "Condition/elsewhere"}, "rank": 2},
            ],
        },
    ]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert [d.key for d in episode.diagnoses] == ["c1"]
    assert result.unmapped == {
        "EpisodeOfCare.diagnosis.role: not kept (dropped)": 1,
        "EpisodeOfCare.diagnosis.condition: not a Condition of the input (dropped)": 1,
    }


@FORMS
def test_an_allergy_without_a_clinical_status_is_counted_at_its_path(
    tmp_path: Path, form: str
) -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91935009"}]},
        "criticality": "high",
    }
    in_error = {
        **allergy,
        "id": "a2",
        "verificationStatus": {"coding": [{"code": "entered-in-error"}]},
    }
    resources = [{"resourceType": "Patient", "id": "p1"}, allergy, in_error]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    # R4 ait-1: only the entered-in-error record may go without a clinical status
    assert [a.key for a in episode.allergies] == ["a2"]
    assert result.unmapped == {
        "AllergyIntolerance.clinicalStatus: none of allergyintolerance-clinical,"
        " which R4 ait-1 requires (not kept)": 1
    }


def _phq9_response(first_item_answers: list[str]) -> dict[str, Any]:
    """A PHQ-9 QuestionnaireResponse by LOINC: its nine items, the first one answered with
    ``first_item_answers`` (LOINC answer codes), the others "not at all"."""
    items = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5"]
    items += ["44253-3", "44260-8"]

    def answer(code: str) -> dict[str, Any]:
        return {"valueCoding": {"system": "http://loinc.org", "code": code}}

    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "questionnaire": "http://loinc.org/q/44249-1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": "2024-01-01T10:00:00Z",
        "item": [
            {
                "linkId": code,
                "answer": [answer(c) for c in first_item_answers]
                if k == 0
                else [answer("LA6568-5")],
            }
            for k, code in enumerate(items)
        ],
    }


@FORMS
def test_a_second_answer_to_an_item_of_one_choice_is_counted(tmp_path: Path, form: str) -> None:
    # PHQ-9's items take one answer: the first is read, another is counted, not lost unseen
    patient = {"resourceType": "Patient", "id": "p1"}
    one = read_both([patient, _phq9_response(["LA6569-3"])], tmp_path / "one", form)
    two = read_both([patient, _phq9_response(["LA6569-3", "LA6570-1"])], tmp_path / "two", form)
    (measure,) = one.episodes[0].measures
    assert [m.score for m in two.episodes[0].measures] == [measure.score] == [1]
    assert one.unmapped == {}
    assert two.unmapped == {"QuestionnaireResponse.item.answer: a second answer (dropped)": 1}


@FORMS
def test_an_episode_team_the_input_does_not_hold_is_counted(tmp_path: Path, form: str) -> None:
    patient = {"reference": "Patient/p1"}
    team = {
        "resourceType": "CareTeam",
        "id": "ct1",
        "subject": patient,
        "participant": [{"member": {"reference": "Practitioner/dr1"}}],
    }
    resources = [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Okafor"}]},
        team,
        {
            "resourceType": "EpisodeOfCare",
            "id": "eoc1",
            "status": "active",
            "patient": patient,
            "period": {"start": "2024-01-02"},
            "team": [
                {"reference": "CareTeam/ct1"},
                {"reference": "CareTeam/elsewhere"},
                {"display": "the weekend team"},
            ],
        },
    ]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert [t.key for t in episode.teams] == ["ct1"]
    assert result.unmapped == {"EpisodeOfCare.team: not a CareTeam of the input (dropped)": 2}


def _called_off() -> list[dict[str, Any]]:
    """A booked Appointment whose Encounter was cancelled, and a cancelled Encounter alone
    (both R4: ``Encounter.status`` has ``cancelled``)."""
    return [
        {"resourceType": "Patient", "id": "p1"},
        _booked(start="2024-01-08T10:00:00Z", end="2024-01-08T11:00:00Z"),
        _visit(
            "e1",
            "cancelled",
            appointment=[{"reference": "Appointment/a1"}],
            period={"start": "2024-01-08T10:00:00Z"},
        ),
        _visit(
            "e2",
            "cancelled",
            period={"start": "2024-01-09T10:00:00Z", "end": "2024-01-09T11:00:00Z"},
        ),
    ]


@FORMS
def test_a_cancelled_encounter_cancels_its_session_and_is_written_back(
    tmp_path: Path, form: str
) -> None:
    result = read_both(_called_off(), tmp_path, form)
    (episode,) = result.episodes
    sessions = {s.key: (s.status, s.written_forms()) for s in episode.sessions}
    assert sessions == {
        "a1": ("cancelled", ("appointment", "encounter")),
        "e2": ("cancelled", ("encounter",)),
    }
    assert not result.unmapped
    # written back: the two Encounters, cancelled, and the one Appointment (none invented)
    written = [e["resource"] for e in collection_bundle(result.episodes)["entry"]]
    statuses = sorted(
        (r["resourceType"], r["status"])
        for r in written
        if r["resourceType"] in ("Appointment", "Encounter")
    )
    assert statuses == [
        ("Appointment", "cancelled"),
        ("Encounter", "cancelled"),
        ("Encounter", "cancelled"),
    ]
    assert read_fhir(collection_bundle(result.episodes)).episodes == result.episodes


@FORMS
def test_a_score_timed_by_its_issued_instant_holds_it(tmp_path: Path, form: str) -> None:
    score = _score("Patient/p1")
    for key in [k for k in score if k.startswith("effective")]:
        del score[key]
    score["issued"] = "2024-02-01T09:30:00Z"
    result = read_both([{"resourceType": "Patient", "id": "p1"}, score], tmp_path, form)
    (measure,) = result.episodes[0].measures
    assert measure.date.isoformat() == "2024-02-01T09:30:00+00:00"
    assert not any(reason.startswith("Observation.issued") for reason in result.unmapped)


@FORMS
def test_a_condition_without_a_category_is_said_to_get_one(tmp_path: Path, form: str) -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]},
        "subject": {"reference": "Patient/p1"},
    }
    patient = {"resourceType": "Patient", "id": "p1"}
    result = read_both([patient, condition], tmp_path / "none", form)
    (diagnosis,) = result.episodes[0].diagnoses
    assert diagnosis.category == "problem-list-item"  # the IOP profile requires one
    assert result.unmapped == {"Condition.category: missing (written back as problem-list-item)": 1}
    category = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis"}]}  # fmt: skip
    result = read_both([patient, {**condition, "category": [category]}], tmp_path / "one", form)
    assert result.episodes[0].diagnoses[0].category == "encounter-diagnosis"
    assert not result.unmapped


@FORMS
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("preliminary", "Observation.status: preliminary (written back as final)"),
        ("amended", "Observation.status: amended (written back as final)"),
        ("cancelled", "Observation: cancelled"),  # no result: no measure
        ("final", None),
    ],
)
def test_a_score_that_is_not_final_is_said_so(
    tmp_path: Path, form: str, status: str, reason: str | None
) -> None:
    score = {**_score("Patient/p1"), "status": status}
    result = read_both([{"resourceType": "Patient", "id": "p1"}, score], tmp_path, form)
    measures = result.episodes[0].measures
    assert len(measures) == (0 if status == "cancelled" else 1)
    assert dict(result.unmapped) == ({reason: 1} if reason else {})


def _version(value: int, version: str, rid: str = "o1") -> dict[str, Any]:
    score = {**_score("Patient/p1"), "id": rid, "valueInteger": value}
    score["meta"] = {"versionId": version}
    score["effectiveDateTime"] = f"2024-01-0{value}T10:00:00Z"
    return score


def test_a_history_bundle_is_read_as_its_newest_versions(tmp_path: Path) -> None:
    """A ``_history`` Bundle lists versions newest first (R4) and a deletion as an entry
    without a resource: each resource's newest version is read, a deleted one not at all
    (an older version was read as current, o1's first version counted as a duplicate)."""
    base = "https://ehr.example/fhir"
    entries = [
        {"fullUrl": f"{base}/Observation/o2",
         "request": {"method": "DELETE", "url": "Observation/o2"}},
        {"fullUrl": f"{base}/Observation/o1", "resource": _version(5, "2"),
         "request": {"method": "PUT", "url": "Observation/o1"}},
        {"resource": _version(4, "1", "o2"), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": f"{base}/Observation/o1/_history/1", "resource": _version(3, "1"),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": f"{base}/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"},
         "request": {"method": "POST", "url": "Patient"}},
    ]  # fmt: skip
    history = {"resourceType": "Bundle", "type": "history", "entry": entries}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    for read in (read_fhir, read_fhir_streamed):
        result = read(path)
        assert [m.total for m in result.episodes[0].measures] == [5]
        assert not result.unmapped
    # the same entries as a collection: every resource is read (o1's second one a duplicate)
    path.write_text(json.dumps({**history, "type": "collection"}))
    result = read_fhir(path)
    assert sorted(m.total for m in result.episodes[0].measures) == [4, 5]
