"""The streaming reader (``read_fhir_stream``) against the in-memory one (``read_fhir``).

The same episodes (equal domain objects, in the same order) and the same counts
(``patients``, ``ignored``, ``unmapped``) on the corpus' Synthea and US Core files (each
file, and whole folders, where the same Practitioners recur across files), on a synthetic
cohort as one NDJSON file per type, as one mixed NDJSON file and as a collection Bundle;
memory per patient bounded (tracemalloc); errors naming the file and line; the temporary
store deleted; ``iopfhir import`` writing the same bytes as before.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from iopfhir.cli import main
from iopfhir.domain import dump_episodes
from iopfhir.errors import FhirInputError
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.ndjson import to_ndjson, write_ndjson
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_stream, read_fhir_streamed
from iopfhir.fhir.summary import summarize
from iopfhir.synth import synth_episodes


def _same(source: Any) -> ImportResult:
    """Read ``source`` both ways; assert the results are equal; return the streamed one."""
    whole = read_fhir(source)
    streamed = read_fhir_streamed(source)
    assert streamed.patients == whole.patients
    assert len(streamed.episodes) == len(whole.episodes)
    for mine, theirs in zip(streamed.episodes, whole.episodes, strict=True):
        assert mine == theirs
    assert dict(streamed.ignored) == dict(whole.ignored)
    assert dict(streamed.unmapped) == dict(whole.unmapped)
    assert summarize(streamed) == summarize(whole)
    return streamed


def _corpus() -> Path | None:
    value = os.environ.get("IOPFHIR_CORPUS")
    return Path(value) if value else None


def _corpus_files() -> list[str]:
    root = _corpus()
    if root is None or not root.is_dir():
        return ["<corpus missing>"]
    out: list[str] = []
    for folder in ("synthea", "ig-examples/us-core"):
        out += sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*.json"))
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("name", _corpus_files())
def test_corpus_file_streams_as_read(corpus: Path, name: str) -> None:
    _same(corpus / name)


@pytest.mark.corpus
@pytest.mark.parametrize(
    "folder", ["synthea/synthea-v2.4-2019-smart", "synthea/inferno-uscore-synthea-v2.6"]
)
def test_corpus_folder_streams_as_read(corpus: Path, folder: str) -> None:
    result = _same(corpus / folder)
    assert result.patients >= 1
    if folder.endswith("smart"):  # one Bundle per patient: their Practitioners recur
        assert result.patients > 1
        assert result.unmapped["duplicate resource (same type and id): read once"] > 0


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve synthetic patients as NDJSON, one file per type."""
    root = tmp_path_factory.mktemp("cohort")
    write_ndjson(list(synth_episodes(12, seed=5)), root / "ndjson")
    return root


def test_cohort_per_type_files(cohort: Path) -> None:
    result = _same(cohort / "ndjson")
    assert result.patients == 12
    assert len(result.episodes) == 12


def test_without_pread_as_on_windows(cohort: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the platform has no ``os.pread``, the store seeks and reads: the same result."""
    from iopfhir.fhir.read import spill

    calls: list[int] = []

    def seeking(fd: int, size: int, pos: int) -> bytes:
        calls.append(size)
        return spill._pread_seek(fd, size, pos)

    monkeypatch.setattr(spill, "_pread", seeking)
    result = _same(cohort / "ndjson")
    assert calls  # the lines were read back through it
    assert len(result.episodes) == 12


def test_cohort_mixed_file_and_bundle(cohort: Path) -> None:
    episodes = list(synth_episodes(5, seed=9))
    mixed = cohort / "mixed.ndjson"
    mixed.write_bytes(to_ndjson(episodes))
    assert _same(mixed).patients == 5
    bundle = cohort / "bundle.json"
    bundle.write_text(json.dumps(collection_bundle(episodes)))
    assert _same(bundle).patients == 5
    assert _same(json.loads(bundle.read_text())).patients == 5


def test_patient_after_its_resources_and_unknown_patients() -> None:
    """A Patient after what refers to it, a patient never given, a subject that is a Group."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
         "code": {"text": "x"}},
        {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/ghost"},
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]}},
        {"resourceType": "Condition", "id": "c3", "subject": {"reference": "Group/g"}},
        {"resourceType": "Goal", "id": "g1"},
        {"resourceType": "Claim", "id": "cl", "patient": {"reference": "Patient/p1"}},
        {"resourceType": "Patient", "id": "p1", "gender": "female"},
        {"resourceType": "Patient", "id": "p1", "gender": "female"},
    ]  # fmt: skip
    result = _same(resources)
    assert result.patients == 2
    assert result.unmapped["duplicate resource (same type and id): read once"] == 1
    assert result.unmapped["Condition: subject is not a patient"] == 1
    assert result.ignored["Claim"] == 1


def _streamed_peak(folder: Path) -> int:
    """Peak traced memory of reading ``folder`` patient by patient, nothing kept."""
    gc.collect()
    tracemalloc.start()
    try:
        result = ImportResult()
        for _episode in read_fhir_stream(folder, result):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_per_patient_is_bounded(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    write_ndjson(list(synth_episodes(8, seed=3)), small)
    write_ndjson(list(synth_episodes(32, seed=3)), large)
    _streamed_peak(small)  # warm: the terminology and schemas are loaded once per process
    small_peak, large_peak = _streamed_peak(small), _streamed_peak(large)
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
    # the in-memory reader grows with the input: the bound above is not trivially met
    tracemalloc.start()
    try:
        read_fhir(large)
        whole_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert whole_peak > 2 * large_peak


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_text('{"resourceType": "Patient", "id": "p"}\n')
    bad = tmp_path / "b.ndjson"
    bad.write_text('{"resourceType": "Patient", "id": "q"}\n\n{"resourceType": \n')
    with pytest.raises(FhirInputError) as streamed:
        list(read_fhir_stream(tmp_path))
    with pytest.raises(FhirInputError) as whole:
        read_fhir(tmp_path)
    assert str(streamed.value) == str(whole.value)
    assert "b.ndjson" in str(streamed.value)
    assert "line 3" in str(streamed.value)
    (tmp_path / "b.ndjson").write_text('{"resourceType": "Patient", "id": "q"}\n[1]\n')
    with pytest.raises(FhirInputError) as shape:
        list(read_fhir_stream(tmp_path))
    assert "b.ndjson:2" in str(shape.value)


def _stores() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("iopfhir-read-")}


def test_store_is_deleted(cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a temporary directory of this test's own: another process's import (a parallel test
    # run) may create and delete its stores in the shared one meanwhile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = _stores()
    stream = read_fhir_stream(cohort / "ndjson")
    next(stream)
    assert len(_stores() - before) == 1  # the store exists while the read goes on
    stream.close()
    assert _stores() == before
    list(read_fhir_stream(cohort / "ndjson"))
    assert _stores() == before


def test_progress_is_reported(cohort: Path) -> None:
    calls: Counter[str] = Counter()
    last: dict[str, tuple[int, int | None]] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        calls[phase] += 1
        last[phase] = (done, total)

    result = read_fhir_streamed(cohort / "ndjson", progress=progress)
    assert last["patients"] == (12, 12)
    assert calls["patients"] == 12
    assert last["read"][0] == last["read"][1] > 1000
    assert result.patients == 12


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize("patients", [0, 1, 3])
def test_cli_writes_what_it_wrote_before(
    tmp_path: Path, suffix: str, patients: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The episode file, written patient by patient, is byte for byte the whole-list one."""
    source = tmp_path / "in.ndjson"
    episodes = list(synth_episodes(patients, seed=2)) if patients else []
    source.write_bytes(
        to_ndjson(episodes) if episodes else b'{"resourceType": "Basic", "id": "b"}\n'
    )
    target = tmp_path / f"out{suffix}"
    assert main(["import", str(source), "-o", str(target)]) == 0
    result = read_fhir(source)
    data = dump_episodes(result.episodes) if result.episodes else {"episodes": []}
    if suffix == ".yaml":
        expected = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        expected = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    assert target.read_text(encoding="utf-8") == expected
    capsys.readouterr()
    assert main(["import", str(source), "--summary"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: printed[k] for k in summarize(result)} == summarize(result)
