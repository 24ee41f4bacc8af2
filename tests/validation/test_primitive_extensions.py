"""A primitive's ``_key`` Element in the shapes other systems write: what FHIR JSON allows
(``_given`` with nulls lined up with ``given``, ``_value[x]`` alone with an extension, an id
beside a value) is no error; what it forbids is one, as the HL7 Java validator reports it: a
``_key`` of the wrong JSON shape beside an array is not dropped unseen, an empty ``_key``
object is an error, and an element with only an id (no value, no extension) fails ele-1.
A ``_key`` that is JSON null is an error like any null. An integer written as 1.0 or 1e3
is a JSON number of the wrong form, and the message says so."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.validation import Validator

EXT = {"extension": [{"url": "http://example.org/ext", "valueString": "x"}]}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _patient(name: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [name]}


def _observation(**value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "t"}, **value}


def _errors(validator: Validator, resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.path or "", i.message) for i in validator.validate(resource).errors]


@pytest.mark.parametrize(
    "resource",
    [
        _patient({"given": ["a", None, "c"], "_given": [None, EXT, None]}),
        _patient({"given": ["a", "b"], "_given": [None, {"id": "g2", **EXT}]}),
        _patient({"given": ["a", "b"], "_given": [{"id": "g1"}, None]}),
        _patient({"_given": [EXT]}),
        _observation(_valueString=EXT),
        _observation(valueString="v", _valueString={"id": "v1"}),
    ],
)
def test_primitive_elements_r4_allows(validator: Validator, resource: dict[str, Any]) -> None:
    assert _errors(validator, resource) == []


_ELE1_GIVEN = "Constraint failed: ele-1: HumanName.given must have a value or children"
_ELE1_VALUE = "Constraint failed: ele-1: Observation.value[x] must have a value or children"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        # an object where FHIR JSON has an array: refused, not ignored
        (
            _patient({"given": ["a"], "_given": {"id": "g1"}}),
            [("Patient.name[0].given", "The property _given must be a JSON Array, not an object")],
        ),
        (
            _patient({"given": ["a"], "_given": "b"}),
            [("Patient.name[0].given", "The property _given must be a JSON Array, not a string")],
        ),
        # an id alone is no value and no children
        (_patient({"_given": [{"id": "g1"}]}), [("Patient.name[0].given[0]", _ELE1_GIVEN)]),
        (
            _patient({"given": ["a"], "_given": [None, {"id": "g2"}]}),
            [("Patient.name[0].given[1]", _ELE1_GIVEN)],
        ),
        (
            _observation(_valueString={"id": "v1"}),
            [("Observation.value.ofType(String)", _ELE1_VALUE)],
        ),
        # FHIR JSON has no empty objects
        (
            _observation(valueString="v", _valueString={}),
            [("Observation.value.ofType(String)", "_value[x]: an object must have some content")],
        ),
        (
            _observation(_valueString={}),
            [
                ("Observation.value.ofType(String)", "_value[x]: an object must have some content"),
                ("Observation.value.ofType(String)", _ELE1_VALUE),
            ],
        ),
    ],
)
def test_primitive_elements_r4_refuses(
    validator: Validator, resource: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert sorted(_errors(validator, resource)) == sorted(expected)


def test_a_refused_primitive_element_does_not_echo_its_id(validator: Validator) -> None:
    errors = _errors(validator, _patient({"_given": [{"id": "Jane-Roe"}]}))
    assert errors and not any("Jane" in message for _, message in errors)


@pytest.mark.parametrize("number", [1.0, 1e3, 2.5])
def test_an_integer_written_with_a_fraction_says_so(validator: Validator, number: float) -> None:
    # a JSON number all the same: "must be a JSON number ..., not a number" said nothing
    assert _errors(validator, _observation(valueInteger=number)) == [
        (
            "Observation.value.ofType(Integer)",
            "The value is not a valid integer (a number with a fraction or exponent)",
        )
    ]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            _patient({"given": ["a"], "_given": None}),
            ("Patient.name[0].given", "The property _given must not be null"),
        ),
        (
            {"resourceType": "Patient", "birthDate": "2000", "_birthDate": None},
            ("Patient.birthDate", "The property _birthDate must not be null"),
        ),
        (
            _observation(valueString="v", _valueString=None),
            ("Observation.value.ofType(String)", "The property _valueString must not be null"),
        ),
    ],
)
def test_a_null_primitive_element_is_an_error(
    validator: Validator, resource: dict[str, Any], expected: tuple[str, str]
) -> None:
    # a JSON null is no value in FHIR JSON: "_key": null was read as if absent
    assert _errors(validator, resource) == [expected]
