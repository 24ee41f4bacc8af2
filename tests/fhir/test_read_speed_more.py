"""The streaming reader's grouping reads the target of review Provenances once (issue 11,
speed): many reviews name the same goal or plan, and the patient a target names is read
from the store the first time only. The cached answer is the one a fresh read gives:
episodes and counts equal those of the reader that reads every target again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from iopfhir.fhir.ndjson import write_ndjson
from iopfhir.fhir.read import read_fhir_stream
from iopfhir.fhir.read import stream as stream_module
from iopfhir.fhir.read.result import ImportResult
from iopfhir.fhir.read.store import ResourceStore
from iopfhir.synth import synth_episodes


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic patients as NDJSON, one file per type."""
    root = tmp_path_factory.mktemp("speed-more")
    write_ndjson(list(synth_episodes(8, seed=5)), root)
    return root


def _read(source: Path) -> tuple[list[Any], dict[str, int], dict[str, int]]:
    result = ImportResult()
    episodes = [e.model_dump(mode="json") for e in read_fhir_stream(source, result)]
    return episodes, dict(result.ignored), dict(result.unmapped)


def test_each_provenance_target_is_read_once(cohort: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: Counter[int] = Counter()
    entry = ResourceStore.entry

    def counted(self: ResourceStore, seq: int, *, keep: bool = True) -> Any:
        if not keep:
            reads[seq] += 1
        return entry(self, seq, keep=keep)

    monkeypatch.setattr(ResourceStore, "entry", counted)
    _read(cohort)
    provenances = len((cohort / "Provenance.ndjson").read_bytes().splitlines())
    # the cohort has more reviews than targets: the case the cache is for
    assert reads and provenances > len(reads)
    assert max(reads.values()) == 1


def test_cached_targets_answer_as_fresh_reads(
    cohort: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _read(cohort)

    def fresh(self: Any, seq: int) -> Any:
        target = self.store.entry(seq, keep=False)
        return stream_module.patient_ref(target) if target is not None else None

    monkeypatch.setattr(stream_module._Resolver, "_target_patient", fresh)
    slow = _read(cohort)
    assert fast == slow
    assert fast[0]  # episodes were read, with their reviews
    assert any(e.get("reviews") for e in fast[0])
