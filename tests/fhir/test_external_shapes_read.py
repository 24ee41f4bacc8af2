"""Shapes seen in others' R4 data (EHR sandboxes, bulk exports, other Synthea versions)
that the reader dropped without a word, each written here by hand in small.

- An Encounter whose ``class`` is neither ``AMB`` nor ``VR`` (an emergency visit ``EMER``
  from a bulk export, an EHR's own class code under its OID): the session holds only a
  telehealth flag and is written back ``AMB``; counted at ``Encounter.class``.
- An Encounter participant with its own ``period`` (Synthea writes one on each): a session
  participant has no place for it; counted at ``Encounter.participant.period``.
- A primitive's extensions (``_birthDate`` with a birth time, ``_valueInteger`` with a
  source): counted at ``Patient.birthDate.extension``; a data-absent-reason alone (the
  value is missing, which the model says by not having it) is not.
- A CarePlan activity: a ``detail`` of another kind than Appointment, with a product, a
  code with text only, a ``reference`` to nothing in the input, an outcome that is no
  session, progress notes: counted; a ``doNotPerform`` activity (an R4 modifier) is not
  read as one to do. A plan category of another system, or none: counted (it is written
  back with US Core ``assess-plan``).
- A score naming an Encounter that is no session of the input (an EHR search result):
  the session link is counted.
- A CareTeam role given as text only, a ``dispenseRequest`` quantity: counted.
- A ``telecom.system`` that is an object or a list: no internal error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from both_readers import FORMS, read_both

from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.read.activity_parts import UNRESOLVED

_V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASS_REASON = "Encounter.class: neither ambulatory nor virtual (written back as ambulatory)"
_NO_PLACE = "no place in the IOP model (dropped)"
_ME = {"reference": "Patient/p1"}


def _patient(**more: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": "female", **more}


def _encounter(eid: str, klass: dict[str, Any] | None, **more: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "subject": _ME,
        "period": {"start": "2024-03-01T10:00:00Z", "end": "2024-03-01T11:00:00Z"},
        **more,
    }
    if klass is not None:
        res["class"] = klass
    return res


@FORMS
def test_an_encounter_class_the_writer_cannot_give_back_is_counted(
    tmp_path: Path, form: str
) -> None:
    resources = [
        _patient(),
        _encounter("amb", {"system": _V3, "code": "AMB"}),
        _encounter("vr", {"system": _V3, "code": "VR"}),
        _encounter("bare", {"code": "AMB"}),  # no system: the code as some senders write it
        _encounter("emer", {"system": _V3, "code": "EMER"}),
        _encounter("local", {"system": "urn:oid:1.2.3.4.5", "code": "13", "display": "OP"}),
    ]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert {s.key: s.telehealth for s in episode.sessions} == {
        "amb": False,
        "vr": True,
        "bare": False,
        "emer": False,
        "local": False,
    }
    assert result.unmapped[_CLASS_REASON] == 2
    # the reason names the element, not the code read there
    assert not any("EMER" in k or "1.2.3.4.5" in k for k in result.unmapped)


def test_iopfhirs_own_session_encounters_count_no_class() -> None:
    resources = [_patient(), _encounter("vr", {"system": _V3, "code": "VR"})]
    again = read_fhir(collection_bundle(read_fhir(resources).episodes))
    assert again.unmapped[_CLASS_REASON] == 0
    assert [s.telehealth for s in again.episodes[0].sessions] == [True]


@FORMS
def test_a_kept_encounter_participants_period_is_counted(tmp_path: Path, form: str) -> None:
    pprf = {"coding": [{"system": _V3.replace("ActCode", "ParticipationType"), "code": "PPRF"}]}
    part = {"type": [pprf], "individual": {"reference": "Practitioner/dr1"}}
    resources = [
        _patient(),
        {"resourceType": "Practitioner", "id": "dr1"},
        _encounter(
            "e1",
            {"system": _V3, "code": "AMB"},
            participant=[{**part, "period": {"start": "2024-03-01T10:00:00Z"}}],
        ),
        _encounter("e2", {"system": _V3, "code": "AMB"}, participant=[part]),
    ]
    result = read_both(resources, tmp_path, form)
    assert result.unmapped[f"Encounter.participant.period: {_NO_PLACE}"] == 1
    sessions = result.episodes[0].sessions
    assert all(s.facilitator == "dr1" or s.participants for s in sessions)


@FORMS
def test_extensions_of_a_held_primitive_are_counted(tmp_path: Path, form: str) -> None:
    birth_time = {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
        "valueDateTime": "1970-03-04T05:06:00-05:00",
    }
    absent = {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "unknown",
    }
    score = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": _ME,
        "effectiveDateTime": "2024-03-01T10:00:00Z",
        "valueInteger": 6,
        "_valueInteger": {"extension": [{"url": "http://example.org/src", "valueString": "k"}]},
    }
    # a later score whose ``_valueInteger`` has an id alone: no data
    plain = {**score, "id": "o2", "effectiveDateTime": "2024-03-08T10:00:00Z"}
    plain["_valueInteger"] = {"id": "v"}
    resources = [
        _patient(birthDate="1970", _birthDate={"extension": [birth_time]}, _gender={"id": "g"}),
        score,
        plain,
    ]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert repr(episode.patient.birth_date) == "PartialDate('1970')"  # the year kept
    assert [m.total for m in episode.measures] == [6, 6]
    assert result.unmapped[f"Patient.birthDate.extension: {_NO_PLACE}"] == 1
    assert result.unmapped[f"Observation.valueInteger.extension: {_NO_PLACE}"] == 1
    # a data-absent-reason says only that the value is missing: nothing is lost
    missing = _patient(_gender={"extension": [absent]})
    del missing["gender"]
    assert not any(".extension" in k for k in read_fhir([missing]).unmapped)


def _plan(*activities: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "intent": "plan",
        "subject": _ME,
        "activity": list(activities),
    }


@FORMS
def test_what_a_plan_activity_holds_beyond_an_activity_is_counted(
    tmp_path: Path, form: str
) -> None:
    snomed = "http://snomed.info/sct"
    resources = [
        _patient(),
        _plan(
            # a remote-monitoring request (a kind other than Appointment), with a product
            {
                "detail": {
                    "kind": "ServiceRequest",
                    "code": {"coding": [{"system": snomed, "code": "719858009"}]},
                    "status": "scheduled",
                    "productCodeableConcept": {"text": "2 puffs"},
                }
            },
            # a code with text only, no description: the text names the activity
            {"detail": {"status": "completed", "code": {"text": "walking group"}}},
            # a request that is not in the input, and an outcome that is no session
            {"reference": {"reference": "ServiceRequest/elsewhere"}},
            {
                "detail": {"kind": "Appointment", "status": "in-progress"},
                "outcomeReference": [{"reference": "Observation/elsewhere"}],
                "progress": [{"text": "went well"}],
            },
        ),
    ]
    result = read_both(resources, tmp_path, form)
    (plan,) = result.episodes[0].care_plans
    assert [(a.title, a.status) for a in plan.activities] == [
        (None, "scheduled"),
        ("walking group", "completed"),
        (None, "unknown"),
        (None, "in-progress"),
    ]
    unmapped = result.unmapped
    assert (
        unmapped["CarePlan.activity.detail.kind: not Appointment (written back as Appointment)"]
        == 1
    )
    assert unmapped[f"CarePlan.activity.detail.productCodeableConcept: {_NO_PLACE}"] == 1
    assert unmapped["CarePlan.activity.detail.code: text without a coding (read as the title)"] == 1
    assert unmapped[UNRESOLVED] == 1
    assert unmapped["CarePlan.activity.outcomeReference: not a session of the input"] == 1
    assert unmapped[f"CarePlan.activity.progress: {_NO_PLACE}"] == 1
    assert not any("walking" in k or "puffs" in k for k in unmapped)


@FORMS
def test_an_activity_not_to_perform_is_no_activity(tmp_path: Path, form: str) -> None:
    """R4 ``CarePlan.activity.detail.doNotPerform`` is a modifier: true means the plan
    forbids the activity, which must not be read (and written back) as one to do."""
    code = {"coding": [{"system": "http://snomed.info/sct", "code": "229070002"}]}
    resources = [
        _patient(),
        _plan(
            {"detail": {"status": "not-started", "code": code, "doNotPerform": True}},
            {"detail": {"status": "not-started", "code": code, "doNotPerform": False}},
        ),
    ]
    result = read_both(resources, tmp_path, form)
    (plan,) = result.episodes[0].care_plans
    assert len(plan.activities) == 1
    reason = "CarePlan.activity.detail.doNotPerform: an activity not to perform (dropped)"
    assert result.unmapped[reason] == 1
    written = collection_bundle(result.episodes)
    plans = [e["resource"] for e in written["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert [len(p["activity"]) for p in plans] == [1]


@FORMS
def test_a_score_naming_an_encounter_that_is_no_session_is_counted(
    tmp_path: Path, form: str
) -> None:
    """An EHR's search returns a score whose ``encounter`` is not in the result: the
    measure is kept, the session link it cannot hold is counted (it went without a word)."""
    total = {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]}

    def score(oid: str, encounter: str, day: int) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": total,
            "subject": _ME,
            "encounter": {"reference": encounter},
            "effectiveDateTime": f"2024-03-0{day}T10:30:00Z",
            "valueInteger": 4,
        }

    resources = [
        _patient(),
        _encounter("e1", {"system": _V3, "code": "AMB"}),
        score("o1", "Encounter/e1", 1),
        score("o2", "Encounter/elsewhere", 2),
    ]
    result = read_both(resources, tmp_path, form)
    measures = {m.key: m.session for m in result.episodes[0].measures}
    assert measures == {"o1": "e1", "o2": None}
    assert result.unmapped["Observation.encounter: not a session of the input (dropped)"] == 1


def test_a_telecom_system_that_is_no_code_does_not_stop_the_import() -> None:
    """``telecom.system`` given as an object (no R4, seen in hand-made exports): the
    contact point is counted as one without a known system; the import used to stop with
    an internal error (an unhashable value looked up in a set)."""
    patient = _patient(
        telecom=[
            {"system": {"code": "phone"}, "value": "555-0100"},
            {"system": ["email"], "value": "x@example.org"},
        ]
    )
    result = read_fhir([patient])
    assert result.episodes[0].patient.phone is None
    reason = "Patient.telecom: a contact point without a known system (dropped)"
    assert result.unmapped[reason] == 2


@FORMS
def test_a_care_team_role_given_as_text_is_counted(tmp_path: Path, form: str) -> None:
    """A participant role with a text and no coding (``self``, ``sponsor``) is written back
    as an unknown role: counted, where it went without a word."""
    resources = [
        _patient(),
        {"resourceType": "Practitioner", "id": "dr1"},
        {
            "resourceType": "CareTeam",
            "id": "ct1",
            "status": "active",
            "subject": _ME,
            "participant": [
                {"role": [{"text": "self"}], "member": _ME},
                {"role": [{"text": "therapist"}], "member": {"reference": "Practitioner/dr1"}},
                {"member": {"reference": "Practitioner/dr1"}},  # no role: nothing to count
            ],
        },
    ]
    result = read_both(resources, tmp_path, form)
    (team,) = result.episodes[0].teams
    assert [(m.member, m.role, m.role_code) for m in team.members] == [
        ("p1", None, None),  # the patient, by its key
        ("dr1", None, None),
        ("dr1", None, None),
    ]
    reason = "CareTeam.participant.role: no coding with a system and a code (dropped)"
    assert result.unmapped[reason] == 2
    assert not any("therapist" in k or "self" in k.split(": ")[-1] for k in result.unmapped)


@FORMS
def test_a_plan_category_it_is_not_written_back_with_is_counted(tmp_path: Path, form: str) -> None:
    """A foreign plan is written back with US Core ``assess-plan``: a category of another
    system (a SNOMED plan type) is dropped and none at all is filled in; both are counted,
    where they went without a word. ``assess-plan`` itself is what is written."""
    snomed = {"coding": [{"system": "http://snomed.info/sct", "code": "736285004"}]}
    assess = {"coding": [{"system": _ASSESS[0], "code": _ASSESS[1]}]}
    plans = [
        {**_plan(), "id": "none"},
        {**_plan(), "id": "snomed", "category": [snomed]},
        {**_plan(), "id": "assess", "category": [assess]},
    ]
    result = read_both([_patient(), *plans], tmp_path, form)
    assert len(result.episodes[0].care_plans) == 3
    assert result.unmapped["CarePlan.category: missing (written back as assess-plan)"] == 1
    assert result.unmapped["CarePlan.category: not a plan kind or assess-plan (dropped)"] == 1
    # iopfhir's own plans, read back, count neither
    again = read_fhir(collection_bundle(result.episodes))
    assert not any(k.startswith("CarePlan.category") for k in again.unmapped)


_ASSESS = ("http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "assess-plan")


@FORMS
def test_what_a_dispense_request_holds_beyond_refills_is_counted(tmp_path: Path, form: str) -> None:
    """An EHR order with a dispense quantity and supply duration: the prescription keeps
    its refills; the rest is counted, where it went without a word."""
    order = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1"}]
        },
        "subject": _ME,
        "dispenseRequest": {
            "numberOfRepeatsAllowed": 2,
            "quantity": {"value": 60, "unit": "tablets"},
            "expectedSupplyDuration": {"value": 30, "unit": "days"},
        },
    }
    result = read_both([_patient(), order], tmp_path, form)
    assert [p.refills for p in result.episodes[0].prescriptions] == [2]
    for part in ("quantity", "expectedSupplyDuration"):
        assert result.unmapped[f"MedicationRequest.dispenseRequest.{part}: not kept (dropped)"] == 1
    assert not any("numberOfRepeatsAllowed" in k for k in result.unmapped)


@FORMS
def test_a_reason_or_addressed_condition_not_in_the_episode_is_counted(
    tmp_path: Path, form: str
) -> None:
    """``reasonReference`` / ``addresses`` naming a Condition the input does not hold (an
    EHR search for one type returns references to the others): dropped, and now counted
    (the medications reader said so; nothing counted it)."""
    rxnorm = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1"}]}
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
        "subject": _ME,
    }
    reasons = [{"reference": "Condition/c1"}, {"reference": "Condition/elsewhere"}]
    resources = [
        _patient(),
        condition,
        {
            "resourceType": "MedicationStatement",
            "id": "ms1",
            "status": "active",
            "medicationCodeableConcept": rxnorm,
            "subject": _ME,
            "reasonReference": reasons,
        },
        {
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": {"text": "feel better"},
            "subject": _ME,
            "addresses": reasons,
            "target": [
                {
                    "measure": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                    "detailQuantity": {"value": 10, "comparator": "<"},
                    "dueDuration": {"value": 12, "unit": "wk"},
                }
            ],
        },
        {**_plan(), "addresses": reasons},
    ]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert [m.reasons for m in episode.medications] == [["c1"]]
    assert episode.care_plans[0].addresses == ["c1"]
    assert [g.addresses for g in episode.other_goals] == [["c1"]]
    assert [len(g.targets) for g in episode.other_goals] == [1]
    for path in ("MedicationStatement.reasonReference", "Goal.addresses", "CarePlan.addresses"):
        assert result.unmapped[f"{path}: not a diagnosis of the episode (dropped)"] == 1
    assert result.unmapped["Goal.target.dueDuration: not kept (dropped)"] == 1


@FORMS
def test_security_labels_and_tags_the_model_does_not_keep_are_counted(
    tmp_path: Path, form: str
) -> None:
    conf = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    part2 = [
        {"system": conf, "code": "R"},
        {"system": _V3, "code": "ETH"},
        {"system": _V3, "code": "42CFRPart2"},
    ]
    resources = [
        _patient(meta={"security": [{"system": conf, "code": "N"}], "tag": [{"code": "import"}]}),
        _encounter("e1", {"system": _V3, "code": "AMB"}, meta={"security": part2}),
        _encounter(
            "e2", {"system": _V3, "code": "AMB"}, meta={"security": [*part2, {"code": "HTEST"}]}
        ),
        _encounter("e3", {"system": _V3, "code": "AMB"}, meta={"versionId": "3", "tag": []}),
    ]
    result = read_both(resources, tmp_path, form)
    (episode,) = result.episodes
    assert episode.part2  # the Part 2 labels are read
    assert result.unmapped[f"Patient.meta.security: {_NO_PLACE}"] == 1
    assert result.unmapped[f"Patient.meta.tag: {_NO_PLACE}"] == 1
    # Part 2's own labels are written back; another beside them is not
    assert result.unmapped[f"Encounter.meta.security: {_NO_PLACE}"] == 1
    assert f"Encounter.meta.tag: {_NO_PLACE}" not in result.unmapped
    # the reasons name the element, never the label
    assert not any("HTEST" in reason or "import" in reason for reason in result.unmapped)
