"""The Java validator's Bundle rules on links and searchset entries (its BundleValidator):
paging links (first, previous, next, last) only in a searchset or a history, each link
relation once there; a searchset's included resources need ids like its matches; a match
must be of a type the search's self link asks for (its last path segment, or ``_type``)."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.validation import Validator

DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
BASE = "http://example.org/fhir"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _patient(rid: str | None = "p1") -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "text": DIV}
    if rid is not None:
        patient["id"] = rid
    return patient


def _organization(rid: str | None = "o1") -> dict[str, Any]:
    org: dict[str, Any] = {"resourceType": "Organization", "name": "n", "text": DIV}
    if rid is not None:
        org["id"] = rid
    return org


def _entry(resource: dict[str, Any], mode: str, n: int = 0) -> dict[str, Any]:
    rid = resource.get("id")
    full_url = (
        f"{BASE}/{resource['resourceType']}/{rid}"
        if rid
        else f"urn:uuid:c757873d-ec9a-4326-a141-556f4323952{n}"
    )
    return {"fullUrl": full_url, "resource": resource, "search": {"mode": mode}}


def _searchset(self_url: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": self_url}],
        "entry": list(entries),
    }


def _errors(validator: Validator, bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.path or "", i.message) for i in validator.validate(bundle).errors]


@pytest.mark.parametrize(
    "bundle",
    [
        # included resources of any type; an outcome without an id
        _searchset(
            f"{BASE}/Patient?name=a&_revinclude=Organization:x",
            _entry(_patient(), "match"),
            _entry(_organization(), "include"),
            _entry(
                {
                    "resourceType": "OperationOutcome",
                    "text": DIV,
                    "issue": [{"severity": "information", "code": "informational"}],
                },
                "outcome",
                1,
            ),
        ),
        _searchset(f"{BASE}?_type=Patient,Organization", _entry(_organization(), "match")),
        _searchset(f"{BASE}/Patient/", _entry(_patient(), "match")),
        # a self link that names no type: any type matches
        _searchset(f"{BASE}/Patient/p1/$everything", _entry(_organization(), "match")),
        # paging links in a searchset and a history
        {
            **_searchset(f"{BASE}/Patient?name=a", _entry(_patient(), "match")),
            "link": [
                {"relation": "self", "url": f"{BASE}/Patient?name=a"},
                {"relation": "next", "url": f"{BASE}/Patient?name=a&page=2"},
                {"relation": "last", "url": f"{BASE}/Patient?name=a&page=9"},
            ],
        },
        {
            "resourceType": "Bundle",
            "type": "history",
            "link": [{"relation": "next", "url": f"{BASE}/Patient/p1/_history?page=2"}],
            "entry": [
                {
                    "request": {"method": "DELETE", "url": "Patient/p1"},
                    "response": {"status": "204"},
                }
            ],
        },
    ],
)
def test_search_bundles_the_java_validator_allows(
    validator: Validator, bundle: dict[str, Any]
) -> None:
    assert _errors(validator, bundle) == []


_WRONG_TYPE = (
    "This is not a matching resource type for the specified search (Organization): its self "
    "link asks for other types"
)


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        (
            _searchset(f"{BASE}/Patient?name=a", _entry(_organization(), "match")),
            [("Bundle.entry[0].resource", _WRONG_TYPE)],
        ),
        (
            _searchset(f"{BASE}?_type=Patient,Observation", _entry(_organization(), "match")),
            [("Bundle.entry[0].resource", _WRONG_TYPE)],
        ),
        (
            _searchset(
                f"{BASE}/Patient?name=a",
                _entry(_patient(), "match"),
                _entry(_organization(None), "include", 1),
            ),
            [("Bundle.entry[1].resource", "Search results must have ids")],
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "link": [{"relation": "next", "url": f"{BASE}/x"}],
                "entry": [
                    {
                        "fullUrl": f"{BASE}/Patient/p1",
                        "resource": _patient(),
                        "request": {"method": "PUT", "url": "Patient/p1"},
                    }
                ],
            },
            [
                (
                    "Bundle.link[0]",
                    "The link relationship type 'next' is only allowed in a searchset or history",
                )
            ],
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "link": [
                    {"relation": "self", "url": f"{BASE}/a"},
                    {"relation": "self", "url": f"{BASE}/b"},
                ],
                "entry": [{"fullUrl": f"{BASE}/Patient/p1", "resource": _patient()}],
            },
            [("Bundle.link[1]", "The link relationship type 'self' can only occur once")],
        ),
    ],
)
def test_search_bundles_the_java_validator_refuses(
    validator: Validator, bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert sorted(_errors(validator, bundle)) == sorted(expected)


def test_a_wrong_match_does_not_echo_the_self_link(validator: Validator) -> None:
    bundle = _searchset(
        f"{BASE}/Patient?name=JaneRoe&_type=JaneRoe", _entry(_organization(), "match")
    )
    bundle["link"][0]["url"] = f"{BASE}?name=JaneRoe&_type=JaneRoe"
    errors = _errors(validator, bundle)
    assert errors and not any("JaneRoe" in message for _, message in errors)
