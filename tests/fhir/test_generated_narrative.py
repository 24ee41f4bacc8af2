"""Generated narratives: every resource iopfhir writes has one (R4 dom-6), built from the
resource's own values only (never a reference, identifier or telecom), escaped, and never
naming what a Part 2 disclosure withholds."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Episode, load_episodes
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.build.narrative import narrate, narrative_div
from iopfhir.fhir.build.questionnaires import questionnaires
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle
from iopfhir.fhir.disclosure import disclose
from iopfhir.fhir.ndjson import to_ndjson
from iopfhir.validation import Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
XHTML = "{http://www.w3.org/1999/xhtml}"
VALLEY = "1720945836"  # the withdrawal unit the example's consent names
DAY = date(2026, 7, 1)


@pytest.fixture(scope="module")
def episodes() -> list[Episode]:
    return [e for f in sorted(EXAMPLES.glob("*.yaml")) for e in load_episodes(f)]


def lines(div: str) -> list[str]:
    """The narrative's paragraphs as text (parsed as XML: it must be well-formed)."""
    root = ET.fromstring(div)
    assert root.tag == f"{XHTML}div"
    return ["".join(p.itertext()) for p in root.iter(f"{XHTML}p")]


def test_every_resource_written_has_a_generated_narrative(episodes: list[Episode]) -> None:
    written = [r for e in episodes for _u, r in episode_entries(e)]
    written += [json.loads(line) for line in to_ndjson(episodes).splitlines()]
    written += questionnaires()
    assert len(written) > 400
    for resource in written:
        text = resource["text"]
        assert text["status"] == "generated", resource["resourceType"]
        assert lines(text["div"])[0] == resource["resourceType"]
        # R4 places text after id, meta and language
        keys = list(resource)
        assert keys.index("text") == sum(k in resource for k in ("resourceType", "id", "meta"))
        for inner in resource.get("contained", []):
            assert "text" not in inner  # contained resources have no narrative of their own


def test_the_examples_raise_no_narrative_warning(episodes: list[Episode]) -> None:
    report = Validator.with_iop_profiles().validate(transaction_bundle(episodes))
    assert not report.errors
    top_level = [
        i for i in report.warnings if "dom-6" in i.message and ".contained[" not in (i.path or "")
    ]
    assert top_level == []


def test_a_narrative_shows_the_resources_own_values_as_a_person_reads_them() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "x",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "valueQuantity": {"value": 14, "unit": "{score}"},
        "effectivePeriod": {"start": "2026-03-02", "end": "2026-03-03"},
        "interpretation": [{"coding": [{"system": "s", "code": "x", "display": "Moderate"}]}],
    }
    assert lines(narrative_div(observation)) == [
        "Observation",
        "Status: final",
        "Code: PHQ-9 total score",
        "Value: 14 {score}",
        "Interpretation: Moderate",
        "Effective: 2026-03-02 to 2026-03-03",
    ]
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Ana", "B."], "family": "Cruz"}],
        "birthDate": "1990-01-02",
        "active": True,
    }
    assert lines(narrative_div(patient)) == [
        "Patient",
        "Name: Ana B. Cruz",
        "Birth date: 1990-01-02",
    ]


def test_no_reference_identifier_telecom_or_extension_is_shown() -> None:
    secret = "SECRET-VALUE"
    resource: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "extension": [{"url": "u", "valueString": secret}],
        "identifier": [{"system": "s", "value": secret}],
        "status": "active",
        "type": [{"text": "IOP"}],
        "diagnosis": [
            {"condition": {"reference": "Condition/c", "display": secret}, "role": {"text": secret}}
        ],
        "patient": {"reference": "Patient/p", "display": secret},
        "managingOrganization": {"display": secret},
        "careManager": {"identifier": {"value": secret}},
        "telecom": [{"system": "phone", "value": secret}],
        "period": {"start": "2026-01-01"},
    }
    div = narrative_div(resource)
    assert secret not in div
    assert lines(div) == ["EpisodeOfCare", "Status: active", "Type: IOP", "Period: from 2026-01-01"]


def test_values_are_escaped() -> None:
    div = narrative_div({"resourceType": "Goal", "description": {"text": "<script>x & y</script>"}})
    assert "<script>" not in div
    assert lines(div) == ["Goal", "Description: <script>x & y</script>"]


def test_a_narrative_given_is_kept() -> None:
    own = {"status": "additional", "div": '<div xmlns="http://www.w3.org/1999/xhtml">mine</div>'}
    assert narrate({"resourceType": "Flag", "text": own, "status": "active"})["text"] is own


def test_a_part2_disclosure_leaves_no_withheld_value_in_a_narrative() -> None:
    (sud,) = load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")
    # the patient's consent narrowed to substance-use data: the mental-health data is
    # withheld, and the references to it are removed from what is sent
    consent = sud.consents[0]
    permit = consent.provisions[0].model_copy(update={"data": ["substance-use"]})
    narrowed = consent.model_copy(update={"provisions": [permit]})
    episode = sud.model_copy(update={"consents": [narrowed]})
    result = disclose(collection_bundle([episode]), recipient=VALLEY, purpose="TREAT", at=DAY)
    assert result.withheld["Condition"] == 1 and result.references_removed > 0
    for _url, resource in result.entries:
        # what a sent resource's narrative shows is what is sent of it, nothing more
        without = {k: v for k, v in resource.items() if k != "text"}
        assert resource["text"]["div"] == narrative_div(without), resource["resourceType"]
    sent = " ".join(r["text"]["div"] for _u, r in result.entries)
    assert "Major depressive disorder" not in sent  # the withheld diagnosis
