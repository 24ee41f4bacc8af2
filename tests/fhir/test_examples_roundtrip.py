"""The example episodes (``examples/*.yaml``) go domain → FHIR → domain exactly: through a
transaction bundle, NDJSON text and NDJSON files; and the summary of what is read back
counts what the YAML holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Episode, load_episodes
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.ndjson import to_ndjson, write_ndjson
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.summary import summarize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def _episode(path: Path) -> Episode:
    (episode,) = load_episodes(path)
    return episode


def test_there_are_two_examples() -> None:
    assert [p.name for p in FILES] == ["co-occurring-sud-iop.yaml", "mental-health-iop.yaml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_transaction_bundle_round_trip(path: Path) -> None:
    episode = _episode(path)
    result = read_fhir(transaction_bundle([episode]))
    assert result.episodes == [episode]
    assert not result.ignored
    assert not result.unmapped


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_ndjson_round_trip(path: Path) -> None:
    episode = _episode(path)
    result = read_fhir(to_ndjson([episode]))
    assert result.episodes == [episode]
    assert not result.unmapped


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_ndjson_files_round_trip(path: Path, tmp_path: Path) -> None:
    episode = _episode(path)
    write_ndjson([episode], tmp_path)
    assert read_fhir(tmp_path).episodes == [episode]


def test_both_examples_in_one_bundle_round_trip() -> None:
    episodes = [_episode(p) for p in FILES]
    result = read_fhir(transaction_bundle(episodes))
    assert sorted(result.episodes, key=lambda e: e.key) == sorted(episodes, key=lambda e: e.key)
    assert result.patients == 2


def test_mental_health_summary() -> None:
    episode = _episode(EXAMPLES / "mental-health-iop.yaml")
    summary: dict[str, Any] = summarize(read_fhir(transaction_bundle([episode])))
    assert summary == {
        "patients": 1,
        "episodes": 1,
        "care_plans": 3,
        "care_teams": 1,
        "team_members": 6,
        "sessions": 28,  # 25 with the patient, 2 team reviews, 1 family-education evening
        "conditions": 2,
        "goals": 4,
        "reviews": 3,
        "medications": 1,
        "prescriptions": 1,
        "allergies": 1,
        "measures": {"gad-7": 5, "phq-9": 5},
        "ignored": {},
    }
    assert list(summary) == [
        "patients",
        "episodes",
        "care_plans",
        "care_teams",
        "team_members",
        "sessions",
        "conditions",
        "goals",
        "reviews",
        "medications",
        "prescriptions",
        "allergies",
        "measures",
        "ignored",
    ]


def test_unreferenced_crisis_line_organization_travels_with_the_episode() -> None:
    episode = _episode(EXAMPLES / "mental-health-iop.yaml")
    (back,) = read_fhir(transaction_bundle([episode])).episodes
    crisis = next(o for o in back.organizations if o.key == "crisis-line")
    assert crisis == next(o for o in episode.organizations if o.key == "crisis-line")
