"""The package's CodeSystems and ValueSets equal the project's terminology data."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from profile_support import BASE

from iopfhir.domain.vocabulary import Setting
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology import codes, instruments

LOINC = "http://loinc.org"
CODE_SYSTEMS = codes()["code_systems"]


def _vs_codes(vs: dict[str, Any]) -> set[tuple[str, str]]:
    """(system, code) of a ValueSet that enumerates its concepts."""
    out = set()
    for include in vs["compose"]["include"]:
        assert "concept" in include, f"{vs['url']} includes a whole system"
        out |= {(include["system"], c["code"]) for c in include["concept"]}
    return out


@pytest.mark.parametrize("name", sorted(CODE_SYSTEMS))
def test_code_system_equals_codes_json(
    name: str, code_systems: dict[str, dict[str, Any]], value_sets: dict[str, dict[str, Any]]
) -> None:
    data = CODE_SYSTEMS[name]
    cs = code_systems.get(data["url"])
    assert cs is not None, f"no CodeSystem {data['url']}"
    assert cs["content"] == "complete"
    assert cs["caseSensitive"] is True
    concepts = {c["code"]: c.get("display") for c in cs["concept"]}
    assert concepts == data["concepts"]
    assert cs["count"] == len(data["concepts"])
    # and a ValueSet of all its codes
    vs = value_sets[f"{BASE}/ValueSet/{cs['id']}"]
    assert vs["compose"]["include"] == [{"system": data["url"]}]


def test_no_other_project_code_systems(code_systems: dict[str, dict[str, Any]]) -> None:
    known = {cs["url"] for cs in CODE_SYSTEMS.values()}
    # instruments LOINC does not code have a project code system of their own
    known |= {i.code_system for i in instruments().values() if i.code_system != LOINC}
    assert set(code_systems) - known == set()


def test_delivery_setting_codes_equal_the_domain(code_systems: dict[str, dict[str, Any]]) -> None:
    cs = code_systems[f"{BASE}/CodeSystem/delivery-setting"]
    assert {c["code"] for c in cs["concept"]} == set(get_args(Setting))
    assert set(codes()["encounter_class"]) - {"system"} == set(get_args(Setting))


def test_session_encounter_class(
    structure_definitions: dict[str, dict[str, Any]], value_sets: dict[str, dict[str, Any]]
) -> None:
    sd = structure_definitions[PROFILE.SESSION_ENCOUNTER]
    cls = next(e for e in sd["snapshot"]["element"] if e["id"] == "Encounter.class")
    assert cls["binding"]["strength"] == "required"
    enc = codes()["encounter_class"]
    expected = {(enc["system"], enc[k]) for k in enc if k != "system"}
    assert (
        _vs_codes(value_sets[cls["binding"]["valueSet"]])
        == expected
        == {
            ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB"),
            ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "VR"),
        }
    )


def _element(sd: dict[str, Any], element_id: str) -> dict[str, Any]:
    return next(e for e in sd["snapshot"]["element"] if e["id"] == element_id)


@pytest.mark.parametrize("inst_id", sorted(instruments()))
def test_total_profile_fixes_the_instrument_code(
    inst_id: str,
    structure_definitions: dict[str, dict[str, Any]],
    value_sets: dict[str, dict[str, Any]],
) -> None:
    inst = instruments()[inst_id]
    sd = structure_definitions[PROFILE.observation_total(inst_id)]
    code = _element(sd, "Observation.code")
    assert code["patternCodeableConcept"] == {
        "coding": [{"system": inst.code_system, "code": inst.total_code}]
    }
    survey = _element(sd, "Observation.category:survey")
    assert survey["min"] == 1
    assert survey["patternCodeableConcept"]["coding"][0]["code"] == "survey"
    value = _element(sd, "Observation.value[x]")
    if inst.scoring == "risk-level":
        assert [t["code"] for t in value["type"]] == ["CodeableConcept"]
        assert value["binding"]["strength"] == "required"
        levels = {(str(lv["system"]), str(lv["answer"])) for lv in inst.risk_levels}
        assert _vs_codes(value_sets[value["binding"]["valueSet"]]) == levels
    else:
        assert [t["code"] for t in value["type"]] == ["Quantity"]
        assert _element(sd, "Observation.value[x].code")["patternCode"] == "{score}"
        system = _element(sd, "Observation.value[x].system")
        assert system["patternUri"] == "http://unitsofmeasure.org"
        invariants = {c["key"]: c["expression"] for c in sd["snapshot"]["element"][0]["constraint"]}
        bounds = invariants[f"iop-score-{inst_id}"]
        assert f">= {inst.min_total}" in bounds
        assert f"<= {inst.max_total}" in bounds


def test_instrument_value_sets(value_sets: dict[str, dict[str, Any]]) -> None:
    insts = instruments().values()
    items = {(it.system, it.code) for i in insts for it in i.all_items}
    answers = {(a.system, a.code) for i in insts for it in i.all_items for a in it.answers}
    panels = {(i.code_system, i.panel_code) for i in insts if i.panel_code}
    totals = {(i.code_system, i.total_code) for i in insts}
    assert _vs_codes(value_sets[f"{BASE}/ValueSet/iop-instrument-item"]) == items
    assert _vs_codes(value_sets[f"{BASE}/ValueSet/iop-instrument-answer"]) == answers
    assert _vs_codes(value_sets[f"{BASE}/ValueSet/iop-instrument-panel"]) == panels
    assert _vs_codes(value_sets[f"{BASE}/ValueSet/iop-instrument-total"]) == totals


@pytest.mark.parametrize(
    ("profile", "kind"),
    [
        (PROFILE.CAREPLAN_TREATMENT, "treatment"),
        (PROFILE.CAREPLAN_RELAPSE, "relapse-prevention"),
        (PROFILE.CAREPLAN_AFTERCARE, "aftercare"),
    ],
)
def test_care_plan_kind_slice(
    profile: str, kind: str, structure_definitions: dict[str, dict[str, Any]]
) -> None:
    sd = structure_definitions[profile]
    kind_slice = _element(sd, "CarePlan.category:iopKind")
    assert (kind_slice["min"], kind_slice["max"]) == (1, "1")
    assert kind_slice["patternCodeableConcept"] == {
        "coding": [{"system": CODE_SYSTEMS["care-plan-kind"]["url"], "code": kind}]
    }
    assert _element(sd, "CarePlan.intent")["patternCode"] == "plan"


def test_extension_bindings(structure_definitions: dict[str, dict[str, Any]]) -> None:
    expected = {
        EXT.DISCHARGE_DISPOSITION: ("discharge-disposition", "required"),
        EXT.THERAPY_MODALITY: ("modality", "extensible"),
        EXT.DELIVERY_SETTING: ("delivery-setting", "required"),
    }
    for url, (vs_id, strength) in expected.items():
        value = _element(structure_definitions[url], "Extension.value[x]")
        assert value["min"] == 1
        assert value["binding"] == {"strength": strength, "valueSet": f"{BASE}/ValueSet/{vs_id}"}
