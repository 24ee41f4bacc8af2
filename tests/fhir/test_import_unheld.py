"""An element the IOP model has no place for is counted, never dropped in silence.

A Patient's address and deceased date, a Condition's encounter, a MedicationStatement's
``effectiveDateTime`` were dropped without a word; each top-level element that the readers
of Patient, RelatedPerson, Condition, AllergyIntolerance, MedicationStatement,
MedicationRequest, Goal, ServiceRequest (not a referral), Appointment and Encounter (read
as a session), CareTeam and EpisodeOfCare do not take is now counted
under ``unmapped`` by its FHIRPath (both readers alike), and ``--strict`` refuses it.
iopfhir's own FHIR reads back with none.
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
            "status": "completed",
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
            "status": "finished",
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
    "Patient.maritalStatus", "RelatedPerson.gender", "RelatedPerson.address",
    "Condition.identifier", "Condition.encounter", "Condition.note",
    "AllergyIntolerance.type", "AllergyIntolerance.onsetDateTime",
    "MedicationStatement.effectiveDateTime", "MedicationStatement.reasonCode",
    "MedicationRequest.encounter", "Goal.priority", "Goal.statusReason", "Goal.note",
    "ServiceRequest.encounter", "ServiceRequest.patientInstruction",
    "Encounter.identifier", "Encounter.reasonCode", "CareTeam.reasonCode", "CareTeam.note",
    "ServiceRequest.note", "Encounter.hospitalization", "CarePlan.note", "CarePlan.encounter",
    "Practitioner.qualification", "PractitionerRole.specialty", "Organization.address",
    "Location.position",
    # what iopfhir derives on its own resources is data on others' (DERIVED)
    "ServiceRequest.status", "ServiceRequest.intent", "Encounter.status", "CarePlan.intent",
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
        "ServiceRequest:referral", "Encounter:stay",
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
