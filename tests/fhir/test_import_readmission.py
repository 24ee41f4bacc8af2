"""A patient readmitted to the program has two episodes whose measures share their local
keys (each episode's first PHQ-9 is ``phq-9-w0``): reading iopfhir's own NDJSON back keeps
every measure of each episode apart, with its Flags and RiskAssessment.

iopfhir's identifiers name a measure's resources ``<episode>/<measure key>[/...]``; the
reader grouped them by patient and measure key alone, so the two episodes' administrations
of one instrument and week became one (answers of the one, total of the other: a total
"disagreeing" with its answers, the other measure lost, its Flags left with no measure).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from iopfhir.cli import main
from iopfhir.domain import Episode, load_episodes
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_stream


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Episode], Path]:
    root = tmp_path_factory.mktemp("readmitted")
    episodes, ndjson = root / "eps", root / "nd"
    assert main(["synth", "--patients", "20", "--seed", "7", "-o", str(episodes)]) == 0
    assert main(["convert", str(episodes), "--format", "ndjson", "-o", str(ndjson)]) == 0
    return list(load_episodes(episodes)), ndjson


def _measures(episodes: list[Episode]) -> dict[str, list[object]]:
    return {
        e.key: sorted(m.model_dump_json() for m in e.measures) for e in episodes
    }  # fmt: skip


def test_the_cohort_has_readmitted_patients(cohort: tuple[list[Episode], Path]) -> None:
    source, _ = cohort
    per_patient = Counter(e.patient.identifiers[0].value for e in source if e.patient.identifiers)
    assert max(per_patient.values()) >= 2


def test_each_episode_keeps_its_own_measures(cohort: tuple[list[Episode], Path]) -> None:
    source, ndjson = cohort
    result = read_fhir(ndjson)
    assert _measures(result.episodes) == _measures(source)
    assert not result.unmapped  # no total "disagrees", no Flag without its measure


def test_the_streaming_import_keeps_them_too(cohort: tuple[list[Episode], Path]) -> None:
    source, ndjson = cohort
    result = ImportResult()
    episodes = list(read_fhir_stream(ndjson, result=result))
    assert _measures(episodes) == _measures(source)
    assert not result.unmapped
