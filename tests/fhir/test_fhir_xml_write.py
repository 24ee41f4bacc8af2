"""FHIR XML written from R4 JSON: read back, it is the same JSON; another implementation
(``fhir.resources``) reads it as the JSON; ``convert --xml`` writes a Bundle so."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from xml_forms import canonical_narratives

from iopfhir.cli import main
from iopfhir.domain import load_episodes
from iopfhir.errors import IopFhirError, MappingError
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle, write_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.xml import load_fhir_xml
from iopfhir.fhir.xml_write import dump_fhir_xml
from iopfhir.loading import load_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NS = "{http://hl7.org/fhir}"


def test_elements_in_r4_order_with_ids_extensions_and_parallel_arrays() -> None:
    patient = {
        "resourceType": "Patient",
        "gender": "female",
        "name": [{"id": "n1", "given": ["Ann", None], "_given": [None, {"id": "g2"}]}],
        "meta": {"versionId": "1"},
        "id": "p1",
        "birthDate": "1957",
        "_birthDate": {"extension": [{"url": "http://example.org/t", "valueInteger": 3}]},
        "active": True,
        "extension": [{"url": "http://example.org/x", "valueString": "line one\nline two"}],
        "multipleBirthInteger": 2,
    }
    xml = dump_fhir_xml(patient)
    root = ElementTree.fromstring(xml)
    assert [child.tag.removeprefix(NS) for child in root] == [
        "id", "meta", "extension", "active", "name", "gender", "birthDate",
        "multipleBirthInteger",
    ]  # fmt: skip
    name = root.find(f"{NS}name")
    assert name is not None and name.get("id") == "n1"
    assert [(g.get("value"), g.get("id")) for g in name] == [("Ann", None), (None, "g2")]
    ext = root.find(f"{NS}extension")
    assert ext is not None and ext.get("url") == "http://example.org/x"
    assert b"line one&#10;line two" in xml  # a line end kept inside an attribute
    assert load_fhir_xml(xml, "p.xml") == patient


def test_one_value_where_r4_has_a_list_is_written_as_a_list_of_one() -> None:
    patient = {"resourceType": "Patient", "name": {"family": "D", "given": "Ann"}}
    assert load_fhir_xml(dump_fhir_xml(patient), "p.xml") == {
        "resourceType": "Patient",
        "name": [{"family": "D", "given": ["Ann"]}],
    }


def test_a_key_r4_does_not_define_is_refused_naming_its_path() -> None:
    secret = "Qwerty-Private-9931"
    with pytest.raises(MappingError) as caught:
        dump_fhir_xml({"resourceType": "Patient", "name": [{"family": "D", "nick": secret}]})
    assert "Patient.name[0].nick" in str(caught.value) and secret not in str(caught.value)
    with pytest.raises(MappingError, match="not an R4 resource type"):
        dump_fhir_xml({"resourceType": "Nonsense"})


def _corpus_files() -> list[Path]:
    corpus = os.environ.get("IOPFHIR_CORPUS")
    if not corpus:
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder", pytrace=False)
    roots = [Path(corpus) / name for name in ("hl7-examples", "ig-examples", "synthea")]
    return sorted(p for root in roots for p in root.rglob("*.json"))


@pytest.mark.corpus
def test_every_corpus_resource_written_as_xml_reads_back_as_its_json() -> None:
    checked = 0
    for path in _corpus_files():
        try:
            data = load_json(path.read_bytes(), path.name)
        except IopFhirError:
            continue  # the corpus holds a few files that are no JSON on purpose
        if not isinstance(data, dict) or "resourceType" not in data:
            continue
        assert canonical_narratives(
            load_fhir_xml(dump_fhir_xml(data), path.name)
        ) == canonical_narratives(data), path.name
        checked += 1
    assert checked >= 500


@pytest.mark.parametrize("name", ["mental-health-iop", "co-occurring-sud-iop"])
def test_fhir_resources_reads_our_xml_as_its_own(name: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    bundle = collection_bundle(load_episodes(EXAMPLES / f"{name}.yaml"))
    model = get_fhir_model_class("Bundle")
    # as it reads the XML it writes itself of the same JSON
    theirs = model.model_validate(bundle).model_dump_xml()
    ours = model.model_validate_xml(dump_fhir_xml(bundle)).model_dump_json()
    assert _comparable(json.loads(ours)) == _comparable(
        json.loads(model.model_validate_xml(theirs).model_dump_json())
    )


def _comparable(value: Any) -> Any:
    """What ``fhir.resources`` keeps of either: it writes a decimal 3 as 3.0 (the same
    number), and an element's id (a CarePlan activity's) as a child element, where R4 has
    an attribute, and reads only that form, so ids of elements are left out."""
    if isinstance(value, dict):
        return {
            k: _comparable(v)
            for k, v in value.items()
            if not (k == "id" and "resourceType" not in value)
        }
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def test_the_streamed_xml_bundle_is_the_bundle_written_whole() -> None:
    episodes = [load_episodes(EXAMPLES / f"{n}.yaml")[0] for n in ("mental-health-iop",)]
    out = io.BytesIO()
    written = write_bundle(episodes, out, xml=True)
    assert out.getvalue() == dump_fhir_xml(transaction_bundle(episodes))
    assert written.entries == len(transaction_bundle(episodes)["entry"])


def test_convert_xml_writes_a_bundle_that_imports_as_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(EXAMPLES / "co-occurring-sud-iop.yaml")
    as_xml, as_json = tmp_path / "out.xml", tmp_path / "out.json"
    assert main(["convert", source, "--xml", "-o", str(as_xml)]) == 0
    assert main(["convert", source, "-o", str(as_json)]) == 0
    assert "Bundle (XML) of" in capsys.readouterr().err
    assert read_fhir(as_xml).episodes == read_fhir(as_json).episodes
    assert json.loads(as_json.read_bytes()) == load_fhir_xml(as_xml.read_bytes(), "out.xml")
    assert main(["convert", source, "--xml", "--format", "ndjson", "-o", str(tmp_path)]) == 2
    assert "--xml writes a Bundle" in capsys.readouterr().err
