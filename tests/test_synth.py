"""The synthetic cohort: deterministic, valid input, and valid R4 output for 200 patients."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from jsonschema import Draft6Validator

from iopfhir.domain import dump_episode, parse_episodes
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.ndjson import write_ndjson
from iopfhir.synth import synth_episodes


def test_deterministic_for_a_seed() -> None:
    a = [dump_episode(e) for e in synth_episodes(5, seed=11)]
    b = [dump_episode(e) for e in synth_episodes(5, seed=11)]
    c = [dump_episode(e) for e in synth_episodes(5, seed=12)]
    assert a == b
    assert a != c


def test_episodes_pass_the_input_schema() -> None:
    data = [dump_episode(e) for e in synth_episodes(20, seed=2)]
    assert len(parse_episodes({"episodes": data}, schema_check=True)) == 20


def test_cohort_is_realistic() -> None:
    episodes = list(synth_episodes(60, seed=4))
    kinds = Counter(e.program.type for e in episodes if e.program)
    assert set(kinds) == {"mental-health", "substance-use", "co-occurring"}
    statuses = Counter(s.status for e in episodes for s in e.sessions)
    assert statuses["attended"] > 10 * (statuses["no-show"] + statuses["cancelled"]) / 2
    assert statuses["no-show"] > 0
    assert all(
        e.part2 == (e.program is not None and e.program.type != "mental-health") for e in episodes
    )
    # scores improve for most patients between the first and the last administration
    improved = 0
    for e in episodes:
        phq = [m.score for m in sorted(e.measures, key=lambda m: m.date) if m.instrument == "phq-9"]
        improved += len(phq) > 1 and phq[-1] is not None and phq[0] is not None and phq[-1] < phq[0]
    assert improved > len(episodes) / 2


@pytest.mark.corpus
def test_200_patient_cohort_is_valid_r4(corpus: Path, tmp_path: Path) -> None:
    """Every resource of a 200-patient cohort, as NDJSON and in a transaction Bundle, is
    valid against its own definition in the official R4 JSON schema and parses with
    fhir.resources R4B."""
    schema = json.loads((corpus / "spec" / "fhir.schema.r4-4.0.1.json").read_text("utf-8"))
    validators: dict[str, Draft6Validator] = {}
    episodes = list(synth_episodes(200, seed=7))
    write_ndjson(episodes, tmp_path)
    resources: list[dict[str, Any]] = [
        orjson.loads(line)
        for f in sorted(tmp_path.glob("*.ndjson"))
        for line in f.read_bytes().splitlines()
    ]
    # the Bundle carries the same resources with urn:uuid references: check a slice of it
    bundle = transaction_bundle(episodes[:20])
    resources += [entry["resource"] for entry in bundle["entry"]]
    problems: list[str] = []
    for resource in resources:
        rtype = resource["resourceType"]
        if rtype not in validators:
            validators[rtype] = Draft6Validator({**schema, "$ref": f"#/definitions/{rtype}"})
        problems += [f"{rtype}: {e.message[:200]}" for e in validators[rtype].iter_errors(resource)]
        try:
            get_fhir_model_class(rtype).model_validate(resource)
        except ValueError as exc:
            problems.append(f"R4B {rtype}: {str(exc)[:200]}")
    assert len(resources) > 30_000
    assert not problems, "\n".join(problems[:20])
    bundle_validator = Draft6Validator({**schema, "$ref": "#/definitions/Bundle"})
    assert not list(bundle_validator.iter_errors({**bundle, "entry": bundle["entry"][:50]}))


@pytest.fixture
def corpus() -> Path:
    value = os.environ.get("IOPFHIR_CORPUS")
    if not value or not Path(value, "spec").is_dir():
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder", pytrace=False)
    return Path(value)
