"""fhir.resources models in and out (issue 14, point 4).

Every official HL7 R4 example of the IOP resource types (and every Bundle example) in the
shared corpus (``IOPFHIR_CORPUS``; these tests FAIL when it is missing, never skip) is
parsed into an R4B model and given to iopfhir: ``read_fhir`` and ``Validator.validate``
give the same result as for the dict the model was made from. The examples R4B refuses
are listed with the reasons fhir.resources gives (computed). The builders' ``model=``
output is, as JSON, the dict output, for both shipped examples.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.sync.fake import BASE, FakeServer

from iopfhir.client import FhirClient, MemoryTransport
from iopfhir.domain import load_episodes
from iopfhir.errors import FhirInputError, InputError
from iopfhir.fhir.build import episode_to_resources
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle
from iopfhir.fhir.disclosure import disclose
from iopfhir.fhir.document import toc_document
from iopfhir.fhir.models import as_json, is_model, to_model
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed
from iopfhir.outcomes.bundles import bundle_resources
from iopfhir.sync import push, push_document
from iopfhir.validation import Validator, validate

pytestmark = pytest.mark.corpus

IOP_TYPES = frozenset(
    [
        "CarePlan",
        "CareTeam",
        "Encounter",
        "Observation",
        "Patient",
        "Goal",
        "Condition",
        "Appointment",
        "EpisodeOfCare",
        "QuestionnaireResponse",
        "ServiceRequest",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "MedicationStatement",
        "MedicationRequest",
        "AllergyIntolerance",
        "Flag",
        "RiskAssessment",
        "Consent",
        "DocumentReference",
        "Provenance",
    ]
)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "src" / "iopfhir" / "examples").glob("*.yaml"))

#: The official R4 examples of the IOP types (and Bundles) R4B refuses. Checked below
#: against what fhir.resources really does; none so far (4.3 kept these types' R4
#: elements), so a change in fhir.resources that refuses one fails the test.
R4B_REFUSES: dict[str, str] = {}


def _folder() -> Path | None:
    value = os.environ.get("IOPFHIR_CORPUS")
    folder = Path(value) / "hl7-examples" / "r4-core-examples" if value else None
    return folder if folder is not None and folder.is_dir() else None


def _files() -> list[str]:
    folder = _folder()
    if folder is None:
        return ["<IOPFHIR_CORPUS missing>"]
    out = []
    for path in sorted(folder.glob("*.json")):
        rtype = json.loads(path.read_bytes()).get("resourceType")
        if rtype in IOP_TYPES or rtype == "Bundle":
            out.append(path.name)
    return out


def _load(name: str) -> dict[str, Any]:
    folder = _folder()
    if folder is None:
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder (e.g. ../shared/corpus)")
    data: dict[str, Any] = json.loads((folder / name).read_bytes())
    return data


def _outcome(result: ImportResult) -> tuple[Any, ...]:
    return (
        [episode.model_dump(mode="json") for episode in result.episodes],
        dict(result.ignored),
        dict(result.unmapped),
        result.warnings,
    )


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


FILES = _files()


def test_the_corpus_has_every_kind() -> None:
    """The corpus holds examples of the IOP types and Bundles (a wrong folder fails)."""
    types = {_load(name)["resourceType"] for name in FILES}
    assert {"Bundle", "Patient", "Encounter", "Observation", "CarePlan"} <= types
    assert len(FILES) > 100


def test_refusals_are_the_listed_ones() -> None:
    refused = {}
    for name in FILES:
        try:
            to_model(_load(name), "R4B")
        except FhirInputError as exc:
            refused[name] = str(exc)
    assert refused == R4B_REFUSES


@pytest.mark.parametrize("name", FILES)
def test_model_reads_and_validates_as_the_dict(name: str, validator: Validator) -> None:
    resource = _load(name)
    if name in R4B_REFUSES:
        with pytest.raises(FhirInputError):
            to_model(resource, "R4B")
        return
    model = to_model(resource, "R4B")
    assert is_model(model) and not is_model(resource)
    assert type(model).__module__.startswith("fhir.resources.R4B.")
    assert _outcome(read_fhir(model)) == _outcome(read_fhir(resource))
    assert _outcome(read_fhir_streamed(model)) == _outcome(read_fhir_streamed(resource))
    assert _outcome(read_fhir([model])) == _outcome(read_fhir([resource]))
    assert validator.validate(model).issues == validator.validate(resource).issues


def test_bundle_model_of_a_bundle_example() -> None:
    """A Bundle model (the issue's failing case) reads as its dict and gives its resources."""
    bundles = [n for n in FILES if _load(n)["resourceType"] == "Bundle"]
    assert bundles
    for name in bundles:
        bundle = _load(name)
        model = to_model(bundle, "R4B")
        assert _outcome(read_fhir(model)) == _outcome(read_fhir(bundle))
        assert bundle_resources(model) == bundle_resources(as_json(model))


def test_as_json_leaves_everything_else_alone() -> None:
    resource = {"resourceType": "Patient", "id": "p"}
    assert as_json(resource) is resource
    for value in ("text", b"bytes", [resource], None, 3):
        assert as_json(value) is value
    (episode,) = load_episodes(EXAMPLES[0])
    assert as_json(episode) is episode  # a pydantic model, but no FHIR resource


def test_refusal_names_paths_not_values() -> None:
    secret = "Zebulon-Quux-4711"
    bad = {"resourceType": "Patient", "gender": secret, "birthDate": secret}
    with pytest.raises(FhirInputError) as info:
        to_model(bad, "R4B")
    assert secret not in str(info.value)
    assert "birthDate" in str(info.value)


def test_r5_is_a_different_release() -> None:
    """An R4 Encounter's ``class`` (one Coding) is a list of CodeableConcepts in R5."""
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    }
    assert as_json(to_model(encounter, "R4B")) == encounter
    with pytest.raises(FhirInputError, match="class"):
        to_model(encounter, "R5")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_builder_models_equal_the_dicts(path: Path, validator: Validator) -> None:
    episodes = load_episodes(path)
    for episode in episodes:
        dicts = episode_to_resources(episode)
        models = episode_to_resources(episode, model="R4B")
        assert all(is_model(m) for m in models)
        assert [as_json(m) for m in models] == json.loads(json.dumps(dicts))
    for build in (transaction_bundle, collection_bundle):
        bundle = build(episodes)
        model = build(episodes, model="R4B")
        assert type(model).__name__ == "Bundle"
        assert as_json(model) == json.loads(json.dumps(bundle))
        assert validator.validate(model).issues == validator.validate(bundle).issues
    assert _outcome(read_fhir(transaction_bundle(episodes, model="R4B"))) == _outcome(
        read_fhir(transaction_bundle(episodes))
    )


def _sud_bundle() -> dict[str, Any]:
    (sud,) = load_episodes(ROOT / "src" / "iopfhir" / "examples" / "co-occurring-sud-iop.yaml")
    return transaction_bundle([sud])


def test_disclose_takes_a_bundle_model() -> None:
    bundle = _sud_bundle()
    model = to_model(bundle, "R4B")
    for kwargs in (
        {"own_system": True},
        {"recipient": "anyone", "purpose": "TREAT", "at": date(2026, 7, 1)},
    ):
        given, expected = disclose(model, **kwargs), disclose(bundle, **kwargs)
        assert given.withheld == expected.withheld
        assert given.entries == expected.entries
        assert given.bundle == expected.bundle
    assert disclose(model, own_system=True).withheld == Counter()
    assert sum(disclose(model, recipient="anyone", at=date(2026, 7, 1)).withheld.values()) > 0


def test_push_takes_a_bundle_model() -> None:
    (episode,) = load_episodes(ROOT / "src" / "iopfhir" / "examples" / "mental-health-iop.yaml")
    bundle = transaction_bundle([episode])
    plans = []
    for source in (bundle, to_model(bundle, "R4B")):
        server = FakeServer()
        client = FhirClient(BASE, transport=MemoryTransport(server.handle))
        report = push(client, source, dry_run=True)
        assert server.writes == 0 and report.total == len(bundle["entry"])
        plans.append([(p.method, p.url) for p in report.planned])
    assert plans[0] == plans[1] and plans[0]


def test_module_validate_takes_a_model() -> None:
    resource = _load(next(n for n in FILES if n.startswith("Encounter-")))
    assert validate(to_model(resource, "R4B")).issues == validate(resource).issues


def test_push_document_takes_a_document_model(validator: Validator) -> None:
    (episode,) = load_episodes(ROOT / "src" / "iopfhir" / "examples" / "mental-health-iop.yaml")
    document = toc_document(episode)
    reports = []
    for source in (document, to_model(document, "R4B")):
        server = FakeServer()
        client = FhirClient(BASE, transport=MemoryTransport(server.handle))
        reports.append(push_document(client, source, validator=validator, dry_run=True))
        assert server.writes == 0
    assert reports[0] == reports[1]
    assert reports[0].actions == {"Bundle": "planned", "DocumentReference": "planned"}


def test_without_fhir_resources_to_model_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)  # import raises ImportError
    with pytest.raises(InputError, match=r"fhir\.resources is not installed"):
        to_model({"resourceType": "Patient"}, "R4B")


def test_as_json_takes_a_pydantic_1_era_model() -> None:
    """fhir.resources before 7 (pydantic 1) has ``json()``, no ``model_dump``."""

    class Old:
        @classmethod
        def get_resource_type(cls) -> str:
            return "Patient"

        def json(self) -> str:
            return '{"resourceType": "Patient", "id": "p"}'

    assert as_json(Old()) == {"resourceType": "Patient", "id": "p"}
    assert _outcome(read_fhir(Old())) == _outcome(read_fhir({"resourceType": "Patient", "id": "p"}))
