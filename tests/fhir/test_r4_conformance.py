"""Everything the builder writes is valid FHIR R4 4.0.1.

Each resource (from a transaction bundle, a collection bundle and the NDJSON files) is
checked against its own definition in the official R4 JSON schema
(``$IOPFHIR_CORPUS/spec/fhir.schema.r4-4.0.1.json``: structure, cardinality of arrays,
primitive formats, and the ``enum`` of every code-typed element, i.e. the required
bindings of statuses, comparators, units of time...), parses with the ``fhir.resources``
R4B models, and passes the project's own R4 validator (invariants) without errors.
Required bindings on CodeableConcepts, which the schema cannot see, are checked against
the R4 value sets listed below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from jsonschema import Draft6Validator

from iopfhir.domain import Episode
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle
from iopfhir.fhir.ndjson import write_ndjson

pytestmark = pytest.mark.corpus

#: R4 required bindings on CodeableConcept elements (codes from the R4 value sets).
CONDITION_CLINICAL = {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
CONDITION_VERIFICATION = {
    "unconfirmed",
    "provisional",
    "differential",
    "confirmed",
    "refuted",
    "entered-in-error",
}


class SchemaChecker:
    """One compiled validator per resource type, against ``#/definitions/<Type>``."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validators: dict[str, Draft6Validator] = {}

    def errors(self, resource: dict[str, Any]) -> list[str]:
        rtype = resource["resourceType"]
        validator = self.validators.get(rtype)
        if validator is None:
            validator = Draft6Validator({**self.schema, "$ref": f"#/definitions/{rtype}"})
            self.validators[rtype] = validator
        return [
            f"{rtype}.{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(resource)
        ]


@pytest.fixture(scope="module")
def schema_checker(corpus: Path) -> SchemaChecker:
    path = corpus / "spec" / "fhir.schema.r4-4.0.1.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the corpus")
    return SchemaChecker(json.loads(path.read_text("utf-8")))


@pytest.fixture(scope="module")
def transaction(all_episodes: list[Episode]) -> dict[str, Any]:
    return transaction_bundle(all_episodes)


@pytest.fixture(scope="module")
def ndjson_resources(
    all_episodes: list[Episode], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("ndjson")
    write_ndjson(all_episodes, out)
    return [
        orjson.loads(line)
        for path in sorted(out.glob("*.ndjson"))
        for line in path.read_bytes().splitlines()
    ]


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _check(resources: list[dict[str, Any]], checker: SchemaChecker) -> None:
    problems: list[str] = []
    for resource in resources:
        problems += checker.errors(resource)
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            problems.append(f"R4B {resource['resourceType']}: {str(exc)[:300]}")
    assert not problems, "\n".join(problems[:20])


def test_transaction_resources_are_valid_r4(
    transaction: dict[str, Any], schema_checker: SchemaChecker
) -> None:
    _check([e["resource"] for e in transaction["entry"]], schema_checker)


def test_collection_resources_are_valid_r4(
    all_episodes: list[Episode], schema_checker: SchemaChecker
) -> None:
    bundle = collection_bundle(all_episodes)
    _check([e["resource"] for e in bundle["entry"]], schema_checker)


def test_ndjson_resources_are_valid_r4(
    ndjson_resources: list[dict[str, Any]], schema_checker: SchemaChecker
) -> None:
    assert all("id" in r for r in ndjson_resources)
    _check(ndjson_resources, schema_checker)


@pytest.mark.parametrize("kind", ["transaction", "collection"])
def test_bundles_are_valid_r4(
    kind: str, rich_episode: Episode, part2_episode: Episode, schema_checker: SchemaChecker
) -> None:
    build = transaction_bundle if kind == "transaction" else collection_bundle
    bundle = build([rich_episode, part2_episode])
    assert schema_checker.errors(bundle) == []
    get_fhir_model_class("Bundle").model_validate(bundle)


def test_no_errors_from_the_project_r4_validator(transaction: dict[str, Any]) -> None:
    """Invariants (app-2, con-5, dom-3, gol-1, qty-3, tim-1...) and bindings, per the
    project's StructureDefinition-driven validator (warnings, e.g. dom-6 narrative, allowed)."""
    from iopfhir.validation import Validator

    report = Validator([]).validate(transaction)
    errors = [str(i) for i in report.issues if i.severity in ("error", "fatal")]
    assert errors == []


def test_required_codeable_concept_bindings(transaction: dict[str, Any]) -> None:
    for entry in transaction["entry"]:
        res = entry["resource"]
        if res["resourceType"] != "Condition":
            continue
        for coding in res.get("clinicalStatus", {}).get("coding", []):
            assert coding["code"] in CONDITION_CLINICAL
        for coding in res.get("verificationStatus", {}).get("coding", []):
            assert coding["code"] in CONDITION_VERIFICATION


def test_no_empty_values(transaction: dict[str, Any]) -> None:
    """R4 forbids empty objects, arrays and strings (ele-1); ``None`` is never written."""
    for element in _walk(transaction):
        for key, value in element.items():
            assert value not in (None, "", [], {}), key
