"""read_fhir input forms: Bundles of every type, single resources, NDJSON, folders, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iopfhir.errors import FhirInputError, InputError
from iopfhir.fhir.read import ImportResult, read_fhir
from iopfhir.fhir.summary import summarize

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}],
    "name": [{"family": "Doe", "given": ["Jo"]}],
}
CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "c1",
    "subject": {"reference": "Patient/p1"},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]},
}
CLAIM: dict[str, Any] = {
    "resourceType": "Claim",
    "id": "cl1",
    "patient": {"reference": "Patient/p1"},
}
IMMUNIZATION: dict[str, Any] = {"resourceType": "Immunization", "id": "i1"}
VITALS: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/p1"},
}


def _composition(*resources: dict[str, Any]) -> dict[str, Any]:
    """The Composition a document Bundle starts with: the first resource is its subject, the
    others the entries of one problems section."""
    subject, *listed = resources
    return {
        "resourceType": "Composition",
        "id": "doc1",
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]},
        "subject": {"reference": f"{subject['resourceType']}/{subject['id']}"},
        "date": "2026-01-05",
        "author": [{"display": "IOP"}],
        "title": "Summary",
        "section": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "11450-4"}]},
                "entry": [{"reference": f"{r['resourceType']}/{r['id']}"} for r in listed],
            }
        ],
    }


def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    """A Bundle of ``kind`` holding ``resources`` (a document starts with its Composition)."""
    entries: list[dict[str, Any]] = []
    if kind == "document":
        resources = (_composition(*resources), *resources)
    for r in resources:
        entry: dict[str, Any] = {
            "fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}"
        }
        entry["resource"] = r
        if kind in ("transaction", "batch"):
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def test_public_api() -> None:
    import iopfhir.fhir.read as read

    assert read.__all__ == [
        "ImportResult",
        "ReadWarning",
        "read_fhir",
        "read_fhir_stream",
        "read_fhir_streamed",
    ]


@pytest.mark.parametrize(
    "kind", ["transaction", "batch", "collection", "document", "searchset", "history", "message"]
)
def test_every_bundle_type(kind: str) -> None:
    result = read_fhir(bundle(kind, PATIENT, CONDITION, CLAIM))
    assert result.patients == 1
    assert [d.code.code for d in result.episodes[0].diagnoses] == ["F33.1"]
    assert result.ignored == {"Claim": 1}


def test_transaction_response_entries_without_resource_are_skipped() -> None:
    data = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "Patient/p1/_history/1"}},
            {"resource": PATIENT, "response": {"status": "200 OK"}},
        ],
    }
    assert read_fhir(data).patients == 1


def test_nested_bundles_are_unpacked() -> None:
    inner = bundle("document", PATIENT, CONDITION)
    outer = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": PATIENT}, {"resource": inner}],
    }
    assert len(read_fhir(outer).episodes[0].diagnoses) == 1


def test_unmappable_resources_are_counted_in_ignored() -> None:
    result = read_fhir(
        bundle("collection", PATIENT, CLAIM, CLAIM | {"id": "cl2"}, IMMUNIZATION, VITALS, CONDITION)
    )
    assert result.ignored == {"Claim": 2, "Immunization": 1, "Observation": 1}
    assert summarize(result)["ignored"] == {"Claim": 2, "Immunization": 1, "Observation": 1}
    assert len(result.episodes) == 1


def test_single_resource_forms(tmp_path: Path) -> None:
    text = json.dumps(PATIENT)
    path = tmp_path / "patient.json"
    path.write_text(text)
    for source in (PATIENT, text, text.encode(), path, str(path), [PATIENT]):
        result = read_fhir(source)  # type: ignore[arg-type]
        assert isinstance(result, ImportResult)
        assert result.patients == 1
        assert result.episodes[0].patient.identifiers[0].value == "MRN-1"


def test_ndjson_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_text(json.dumps(PATIENT) + "\n")
    (tmp_path / "Condition.ndjson").write_text(
        "\n".join(json.dumps(CONDITION | {"id": f"c{i}"}) for i in range(3)) + "\n\n"
    )
    (tmp_path / "Claim.ndjson").write_text(json.dumps(CLAIM) + "\n")
    # a bulk-export manifest is JSON without resourceType: skipped in a folder
    (tmp_path / "manifest.json").write_text(json.dumps({"transactionTime": "2024-01-01"}))
    result = read_fhir(tmp_path)
    assert result.patients == 1
    assert len(result.episodes[0].diagnoses) == 3
    assert result.ignored == {"Claim": 1}
    single = read_fhir(tmp_path / "Condition.ndjson")
    assert len(single.episodes[0].diagnoses) == 3  # patient known only by reference
    as_text = (tmp_path / "Condition.ndjson").read_text()
    assert len(read_fhir(as_text).episodes[0].diagnoses) == 3


def test_folder_of_json_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.json").write_text(json.dumps(PATIENT))
    (tmp_path / "b.json").write_text(json.dumps(bundle("collection", CONDITION)))
    assert len(read_fhir(tmp_path).episodes[0].diagnoses) == 1


def test_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Patient",')
    with pytest.raises(FhirInputError) as info:
        read_fhir(path)
    assert "broken.json" in str(info.value)
    assert isinstance(info.value, InputError)
    assert isinstance(info.value, ValueError)


def test_no_resource_type_names_the_file_and_path(tmp_path: Path) -> None:
    path = tmp_path / "thing.json"
    path.write_text(json.dumps({"id": "x", "name": "not FHIR"}))
    with pytest.raises(FhirInputError) as info:
        read_fhir(path)
    assert "thing.json" in str(info.value)
    assert "resourceType" in str(info.value)
    bad_entry = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"id": "1"}}],
    }
    with pytest.raises(FhirInputError, match=r"entry\[0\]\.resource"):
        read_fhir(bad_entry)


def test_bad_ndjson_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_text(json.dumps(PATIENT) + "\nnot json\n")
    with pytest.raises(FhirInputError, match=r"Patient\.ndjson.*line 2"):
        read_fhir(path)


def test_bad_input_in_a_folder_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text(json.dumps(PATIENT))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FhirInputError, match=r"bad\.json"):
        read_fhir(tmp_path)


def test_missing_path_and_wrong_types() -> None:
    with pytest.raises(FhirInputError):
        read_fhir("/no/such/file.json")
    with pytest.raises(FhirInputError):
        read_fhir([1, 2])  # type: ignore[list-item]
    with pytest.raises(FhirInputError):
        read_fhir(b"not json at all")


def test_error_messages_carry_no_content(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"name": "Secret Name"}))
    with pytest.raises(FhirInputError) as info:
        read_fhir(path)
    assert "Secret" not in str(info.value)


def test_same_resource_in_two_files_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps(bundle("collection", PATIENT, CONDITION)))
    (tmp_path / "two.json").write_text(json.dumps(bundle("collection", PATIENT)))
    result = read_fhir(tmp_path)
    assert result.patients == 1
    assert result.unmapped["duplicate resource (same type and id): read once"] == 1


def test_odd_but_valid_resources_never_crash() -> None:
    odd = [
        PATIENT,
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p1"},
            "code": {"text": "x"},
        },
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
            "activity": [{"progress": [{"text": "n"}]}],
        },
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        },
        {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "g"},
            "subject": {"reference": "Patient/p1"},
        },
        {
            "resourceType": "CareTeam",
            "subject": {"reference": "Patient/p1"},
            "participant": [{"member": {"reference": "Practitioner/missing"}}],
        },
        {
            "resourceType": "Observation",
            "status": "final",
            "subject": {"reference": "Group/g"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        },
        {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "patient": {"reference": "Patient/p1"},
            "period": {"start": "2024-02-30"},
        },
    ]
    result = read_fhir(odd)
    assert result.patients == 1
    assert result.episodes[0].status == "active"
    assert result.unmapped["Condition: no coded code"] == 1
    assert result.unmapped["Encounter: session without a start time"] == 1
    # a Goal outside any care plan is kept with the episode (issue 11), not reported
    assert [g.description for g in result.episodes[0].other_goals] == ["g"]
    assert "Goal: not part of a care plan" not in result.unmapped


# -- one reading rule for every FHIR input (iopfhir.loading) -------------------------

MARKERS = ("ZZMARKER-PATIENT", "MRN-ZZ-0001", "tok-ZZ-secret")
MARKED = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-ZZ-0001"}],
    "name": [{"family": "ZZMARKER-PATIENT"}],
}


def _fhir_error(source: Any) -> FhirInputError:
    from iopfhir.validation import read_resources

    with pytest.raises(FhirInputError) as info:
        read_fhir(source)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for marker in MARKERS:
        assert marker not in message
    if isinstance(source, Path):  # the validator's reader follows the same rule
        with pytest.raises(FhirInputError) as again:
            list(read_resources(source))
        assert "\n" not in str(again.value)
        for marker in MARKERS:
            assert marker not in str(again.value)
    return info.value


def _marked_text() -> str:
    return json.dumps(MARKED)


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
def test_bom_accepted_by_json_and_ndjson_alike(tmp_path: Path, suffix: str) -> None:
    from iopfhir.validation import read_resources

    path = tmp_path / f"p{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + _marked_text().encode() + b"\n")
    assert read_fhir(path).patients == 1
    assert len(list(read_resources(path))) == 1


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_refused_by_name(tmp_path: Path, suffix: str, codec: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_bytes(_marked_text().encode(codec))
    error = _fhir_error(path)
    assert str(path) in str(error)
    assert "iopfhir reads UTF-8" in str(error)


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
def test_invalid_utf8_names_file_and_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_bytes(
        _marked_text().encode() + b"\n" + b'{"resourceType": "Patient", "id": "\xff"}\n'
    )
    error = _fhir_error(path)
    assert "line 2" in str(error)
    assert "not valid UTF-8" in str(error)


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"resourceType": "Patient", "id": "a", "id": "ZZMARKER-PATIENT"}', "repeats a key"),
        ('{"resourceType": "Patient", "ZZMARKER-PATIENT": NaN}', "NaN"),
        ('{"resourceType": "Patient", "x": ' + "1" * 5000 + "}", "number"),
        ('{"resourceType": "Patient", "x": ' + "[" * 100_000, "nested deeper"),
        ('{"resourceType": "Patient", "x": ' + "[" * 150 + "]" * 150 + "}", "nested deeper"),
        ('{"resourceType": "Patient", "x": "\\ud800"}', "surrogate"),
    ],
)
def test_json_and_ndjson_share_one_rule(tmp_path: Path, suffix: str, bad: str, reason: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_text(bad + "\n", encoding="utf-8")
    error = _fhir_error(path)
    assert reason in str(error)
    assert str(path) in str(error)


def test_duplicate_key_names_the_json_path_not_the_key(tmp_path: Path) -> None:
    doc = bundle("collection", PATIENT)
    text = json.dumps(doc).replace(
        '"id": "p1"', '"id": "p1", "ZZMARKER-PATIENT": 1, "ZZMARKER-PATIENT": 2'
    )
    path = tmp_path / "b.json"
    path.write_text(text)
    error = _fhir_error(path)
    assert "$.entry[0].resource: an object repeats a key" in str(error)


def test_line_separator_inside_a_string_is_text_in_every_form(tmp_path: Path) -> None:
    patient = {**PATIENT, "name": [{"family": "Do\u2028e", "given": ["Jo\u2029"]}]}
    lines = json.dumps(patient, ensure_ascii=False) + "\n" + json.dumps(CONDITION) + "\n"
    path = tmp_path / "all.ndjson"
    path.write_text(lines, encoding="utf-8")
    for source in (path, lines, lines.encode()):
        result = read_fhir(source)
        assert result.patients == 1
        assert len(result.episodes[0].diagnoses) == 1


def test_text_and_bytes_follow_the_same_rule() -> None:
    good = '\ufeff{"resourceType": "Patient", "id": "p1"}'
    assert read_fhir(good).patients == 1
    assert read_fhir(good.encode()).patients == 1
    bad = '{"resourceType": "Patient", "id": "p1", "id": "p2"}'
    for source in (bad, bad.encode()):
        assert "repeats a key" in str(_fhir_error(source))


def test_unknown_resource_type_is_not_echoed() -> None:
    result = read_fhir([PATIENT, {"resourceType": "ZZMARKER-PATIENT", "id": "x"}])
    assert "ZZMARKER-PATIENT" not in json.dumps(summarize(result))
    assert result.ignored == {"(not an R4 type)": 1}
