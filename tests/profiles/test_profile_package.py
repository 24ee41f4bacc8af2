"""The generated package in profiles/package/ is a loadable FHIR R4 package whose profiles
and extensions are exactly the ones the code claims (iopfhir.fhir.conventions)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from profile_support import BASE, PACKAGE

from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology import instruments

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"

#: the resource type each profile constrains
PROFILE_TYPES = {
    PROFILE.PATIENT: "Patient",
    PROFILE.EPISODE: "EpisodeOfCare",
    PROFILE.CAREPLAN_TREATMENT: "CarePlan",
    PROFILE.CAREPLAN_RELAPSE: "CarePlan",
    PROFILE.CAREPLAN_AFTERCARE: "CarePlan",
    PROFILE.CARETEAM: "CareTeam",
    PROFILE.GOAL: "Goal",
    PROFILE.SESSION_APPOINTMENT: "Appointment",
    PROFILE.SESSION_ENCOUNTER: "Encounter",
    PROFILE.QUESTIONNAIRE_RESPONSE: "QuestionnaireResponse",
    PROFILE.OBSERVATION_ITEM: "Observation",
    PROFILE.OBSERVATION_PANEL: "Observation",
    PROFILE.CONDITION: "Condition",
    PROFILE.REFERRAL: "ServiceRequest",
    PROFILE.CAREPLAN_DISCHARGE: "CarePlan",
    PROFILE.MEDICATION_STATEMENT: "MedicationStatement",
    PROFILE.MEDICATION_REQUEST: "MedicationRequest",
    PROFILE.ALLERGY: "AllergyIntolerance",
    PROFILE.CONSENT: "Consent",
    PROFILE.AUDIT_DISCLOSURE: "AuditEvent",
    PROFILE.PROVENANCE_REVIEW: "Provenance",
    PROFILE.FLAG: "Flag",
    PROFILE.RISK_ASSESSMENT: "RiskAssessment",
    PROFILE.TOC_COMPOSITION: "Composition",
    PROFILE.TOC_DOCUMENT: "Bundle",
    PROFILE.TOC_DOCUMENT_REFERENCE: "DocumentReference",
    **{PROFILE.observation_total(i): "Observation" for i in instruments()},
}

#: where each extension may be used
EXTENSION_CONTEXTS = {
    EXT.PROGRAM: {"EpisodeOfCare"},
    EXT.DISCHARGE_DISPOSITION: {"EpisodeOfCare"},
    EXT.DELIVERY_SETTING: {"CarePlan.activity.detail", "Appointment"},
    EXT.THERAPY_MODALITY: {"CarePlan.activity.detail", "Appointment", "Encounter"},
    EXT.RECORD_IDENTIFIER: {"Provenance"},
    EXT.GOAL_STATUS_CHANGE: {"Provenance"},
    EXT.PLAN_CHANGE: {"Provenance"},
    EXT.CONSENT_REVOKED: {"Consent"},
}


def _constants(cls: type) -> set[str]:
    return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


def test_conventions_cover_every_profile_type() -> None:
    # a new PROFILE constant must be added to PROFILE_TYPES (and to the FSH)
    assert _constants(PROFILE) <= set(PROFILE_TYPES)


def test_profile_and_extension_urls_equal_conventions(
    structure_definitions: dict[str, dict[str, Any]],
) -> None:
    expected = set(PROFILE_TYPES) | _constants(EXT)
    assert set(structure_definitions) == expected


def test_manifest() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "iopfhir.profiles"
    assert manifest["version"] == "0.1.0"
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}
    assert manifest["canonical"] == BASE


def test_index_lists_every_file(package: dict[str, dict[str, Any]]) -> None:
    index = json.loads((PACKAGE / ".index.json").read_text(encoding="utf-8"))
    assert index["index-version"] == 1
    listed = {f["filename"]: f for f in index["files"]}
    assert set(listed) == set(package)
    for name, res in package.items():
        assert listed[name]["resourceType"] == res["resourceType"]
        assert listed[name]["url"] == res["url"]
        assert listed[name]["id"] == res["id"]


def test_every_resource_is_under_the_canonical_base(package: dict[str, dict[str, Any]]) -> None:
    for name, res in package.items():
        rtype = res["resourceType"]
        assert res["url"] == f"{BASE}/{rtype}/{res['id']}", name
        assert name == f"{rtype}-{res['id']}.json"
        assert res.get("version") == "0.1.0", name
        assert res.get("status") in ("active", "draft"), name


@pytest.mark.parametrize("url", sorted(PROFILE_TYPES) + sorted(EXTENSION_CONTEXTS))
def test_structure_definition_is_loadable(
    url: str, structure_definitions: dict[str, dict[str, Any]]
) -> None:
    sd = structure_definitions[url]
    assert sd["fhirVersion"] == "4.0.1"
    assert sd["url"].startswith(f"{BASE}/StructureDefinition/")
    assert sd["derivation"] == "constraint"
    # only R4 core underneath: no dependency on US Core or any other package
    assert sd["baseDefinition"].startswith(CORE_SD)
    snapshot = sd.get("snapshot", {}).get("element")
    assert snapshot, "no snapshot"
    assert snapshot[0]["path"] == sd["type"]
    snap_ids = {e["id"] for e in snapshot}
    for element in sd["differential"]["element"]:
        assert element["id"] in snap_ids


@pytest.mark.parametrize("url", sorted(PROFILE_TYPES))
def test_profile_type(url: str, structure_definitions: dict[str, dict[str, Any]]) -> None:
    sd = structure_definitions[url]
    assert sd["kind"] == "resource"
    assert sd["type"] == PROFILE_TYPES[url]
    assert sd["baseDefinition"] == CORE_SD + PROFILE_TYPES[url]


@pytest.mark.parametrize("url", sorted(EXTENSION_CONTEXTS))
def test_extension_context(url: str, structure_definitions: dict[str, dict[str, Any]]) -> None:
    sd = structure_definitions[url]
    assert sd["type"] == "Extension"
    assert sd["kind"] == "complex-type"
    assert {c["expression"] for c in sd["context"]} == EXTENSION_CONTEXTS[url]
    assert all(c["type"] == "element" for c in sd["context"])
    url_element = next(e for e in sd["snapshot"]["element"] if e["id"] == "Extension.url")
    assert url_element["fixedUri"] == url


def test_program_extension_shape(structure_definitions: dict[str, dict[str, Any]]) -> None:
    snapshot = structure_definitions[EXT.PROGRAM]["snapshot"]["element"]
    by_id = {e["id"]: e for e in snapshot}
    expected = {"name": "string", "minimumHoursPerWeek": "decimal", "minimumDaysPerWeek": "integer"}
    for part, type_code in expected.items():
        value = by_id[f"Extension.extension:{part}.value[x]"]
        assert [t["code"] for t in value["type"]] == [type_code]
        assert by_id[f"Extension.extension:{part}.url"]["fixedUri"] == part
    assert by_id["Extension.extension:name"]["min"] == 1
    assert by_id["Extension.value[x]"]["max"] == "0"


def _references(value: Any) -> list[str]:
    """Every canonical a StructureDefinition refers to (profiles, targets, value sets)."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("profile", "targetProfile") and isinstance(item, list):
                out += item
            elif key == "valueSet" and isinstance(item, str):
                out.append(item)
            else:
                out += _references(item)
    elif isinstance(value, list):
        for item in value:
            out += _references(item)
    return out


def test_project_canonicals_resolve_in_the_package(package: dict[str, dict[str, Any]]) -> None:
    urls = {r["url"] for r in package.values()}
    for name, res in package.items():
        if res["resourceType"] != "StructureDefinition":
            continue
        for ref in _references(res["snapshot"]):
            canonical = ref.split("|", 1)[0]
            if canonical.startswith(BASE):
                assert canonical in urls, f"{name}: {canonical}"
            # nothing from US Core: it is restated, not depended on
            assert "/us/core/StructureDefinition/" not in canonical, f"{name}: {canonical}"


def test_value_set_includes_resolve(
    value_sets: dict[str, dict[str, Any]], code_systems: dict[str, dict[str, Any]]
) -> None:
    for url, vs in value_sets.items():
        for include in vs["compose"]["include"]:
            system = include["system"]
            if system.startswith(BASE):
                assert system in code_systems, f"{url}: {system}"
                for concept in include.get("concept", []):
                    codes = {c["code"] for c in code_systems[system]["concept"]}
                    assert concept["code"] in codes, f"{url}: {system}#{concept['code']}"
