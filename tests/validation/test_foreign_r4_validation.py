"""The validator on others' R4 (issue 11): R4-valid shapes the corpus lacks are not errors.

Inputs: ``tests/data/foreign-r4`` (hand-built; see ``tests/fhir/test_foreign_r4.py``, whose
basename this file cannot share: pytest does not collect two test modules of one name from
folders without ``__init__.py``). The collection Bundle, the NDJSON of a folder (BOM, CRLF,
blank lines) and the ``searchset`` Bundle beside it are valid R4: no error. A reference to
a version the Bundle does not hold is R4 (the HL7 Java validator warns: no local match,
BUNDLE_BUNDLE_FULLURL_NEEDVERSION), so it is a warning here too. A modifier extension
nobody defines is an error (a validator must understand every modifier), named by its
path, its url not repeated. What ``import`` reads from these inputs, converted back, is
valid R4 and conforms to the IOP profiles.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from iopfhir.errors import Issue
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.validation import Validator, read_resources

DATA = Path(__file__).resolve().parents[1] / "data" / "foreign-r4"
COLLECTION = DATA / "ehr-collection.json"


@pytest.fixture(scope="module")
def v() -> Validator:
    return Validator()


def _errors(issues: Sequence[Issue]) -> list[str]:
    return [str(i) for i in issues if i.severity in ("error", "fatal")]


def _collection() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COLLECTION.read_text(encoding="utf-8"))
    return data


def test_the_collection_is_valid_r4(v: Validator) -> None:
    assert _errors(v.validate(_collection()).issues) == []


@pytest.mark.parametrize("name", ["mixed.ndjson", "search.json"])
def test_the_export_folder_is_valid_r4(v: Validator, name: str) -> None:
    resources = [resource for _label, resource in read_resources(DATA / "export" / name)]
    assert resources
    for resource in resources:
        assert _errors(v.validate(resource).issues) == [], resource.get("resourceType")


@pytest.mark.parametrize("version", [None, "7"])
def test_a_version_the_bundle_does_not_hold_is_a_warning(v: Validator, version: str | None) -> None:
    """``Patient/<id>/_history/2`` in a Bundle whose Patient has no ``meta.versionId``, or
    another one: R4 allows it (it was an error)."""
    bundle = _collection()
    patient = bundle["entry"][0]["resource"]
    if version is None:
        patient.pop("meta")
    else:
        patient["meta"]["versionId"] = version
    issues = v.validate(bundle).issues
    assert _errors(issues) == []
    found = [i for i in issues if "referenced version" in i.message]
    assert [(i.severity, i.path) for i in found] == [
        ("warning", "Bundle.entry[5].resource.patient.reference")
    ]


def test_the_held_version_resolves_without_a_word(v: Validator) -> None:
    bundle = _collection()
    bundle["entry"][0]["resource"]["meta"]["versionId"] = "2"
    assert not [i for i in v.validate(bundle).issues if "version" in i.message]


def test_unknown_modifier_extensions_are_errors_by_path(v: Validator) -> None:
    patient, plan, _claim = (r for _label, r in read_resources(DATA / "modifiers.ndjson"))
    errors = [i for i in v.validate(patient).issues if i.severity == "error"]
    assert [i.path for i in errors] == ["Patient.modifierExtension[0]"]
    errors = [i for i in v.validate(plan).issues if i.severity == "error"]
    assert [i.path for i in errors] == ["CarePlan.activity[0].modifierExtension[0]"]
    assert not any("ehr.example.org" in i.message for i in errors)


def test_what_import_reads_converts_to_valid_r4_and_iop(v: Validator) -> None:
    """Import → convert → validate, the user's round: the episodes read from the foreign
    inputs (modifier extensions aside) give a Bundle with no error, IOP profiles included
    (the resources claim them)."""
    sources = [COLLECTION, DATA / "export"]
    episodes = [e for source in sources for e in read_fhir(source).episodes]
    assert len(episodes) == 2
    bundle = collection_bundle(episodes)
    claimed = {p for e in bundle["entry"] for p in e["resource"].get("meta", {}).get("profile", [])}
    assert any("iopfhir.org" in p for p in claimed)
    assert _errors(v.validate(copy.deepcopy(bundle)).issues) == []
