"""The streaming reader's store keeps no copy of a plain NDJSON file's lines: it reads them
again from the file in pass 2 (``SourceFiles``), and names an NDJSON resource's
identifiers only when a lookup needs them, from the resource read back.

Checked here: nothing is written to the data file for plain NDJSON (a gzip-compressed
file's lines are copied), the episodes equal the in-memory reader's however the lines are
spread over files, blank lines, ``\\r\\n`` ends and a BOM included; more files than are
kept open at once; a file changed between the two passes is refused naming the file,
never misread; lookups by identifier (conditional references) on NDJSON resolve as the
in-memory reader resolves them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from iopfhir.errors import FhirInputError
from iopfhir.fhir.ndjson import write_ndjson
from iopfhir.fhir.read import read_fhir, read_fhir_stream, read_fhir_streamed
from iopfhir.fhir.read import spill as spill_module
from iopfhir.fhir.read import store as store_module
from iopfhir.fhir.read.store import ResourceStore
from iopfhir.synth import synth_episodes


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sourced")
    write_ndjson(synth_episodes(4, seed=11), out)
    return out


def _same_as_whole(source: Path) -> None:
    whole, streamed = read_fhir(source), read_fhir_streamed(source)
    assert streamed.patients == whole.patients > 0
    assert streamed.episodes == whole.episodes
    assert dict(streamed.unmapped) == dict(whole.unmapped)


def _data_written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each store's data file when it is closed."""
    sizes: list[int] = []
    close = ResourceStore.close

    def closing(self: ResourceStore) -> None:
        sizes.append(self._data.end)
        close(self)

    monkeypatch.setattr(ResourceStore, "close", closing)
    return sizes


def test_plain_lines_are_read_again_not_copied(
    cohort: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _data_written(monkeypatch)
    _same_as_whole(cohort)
    assert sizes and sizes[-1] == 0


def test_compressed_lines_are_copied(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for file in cohort.glob("*.ndjson"):
        (tmp_path / f"{file.name}.gz").write_bytes(gzip.compress(file.read_bytes()))
    sizes = _data_written(monkeypatch)
    _same_as_whole(tmp_path)
    assert sizes[-1] > 0


def test_lines_with_bom_blank_lines_and_crlf(cohort: Path, tmp_path: Path) -> None:
    for i, file in enumerate(sorted(cohort.glob("*.ndjson"))):
        lines = file.read_bytes().splitlines()
        ends = [b"\r\n", b"\n", b"\r"][i % 3]
        text = b"\xef\xbb\xbf" + (ends * 2).join(lines) + ends  # a blank line between two
        (tmp_path / file.name).write_bytes(text)
    _same_as_whole(tmp_path)


def test_more_files_than_kept_open(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill_module, "_OPEN_FILES", 2)
    for file in cohort.glob("*.ndjson"):
        lines = file.read_bytes().splitlines(keepends=True)
        for part in range(3):
            (tmp_path / f"{file.stem}-{part}.ndjson").write_bytes(b"".join(lines[part::3]))
    assert len(list(tmp_path.iterdir())) > 6
    _same_as_whole(tmp_path)


def test_a_file_changed_between_the_passes_is_refused(cohort: Path, tmp_path: Path) -> None:
    for file in cohort.glob("*.ndjson"):
        (tmp_path / file.name).write_bytes(file.read_bytes())
    target = tmp_path / "Observation.ndjson"

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase == "read" and done == total:  # the end of pass 1
            data = target.read_bytes()
            target.write_bytes(b" " * 7 + data)  # every line moved: misread if not noticed

    with pytest.raises(FhirInputError) as caught:
        list(read_fhir_stream(tmp_path, progress=progress))
    assert "changed while it was read" in str(caught.value)
    assert str(target) in str(caught.value)
    assert "resourceType" not in str(caught.value)


def test_identifier_lookups_on_ndjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CareTeam naming its practitioner by identifier (a conditional reference) and a
    Condition naming its patient so: resolved from the resources read back, the first
    resource of an identifier winning, as the in-memory reader resolves them."""
    monkeypatch.setattr(store_module, "_RUN", 2)  # the identified read back in short runs
    ident = {"system": "http://hospital.example/mrn", "value": "42"}
    npi = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9941339108"}
    lines: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p1", "identifier": [ident]},
        {"resourceType": "Patient", "id": "p2", "identifier": [ident]},  # second: loses
        {
            "resourceType": "Practitioner",
            "id": "dr",
            "identifier": [npi],
            "name": [{"family": "A"}],
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": {"reference": "Patient?identifier=http://hospital.example/mrn|42"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
        },
        {
            "resourceType": "CareTeam",
            "id": "t1",
            "subject": {"reference": "Patient/p1"},
            "participant": [
                {"member": {"reference": f"Practitioner?identifier={npi['system']}|{npi['value']}"}}
            ],
        },
    ]
    (tmp_path / "all.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    _same_as_whole(tmp_path)
    streamed = read_fhir_streamed(tmp_path)
    # p1's episode: its Condition (patient by identifier, p1 the first of it) and its
    # CareTeam (practitioner by identifier)
    (episode,) = [e for e in streamed.episodes if e.diagnoses]
    assert episode.teams and [p.name for p in episode.practitioners]
