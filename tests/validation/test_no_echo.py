"""Validation messages never echo input (issue 9, point 3).

A patient name, an MRN and a token are planted in every place of a FHIR input a check
reads (codes, systems, extension urls, property names, ids, fullUrls, references, strings,
resource types, profiles claimed) and in every field of a server's ``$validate`` answer;
no issue's message or location, and no output of ``iopfhir validate``, may contain them.
Each case also asserts that its check did fire, so a check that stops reporting fails too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from validation_support import run_validate

from iopfhir.cli import validate as cli_validate
from iopfhir.cli.validate import server_report
from iopfhir.client import FhirClient, MemoryTransport, json_response
from iopfhir.errors import Issue
from iopfhir.validation import Validator
from iopfhir.validation.outcomes import SUMMARY, fhirpath_location, foreign_issue

NAME = "Quillonmarker"
MRN = "MRN4815162342"
TOKEN = "tok.MARKER-4f9a-SECRET-77"
MARKERS = (NAME, MRN, TOKEN)
#: what a planted value must never bring into an output, case-insensitively
_NEEDLES = tuple(m.lower() for m in (*MARKERS, "4815162342", "4f9a-SECRET"))

URL = f"http://{NAME.lower()}.example.org/{MRN}/{TOKEN}"


def _clean(text: str) -> bool:
    low = text.lower()
    return not any(n in low for n in _NEEDLES)


def _assert_clean(issues: Iterable[Issue]) -> list[Issue]:
    out = list(issues)
    for i in out:
        assert _clean(i.message), i
        assert i.path is None or _clean(i.path), i
        assert _clean(str(i)), i
        assert _clean(json.dumps(i.to_fhir())), i
        assert "\n" not in str(i) and len(str(i)) < 600, i
    return out


def _found(issues: list[Issue], code: str, path: str, words: str = "") -> None:
    hits = [i for i in issues if i.code == code and i.path == path and words in i.message]
    assert hits, (code, path, words, [str(i) for i in issues])


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator([SLICED_PATIENT])


# -- the checks, one by one -------------------------------------------------------------
def test_unknown_property_names_its_position_not_its_key(validator: Validator) -> None:
    pat = {"resourceType": "Patient", "id": "p1", NAME: MRN, "_" + TOKEN: {}}
    pat["name"] = [{"family": "x", MRN: TOKEN}]
    issues = _assert_clean(validator.validate(pat).issues)
    _found(issues, "structure", "Patient", "Unrecognized property (property 3 of Patient)")
    _found(issues, "structure", "Patient", "Unrecognized property (property 4 of Patient)")
    _found(issues, "structure", "Patient.name[0]", "(property 2 of Patient.name)")


def test_bindings(validator: Validator) -> None:
    pat: dict[str, Any] = {"resourceType": "Patient", "gender": TOKEN}
    enc = {
        "resourceType": "Encounter",
        "status": NAME,
        "class": {"system": URL, "code": MRN},
        "type": [
            {
                "coding": [
                    # a known, complete code system: the system is said, the code is not
                    {"system": "http://hl7.org/fhir/administrative-gender", "code": MRN},
                    # a known value set, with a version that is input
                    {"system": f"http://hl7.org/fhir/ValueSet/administrative-gender|{MRN}"},
                    {"system": NAME, "code": TOKEN},  # not absolute
                ]
            }
        ],
    }
    cp = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "activity": [{"detail": {"status": "scheduled", "kind": TOKEN}}],
    }
    issues = _assert_clean(validator.validate(pat).issues)
    _found(issues, "code-invalid", "Patient.gender", "is not in the value set")
    issues = _assert_clean(validator.validate(enc).issues)
    _found(issues, "code-invalid", "Encounter.status")
    _found(
        issues,
        "code-invalid",
        "Encounter.type[0].coding[0]",
        "Unknown code in the CodeSystem http://hl7.org/fhir/administrative-gender",
    )
    _found(
        issues,
        "value",
        "Encounter.type[0].coding[1].system",
        "http://hl7.org/fhir/ValueSet/administrative-gender",
    )
    _found(issues, "value", "Encounter.type[0].coding[2].system", "absolute")
    issues = _assert_clean(validator.validate(cp).issues)
    _found(issues, "code-invalid", "CarePlan.activity[0].detail.kind")
    # a CodeableConcept of a required binding with codes from elsewhere
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "dataAbsentReason": {"coding": [{"system": URL, "code": MRN}]},
        "valueQuantity": {"value": 1, "comparator": TOKEN},
    }
    issues = _assert_clean(validator.validate(obs).issues)
    _found(issues, "code-invalid", "Observation.value.ofType(Quantity).comparator")


def test_required_codeable_concept(validator: Validator) -> None:
    res = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "achievementStatus": {"coding": [{"system": URL, "code": NAME}]},
        "description": {"text": "x"},
        "subject": {"reference": "Patient/p1"},
    }
    # Goal.achievementStatus is preferred, so nothing is said: the code must not leak either
    _assert_clean(validator.validate(res).issues)
    # Condition.clinicalStatus: a CodeableConcept with a required binding
    coding_required = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": URL, "code": MRN}, {"code": TOKEN}]},
    }
    issues = _assert_clean(validator.validate(coding_required).issues)
    _found(issues, "code-invalid", "Condition.clinicalStatus", "None of the codes provided (2)")


def test_extensions(validator: Validator) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "extension": [{"url": URL, "valueString": NAME}],
        "modifierExtension": [{"url": f"urn:{MRN}", "valueString": TOKEN}],
    }
    issues = _assert_clean(validator.validate(obs).issues)
    _found(issues, "not-found", "Observation.extension[0]", "Unknown extension")
    _found(issues, "not-found", "Observation.modifierExtension[0]", "must be understood")


def test_references_and_contained(validator: Validator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{TOKEN}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": f"urn:uuid:{MRN}"},
                    "performer": [{"reference": f"#{NAME}"}],
                    "focus": [{"reference": f"urn:uuid:{TOKEN}", "type": NAME}],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": f"http://example.org/fhir/Patient/{MRN}",
                "resource": {"resourceType": "Patient", "id": MRN},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": f"http://example.org/fhir/Patient/{MRN}",
                "resource": {"resourceType": "Patient", "id": MRN},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    obs = bundle["entry"][0]["resource"]
    obs["hasMember"] = [{"reference": f"Patient/{MRN}"}]
    obs["derivedFrom"] = [{"reference": f"http://example.org/fhir/Patient/{MRN}/_history/{NAME}"}]
    issues = _assert_clean(validator.validate(bundle).issues)
    at = "Bundle.entry[0].resource"
    _found(issues, "not-found", f"{at}.subject.reference", "could not be resolved")
    _found(issues, "not-found", f"{at}.performer[0].reference", "contained resource")
    _found(issues, "structure", f"{at}.focus[0]", "(not a resource type)")
    _found(issues, "invalid", f"{at}.hasMember[0].reference", "Multiple matches")
    _found(issues, "not-found", f"{at}.derivedFrom[0].reference", "referenced version")
    # a resolved target of a type the element does not allow
    bundle["entry"][0]["resource"]["subject"] = {"reference": f"urn:uuid:{TOKEN}"}
    issues = _assert_clean(validator.validate(bundle).issues)
    _found(issues, "structure", f"{at}.subject", "'Observation' of the reference target")


def test_bundle_rules(validator: Validator) -> None:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [
            {"relation": "self", "url": URL},
            {"relation": "self", "url": URL},
            {"relation": NAME, "url": URL},
        ],
        "entry": [
            {
                "fullUrl": f"http://example.org/fhir/Patient/{NAME}",
                "resource": {"resourceType": "Patient", "id": MRN},
                "search": {"mode": "match"},
            },
            {"fullUrl": MRN, "resource": {"resourceType": "Patient"}, "search": {"mode": "match"}},
            {
                "fullUrl": f"urn:uuid:{TOKEN}",
                "resource": {"resourceType": "Patient", "id": "p3"},
                "search": {"mode": "outcome"},
            },
            {"fullUrl": f"urn:uuid:{NAME}", "resource": {"resourceType": NAME, "id": MRN}},
            {
                "fullUrl": "urn:uuid:x",
                "resource": {"resourceType": TOKEN},
                "search": {"mode": "outcome"},
            },
        ],
    }
    issues = _assert_clean(validator.validate(bundle).issues)
    _found(issues, "invalid", "Bundle.link[1]", "'self' can only occur once")
    _found(issues, "invalid", "Bundle.entry[0]", "Bundle.entry[0].resource.id")
    _found(issues, "invalid", "Bundle.entry[1]", "absolute URL")
    _found(issues, "invalid", "Bundle.entry[1].resource", "must have ids")
    _found(issues, "invalid", "Bundle.entry[2].resource", "not an OperationOutcome (Patient)")
    _found(issues, "invalid", "Bundle.entry[4].resource", "not an OperationOutcome")
    _found(issues, "structure", "Bundle.entry[3].resource", "Unknown resource type")


def test_primitives_and_fixed_values(validator: Validator) -> None:
    pat = {
        "resourceType": "Patient",
        "id": NAME + " " + MRN,
        "birthDate": f"{MRN}",
        "active": TOKEN,
        "multipleBirthInteger": 2**40,
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">&{NAME};</div>',
        },
        "name": [{"family": " ", "given": [""]}],
        "telecom": [{"system": NAME, "value": MRN}],
    }
    issues = _assert_clean(validator.validate(pat).issues)
    _found(issues, "value", "Patient.id", "not a valid id")
    _found(issues, "value", "Patient.birthDate", "not a valid date")
    _found(issues, "structure", "Patient.active", "JSON boolean")
    _found(issues, "value", "Patient.multipleBirth.ofType(Integer)", "outside the range")
    _found(issues, "value", "Patient.text.div", "Invalid entity")
    _found(issues, "code-invalid", "Patient.telecom[0].system")


def test_control_characters_script_urls_and_duplicate_contained_ids(
    validator: Validator,
) -> None:
    pat = {
        "resourceType": "Patient",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:{URL}">'
            f"{NAME}</a></div>",
        },
        "name": [{"family": f"{NAME}\x01{MRN}"}],
        "contained": [
            {"resourceType": "Patient", "id": "a"},
            {"resourceType": "Patient", "id": "a"},
        ],
        "link": [{"other": {"reference": "#a"}, "type": "seealso"}],
    }
    issues = _assert_clean(validator.validate(pat).issues)
    _found(issues, "value", "Patient.name[0].family", "control character (U+0001)")
    _found(issues, "invalid", "Patient.text.div", "javascript: URL in 'href' on 'a'")
    _found(issues, "business-rule", "Patient.contained[1]", "Duplicate id value")


def test_resource_types_and_profiles(validator: Validator) -> None:
    assert _assert_clean(validator.validate({"resourceType": NAME}).issues)
    assert _assert_clean(validator.validate({"resourceType": 7}).issues)
    pat = {
        "resourceType": "Patient",
        "meta": {"profile": [URL, f"{SLICED_PATIENT['url']}|{MRN}"]},
        "contained": [{"resourceType": TOKEN, "id": "c1"}, {"resourceType": "Patient"}],
    }
    issues = _assert_clean(validator.validate(pat).issues)
    _found(issues, "not-found", "Patient.meta.profile[0]", "not loaded")
    _found(issues, "structure", "Patient.contained[0]", "Unknown resource type")
    _found(issues, "required", "Patient.contained[1]", "must have an id")
    _assert_clean(validator.validate(pat, profile=SLICED_PATIENT["url"]).issues)
    # the same inside a Bundle entry
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": pat}]}
    issues = _assert_clean(validator.validate(bundle).issues)
    _found(issues, "structure", "Bundle.entry[0].resource.contained[0]", "Unknown resource type")


#: closed slicing on Patient.identifier by system, one slice required, a fixed gender
SLICED_PATIENT: dict[str, Any] = {
    "resourceType": "StructureDefinition",
    "url": "http://example.org/noecho/StructureDefinition/sliced-patient",
    "name": "SlicedPatient",
    "status": "draft",
    "kind": "resource",
    "abstract": False,
    "type": "Patient",
    "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
    "derivation": "constraint",
    "differential": {
        "element": [
            {
                "id": "Patient.identifier",
                "path": "Patient.identifier",
                "slicing": {
                    "discriminator": [{"type": "value", "path": "system"}],
                    "rules": "closed",
                },
                "min": 1,
            },
            {
                "id": "Patient.identifier:mrn",
                "path": "Patient.identifier",
                "sliceName": "mrn",
                "min": 1,
                "max": "1",
            },
            {
                "id": "Patient.identifier:mrn.system",
                "path": "Patient.identifier.system",
                "min": 1,
                "fixedUri": "https://iopfhir.org/mrn",
            },
            {"id": "Patient.gender", "path": "Patient.gender", "fixedCode": "female"},
            {
                "id": "Patient.maritalStatus",
                "path": "Patient.maritalStatus",
                "patternCodeableConcept": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"}]
                },
            },
        ]
    },
}


def test_slicing_and_profile_values(validator: Validator) -> None:
    pat = {
        "resourceType": "Patient",
        "identifier": [{"system": URL, "value": MRN}, {"system": NAME, "value": TOKEN}],
        "gender": "male",
        "maritalStatus": {"coding": [{"system": URL, "code": NAME}]},
    }
    issues = _assert_clean(validator.validate(pat, profile=SLICED_PATIENT["url"]).issues)
    _found(issues, "structure", "Patient.identifier[0]", "slicing is closed")
    _found(issues, "structure", "Patient.identifier[1]", "slicing is closed")
    _found(issues, "structure", "Patient.identifier", "Patient.identifier:mrn")
    _found(issues, "value", "Patient.gender", "'female'")
    _found(issues, "value", "Patient.maritalStatus", "v3-MaritalStatus")


def test_everything_at_once(validator: Validator) -> None:
    """Every planted value in one Bundle, validated with and without the profile."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:{NAME}", "resource": {"resourceType": NAME, MRN: TOKEN}},
            {
                "fullUrl": f"http://x.org/fhir/Patient/{TOKEN}",
                "resource": {
                    "resourceType": "Patient",
                    "id": MRN,
                    "meta": {"profile": [URL]},
                    "name": [{"family": NAME, "given": [TOKEN], NAME: MRN}],
                    "identifier": [{"system": URL, "value": MRN}],
                    "gender": NAME,
                    "managingOrganization": {"reference": f"Organization/{MRN}", "type": NAME},
                    "extension": [{"url": URL, "valueString": TOKEN}],
                },
            },
        ],
    }
    for profile in (None, SLICED_PATIENT["url"]):
        report = validator.validate(copy.deepcopy(bundle), profile=profile)
        assert not report.ok
        _assert_clean(report.issues)
        assert _clean(json.dumps(report.to_operation_outcome()))
        assert _clean(str(report))


# -- the command line --------------------------------------------------------------------
def _marked_bundle() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"http://x.org/fhir/Patient/{NAME}",
                "resource": {
                    "resourceType": "Patient",
                    "id": MRN,
                    NAME: TOKEN,
                    "gender": TOKEN,
                    "birthDate": MRN,
                    "identifier": [{"system": URL, "value": MRN}],
                    "extension": [{"url": URL, "valueString": NAME}],
                    "generalPractitioner": [{"reference": f"#{TOKEN}"}],
                },
            },
            {"fullUrl": NAME, "resource": {"resourceType": TOKEN}},
        ],
    }


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_output_never_holds_the_markers(tmp_path: Path, fmt: str) -> None:
    single = tmp_path / "marked.json"
    single.write_text(json.dumps(_marked_bundle()), encoding="utf-8")
    lines = tmp_path / "marked.ndjson"
    lines.write_text(
        "\n".join(json.dumps(e["resource"]) for e in _marked_bundle()["entry"]) + "\n",
        encoding="utf-8",
    )
    code, out, err = run_validate("--format", fmt, str(single), str(lines))
    assert code == 1, out + err
    assert "Unrecognized property" in out
    assert _clean(out), out
    assert _clean(err), err


# -- a server's $validate ----------------------------------------------------------------
_ECHO = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "code-invalid",
            "diagnostics": f"The value '{TOKEN}' of {NAME} ({MRN}) is not valid",
            "details": {"text": f"{NAME} {MRN}"},
            "expression": [f"Patient.name.where(family='{NAME}')", "Patient.gender"],
            "location": [f"/f:Patient/f:identifier[value='{MRN}']"],
        },
        {
            "severity": NAME,
            "code": TOKEN,
            "details": {"text": MRN, "coding": [{"system": URL, "code": NAME}]},
            "location": [f"Bundle.entry[0].resource/*Patient/{MRN}*/.name"],
        },
        {"severity": "warning", "code": "structure", "expression": [f"Patient.{NAME}"]},
        {"severity": "information", "code": "informational", "expression": [MRN * 40]},
    ],
}


def test_foreign_issue_keeps_only_safe_parts() -> None:
    issues = _assert_clean(foreign_issue(i) for i in _ECHO["issue"])
    assert [(i.severity, i.code, i.path) for i in issues] == [
        ("error", "code-invalid", "Patient.gender"),
        ("error", "unknown", None),
        ("warning", "structure", None),
        ("information", "informational", None),
    ]
    assert {i.message for i in issues} == {SUMMARY}


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Patient.birthDate", True),
        ("Bundle.entry[3].resource.ofType(Patient).name[0].given[1]", True),
        ("Observation.value.ofType(Quantity).value", True),
        ("Observation.valueQuantity.code", True),
        (f"Patient.{NAME}", False),
        (f"{NAME}.name", False),
        ("Patient.extension('http://x.org')", False),
        ("Patient.name[0].where(use='official')", False),
        ("Patient.name[0]/*x*/", False),
        ("Patient..name", False),
        ("Patient.ofType(Quillon)", False),
        ("", False),
        (None, False),
    ],
)
def test_fhirpath_location(text: Any, kept: bool) -> None:
    assert fhirpath_location(text) == (text if kept else None)


def _echo_client(status: int) -> FhirClient:
    def handler(request: Any) -> Any:
        return json_response(status, _ECHO)

    return FhirClient("http://127.0.0.1:9/fhir", transport=MemoryTransport(handler))


@pytest.mark.parametrize("status", [200, 400, 422])
def test_server_report_never_holds_server_text(status: int) -> None:
    with _echo_client(status) as client:
        report = server_report(client, _marked_bundle()["entry"][0]["resource"])
    issues = _assert_clean(report.issues)
    assert ("error", "code-invalid", "Patient.gender") in [
        (i.severity, i.code, i.path) for i in issues
    ]
    assert all(i.source == "server http://127.0.0.1:9/fhir" for i in issues)


def test_server_4xx_without_outcome_is_one_fixed_issue() -> None:
    def handler(request: Any) -> Any:
        return json_response(400, {"resourceType": "Patient", "name": [{"family": NAME}]})

    with FhirClient("http://127.0.0.1:9/fhir", transport=MemoryTransport(handler)) as client:
        report = server_report(client, {"resourceType": "Patient"})
    (issue,) = _assert_clean(report.issues)
    assert (issue.severity, issue.path) == ("error", None)
    assert "HTTP 400" in issue.message


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_with_server_never_holds_the_markers(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "marked.json"
    f.write_text(json.dumps(_marked_bundle()["entry"][0]["resource"]), encoding="utf-8")
    real = FhirClient

    def fake(base: str, **kwargs: Any) -> FhirClient:
        def handler(request: Any) -> Any:
            return json_response(200, _ECHO)

        return real(base, transport=MemoryTransport(handler))

    monkeypatch.setattr(cli_validate, "FhirClient", fake)
    code, out, err = run_validate("--format", fmt, "--server", "http://127.0.0.1:9/fhir", str(f))
    assert code == 1, out + err
    assert SUMMARY in out
    assert _clean(out), out
    assert _clean(err), err


def test_a_long_multi_line_invariant_is_one_bounded_line() -> None:
    expression = "name.exists() and\n  (" + " or\n  ".join(["gender.exists()"] * 40) + ")"
    profile = {
        **SLICED_PATIENT,
        "url": "http://example.org/noecho/StructureDefinition/long-invariant",
        "name": "LongInvariant",
        "differential": {
            "element": [
                {
                    "id": "Patient",
                    "path": "Patient",
                    "constraint": [
                        {
                            "key": "noecho-1",
                            "severity": "error",
                            "human": "a name and a gender",
                            "expression": expression,
                        }
                    ],
                }
            ]
        },
    }
    report = Validator([profile]).validate({"resourceType": "Patient"}, profile=profile["url"])
    (issue,) = [i for i in report.errors if i.code == "invariant"]
    assert issue.message.startswith("Constraint failed: noecho-1: name.exists() and (")
    assert "\n" not in issue.message
    assert len(issue.message) <= 300
