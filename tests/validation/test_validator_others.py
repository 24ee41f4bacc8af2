"""The validator on data this project did not write (issue 11, part 2).

Slicing by values fixed inside nested slices (the core vital-signs profiles), R4's rule that
an Observation with a vital-sign code conforms to that profile, XML-Schema regex semantics
for primitives, ext-1 on primitives given only by extensions, the shape of references,
extension contexts reached through a contentReference, CodeSystem supplements, additional
bindings, and the memo of values already found clean.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopfhir.validation import ValidationReport, Validator
from iopfhir.validation.primitives import base64_ok, xsd_regex
from iopfhir.validation.vital_signs import vital_signs_groups, vital_signs_profile

CORE = "http://hl7.org/fhir/StructureDefinition/"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DAR = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "unknown",
        }
    ]
}


@pytest.fixture(scope="module")
def v() -> Validator:
    return Validator()


def _errors(report: ValidationReport) -> list[str]:
    return [f"{e.path}: {e.message}" for e in report.errors]


def _component(code: str, value: float) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
    }


def _bp(*components: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-01T10:00:00Z",
        "component": list(components),
    }


# -- slicing inside nested slices: blood pressure ----------------------------------------
def test_bp_components_land_in_their_slices_whatever_their_order(v: Validator) -> None:
    systolic, diastolic = _component("8480-6", 120), _component("8462-4", 80)
    for obs in (_bp(systolic, diastolic), _bp(diastolic, systolic)):
        assert v.validate(obs, profile=CORE + "bp").ok, _errors(
            v.validate(obs, profile=CORE + "bp")
        )


def test_bp_with_two_systolic_components_is_an_error(v: Validator) -> None:
    obs = _bp(_component("8480-6", 120), _component("8480-6", 118))
    errors = _errors(v.validate(obs, profile=CORE + "bp"))
    assert any("SystolicBP': at most 1" in e for e in errors), errors
    assert any("DiastolicBP': a matching slice is required" in e for e in errors), errors


def test_bp_component_checked_against_its_own_slice(v: Validator) -> None:
    # the diastolic component (second) has the wrong unit: the error is on it, by its slice
    bad = _component("8462-4", 80)
    bad["valueQuantity"]["code"] = "kPa"
    errors = _errors(v.validate(_bp(_component("8480-6", 120), bad), profile=CORE + "bp"))
    assert errors and all(e.startswith("Observation.component[1]") for e in errors), errors


# -- R4: vital signs by code ---------------------------------------------------------------
def test_vital_sign_code_holds_an_observation_to_its_profile(v: Validator) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 60, "unit": "beats/min", "system": UCUM, "code": "/min"},
    }
    report = v.validate(obs)  # claims nothing
    assert any("effective[x]: minimum required = 1" in e for e in _errors(report))
    assert any(
        i.severity == "information" and CORE + "heartrate" in i.message for i in report.issues
    )
    other = copy.deepcopy(obs)
    other["code"]["coding"][0]["code"] = "44249-1"  # PHQ-9 total: not a vital sign
    report = v.validate(other)
    assert report.ok and not any(i.severity == "information" for i in report.issues)


def test_snomed_vital_sign_code_needs_the_magic_loinc_code(v: Validator) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "category": _bp()["category"],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "276885007"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-01",
        "valueQuantity": {"value": 36.6, "unit": "C", "system": UCUM, "code": "Cel"},
    }
    assert any("BodyTempCode" in e for e in _errors(v.validate(obs)))
    obs["code"]["coding"].append({"system": LOINC, "code": "8310-5"})
    assert v.validate(obs).ok, _errors(v.validate(obs))


def test_vital_signs_table_first_group_decides() -> None:
    def obs(*codes: tuple[str, str]) -> dict[str, Any]:
        return {"code": {"coding": [{"system": s, "code": c} for s, c in codes]}}

    assert vital_signs_profile(obs((LOINC, "55284-4"))) == CORE + "bp"
    assert vital_signs_profile(obs((LOINC, "85354-9"), (LOINC, "8867-4"))) == CORE + "heartrate"
    assert vital_signs_profile(obs(("http://example.org", "8867-4"))) is None
    # the Java validator names no profile for SNOMED CT respiratory rate: none applied
    assert vital_signs_profile(obs(("http://snomed.info/sct", "86290005"))) is None


@pytest.mark.corpus
def test_vital_signs_table_holds_each_profiles_own_code(corpus: Path) -> None:
    """Verified against the official R4 definitions: the LOINC code each vital-signs
    profile fixes (its "magic" code) is in the group that applies that profile."""
    groups = {p: codes for s, codes, p in vital_signs_groups() if s == LOINC and p}
    folder = corpus / "spec" / "r4-core-definitions"
    checked = 0
    for url, codes in groups.items():
        sd = json.loads((folder / f"StructureDefinition-{url.rsplit('/', 1)[1]}.json").read_text())
        fixed = {
            e["fixedCode"]
            for e in sd["snapshot"]["element"]
            if e["id"].startswith("Observation.code.coding:") and "fixedCode" in e
        }
        assert fixed and fixed <= codes, (url, fixed)
        checked += 1
    assert checked == 10


@pytest.mark.corpus
def test_official_vital_signs_examples_pass_their_profiles(corpus: Path, v: Validator) -> None:
    folder = corpus / "hl7-examples" / "r4-core-examples"
    seen: dict[str, int] = {}
    for f in sorted(folder.glob("Observation-*.json")):
        obs = json.loads(f.read_text(encoding="utf-8-sig"))
        url = vital_signs_profile(obs)
        if url is None or f.name == "Observation-f202.json":  # see test_corpus_examples
            continue
        report = v.validate(obs, profile=url)
        assert report.ok, (f.name, _errors(report))
        seen[url] = seen.get(url, 0) + 1
    assert seen.get(CORE + "bp", 0) == 3  # blood-pressure, -cancel, -dar
    assert len(seen) >= 9


@pytest.mark.corpus
def test_synthea_bundles(corpus: Path, v: Validator) -> None:
    """Synthea 2.6 (Inferno) is clean. Synthea 2.4 codes blood pressure 55284-4 and oral
    temperature 8331-1 without the codes bp and bodytemp require (85354-9, 8310-5): by R4's
    vital-signs rule, as the Java validator applies it, those Observations are errors."""
    (inferno,) = sorted((corpus / "synthea" / "inferno-uscore-synthea-v2.6").glob("*.json"))
    assert v.validate(json.loads(inferno.read_text())).ok
    allowed = re.compile(
        r"Slice 'Observation\.code\.coding:(BPCode|BodyTempCode)'"
        r"|Unknown code in the CodeSystem http://terminology\.hl7\.org/CodeSystem/observation-category"
    )
    for f in sorted((corpus / "synthea" / "synthea-v2.4-2019-smart").glob("*.json")):
        report = v.validate(json.loads(f.read_text()))
        assert all(allowed.search(e.message) for e in report.errors), (f.name, _errors(report))


# -- primitives: XML Schema regexes ------------------------------------------------------
def test_xsd_whitespace_is_only_four_characters() -> None:
    code = re.compile(xsd_regex(r"[^\s]+(\s[^\s]+)*"))
    assert code.fullmatch("a\u00a0b") and code.fullmatch("\u00a0")
    assert not code.fullmatch("a  b") and not code.fullmatch(" a") and not code.fullmatch("a\t")
    string = re.compile(xsd_regex(r"[ \r\n\t\S]+"))
    assert string.fullmatch("\u2003\u00a0x\x0b") and not string.fullmatch("")
    assert re.compile(xsd_regex("a.b")).fullmatch("a\u00a0b")
    assert not re.compile(xsd_regex("a.b")).fullmatch("a\rb")


_BASE64_RX = re.compile(xsd_regex(r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+"))


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="AZaz09+/= \t\n\r\x0b\x0c\x1c\x85\u00a0\u2028é", max_size=24))
def test_base64_check_is_r4s_regex(value: str) -> None:
    """The byte-level base64Binary check answers as R4's regex does, whitespace included."""
    assert base64_ok(value) == (_BASE64_RX.fullmatch(value) is not None)


def test_a_large_attachment_is_checked_as_base64(v: Validator) -> None:
    """A 1.5 MB PDF as MIME base64 (lines of 76) and as one line: valid; a character
    outside the alphabet or a group cut by a line break: an error at the data's path."""
    data = "".join(chr(65 + i % 26) for i in range(1_500_000))  # 1,500,000 = 4 x 375,000
    mime = "\r\n".join(data[i : i + 76] for i in range(0, len(data), 76))
    for text in (data, mime):
        report = v.validate(_attachment(text))
        assert not report.errors, report.errors[:2]
    for text in (data[:-1] + "*", data[:10] + "\n" + data[10:]):
        errors = v.validate(_attachment(text)).errors
        assert [(e.path, e.message) for e in errors] == [
            (
                "DocumentReference.content[0].attachment.data",
                "The value is not a valid base64Binary",
            )
        ]


def _attachment(data: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf", "data": data}}],
    }


@pytest.mark.parametrize(
    ("family", "code", "ok"),
    [
        ("a\u00a0b", "a\u00a0b", True),
        ("\u00a0", "\u00a0", True),
        ("  ", "ok", False),  # a string of spaces only
        ("ok", "a  b", False),  # a code with two spaces
        ("ok", "a ", False),
    ],
)
def test_no_break_space_is_not_whitespace(v: Validator, family: str, code: str, ok: bool) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": family}],
        "identifier": [{"type": {"coding": [{"system": "http://example.org/t", "code": code}]}}],
    }
    report = v.validate(patient)
    assert report.ok is ok, _errors(report)
    for e in report.errors:
        assert family not in e.message or not family.strip()


# -- ext-1 on primitives given only by extensions ------------------------------------------
def test_extension_whose_value_has_only_extensions_has_a_value(v: Validator) -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
    patient = {"resourceType": "Patient", "extension": [{"url": url, "_valueString": DAR}]}
    assert v.validate(patient).ok, _errors(v.validate(patient))
    empty = {"resourceType": "Patient", "extension": [{"url": url}]}
    assert any("ext-1" in e for e in _errors(v.validate(empty)))
    nested = {
        "resourceType": "Patient",
        "birthDate": "2000-01-01",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "_valueDateTime": DAR,
                }
            ]
        },
    }
    assert v.validate(nested).ok, _errors(v.validate(nested))


def test_other_invariants_see_a_value_given_only_by_extensions(v: Validator) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "_valueString": DAR,
        "dataAbsentReason": {"text": "not asked"},
    }
    assert any("obs-6" in e for e in _errors(v.validate(obs)))


# -- references ------------------------------------------------------------------------------
BAD_REFERENCES = ["Patient/has space!", "Patient/", "patient/x", "Patient/x/extra", "Foo/x"]
GOOD_REFERENCES = [
    "Patient/x",
    "Patient/a-b.c",
    "Patient/x/_history/2",
    "http://example.org/fhir/Patient/1",
    "https://example.org/anything",
    "urn:uuid:4c0e4ac6-6a0c-4a3c-9d2b-6d1f0f3e9b9a",
    "urn:oid:1.2.3.4",
    "Patient?identifier=http://example.org/mrn|123",
]


def _with_subject(ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": ref},
    }


@pytest.mark.parametrize("ref", BAD_REFERENCES)
def test_malformed_references_are_errors(v: Validator, ref: str) -> None:
    report = v.validate(_with_subject(ref))
    hits = [e for e in report.errors if e.path == "Observation.subject.reference"]
    assert hits and all("Invalid reference" in e.message for e in hits), _errors(report)
    assert all(ref not in e.message for e in report.issues)  # never echoed


@pytest.mark.parametrize("ref", GOOD_REFERENCES)
def test_well_formed_references_pass(v: Validator, ref: str) -> None:
    assert v.validate(_with_subject(ref)).ok, _errors(v.validate(_with_subject(ref)))


def test_contained_reference_must_resolve(v: Validator) -> None:
    obs = _with_subject("#p")
    assert not v.validate(obs).ok
    obs["contained"] = [{"resourceType": "Patient", "id": "p"}]
    assert v.validate(obs).ok, _errors(v.validate(obs))


# -- extension contexts through contentReference ------------------------------------------
HIDDEN = {
    "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden",
    "valueBoolean": True,
}


def test_extension_context_reached_through_content_reference(v: Validator) -> None:
    deep = {"linkId": "1.1.1", "type": "string", "extension": [HIDDEN]}
    inner = {"linkId": "1.1", "type": "group", "extension": [HIDDEN], "item": [deep]}
    q = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [{"linkId": "1", "type": "group", "extension": [HIDDEN], "item": [inner]}],
    }
    assert v.validate(q).ok, _errors(v.validate(q))
    author = {
        "url": "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-author",
        "valueReference": {"reference": "Practitioner/x"},
    }
    nested = {"linkId": "1.1", "extension": [author]}
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": "1", "answer": [{"valueString": "a", "item": [nested]}]}],
    }
    assert v.validate(qr).ok, _errors(v.validate(qr))


def test_extension_out_of_its_context_is_an_error(v: Validator) -> None:
    q = {"resourceType": "Questionnaire", "status": "active", "extension": [HIDDEN]}
    assert any("not allowed to be used at this point" in e for e in _errors(v.validate(q)))
    opt = {"valueString": "a", "extension": [HIDDEN]}
    q = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [{"linkId": "1", "type": "choice", "answerOption": [opt]}],
    }
    errors = _errors(v.validate(q))
    assert any(e.startswith("Questionnaire.item[0].answerOption[0].extension[0]") for e in errors)


# -- terminology: supplements, additional bindings ----------------------------------------
def test_a_code_system_supplement_is_not_a_coding_system() -> None:
    supplement = {
        "resourceType": "CodeSystem",
        "url": "http://example.org/CodeSystem/loinc-extra",
        "status": "draft",
        "content": "supplement",
        "supplements": LOINC,
        "concept": [{"code": "test"}],
    }
    v = Validator([supplement])
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": supplement["url"], "code": "test"}]},
    }
    errors = _errors(v.validate(obs))
    assert any(
        e.startswith("Observation.code.coding[0].system") and "supplement" in e for e in errors
    )


def _additional_binding_profile(purpose: str) -> list[dict[str, Any]]:
    vs = {
        "resourceType": "ValueSet",
        "url": "http://example.org/ValueSet/only-one",
        "status": "active",
        "compose": {"include": [{"system": LOINC, "concept": [{"code": "100065-2"}]}]},
    }
    binding_ext = {
        "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional",
        "extension": [
            {"url": "purpose", "valueCode": purpose},
            {"url": "valueSet", "valueCanonical": vs["url"]},
        ],
    }
    sd = {
        "resourceType": "StructureDefinition",
        "url": "http://example.org/StructureDefinition/obs-additional",
        "name": "ObsAdditional",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
        "baseDefinition": CORE + "Observation",
        "derivation": "constraint",
        "differential": {
            "element": [
                {
                    "id": "Observation.code",
                    "path": "Observation.code",
                    "binding": {
                        "strength": "example",
                        "valueSet": "http://hl7.org/fhir/ValueSet/observation-codes",
                        "extension": [binding_ext],
                    },
                }
            ]
        },
    }
    return [vs, sd]


@pytest.mark.parametrize(
    ("purpose", "code", "ok"),
    [
        ("required", "100066-0", False),
        ("required", "100065-2", True),
        ("preferred", "100066-0", True),
    ],
)
def test_additional_required_binding(purpose: str, code: str, ok: bool) -> None:
    v = Validator(_additional_binding_profile(purpose))
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
    }
    report = v.validate(obs, profile="http://example.org/StructureDefinition/obs-additional")
    assert report.ok is ok, _errors(report)


# -- the memo of values found clean --------------------------------------------------------
def test_an_invalid_value_is_reported_every_time(v: Validator) -> None:
    obs = _bp(_component("8480-6", 120), _component("8462-4", 80))
    obs["category"][0]["coding"][0]["code"] = "not-a-category"
    for _ in range(3):
        errors = _errors(v.validate(obs))
        assert any(e.startswith("Observation.category[0].coding[0]") for e in errors), errors


def test_a_clean_value_is_checked_again_when_terminology_changes() -> None:
    v = Validator()
    system = "http://example.org/CodeSystem/colours"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": "mauve"}]},
    }
    assert v.validate(obs).ok  # unknown system: nothing to check the code against
    v.definitions.add(
        {
            "resourceType": "CodeSystem",
            "url": system,
            "status": "active",
            "content": "complete",
            "concept": [{"code": "red"}, {"code": "blue"}],
        }
    )
    errors = _errors(v.validate(obs))
    assert any("Unknown code" in e for e in errors), errors


def test_a_value_clean_at_one_element_is_still_checked_at_another(v: Validator) -> None:
    coding = {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "exam",
    }
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [coding]}],
        "code": {"text": "x"},
    }
    assert v.validate(obs).ok
    # the same concept where a required binding rules it out
    cond = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [dict(coding)]},
        "subject": {"reference": "Patient/p1"},
    }
    errors = _errors(v.validate(cond))
    assert any(e.startswith("Condition.clinicalStatus") for e in errors), errors


# -- Bundle invariants in Python: the same answers as FHIRPath ----------------------------
def _bundles(corpus: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for folder in ("hl7-examples", "fhir-test-cases", "ig-examples/pacio", "synthea"):
        for f in sorted((corpus / folder).rglob("*.json")):
            try:
                res = json.loads(f.read_text(encoding="utf-8-sig"))
            except ValueError:
                continue
            if isinstance(res, dict) and res.get("resourceType") == "Bundle":
                out.append(res)
    # and what they must catch
    base = {"resourceType": "Bundle", "type": "transaction"}
    entry = {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}}
    out += [
        {**base, "total": 3},
        {**base, "entry": [{**entry, "search": {"mode": "match"}}]},
        {**base, "entry": [entry]},  # no request in a transaction
        {**base, "type": "collection", "entry": [{**entry, "request": {"method": "GET"}}]},
        {**base, "type": "batch-response", "entry": [entry]},
        {**base, "type": "collection", "entry": [entry, dict(entry)]},  # same fullUrl
        {**base, "type": "document", "entry": [entry]},
        {**base, "type": "message", "entry": [entry]},
        {**base, "type": "history", "entry": [entry, dict(entry)]},
        {"resourceType": "Bundle", "entry": [entry, dict(entry)]},  # no type
    ]
    return out


@pytest.mark.corpus
def test_native_bundle_invariants_agree_with_fhirpath(corpus: Path) -> None:
    from iopfhir.validation.invariants import InvariantEngine
    from iopfhir.validation.native_invariants import NATIVE_EXPRESSIONS, native

    class FhirPathOnly(InvariantEngine):
        def native(self, key: str, expression: str) -> Any:
            return None

    engine = FhirPathOnly()
    keys = [k for k in NATIVE_EXPRESSIONS if k.startswith("bdl-")]
    compared = failures = 0
    for bundle in _bundles(corpus):
        env = {"resource": bundle, "rootResource": bundle}
        for key in keys:
            expr = NATIVE_EXPRESSIONS[key]
            fn = native(key, expr)
            assert fn is not None
            on_entries = key in ("bdl-5", "bdl-8")
            entries = [e for e in bundle.get("entry") or () if isinstance(e, dict)]
            for target in entries if on_entries else [bundle]:
                where = "Bundle.entry" if on_entries else "Bundle"
                expected = engine.evaluate(key, expr, target, where, env)
                got = fn(target, env)
                assert (got is False) == (expected is False), (key, bundle.get("id"), got)
                compared += 1
                failures += got is False
    assert compared > 1000 and failures >= 8


# -- target profiles in a Bundle: asked once per resource, reported at every reference -----
def _target_profiles() -> list[dict[str, Any]]:
    def sd(name: str, rtype: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "resourceType": "StructureDefinition",
            "url": f"http://example.org/StructureDefinition/{name}",
            "name": name,
            "status": "active",
            "kind": "resource",
            "abstract": False,
            "type": rtype,
            "baseDefinition": CORE + rtype,
            "derivation": "constraint",
            "differential": {"element": elements},
        }

    patient = sd(
        "MyPatient", "Patient", [{"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1}]
    )
    obs = sd(
        "MyObs",
        "Observation",
        [
            {
                "id": "Observation.subject",
                "path": "Observation.subject",
                "type": [{"code": "Reference", "targetProfile": [patient["url"]]}],
            }
        ],
    )
    return [patient, obs]


@pytest.mark.parametrize("born", [False, True])
def test_every_reference_to_a_nonconforming_target_is_reported(born: bool) -> None:
    v = Validator(_target_profiles())
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "p1"}
    if born:
        patient["birthDate"] = "1990-01-01"
    entries = [{"fullUrl": "http://example.org/fhir/Patient/p1", "resource": patient}]
    for i in range(3):
        obs = {
            "resourceType": "Observation",
            "id": f"o{i}",
            "meta": {"profile": ["http://example.org/StructureDefinition/MyObs"]},
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
        }
        entries.append({"fullUrl": f"http://example.org/fhir/Observation/o{i}", "resource": obs})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    for _ in range(2):  # and the next run asks again
        hits = [e for e in v.validate(bundle).errors if "target profile" in e.message]
        assert len(hits) == (0 if born else 3), _errors(v.validate(bundle))


def test_a_value_clean_without_invariants_is_checked_with_them() -> None:
    v = Validator()
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "effectivePeriod": {"start": "2024-05-02", "end": "2024-05-01"},
    }
    v.check_invariants = False
    assert v.validate(obs).ok
    v.check_invariants = True
    assert any("per-1" in e for e in _errors(v.validate(obs)))
