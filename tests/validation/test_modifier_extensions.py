"""A loaded extension definition says whether it is a modifier (its root element's
``isModifier``): a modifier extension goes in ``modifierExtension`` and any other in
``extension``; either mismatch is an error, as the HL7 Java validator reports it (its
"extension modifier mismatch"), named by the path and the definition's url."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.validation import Validator

DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
#: an R4 modifier extension; its context is NutritionOrder
DO_NOT_PERFORM = "http://hl7.org/fhir/StructureDefinition/request-doNotPerform"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _nutrition_order(**extensions: Any) -> dict[str, Any]:
    return {
        "resourceType": "NutritionOrder",
        "text": DIV,
        "status": "active",
        "intent": "order",
        "patient": {"reference": "Patient/p1"},
        "dateTime": "2024-03-04",
        "oralDiet": {"type": [{"text": "diet"}]},
        **extensions,
    }


def _errors(validator: Validator, resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.path or "", i.message) for i in validator.validate(resource).errors]


@pytest.mark.parametrize(
    "resource",
    [
        _nutrition_order(modifierExtension=[{"url": DO_NOT_PERFORM, "valueBoolean": True}]),
        _nutrition_order(extension=[{"url": DAR, "valueCode": "unknown"}]),
    ],
)
def test_extensions_where_their_definition_puts_them(
    validator: Validator, resource: dict[str, Any]
) -> None:
    assert _errors(validator, resource) == []


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            _nutrition_order(extension=[{"url": DO_NOT_PERFORM, "valueBoolean": True}]),
            (
                "NutritionOrder.extension[0]",
                f"The extension {DO_NOT_PERFORM} is a modifier extension: it must be used as "
                "a modifierExtension",
            ),
        ),
        (
            _nutrition_order(modifierExtension=[{"url": DAR, "valueCode": "unknown"}]),
            (
                "NutritionOrder.modifierExtension[0]",
                f"The extension {DAR} is not a modifier extension, but is used as one "
                "(modifierExtension)",
            ),
        ),
        (
            {
                "resourceType": "Patient",
                "text": DIV,
                "contact": [
                    {
                        "name": {"family": "f"},
                        "modifierExtension": [{"url": DAR, "valueCode": "unknown"}],
                    }
                ],
            },
            (
                "Patient.contact[0].modifierExtension[0]",
                f"The extension {DAR} is not a modifier extension, but is used as one "
                "(modifierExtension)",
            ),
        ),
    ],
)
def test_a_modifier_mismatch_is_an_error(
    validator: Validator, resource: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert _errors(validator, resource) == [expected]
