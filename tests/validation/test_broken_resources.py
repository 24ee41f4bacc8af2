"""Deliberately broken IOP-style resources: each produces the expected issue at the expected
FHIRPath location (acceptance 4), and the intact versions produce no errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iopfhir.errors import Issue
from iopfhir.validation import Validator


def careplan() -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "iop-plan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-03-04", "end": "2024-05-31"},
        "activity": [
            {
                "detail": {
                    "kind": "Appointment",
                    "code": {
                        "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90853"}]
                    },
                    "status": "scheduled",
                    "scheduledTiming": {
                        "repeat": {"frequency": 3, "period": 1, "periodUnit": "wk"}
                    },
                }
            }
        ],
    }


def encounter() -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": "session-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-03-04T09:00:00Z", "end": "2024-03-04T12:00:00Z"},
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "phq9-total",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-04T09:30:00Z",
        "valueQuantity": {"value": 14, "system": "http://unitsofmeasure.org", "code": "{score}"},
    }


def errors(v: Validator, res: dict[str, Any]) -> list[Issue]:
    return v.validate(res).errors


@pytest.mark.parametrize("make", [careplan, encounter, observation])
def test_intact_resources_have_no_errors(base_validator: Validator, make: Any) -> None:
    report = base_validator.validate(make())
    assert report.ok, str(report)


def test_missing_required_element(base_validator: Validator) -> None:
    cp = careplan()
    del cp["activity"][0]["detail"]["status"]
    errs = errors(base_validator, cp)
    assert [(e.code, e.path) for e in errs] == [("required", "CarePlan.activity[0].detail")]
    assert "CarePlan.activity.detail.status" in errs[0].message
    assert "minimum required = 1" in errs[0].message


def test_wrong_code_in_required_binding(base_validator: Validator) -> None:
    cp = careplan()
    cp["activity"][0]["detail"]["status"] = "bogus"
    errs = errors(base_validator, cp)
    assert [(e.code, e.path) for e in errs] == [
        ("code-invalid", "CarePlan.activity[0].detail.status")
    ]
    assert "http://hl7.org/fhir/ValueSet/care-plan-activity-status" in errs[0].message


def test_wrong_code_in_required_codeable_binding(base_validator: Validator) -> None:
    enc = encounter()
    enc["class"]["code"] = "NOPE"
    errs = errors(base_validator, enc)
    assert ("code-invalid", "Encounter.class") in [(e.code, e.path) for e in errs]


def test_broken_invariant(base_validator: Validator) -> None:
    cp = careplan()
    cp["activity"][0]["reference"] = {"reference": "Appointment/a1"}  # cpl-3: detail or ref
    errs = errors(base_validator, cp)
    assert [(e.code, e.path) for e in errs] == [("invariant", "CarePlan.activity[0]")]
    assert "cpl-3" in errs[0].message


def test_period_end_before_start(base_validator: Validator) -> None:
    enc = encounter()
    enc["period"] = {"start": "2024-03-04T12:00:00Z", "end": "2024-03-04T09:00:00Z"}
    errs = errors(base_validator, enc)
    assert [(e.code, e.path) for e in errs] == [("invariant", "Encounter.period")]
    assert "per-1" in errs[0].message


def test_dangling_reference_in_transaction_bundle(base_validator: Validator) -> None:
    obs = observation()
    obs["subject"] = {"reference": "urn:uuid:5b0f6a8c-0000-4000-8000-000000000001"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5b0f6a8c-0000-4000-8000-000000000002",
                "resource": obs,
                "request": {"method": "POST", "url": "Observation"},
            }
        ],
    }
    errs = errors(base_validator, bundle)
    assert [(e.code, e.path) for e in errs] == [
        ("not-found", "Bundle.entry[0].resource.subject.reference")
    ]


def test_reference_resolves_in_bundle_and_target_type_is_checked(
    base_validator: Validator,
) -> None:
    obs = observation()
    obs["subject"] = {"reference": "urn:uuid:5b0f6a8c-0000-4000-8000-000000000001"}
    target = {"resourceType": "Practitioner", "id": "x"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5b0f6a8c-0000-4000-8000-000000000001",
                "resource": target,
                "request": {"method": "POST", "url": "Practitioner"},
            },
            {
                "fullUrl": "urn:uuid:5b0f6a8c-0000-4000-8000-000000000002",
                "resource": obs,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    errs = errors(base_validator, bundle)
    assert [(e.code, e.path) for e in errs] == [("structure", "Bundle.entry[1].resource.subject")]
    assert "Practitioner" in errs[0].message
    target["resourceType"] = "Patient"
    assert base_validator.validate(bundle).ok


@pytest.mark.parametrize(
    ("element", "value", "path"),
    [
        ("effectiveDateTime", "2024-13-04", "Observation.effective.ofType(DateTime)"),
        ("effectiveDateTime", "2024-02-30", "Observation.effective.ofType(DateTime)"),
        ("effectiveDateTime", "2024-03-04T09:30", "Observation.effective.ofType(DateTime)"),
        ("issued", "2024-03-04", "Observation.issued"),
        ("id", "has spaces", "Observation.id"),
        ("status", "", "Observation.status"),
    ],
)
def test_bad_primitive_format(
    base_validator: Validator, element: str, value: str, path: str
) -> None:
    obs = observation()
    obs[element] = value
    errs = errors(base_validator, obs)
    assert path in [e.path for e in errs], [str(e) for e in errs]


def test_json_type_of_primitive(base_validator: Validator) -> None:
    obs = observation()
    obs["valueQuantity"]["value"] = "14"
    errs = errors(base_validator, obs)
    assert [(e.code, e.path) for e in errs] == [
        ("structure", "Observation.value.ofType(Quantity).value")
    ]


def test_wrong_choice_type(base_validator: Validator) -> None:
    cp = careplan()
    detail = cp["activity"][0]["detail"]
    detail["scheduledQuantity"] = detail.pop("scheduledTiming")  # not a scheduled[x] type
    errs = errors(base_validator, cp)
    assert [(e.code, e.path) for e in errs] == [
        ("structure", "CarePlan.activity[0].detail.scheduledQuantity")
    ]
    assert "not allowed" in errs[0].message


def test_two_choice_types_at_once(base_validator: Validator) -> None:
    obs = observation()
    obs["valueString"] = "fourteen"
    errs = errors(base_validator, obs)
    assert any("only one choice type" in e.message for e in errs)


def test_unknown_property_and_array_shape(base_validator: Validator) -> None:
    enc = encounter()
    enc["colour"] = "blue"
    enc["reasonCode"] = {"text": "low mood"}
    errs = errors(base_validator, enc)
    # an unknown key is input: the location is its parent and the message its position
    assert {(e.code, e.path) for e in errs} == {
        ("structure", "Encounter"),
        ("structure", "Encounter.reasonCode"),
    }
    position = list(enc).index("colour") + 1
    assert f"Unrecognized property (property {position} of Encounter)" in [e.message for e in errs]
    assert all("colour" not in str(e) for e in errs)


def test_messages_do_not_echo_patient_data(base_validator: Validator) -> None:
    enc = encounter()
    enc["status"] = "Jane-Doe-1970"
    enc["subject"] = {"reference": "Patient/p1", "display": ""}
    report = base_validator.validate(enc)
    # a bad code is not named (a code field may hold anything): the location says where
    assert ("code-invalid", "Encounter.status") in [(e.code, e.path) for e in report.errors]
    assert all("Jane-Doe-1970" not in e.message for e in report.issues)
    pat = {
        "resourceType": "Patient",
        "name": [{"family": "Doe", "given": ["Jane"]}],
        "birthDate": "1970-02-30",
        "identifier": [{"value": "MRN-12345"}],
        "gender": "femme",
    }
    rep = base_validator.validate(pat)
    assert not rep.ok
    text = " ".join(i.message for i in rep.issues)
    for secret in ("Doe", "Jane", "1970-02-30", "MRN-12345"):
        assert secret not in text


def test_unknown_extension_is_warning_and_known_extension_is_checked(
    base_validator: Validator,
) -> None:
    obs = observation()
    obs["extension"] = [
        {"url": "http://example.org/fhir/StructureDefinition/unknown", "valueString": "x"}
    ]
    rep = base_validator.validate(obs)
    assert rep.ok
    assert [w.path for w in rep.warnings if "Unknown extension" in w.message] == [
        "Observation.extension[0]"
    ]
    # a core extension with the wrong value type
    obs["extension"] = [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare",
            "valueString": "EpisodeOfCare/1",
        }
    ]
    errs = errors(base_validator, obs)
    assert any(e.path == "Observation.extension[0].valueString" for e in errs), errs
    # ext-1: value and nested extensions at once
    obs["extension"] = [
        {
            "url": "http://example.org/x",
            "valueString": "a",
            "extension": [{"url": "y", "valueString": "b"}],
        }
    ]
    errs = errors(base_validator, obs)
    assert [(e.code, e.path) for e in errs] == [("invariant", "Observation.extension[0]")]


def test_contained_resources_are_validated(base_validator: Validator) -> None:
    cp = careplan()
    cp["contained"] = [
        {
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "nonsense",
            "description": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
        }
    ]
    cp["goal"] = [{"reference": "#g1"}]
    errs = errors(base_validator, cp)
    assert [(e.code, e.path) for e in errs] == [
        ("code-invalid", "CarePlan.contained[0].lifecycleStatus")
    ]
    cp["goal"] = [{"reference": "#g2"}]
    paths = {e.path for e in errors(base_validator, cp)}
    assert "CarePlan.goal[0].reference" in paths  # contained target not found
    assert "CarePlan" in paths  # dom-3: g1 is no longer referenced


def test_original_fixtures_are_not_mutated(base_validator: Validator) -> None:
    cp = careplan()
    before = copy.deepcopy(cp)
    base_validator.validate(cp)
    assert cp == before
