"""The native invariant implementations agree with fhirpathpy on the same inputs."""

from __future__ import annotations

from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from iopfhir.validation.invariants import InvariantEngine
from iopfhir.validation.native_invariants import NATIVE_EXPRESSIONS
from iopfhir.validation.simple_invariants import compile_simple

R4 = models["r4"]

CC = "http://terminology.hl7.org/CodeSystem/"
CONDITIONS: list[dict[str, Any]] = [
    {"resourceType": "Condition"},
    {"resourceType": "Condition", "abatementDateTime": "2020-01-01"},
    {
        "resourceType": "Condition",
        "abatementDateTime": "2020-01-01",
        "clinicalStatus": {"coding": [{"system": CC + "condition-clinical", "code": "resolved"}]},
    },
    {
        "resourceType": "Condition",
        "verificationStatus": {
            "coding": [{"system": CC + "condition-ver-status", "code": "entered-in-error"}]
        },
        "clinicalStatus": {"coding": [{"system": CC + "condition-clinical", "code": "active"}]},
    },
    {"resourceType": "Condition", "category": [{"coding": [{"code": "problem-list-item"}]}]},
]
LOINC = "http://loinc.org"
OBSERVATIONS: list[dict[str, Any]] = [
    {"resourceType": "Observation", "code": {"coding": [{"system": LOINC, "code": "1"}]}},
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": "1"}]},
        "valueInteger": 3,
        "component": [{"code": {"coding": [{"system": LOINC, "code": "1"}]}}],
    },
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": "1"}]},
        "valueInteger": 3,
        "component": [{"code": {"coding": [{"system": LOINC, "code": "2"}]}}],
    },
]


@pytest.mark.parametrize("key", ["con-3", "con-4", "con-5"])
@pytest.mark.parametrize("res", CONDITIONS)
def test_native_condition_invariants_match_fhirpathpy(key: str, res: dict[str, Any]) -> None:
    _same(key, res)


@pytest.mark.parametrize("res", OBSERVATIONS)
def test_native_obs7_matches_fhirpathpy(res: dict[str, Any]) -> None:
    _same("obs-7", res)


def _same(key: str, res: dict[str, Any]) -> None:
    expr = NATIVE_EXPRESSIONS[key]
    engine = InvariantEngine()
    native = engine.native(key, expr)
    assert native is not None
    expected = fhirpathpy.evaluate(res, expr, {"resource": res}, R4)
    assert [native(res, {"resource": res})] == expected


@pytest.mark.parametrize(
    ("expr", "base", "value"),
    [
        ("duration.empty() or durationUnit.exists()", "Timing.repeat", {}),
        ("duration.empty() or durationUnit.exists()", "Timing.repeat", {"duration": 1}),
        (
            "duration.empty() or durationUnit.exists()",
            "Timing.repeat",
            {"duration": 1, "durationUnit": "h"},
        ),
        (
            "(answer.exists() and item.exists()).not()",
            "QuestionnaireResponse.item",
            {"answer": [{}], "item": [{}]},
        ),
        (
            "(answer.exists() and item.exists()).not()",
            "QuestionnaireResponse.item",
            {"linkId": "a", "item": [{}]},
        ),
        ("detail.empty() or reference.empty()", "CarePlan.activity", {"detail": {"status": "x"}}),
        (
            "dataAbsentReason.empty() or value.empty()",
            "Observation",
            {"dataAbsentReason": {"text": "x"}, "valueInteger": 1},
        ),
        (
            "low.exists() or high.exists() or text.exists()",
            "Observation.referenceRange",
            {"appliesTo": [{}]},
        ),
    ],
)
def test_simple_compiler_matches_fhirpathpy(expr: str, base: str, value: dict[str, Any]) -> None:
    fn = compile_simple(expr)
    assert fn is not None
    node = ResourceNode.create_node(value, base)
    assert [fn(value)] == fhirpathpy.evaluate(node, expr, {}, R4)


def test_unsupported_functions_are_skipped_with_a_reason() -> None:
    engine = InvariantEngine()
    assert compile_simple("code.memberOf('x')") is None
    verdict = engine.evaluate("x-1", "code.memberOf('http://x')", {"code": "a"}, "Coding", {})
    assert verdict is None
    assert "x-1" in engine.skipped
