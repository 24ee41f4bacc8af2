"""An element the IOP model has no place for is counted, never dropped in silence.

A Patient's address and deceased date, a Condition's encounter, a MedicationStatement's
``effectiveDateTime``, a Practitioner's qualification, an Observation's ``issued`` were
dropped without a word; each top-level element that the reader of a resource (by its
reading: a referral's ServiceRequest, an instrument's Observation...) does not take is now
counted under ``unmapped`` by its FHIRPath (both readers alike), and ``--strict`` refuses
it. iopfhir's own FHIR reads back with none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from both_readers import FORMS, read_both

from iopfhir.cli import main
from iopfhir.domain import load_episodes
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.read.held import DERIVED, HELD, NO_PLACE, NOT_R4, OTHERS
from iopfhir.views.fhir_types import r4_elements

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRET = "Qwerty-Private-9931"
SUBJECT = {"reference": "Patient/p1"}
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _resources() -> list[dict[str, Any]]:
    race = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
    return [
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": {
                "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]
            },
            "text": {
                "status": "generated",
                "div": f"<div xmlns='http://www.w3.org/1999/xhtml'>{SECRET}</div>",
            },
            "extension": [{"url": race, "extension": [{"url": "text", "valueString": SECRET}]}],
            "identifier": [{"system": "urn:example:mrn", "value": "M-1"}],
            "active": True,
            "name": [{"family": "Doe", "given": ["Ann"]}],
            "telecom": [{"system": "phone", "value": "555-0100"}],
            "gender": "female",
            "birthDate": "1957-06-01",
            "_birthDate": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                        "valueDateTime": "1957-06-01T10:00:00+01:00",
                    }
                ]
            },
            "deceasedDateTime": "2024-01-02",
            "address": [{"line": [SECRET], "city": "Springfield"}],
            "maritalStatus": {"text": "married"},
        },
        {
            "resourceType": "RelatedPerson",
            "id": "rp1",
            "patient": SUBJECT,
            "relationship": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                            "code": "MTH",
                        }
                    ]
                }
            ],
            "name": [{"family": "Doe", "given": ["Mary"]}],
            "gender": "female",
            "address": [{"city": SECRET}],
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "identifier": [{"system": "urn:example:problems", "value": "P-7"}],
            "code": {"coding": [{"system": SNOMED, "code": "35489007"}]},
            "subject": SUBJECT,
            "encounter": {"reference": "Encounter/e9"},
            "note": [{"text": SECRET}],
            "onsetDateTime": "2015",
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "type": "allergy",
            "code": {"coding": [{"system": SNOMED, "code": "91936005"}]},
            "patient": SUBJECT,
            "onsetDateTime": "2001",
        },
        {
            "resourceType": "MedicationStatement",
            "id": "m1",
            "status": "active",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "312938"}]},
            "subject": SUBJECT,
            "effectiveDateTime": "2015-03-04",
            "reasonCode": [{"text": SECRET}],
        },
        {
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": {"text": "sleep better"},
            "subject": SUBJECT,
            "priority": {"text": "high"},
            "statusReason": SECRET,
            "note": [{"text": SECRET}],
        },
        {
            "resourceType": "ServiceRequest",
            "id": "sr1",
            "status": "active",
            "intent": "order",
            "code": {"text": "sleep study"},
            "subject": SUBJECT,
            "encounter": {"reference": "Encounter/e9"},
            "patientInstruction": SECRET,
        },
        {
            "resourceType": "Encounter",
            "id": "e1",
            "identifier": [{"system": "urn:example:visits", "value": "V-1"}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": SUBJECT,
            "period": {"start": "2024-01-03T10:00:00Z", "end": "2024-01-03T11:00:00Z"},
            "reasonCode": [{"text": SECRET}],
            "location": [{"location": {"reference": "Location/loc1"}}],
        },
        {
            "resourceType": "CareTeam",
            "id": "ct1",
            "status": "active",
            "subject": SUBJECT,
            "participant": [{"member": {"reference": "RelatedPerson/rp1"}}],
            "reasonCode": [{"text": SECRET}],
            "note": [{"text": SECRET}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": "mr1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "312938"}]},
            "subject": SUBJECT,
            "encounter": {"reference": "Encounter/e9"},
            "authoredOn": "2024-01-01",
        },
        *_referral_and_people(),
        *_phq9_report(),
    ]


def _phq9_report() -> list[dict[str, Any]]:
    """A PHQ-9 total Observation and the DiagnosticReport (coded with the panel) that
    lists it."""
    loinc = "http://loinc.org"
    return [
        {
            "resourceType": "Observation",
            "id": "phq1",
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "survey"}]}],
            "code": {"coding": [{"system": loinc, "code": "44261-6"}]},
            "subject": SUBJECT,
            "effectiveDateTime": "2024-01-03T10:00:00Z",
            "valueInteger": 12,
            "note": [{"text": SECRET}],
        },
        {
            "resourceType": "DiagnosticReport",
            "id": "dr1",
            "status": "final",
            "code": {"coding": [{"system": loinc, "code": "44249-1"}]},
            "subject": SUBJECT,
            "effectiveDateTime": "2024-01-03T10:00:00Z",
            "result": [{"reference": "Observation/phq1"}],
            "conclusion": SECRET,
        },
    ]


def _referral_and_people() -> list[dict[str, Any]]:
    """An episode's referral with its stay and discharge plan, a care plan, and the
    practitioner (with a role and organization) and location they name."""
    imp = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}
    return [
        {
            "resourceType": "EpisodeOfCare",
            "id": "eoc1",
            "status": "active",
            "patient": SUBJECT,
            "referralRequest": [{"reference": "ServiceRequest/ref1"}],
        },
        {
            "resourceType": "ServiceRequest",
            "id": "ref1",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "requester": {"reference": "Practitioner/pr1"},
            "encounter": {"reference": "Encounter/stay1"},
            "basedOn": [{"reference": "CarePlan/dc1"}],
            "note": [{"text": SECRET}],
        },
        {
            "resourceType": "Encounter",
            "id": "stay1",
            "status": "in-progress",  # with an end: written back finished, so counted
            "class": imp,
            "subject": SUBJECT,
            "period": {"start": "2023-12-01", "end": "2023-12-20"},
            "hospitalization": {"dischargeDisposition": {"text": SECRET}},
        },
        {
            "resourceType": "CarePlan",
            "id": "dc1",
            "status": "completed",
            "intent": "plan",
            "subject": SUBJECT,
            "title": "discharge plan",
            "note": [{"text": SECRET}],
        },
        {
            "resourceType": "CarePlan",
            "id": "cp1",
            # the model holds a care plan's identifiers as its own keys only
            "identifier": [{"system": "urn:example:plans", "value": SECRET}],
            "status": "active",
            "intent": "plan",
            "subject": SUBJECT,
            "encounter": {"reference": "Encounter/e1"},
        },
        {
            "resourceType": "Practitioner",
            "id": "pr1",
            "name": [{"family": "Lee"}],
            "qualification": [{"code": {"text": SECRET}}],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role1",
            "practitioner": {"reference": "Practitioner/pr1"},
            "organization": {"reference": "Organization/org1"},
            "specialty": [{"text": SECRET}],
        },
        {
            "resourceType": "Organization",
            "id": "org1",
            "name": "Hospital",
            "address": [{"line": [SECRET]}],
        },
        {
            "resourceType": "Location",
            "id": "loc1",
            "name": "Room 2",
            "position": {"longitude": 1.5, "latitude": 2.5},
        },
    ]


#: what the input above holds that the model does not, by FHIRPath
DROPPED = {
    "Patient.extension", "Patient.active", "Patient.deceasedDateTime", "Patient.address",
    "Patient.maritalStatus", "Patient.birthDate.extension", "Patient.meta.profile",
    "RelatedPerson.gender",
    "RelatedPerson.address",
    "Condition.identifier", "Condition.encounter", "Condition.note",
    "AllergyIntolerance.type", "AllergyIntolerance.onsetDateTime",
    "MedicationStatement.effectiveDateTime", "MedicationStatement.reasonCode",
    "MedicationRequest.encounter", "Goal.priority", "Goal.statusReason", "Goal.note",
    "ServiceRequest.encounter", "ServiceRequest.patientInstruction",
    "Encounter.identifier", "Encounter.reasonCode", "CareTeam.reasonCode", "CareTeam.note",
    "ServiceRequest.note", "Encounter.hospitalization", "CarePlan.note", "CarePlan.encounter",
    "CarePlan.identifier",
    "Practitioner.qualification", "PractitionerRole.specialty", "Organization.address",
    "Location.position",
    # what iopfhir derives on its own resources is data on others' (DERIVED), unless it
    # is what iopfhir writes anyway (the referral's intent order, the discharge plan's
    # intent plan, the Observation's category survey, a stay finished when it has an end:
    # not counted)
    "ServiceRequest.status", "Encounter.status",
    "Observation.note", "DiagnosticReport.conclusion",
}  # fmt: skip


def _unheld(unmapped: Any) -> dict[str, int]:
    suffix = f": {NO_PLACE}"
    return {k[: -len(suffix)]: n for k, n in unmapped.items() if k.endswith(suffix)}


@FORMS
def test_each_element_without_a_place_is_counted_by_both_readers(tmp_path: Path, form: str) -> None:
    result = read_both(_resources(), tmp_path, form)
    assert _unheld(result.unmapped) == dict.fromkeys(DROPPED, 1)
    # what was held is still read
    ep = result.episodes[0]
    assert ep.patient.phone == "555-0100" and ep.diagnoses and ep.allergies
    assert ep.medications and ep.prescriptions and ep.supports and ep.other_goals
    assert ep.requests and ep.sessions and ep.teams and ep.care_plans
    assert ep.referral is not None and ep.referral.stay and ep.referral.discharge_plan
    assert ep.practitioners[0].organization and ep.locations
    assert [(m.instrument, m.score) for m in ep.measures] == [("phq-9", 12)]
    assert all(SECRET not in k for k in result.unmapped)


def _r4_names(rtype: str) -> set[str]:
    """The JSON names of the top-level elements of ``rtype`` in R4 4.0.1 (choices by type)."""
    elements, _ = r4_elements()
    names = set()
    for name, (_is_list, types) in elements[rtype].items():
        if name.endswith("[x]"):
            names.update(name[:-3] + t[0].upper() + t[1:] for t in types)
        else:
            names.add(name)
    return names


def test_held_and_others_are_every_r4_element_of_their_type() -> None:
    assert set(HELD) == set(OTHERS) == {
        "Patient", "RelatedPerson", "Condition", "AllergyIntolerance",
        "MedicationStatement", "MedicationRequest", "Goal", "ServiceRequest",
        "Appointment", "Encounter", "CareTeam", "EpisodeOfCare", "Practitioner",
        "PractitionerRole", "Organization", "Location", "CarePlan", "CarePlan:discharge",
        "ServiceRequest:referral", "Encounter:stay", "ServiceRequest:aftercare",
        "Appointment:aftercare", "Observation", "QuestionnaireResponse", "DiagnosticReport",
        "Consent", "Provenance", "Flag", "RiskAssessment",
    }  # fmt: skip
    no_content = {"id", "meta", "text", "language", "contained", "modifierExtension"}
    for reading in HELD:
        assert not HELD[reading] & OTHERS[reading], reading
        assert HELD[reading] | OTHERS[reading] | no_content == _r4_names(
            reading.partition(":")[0]
        ), reading
    for reading, derived in DERIVED.items():
        assert derived <= OTHERS[reading], reading


def test_a_key_that_is_no_r4_element_is_counted_without_its_name() -> None:
    patient = {**_resources()[0], SECRET: 1, f"_{SECRET}": {}, "_birthDate": {"id": "b"}}
    result = read_fhir([patient])
    assert result.unmapped[f"Patient: {NOT_R4}"] == 2
    assert all(SECRET not in k for k in result.unmapped)


@pytest.mark.parametrize("name", ["mental-health-iop", "co-occurring-sud-iop"])
def test_iopfhirs_own_fhir_reads_back_with_nothing_unheld(name: str) -> None:
    episodes = load_episodes(EXAMPLES / f"{name}.yaml")
    result = read_fhir(collection_bundle(episodes))
    assert _unheld(result.unmapped) == {}


def test_strict_import_refuses_an_element_without_a_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"\n".join(orjson.dumps(r) for r in _resources()[:1]))
    assert main(["import", str(source), "--strict", "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert "Patient.address: no place in the IOP model (dropped)" in err
    assert SECRET not in err and not (tmp_path / "out.json").exists()


#: per resource type: an R4 element the model has no place for, and a value of it
PLANTED: dict[str, tuple[str, Any]] = {
    "Patient": ("maritalStatus", {"text": "single"}),
    "RelatedPerson": ("gender", "other"),
    "Practitioner": ("gender", "other"),
    "PractitionerRole": ("specialty", [{"text": "addiction"}]),
    "Organization": ("alias", ["Clinic"]),
    "EpisodeOfCare": ("implicitRules", "urn:example:rules"),
    "Condition": ("note", [{"text": "n"}]),
    "CareTeam": ("note", [{"text": "n"}]),
    "CarePlan": ("contributor", [{"display": "someone"}]),
    "Goal": ("priority", {"text": "high"}),
    "ServiceRequest": ("note", [{"text": "n"}]),
    "Appointment": ("comment", "c"),
    "Encounter": ("priority", {"text": "routine"}),
    "Observation": ("issued", "2024-01-01T00:00:00Z"),
    "QuestionnaireResponse": ("source", {"display": "the patient"}),
    "Consent": ("verification", [{"verified": True}]),
    "Provenance": ("reason", [{"text": "review"}]),
    "MedicationStatement": ("note", [{"text": "n"}]),
    "MedicationRequest": ("note", [{"text": "n"}]),
    "AllergyIntolerance": ("note", [{"text": "n"}]),
    "Flag": ("author", {"display": "the counselor"}),
    "RiskAssessment": ("mitigation", "m"),
}


@pytest.mark.parametrize("name", ["mental-health-iop", "co-occurring-sud-iop"])
def test_an_element_planted_on_every_resource_read_is_counted_once_for_each(name: str) -> None:
    """Every reading of the examples (a session's and an aftercare Appointment, a referral's
    and a request's ServiceRequest, a stay, a discharge plan, each instrument form, a Part 2
    consent, a review, the Flags and RiskAssessment an instrument raises...) counts what it
    does not hold."""
    bundle = collection_bundle(load_episodes(EXAMPLES / f"{name}.yaml"))
    planted: dict[str, int] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if (found := PLANTED.get(resource["resourceType"])) is not None:
            resource[found[0]] = found[1]
            at = f"{resource['resourceType']}.{found[0]}"
            planted[at] = planted.get(at, 0) + 1
    assert len(planted) >= 15 and "Flag.author" in planted
    assert _unheld(read_fhir(bundle).unmapped) == planted


def _survey(*codes: str, text: str | None = None) -> list[dict[str, Any]]:
    concept: dict[str, Any] = {"coding": [{"system": OBS_CATEGORY, "code": c} for c in codes]}
    if text is not None:
        concept["text"] = text
    return [concept]


@pytest.mark.parametrize(
    ("category", "counted"),
    [
        (_survey("survey"), False),
        (_survey("survey", text="Survey"), False),  # what iopfhir writes, a text aside
        (_survey("survey", "social-history"), True),  # a coding iopfhir does not write
        (_survey("survey") + _survey("exam"), True),
        ([{"text": "questionnaire"}], True),
    ],
)
def test_a_derived_element_of_others_is_counted_unless_it_is_what_iopfhir_writes(
    category: list[dict[str, Any]], counted: bool
) -> None:
    total = {**_phq9_report()[0], "category": category}
    del total["note"]
    result = read_fhir([_resources()[0], total])
    assert result.episodes[0].measures
    assert ("Observation.category" in _unheld(result.unmapped)) is counted


def _inner_resources() -> list[dict[str, Any]]:
    """Resources whose held elements hold more than the model keeps of them."""
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    return [
        {
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"family": "Doe", "given": ["Ann"], "prefix": ["Ms."], "suffix": ["II"]}],
            "telecom": [
                {"system": "phone", "value": "555-0100", "use": "mobile"},
                {"system": "phone", "value": "555-0101"},
                {"system": "email", "value": SECRET},
                {"value": SECRET},
            ],
        },
        {
            "resourceType": "Practitioner",
            "id": "pr1",
            "name": [{"family": "Lee"}],
            "telecom": [
                {"system": "phone", "value": "555-0200"},
                {"system": "email", "value": "lee@example.org"},
                {"system": "fax", "value": "555-0201"},
            ],
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": SUBJECT,
            "code": {
                "coding": [
                    {"system": SNOMED, "code": "35489007", "display": "Depressive disorder"},
                    {"system": icd, "code": "F32.9"},
                ],
                "text": SECRET,
            },
        },
        {
            "resourceType": "Condition",
            "id": "c2",
            "subject": SUBJECT,
            # the text of a single coding's display is no more than the display
            "code": {
                "coding": [{"system": SNOMED, "code": "197480006", "display": "Anxiety"}],
                "text": "Anxiety",
            },
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": SUBJECT,
            # R4 ait-1: a clinical status (without one the allergy is not read at all)
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "recorder": {"reference": "Practitioner/pr1"},
            "code": {"coding": [{"system": SNOMED, "code": "91936005"}, {"display": "x"}]},
            "reaction": [
                {
                    "manifestation": [
                        {"coding": [{"system": SNOMED, "code": "247472004"}]},
                        {"coding": [{"system": SNOMED, "code": "271807003"}]},
                    ]
                }
            ],
        },
    ]


#: what the resources above hold that the model does not keep, by FHIRPath and reason
INNER = {
    "Patient.name.prefix: not kept (dropped)": 1,
    "Patient.name.suffix: not kept (dropped)": 1,
    "Patient.telecom.use: not kept (dropped)": 1,
    "Patient.telecom: another phone after the first (dropped)": 1,
    "Patient.telecom: a contact point by email (dropped)": 1,
    "Patient.telecom: a contact point without a known system (dropped)": 1,
    "Practitioner.telecom: a contact point by fax (dropped)": 1,
    "AllergyIntolerance.reaction.manifestation: a concept after the one kept (dropped)": 1,
    "AllergyIntolerance.code.coding: without a system and a code (dropped)": 1,
}


@FORMS
def test_what_a_held_element_holds_beyond_the_model_is_counted(tmp_path: Path, form: str) -> None:
    result = read_both(_inner_resources(), tmp_path, form)
    inner = {k: n for k, n in result.unmapped.items() if k.partition(":")[0] in {
        k2.partition(":")[0] for k2 in INNER
    }}  # fmt: skip
    assert inner == INNER
    ep = result.episodes[0]
    assert ep.patient.phone == "555-0100" and ep.patient.name is not None
    # a coded value is the whole concept: every coding, and its text
    first, second = ep.diagnoses
    assert (first.code.system, first.code.code) == (SNOMED, "35489007")
    assert [(c.system, c.code) for c in first.code.also] == [
        ("http://hl7.org/fhir/sid/icd-10-cm", "F32.9")
    ]
    assert first.code.text == SECRET
    # its text repeats its display: kept all the same, so it is written back
    assert second.code.also == () and second.code.text == "Anxiety"
    assert all(SECRET not in k for k in result.unmapped)


def test_a_coded_value_is_written_back_as_its_whole_concept() -> None:
    condition = _inner_resources()[2]
    (diagnosis,) = read_fhir([_inner_resources()[0], condition]).episodes[0].diagnoses
    written = [
        e["resource"]
        for e in collection_bundle(read_fhir([_inner_resources()[0], condition]).episodes)["entry"]
        if e["resource"]["resourceType"] == "Condition"
    ]
    assert [w["code"] for w in written] == [condition["code"]]
    assert diagnosis.code.text == SECRET


@FORMS
def test_an_extension_its_reader_does_not_read_is_counted(tmp_path: Path, form: str) -> None:
    modality = "https://iopfhir.org/fhir/StructureDefinition/therapy-modality"
    other = {"url": "http://example.org/fhir/StructureDefinition/x", "valueString": SECRET}
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": SUBJECT,
        "period": {"start": "2024-01-01T10:00:00Z", "end": "2024-01-01T11:00:00Z"},
        "extension": [{"url": modality, "valueCodeableConcept": {"text": "CBT"}}, other, other],
    }
    episode = {
        "resourceType": "EpisodeOfCare",
        "id": "eoc1",
        "status": "active",
        "patient": SUBJECT,
        "extension": [other],
    }
    known = {**encounter, "id": "e2", "extension": encounter["extension"][:1]}
    result = read_both([_resources()[0], encounter, known, episode], tmp_path, form)
    assert result.episodes[0].sessions
    unheld = _unheld(result.unmapped)
    assert unheld["Encounter.extension"] == 1 and unheld["EpisodeOfCare.extension"] == 1
    assert all(SECRET not in k and "example.org" not in k for k in result.unmapped)


def test_a_safety_resource_of_others_counts_what_it_holds_beyond_the_measure() -> None:
    """A Flag and a RiskAssessment raised by the answers are consumed and written anew:
    others' identifiers, an extension iopfhir does not read and a prediction's probability
    are counted; the measure still writes them again."""
    bundle = collection_bundle(load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml"))
    extension = {"url": "http://example.org/fhir/StructureDefinition/x", "valueString": "y"}
    counts = {"Flag": 0, "RiskAssessment": 0}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Flag":
            resource["identifier"] = [{"system": "urn:example:flags", "value": SECRET}]
            resource["extension"].append(extension)
            counts["Flag"] += 1
        elif resource["resourceType"] == "RiskAssessment":
            del resource["identifier"]  # found by its basis
            # a copy: the writer shares one prediction object per risk level
            resource["prediction"] = [{**resource["prediction"][0], "probabilityDecimal": 0.2}]
            counts["RiskAssessment"] += 1
    assert counts["Flag"] and counts["RiskAssessment"]
    result = read_fhir(bundle)
    unheld = _unheld(result.unmapped)
    assert unheld == {"Flag.identifier": counts["Flag"], "Flag.extension": counts["Flag"]}
    dropped = "RiskAssessment.prediction: more than the risk level (dropped)"
    assert result.unmapped[dropped] == counts["RiskAssessment"]
    assert not any("not derived" in k or "not raised" in k for k in result.unmapped)
    assert all(SECRET not in k for k in result.unmapped)
