"""R4 defines an extension for every element of the other FHIR versions without a
StructureDefinition (versions.html, "Extensions for converting between versions"): the url
``http://hl7.org/fhir/[version]/StructureDefinition/extension-[path]``. IGs use them to carry
R4B/R5 elements in R4 (the Subscriptions backport's topic on ``Basic``, with the R5 status as a
modifier extension). Such an extension is known to the specification, so it is not reported as
unknown - in particular not as an unknown *modifier* extension, an error - but as information:
its definition lives in the other version's package, which is not loaded. Any other unknown url
is still reported as before, and the message never names the url (it is input)."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.validation import Validator

DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
R5_STATUS = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.status"
R5_CHOICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Communication.payload.content[x]"
R4B_NAME = "http://hl7.org/fhir/4.3/StructureDefinition/extension-SubscriptionTopic.name"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _basic(**extensions: Any) -> dict[str, Any]:
    return {"resourceType": "Basic", "text": DIV, "code": {"text": "topic"}, **extensions}


@pytest.mark.parametrize(
    "resource",
    [
        _basic(modifierExtension=[{"url": R5_STATUS, "valueCode": "draft"}]),
        _basic(extension=[{"url": R4B_NAME, "valueString": "TopicName"}]),
        _basic(extension=[{"url": R5_CHOICE, "valueCodeableConcept": {"text": "report"}}]),
    ],
)
def test_cross_version_extension_is_information_not_unknown(
    validator: Validator, resource: dict[str, Any]
) -> None:
    report = validator.validate(resource)
    assert report.errors == []
    assert [i for i in report.issues if i.severity == "warning"] == []
    infos = [i for i in report.issues if i.severity == "information"]
    assert len(infos) == 1
    assert infos[0].path in ("Basic.extension[0]", "Basic.modifierExtension[0]")
    assert "hl7.org" not in infos[0].message  # the url is input: not echoed


@pytest.mark.parametrize(
    ("url", "where"),
    [
        # the same form for R4 itself (its elements are used natively), no element path, or
        # another host: none is a cross-version extension
        ("http://hl7.org/fhir/4.0/StructureDefinition/extension-Basic.code", "modifierExtension"),
        ("http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic", "extension"),
        ("http://example.org/fhir/5.0/StructureDefinition/extension-Basic.x", "modifierExtension"),
    ],
)
def test_other_unknown_extensions_are_still_reported(
    validator: Validator, url: str, where: str
) -> None:
    issues = validator.validate(_basic(**{where: [{"url": url, "valueCode": "x"}]})).issues
    unknown = [i for i in issues if i.code == "not-found" and i.path == f"Basic.{where}[0]"]
    assert [i.severity for i in unknown] == ["error" if where == "modifierExtension" else "warning"]


def test_cross_version_extension_is_still_checked_as_an_extension(validator: Validator) -> None:
    # ext-1: a value and nested extensions together is an error whatever the url
    ext = {"url": R5_STATUS, "valueCode": "draft", "extension": [{"url": "a", "valueCode": "b"}]}
    errors = validator.validate(_basic(modifierExtension=[ext])).errors
    assert any("ext-1" in i.message for i in errors)
