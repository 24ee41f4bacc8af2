"""Contained resources share one id space, and strings hold no control characters.

R4 (references.html): a contained resource has an id, unique within its container, and holds no
contained resources of its own (dom-2). R4 (datatypes.html): a string - and every type derived
from it - holds no character below U+0020 but tab, line feed and carriage return. Each finding
says where, never the id or the text (``tests/validation/test_no_echo.py`` for the rest).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopfhir.errors import Issue
from iopfhir.validation import Validator
from iopfhir.validation.definitions import Definitions
from iopfhir.validation.primitives import xsd_regex

MARKER = "Quillonmarker"
_DUPLICATE = "Duplicate id value"
_CONTROL = "The value contains a control character"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _observation(*contained: dict[str, Any]) -> dict[str, Any]:
    """An Observation whose performers refer to each contained resource with an id."""
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "IOP"},
        "contained": list(contained),
    }
    refs = [{"reference": f"#{c['id']}"} for c in contained if "id" in c]
    if refs:
        obs["performer"] = refs
    return obs


def _found(issues: list[Issue], words: str) -> list[tuple[str, str, str | None]]:
    return [(i.severity, i.code, i.path) for i in issues if words in i.message]


# -- contained resources ------------------------------------------------------------------
def test_duplicate_contained_ids_are_errors_at_the_later_ones(validator: Validator) -> None:
    obs = _observation(
        {"resourceType": "Practitioner", "id": MARKER},
        {"resourceType": "Practitioner", "id": "other"},
        {"resourceType": "Practitioner", "id": MARKER},
        {"resourceType": "Practitioner", "id": MARKER},
    )
    issues = validator.validate(obs).issues
    dups = [i for i in issues if _DUPLICATE in i.message]
    assert [(i.severity, i.code, i.path) for i in dups] == [
        ("error", "business-rule", "Observation.contained[2]"),
        ("error", "business-rule", "Observation.contained[3]"),
    ]
    # the earlier resource by position, never the id
    assert all("contained[0] has the same id" in i.message for i in dups)
    assert not any(MARKER in i.message or MARKER in (i.path or "") for i in issues)


def test_unique_contained_ids_pass(validator: Validator) -> None:
    obs = _observation(
        {"resourceType": "Practitioner", "id": "a"},
        {"resourceType": "Practitioner", "id": "b"},
    )
    assert validator.validate(obs).ok


def test_ids_are_compared_exactly(validator: Validator) -> None:
    """FHIR ids are case-sensitive: ``a`` and ``A`` are two ids."""
    obs = _observation(
        {"resourceType": "Practitioner", "id": "a"},
        {"resourceType": "Practitioner", "id": "A"},
    )
    assert _found(validator.validate(obs).issues, _DUPLICATE) == []


def test_duplicate_contained_ids_inside_a_bundle_entry(validator: Validator) -> None:
    obs = _observation(
        {"resourceType": "Practitioner", "id": "a"},
        {"resourceType": "Practitioner", "id": "a"},
    )
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": obs}]}
    assert _found(validator.validate(bundle).issues, _DUPLICATE) == [
        ("error", "business-rule", "Bundle.entry[0].resource.contained[1]")
    ]


def test_duplicate_contained_ids_break_conformance(validator: Validator) -> None:
    obs = _observation(
        {"resourceType": "Practitioner", "id": "a"},
        {"resourceType": "Practitioner", "id": "a"},
    )
    url = "http://hl7.org/fhir/StructureDefinition/Observation"
    assert not validator.conforms(obs, url)
    obs["contained"][1]["id"] = "b"
    obs["performer"] = [{"reference": "#a"}, {"reference": "#b"}]
    assert validator.conforms(obs, url)


def test_a_contained_resource_without_id_is_reported_once(validator: Validator) -> None:
    """The walk already requires the id (an error of its own); two resources without one are
    not duplicates of each other."""
    obs = _observation(
        {"resourceType": "Practitioner", "id": "a"},
        {"resourceType": "Practitioner"},
        {"resourceType": "Practitioner"},
    )
    issues = validator.validate(obs).issues
    assert _found(issues, "A contained resource must have an id") == [
        ("error", "required", "Observation.contained[1]"),
        ("error", "required", "Observation.contained[2]"),
    ]
    assert _found(issues, _DUPLICATE) == []


def test_nested_contained_resources_fail_dom_2(validator: Validator) -> None:
    inner = {"resourceType": "Practitioner", "id": "b"}
    obs = _observation({"resourceType": "Practitioner", "id": "a", "contained": [inner]})
    assert _found(validator.validate(obs).issues, "dom-2") == [
        ("error", "invariant", "Observation")
    ]


# -- control characters in strings ----------------------------------------------------------
def _patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        (_patient(name=[{"family": f"Roe\x01{MARKER}"}]), "Patient.name[0].family"),
        (_patient(id="p\x1f1"), "Patient.id"),
        (
            _patient(identifier=[{"system": "urn:x\x00", "value": "1"}]),
            "Patient.identifier[0].system",
        ),
        (_patient(photo=[{"url": "http://a.example/\x08"}]), "Patient.photo[0].url"),
        (
            _patient(communication=[{"language": {"coding": [{"code": "e\x0bn"}]}}]),
            "Patient.communication[0].language.coding[0].code",
        ),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "IOP"},
                "note": [{"text": "**high**\x0c"}],
            },
            "Observation.note[0].text",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "questionnaire": "http://example.org/Questionnaire/q\x1b",
            },
            "QuestionnaireResponse.questionnaire",
        ),
        (
            _patient(extension=[{"url": "http://example.org/x", "valueString": "\x07"}]),
            "Patient.extension[0].value.ofType(String)",
        ),
    ],
    ids=["string", "id", "uri", "url", "code", "markdown", "canonical", "extension"],
)
def test_control_characters_are_errors(
    validator: Validator, resource: dict[str, Any], path: str
) -> None:
    issues = validator.validate(resource).issues
    assert _found(issues, _CONTROL) == [("error", "value", path)]
    assert not any(MARKER in i.message for i in issues)


def test_the_message_gives_the_first_position_and_a_count(validator: Validator) -> None:
    (issue,) = [
        i
        for i in validator.validate(_patient(name=[{"family": "ab\x01c\x02\x03"}])).issues
        if _CONTROL in i.message
    ]
    assert issue.message.startswith(
        "The value contains a control character (U+0001) at character 3 (and 2 more): "
    )


@pytest.mark.parametrize(
    "text",
    [
        "line one\nline two\r\n\tindented",
        "delete \x7f and next line \x85 are not below U+0020",
        "no-break\u00a0space",
    ],
)
def test_tab_line_feed_carriage_return_and_higher_controls_pass(
    validator: Validator, text: str
) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text},
        "note": [{"text": text}],
    }
    assert validator.validate(obs).ok


_CONTROL_CHARS = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r")
#: R4's regexes of the primitive types, as the validator loads them
_PRIMITIVES = Definitions().primitive_regex
_STRICT = {k: re.compile(xsd_regex(v, controls=False)) for k, v in _PRIMITIVES.items()}
_PLAIN = {k: re.compile(xsd_regex(v)) for k, v in _PRIMITIVES.items()}


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(sorted(_PRIMITIVES)),
    st.text(alphabet="aZ09.-:/+= \t\n\r\x01\x0b\x1f\x7f\u00a0é", max_size=12),
)
def test_regexes_without_controls_answer_as_r4s_but_for_controls(kind: str, value: str) -> None:
    """``controls=False`` changes R4's regexes only where a C0 control character is."""
    has_control = any(c in _CONTROL_CHARS for c in value)
    plain = _PLAIN[kind].fullmatch(value) is not None
    assert (_STRICT[kind].fullmatch(value) is not None) == (plain and not has_control)
