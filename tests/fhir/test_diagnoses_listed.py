"""An EpisodeOfCare that lists some of the patient's Conditions, ranked or not, is written
back listing those, with those ranks (``Episode.diagnoses_listed``): the HL7 example lists
one of its patient's three Conditions, and every one was listed, ranked, on re-export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iopfhir.domain import Episode, ListedDiagnosis, dump_episode, load_episodes, parse_episodes
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.read import read_fhir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SNOMED = "http://snomed.info/sct"


def _condition(cid: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
    }


def _source(diagnosis: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    eoc: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": "e1",
        "status": "active",
        "patient": {"reference": "Patient/p1"},
        "period": {"start": "2024-03-01"},
    }
    if diagnosis is not None:
        eoc["diagnosis"] = diagnosis
    return [
        {"resourceType": "Patient", "id": "p1", "gender": "female"},
        eoc,
        _condition("c1", "35489007"),
        _condition("c2", "197480006"),
        _condition("c3", "66590003"),
    ]


def _listing(entries: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, int | None]]:
    """The written EpisodeOfCare's list: (the Condition's code, rank)."""
    code_of = {
        url: r["code"]["coding"][0]["code"]
        for url, r in entries
        if r["resourceType"] == "Condition"
    }
    (eoc,) = [r for _, r in entries if r["resourceType"] == "EpisodeOfCare"]
    return [(code_of[d["condition"]["reference"]], d.get("rank")) for d in eoc.get("diagnosis", [])]


def _again(resources: list[dict[str, Any]]) -> tuple[Episode, list[tuple[str, dict[str, Any]]]]:
    """Import, through an episode file, then the FHIR written again (fullUrl, resource)."""
    result = read_fhir(resources)
    (episode,) = result.episodes
    (again,) = parse_episodes(json.loads(json.dumps([dump_episode(episode)])))
    return again, list(episode_entries(again))


@pytest.mark.parametrize(
    ("listed", "want"),
    [
        # one of three, ranked: that one, with its rank
        ([{"condition": {"reference": "Condition/c2"}, "rank": 1}], [("197480006", 1)]),
        # unranked, in the source's order
        (
            [
                {"condition": {"reference": "Condition/c3"}},
                {"condition": {"reference": "Condition/c1"}},
            ],
            [("66590003", None), ("35489007", None)],
        ),
        # ranks out of the listing's order: kept as they came
        (
            [
                {"condition": {"reference": "Condition/c1"}, "rank": 2},
                {"condition": {"reference": "Condition/c2"}, "rank": 1},
            ],
            [("35489007", 2), ("197480006", 1)],
        ),
        ([], []),  # an EpisodeOfCare listing none: none listed again
        (None, []),
    ],
)
def test_the_episode_lists_what_its_source_listed(
    listed: list[dict[str, Any]] | None, want: list[tuple[str, int | None]]
) -> None:
    episode, written = _again(_source(listed))
    assert len(episode.diagnoses) == 3  # every Condition is still a diagnosis
    assert episode.diagnoses_listed is not None
    assert _listing(written) == want
    assert len([r for _, r in written if r["resourceType"] == "Condition"]) == 3


def test_a_listing_of_every_diagnosis_in_rank_order_is_the_default() -> None:
    ranked = [{"condition": {"reference": f"Condition/c{i}"}, "rank": i} for i in (1, 2, 3)]
    episode, written = _again(_source(ranked))
    assert episode.diagnoses_listed is None
    assert _listing(written) == [("35489007", 1), ("197480006", 2), ("66590003", 3)]


def test_a_repeated_condition_and_a_bad_rank_are_counted() -> None:
    source = _source(
        [
            {"condition": {"reference": "Condition/c1"}, "rank": 0},
            {"condition": {"reference": "Condition/c1"}, "rank": 2},
        ]
    )
    result = read_fhir(source)
    (episode,) = result.episodes
    assert episode.diagnoses_listed == [ListedDiagnosis(diagnosis="c1")]
    assert result.unmapped["EpisodeOfCare.diagnosis.rank: not a positive integer (dropped)"] == 1
    assert result.unmapped["EpisodeOfCare.diagnosis: a condition listed again (dropped)"] == 1


@pytest.mark.parametrize("name", ["mental-health-iop", "co-occurring-sud-iop"])
def test_authored_episodes_read_back_with_the_default(name: str) -> None:
    (episode,) = load_episodes(EXAMPLES / f"{name}.yaml")
    assert episode.diagnoses
    (back,) = read_fhir(transaction_bundle([episode])).episodes
    assert back.diagnoses_listed is None


def test_the_domain_refuses_a_listing_naming_no_diagnosis_or_one_twice() -> None:
    (episode,) = load_episodes(EXAMPLES / "mental-health-iop.yaml")
    data = dump_episode(episode)
    first = episode.diagnoses[0].key
    with pytest.raises(ValidationError, match=r"diagnoses_listed\[0\]\.diagnosis: names no"):
        Episode(**{**data, "diagnoses_listed": [{"diagnosis": "nobody-s-key"}]})
    with pytest.raises(ValidationError, match=r"diagnoses_listed\[1\]\.diagnosis: lists"):
        Episode(**{**data, "diagnoses_listed": [{"diagnosis": first}, {"diagnosis": first}]})
    with pytest.raises(ValidationError, match="rank"):
        Episode(**{**data, "diagnoses_listed": [{"diagnosis": first, "rank": 0}]})
    ok = Episode(**{**data, "diagnoses_listed": [{"diagnosis": first, "rank": 3}]})
    written = [r for _, r in episode_entries(ok)]
    (eoc,) = [r for r in written if r["resourceType"] == "EpisodeOfCare"]
    assert [d["rank"] for d in eoc["diagnosis"]] == [3]
