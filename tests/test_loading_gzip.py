"""gzip-compressed FHIR files (``Observation.ndjson.gz``, ``bundle.json.gz``), as Bulk Data
tools write them, read by every reader as the uncompressed files are; a broken one is named.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pytest
from tests.engines import synth_ndjson

from iopfhir.cli import main
from iopfhir.errors import FhirInputError, LoadError
from iopfhir.fhir.read import read_fhir, read_fhir_streamed
from iopfhir.fhir.summary import summarize
from iopfhir.loading import data_files, data_kind, read_data
from iopfhir.validation import read_resources

SECRET = "Qwerty-Private-9931"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A synthetic cohort as NDJSON, and the same files each gzip-compressed."""
    root = tmp_path_factory.mktemp("gz")
    plain = synth_ndjson(root, patients=4, seed=3)
    packed = root / "packed"
    packed.mkdir()
    for path in plain.glob("*.ndjson"):
        (packed / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    return plain, packed


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Patient.ndjson", "ndjson"),
        ("Patient.ndjson.gz", "ndjson"),
        ("Observation-1.NDJSON.GZ", "ndjson"),
        ("a.jsonl.gz", "ndjson"),
        ("bundle.json", "json"),
        ("bundle.json.gz", "json"),
        ("notes.txt.gz", None),
        ("archive.gz", None),
        (".json", None),
        ("manifest.xml", "xml"),
        ("Bundle.xml.gz", "xml"),
        ("notes.csv", None),
    ],
)
def test_a_file_is_data_by_its_name_through_gz(name: str, kind: str | None) -> None:
    assert data_kind(Path(name)) == kind


def test_both_readers_read_the_compressed_folder_as_the_plain_one(
    folders: tuple[Path, Path],
) -> None:
    plain, packed = folders
    assert [p.name for p in data_files(packed)] == sorted(p.name + ".gz" for p in data_files(plain))
    want = summarize(read_fhir(plain), unmapped=True)
    assert want["patients"] == 4 and want["sessions"] > 0
    assert summarize(read_fhir(packed), unmapped=True) == want
    assert summarize(read_fhir_streamed(packed), unmapped=True) == want


def test_import_and_validate_commands_take_compressed_files(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, packed = folders
    assert main(["import", str(plain), "--summary"]) == 0
    want = orjson.loads(capsys.readouterr().out)
    assert main(["import", str(packed), "--summary"]) == 0
    assert orjson.loads(capsys.readouterr().out) == want
    assert main(["validate", str(packed)]) == 0
    out = capsys.readouterr().out
    assert "Patient.ndjson.gz: OK" in out and "Observation.ndjson.gz: OK" in out
    # a Bundle compressed: import reads it, and each of its resources is validated
    bundle = tmp_path / "bundle.json.gz"
    entries = [
        {"resource": orjson.loads(x)} for x in (plain / "Patient.ndjson").read_bytes().splitlines()
    ]
    bundle.write_bytes(
        gzip.compress(
            orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
        )
    )
    assert main(["import", str(bundle), "--summary"]) == 0
    assert orjson.loads(capsys.readouterr().out)["patients"] == 4
    assert main(["validate", str(bundle)]) == 0


def test_outcomes_read_compressed_bundles_as_plain_ones(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    plain, _ = folders
    lines = [
        orjson.loads(x) for p in sorted(plain.glob("*.ndjson")) for x in p.read_bytes().splitlines()
    ]
    bundle = orjson.dumps({"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": r} for r in lines]})  # fmt: skip
    for name, body in (("plain", bundle), ("packed", gzip.compress(bundle))):
        (tmp_path / name).mkdir()
        (tmp_path / name / ("b.json" if name == "plain" else "b.json.gz")).write_bytes(body)
    rows = {}
    for name in ("plain", "packed"):
        out = tmp_path / f"{name}.json"
        assert main(["outcomes", str(tmp_path / name), "--format", "json", "-o", str(out)]) == 0
        rows[name] = orjson.loads(out.read_bytes())
    assert rows["plain"] and rows["packed"] == rows["plain"]


@pytest.mark.parametrize("broken", ["truncated", "not gzip"])
def test_a_broken_compressed_file_is_named_without_its_content(
    folders: tuple[Path, Path], tmp_path: Path, broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, packed = folders
    folder = tmp_path / "export"
    shutil.copytree(packed, folder)
    whole = gzip.compress(SECRET.encode() * 500)
    bad = folder / "Patient.ndjson.gz"
    bad.write_bytes(whole[: len(whole) // 2] if broken == "truncated" else SECRET.encode() * 9)
    reason = "ends before its last block" if broken == "truncated" else "is not gzip data"
    for reader in (read_fhir, read_fhir_streamed):
        with pytest.raises(FhirInputError) as caught:
            reader(folder)
        assert reason in str(caught.value) and "Patient.ndjson.gz" in str(caught.value)
        assert SECRET not in str(caught.value)
    with pytest.raises(FhirInputError, match=reason):
        list(read_resources(bad))
    assert main(["import", str(folder), "--summary"]) == 2
    err = capsys.readouterr().err
    assert "Patient.ndjson.gz" in err and reason in err and SECRET not in err


def test_a_compressed_document_read_whole_is_bounded(tmp_path: Path) -> None:
    bomb = tmp_path / "bundle.json.gz"
    bomb.write_bytes(gzip.compress(b" " * (3 << 20)))  # 3 MiB of spaces in a few KiB
    assert bomb.stat().st_size < 20_000
    with pytest.raises(LoadError, match="inflates to more than 1 MiB"):
        read_data(bomb, limit=1 << 20)
    assert len(read_data(bomb, limit=4 << 20)) == 3 << 20


@pytest.mark.parametrize("held", [[], ["Patient.csv", "notes.txt.gz"]])
def test_a_folder_without_fhir_files_is_refused_not_read_as_nobody(
    tmp_path: Path, held: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in held:
        (folder / name).write_text(SECRET)
    for reader in (read_fhir, read_fhir_streamed):
        with pytest.raises(FhirInputError, match="no FHIR file in this folder") as caught:
            reader(folder)
        assert str(folder) in str(caught.value) and SECRET not in str(caught.value)
    assert main(["import", str(folder), "--summary"]) == 2
    assert "no FHIR file in this folder" in capsys.readouterr().err
