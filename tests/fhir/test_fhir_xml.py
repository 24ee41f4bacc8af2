"""FHIR XML is read as the JSON R4 gives for it, by every reader of files (``push`` of an
XML file to a real server: ``tests/sync/test_push_thirdparty.py``; outcomes: below).

R4 defines XML and JSON as two forms of one content; an XML resource or Bundle is read by
``import``, ``validate``, ``push`` and ``outcomes`` as its JSON would be. Checked on the
rules of R4's JSON form one by one (repeating elements, primitives' ids and extensions,
parallel arrays, choice elements, contained resources, the narrative), and on every
example of the corpus written as XML by ``fhir.resources`` (another implementation).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xml_forms import canonical_narratives

from iopfhir.cli import main
from iopfhir.domain import load_episodes
from iopfhir.errors import FhirInputError, IopFhirError, LoadError
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir, read_fhir_streamed
from iopfhir.fhir.summary import summarize
from iopfhir.fhir.xml import load_fhir_xml

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Qwerty-Private-9931"


def _xml(body: str, root: str = "Patient") -> bytes:
    return f'<{root} xmlns="http://hl7.org/fhir">{body}</{root}>'.encode()


def test_the_rules_of_the_json_form() -> None:
    xml = _xml(
        '<id value="p1"/>'
        '<text><status value="generated"/>'
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann <b>Doe</b> &amp; co</p></div></text>'
        '<extension url="http://example.org/ext"><valueBoolean value="true"/></extension>'
        '<active value="false"/>'
        '<name id="n1"><family value="Doe"/>'
        '<given value="Ann"/><given id="g2"><extension url="http://example.org/x">'
        '<valueInteger value="2"/></extension></given><given value="Lee"/></name>'
        '<birthDate value="1957"><extension url="http://example.org/t">'
        '<valueDateTime value="1957-06-01T10:00:00+01:00"/></extension></birthDate>'
        '<deceasedBoolean value="false"/>'
        '<multipleBirthInteger value="2"/>'
        '<contact><relationship><text value="mother"/></relationship></contact>'
        '<contact><name><family value="Roe"/></name></contact>'
    )
    assert load_fhir_xml(xml, "in.xml") == {
        "resourceType": "Patient",
        "id": "p1",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann <b>Doe</b> &amp; co</p></div>',
        },
        "extension": [{"url": "http://example.org/ext", "valueBoolean": True}],
        "active": False,
        "name": [
            {
                "id": "n1",
                "family": "Doe",
                "given": ["Ann", None, "Lee"],
                "_given": [
                    None,
                    {
                        "id": "g2",
                        "extension": [{"url": "http://example.org/x", "valueInteger": 2}],
                    },
                    None,
                ],
            }
        ],
        "birthDate": "1957",
        "_birthDate": {
            "extension": [
                {"url": "http://example.org/t", "valueDateTime": "1957-06-01T10:00:00+01:00"}
            ]
        },
        "deceasedBoolean": False,
        "multipleBirthInteger": 2,
        "contact": [{"relationship": [{"text": "mother"}]}, {"name": {"family": "Roe"}}],
    }


def test_numbers_contained_resources_and_bundle_entries() -> None:
    observation = (
        '<contained><Patient><id value="p"/></Patient></contained>'
        '<status value="final"/><code><text value="x"/></code>'
        '<valueQuantity><value value="12.50"/><unit value="mg"/></valueQuantity>'
        '<component><code><text value="a"/></code><valueInteger value="-3"/></component>'
        '<component><code><text value="b"/></code><valueRange><low><value value="1"/>'
        "</low></valueRange></component>"
    )
    bundle = _xml(
        '<type value="collection"/><total value="1"/>'
        '<entry><fullUrl value="urn:uuid:1"/><resource>'
        f'<Observation xmlns="http://hl7.org/fhir">{observation}</Observation>'
        "</resource></entry>",
        "Bundle",
    )
    doc = load_fhir_xml(bundle, "in.xml")
    assert doc["total"] == 1 and doc["type"] == "collection"
    (entry,) = doc["entry"]
    assert entry["fullUrl"] == "urn:uuid:1"
    obs = entry["resource"]
    assert obs["contained"] == [{"resourceType": "Patient", "id": "p"}]
    assert obs["valueQuantity"] == {"value": 12.5, "unit": "mg"}
    assert obs["component"][0]["valueInteger"] == -3
    assert obs["component"][1]["valueRange"] == {"low": {"value": 1}}


def test_a_repeating_primitive_with_only_extensions_has_no_value_array() -> None:
    ext = '<extension url="http://example.org/e"><valueString value="now"/></extension>'
    doc = load_fhir_xml(
        _xml(f"<timingTiming><event>{ext}</event></timingTiming>", "ActivityDefinition"), "x"
    )
    assert doc["timingTiming"] == {
        "_event": [{"extension": [{"url": "http://example.org/e", "valueString": "now"}]}]
    }


def test_an_element_r4_does_not_define_is_kept_and_counted_by_the_reader() -> None:
    xml = _xml(
        f'<id value="p1"/><gender value="female"/><nickname value="{SECRET}"/>'
        '<pet><name value="a"/></pet><pet><name value="b"/></pet>'
    )
    doc = load_fhir_xml(xml, "x")
    assert doc["nickname"] == SECRET
    assert doc["pet"] == [{"name": "a"}, {"name": "b"}]  # repeated: each kept
    result = read_fhir(xml)
    assert result.episodes[0].patient.gender == "female"
    assert result.unmapped["Patient: an element R4 does not define for this type (dropped)"] == 2


@pytest.mark.parametrize(
    ("xml", "error", "said"),
    [
        (_xml('<gender value="female"/><gender value="male"/>'), FhirInputError,
         "Patient.gender: repeated, and R4 allows one (line 1)"),
        (_xml('<active value="yes"/>'), FhirInputError,
         "Patient.active: not a boolean (true or false)"),
        (_xml('<multipleBirthInteger value="2.5"/>'), FhirInputError,
         "Patient.multipleBirthInteger: not an integer"),
        (_xml(f"<name>{SECRET}</name>"), FhirInputError,
         "Patient.name: text where FHIR XML has elements"),
        (_xml('<gender value="female" color="red"/>'), FhirInputError,
         "Patient.gender@color: not an attribute FHIR XML has"),
        (b'<Patient xmlns="urn:other"/>', FhirInputError, "not FHIR XML"),
        (_xml("", "Nonsense"), FhirInputError, "not an R4 resource type"),
        (_xml('<gender value="female">'), LoadError, "not well-formed XML"),
        (_xml("<extension>" * 5000 + "</extension>" * 5000), LoadError,
         "nested deeper than 200 elements"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;">]><Patient xmlns="http://hl7.org/fhir">'
            b'<gender value="&lol2;"/></Patient>',
            LoadError,
            "a DOCTYPE declaration: FHIR XML has none (refused)",
        ),
    ],
)  # fmt: skip
def test_xml_that_is_no_r4_names_the_path_and_never_the_value(
    xml: bytes, error: type[Exception], said: str
) -> None:
    with pytest.raises(error) as caught:
        load_fhir_xml(xml, "in.xml")
    assert said in str(caught.value) and "in.xml" in str(caught.value)
    assert SECRET not in str(caught.value) and "red" not in str(caught.value)


# -- against another implementation --------------------------------------------------------

_UTC = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)(?:\+00:00|Z)$")


def _same(value: Any) -> Any:
    """JSON with what two correct writers may spell differently spelled one way: the
    narrative in canonical XML, UTC as ``Z``, fractional seconds without trailing zeros, a
    number as the float it reads as (``fhir.resources`` writes ``-1E+245`` out in digits)."""
    return _spelled_once(canonical_narratives(value))


def _spelled_once(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _spelled_once(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_spelled_once(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (match := _UTC.match(value)):
        moment = match.group(1)
        return (moment.rstrip("0").rstrip(".") if "." in moment else moment) + "Z"
    return value


def _examples() -> list[Path]:
    """The R4 examples of the corpus (``IOPFHIR_CORPUS``: the test fails without it)."""
    corpus = os.environ.get("IOPFHIR_CORPUS")
    if not corpus:
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder", pytrace=False)
    return sorted((Path(corpus) / "hl7-examples" / "r4-core-examples").glob("*.json"))


@pytest.mark.corpus
def test_every_r4_example_written_as_xml_by_fhir_resources_reads_as_its_json() -> None:
    from fhir.resources.R4B import get_fhir_model_class

    checked = 0
    for path in _examples():
        data = json.loads(path.read_bytes())
        if "resourceType" not in data:  # one file of the folder is no resource
            continue
        model = get_fhir_model_class(data["resourceType"]).model_validate(data)
        expected = json.loads(model.model_dump_json())
        assert _same(load_fhir_xml(model.model_dump_xml(), path.name)) == _same(expected), path.name
        checked += 1
    assert checked >= 180


# -- every reader of files ------------------------------------------------------------------


def _example_bundle(tmp_path: Path) -> tuple[Path, Path]:
    """The mental-health example's Bundle as JSON and as XML (fhir.resources' writer)."""
    from fhir.resources.R4B import get_fhir_model_class

    bundle = collection_bundle(load_episodes(ROOT / "examples" / "mental-health-iop.yaml"))
    as_json = tmp_path / "iop.json"
    as_json.write_text(json.dumps(bundle))
    as_xml = tmp_path / "xml" / "iop.xml"
    as_xml.parent.mkdir()
    as_xml.write_bytes(get_fhir_model_class("Bundle").model_validate(bundle).model_dump_xml())
    return as_json, as_xml


def test_import_reads_an_xml_bundle_as_its_json(tmp_path: Path) -> None:
    as_json, as_xml = _example_bundle(tmp_path)
    from_json, from_xml = read_fhir(as_json), read_fhir(as_xml)
    assert summarize(from_xml, unmapped=True) == summarize(from_json, unmapped=True)
    assert from_xml.episodes == from_json.episodes
    # a folder of XML, and the same bytes given as text
    assert read_fhir(as_xml.parent).episodes == from_json.episodes
    assert read_fhir(as_xml.read_bytes()).episodes == from_json.episodes
    assert read_fhir_streamed(as_xml).episodes == from_json.episodes  # the streaming reader


def test_the_cli_reads_xml_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    as_json, as_xml = _example_bundle(tmp_path)
    assert main(["import", str(as_json), "--summary"]) == 0
    from_json = capsys.readouterr().out
    assert main(["import", str(as_xml), "--summary"]) == 0
    assert capsys.readouterr().out == from_json
    assert main(["validate", str(as_xml)]) == 0
    assert main(["validate", str(as_xml.parent)]) == 0  # a folder of XML files too


def test_an_xml_file_that_is_not_r4_is_refused_by_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(_xml(f'<gender value="female"/><gender value="{SECRET}"/>'))
    assert main(["import", str(bad), "--summary"]) == 2
    err = capsys.readouterr().err
    assert "Patient.gender: repeated" in err and SECRET not in err


def test_other_xml_in_a_folder_is_passed_over(tmp_path: Path) -> None:
    """A folder may hold other XML (a C-CDA document, a build file): not FHIR, skipped and
    said; the same file given on its own is refused."""
    as_json, as_xml = _example_bundle(tmp_path)
    cda = as_xml.parent / "discharge-summary.xml"
    cda.write_bytes(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title/></ClinicalDocument>')
    (as_xml.parent / "pom.xml").write_bytes(
        b"<project><modelVersion>4.0.0</modelVersion></project>"
    )
    result = read_fhir(as_xml.parent)
    assert result.episodes == read_fhir(as_json).episodes
    assert result.unmapped["XML file that is not FHIR"] == 2
    with pytest.raises(FhirInputError, match="not FHIR XML"):
        read_fhir(cda)


# -- anything at all: an iopfhir error, never a crash ---------------------------------------

_SAMPLE = _xml(
    '<id value="p1"/><name><family value="Doe"/><given value="Ann"/></name>'
    '<telecom><system value="phone"/><value value="555"/></telecom>'
    '<birthDate value="1957"><extension url="u"><valueInteger value="1"/></extension>'
    "</birthDate>"
    '<contained><Organization><id value="o"/><name value="N"/></Organization></contained>'
    '<text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">x</div></text>'
)


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=len(_SAMPLE)),
    at=st.integers(min_value=0, max_value=len(_SAMPLE)),
    inserted=st.sampled_from(
        [b"", b"<", b">", b"&", b'"', b"<given/>", b'<gender value="x"/>', b"</name>",
         b'<id value="2"/>', b"<extension/>", b'value="true"', b"\x00", b"\xff", b"]]>",
         b"<![CDATA[x]]>", b"<!-- c -->", b'<?pi x?>', b"<contained/>", b"xmlns=''"]
    ),
)  # fmt: skip
def test_mutated_xml_reads_or_raises_an_iopfhir_error(cut: int, at: int, inserted: bytes) -> None:
    data = _SAMPLE[:at] + inserted + _SAMPLE[at:]
    data = data[:cut] + data[cut + 1 :]  # and one byte less somewhere
    try:
        doc = load_fhir_xml(data, "fuzz.xml")
    except IopFhirError:
        return
    read_fhir(doc)  # what reads as JSON is read by the readers as any JSON is
