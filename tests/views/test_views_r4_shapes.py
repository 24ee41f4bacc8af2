"""A value of the wrong JSON kind for R4 is named by file, line and FHIRPath, never shown."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.cli import main
from iopfhir.views import Source, ViewError, iop_view
from iopfhir.views.r4_shapes import describe_line, first_mismatch

SECRET = "Zyxwv-4471"  # a value that must never reach a message


def _obs(**more: Any) -> dict[str, Any]:
    base = {
        "resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 12},
        "effectiveDateTime": "2025-01-02",
    }  # fmt: skip
    return {**base, **more}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, None),
        ({"valueQuantity": {"value": SECRET}},
         ("Observation.valueQuantity.value", "a string", "a decimal")),
        ({"subject": SECRET}, ("Observation.subject", "a string", "an object (Reference)")),
        ({"code": {"coding": {"code": "x"}}},
         ("Observation.code.coding", "an object", "an array")),
        ({"subject": [{"reference": "Patient/p1"}]},
         ("Observation.subject", "an array", "a single value")),
        ({"valueInteger": 4.5}, ("Observation.valueInteger", "a number", "an integer")),
        ({"valueBoolean": "true"}, ("Observation.valueBoolean", "a string", "a boolean")),
        ({"component": [{"code": {"text": "x"}, "valueQuantity": {"value": "1"}}]},
         ("Observation.component.valueQuantity.value", "a string", "a decimal")),
        ({"contained": [{"resourceType": "Patient", "id": "c", "active": "yes"}]},
         ("Observation.contained.active", "a string", "a boolean")),
        ({"notR4": {"anything": [1]}, "_status": {"extension": []}}, None),
    ],
)  # fmt: skip
def test_first_mismatch(change: dict[str, Any], expected: tuple[str, str, str] | None) -> None:
    assert first_mismatch(_obs(**change)) == expected


def test_describe_line_plain_and_gzip(tmp_path: Path) -> None:
    lines = [_obs(), _obs(valueQuantity={"value": SECRET})]
    body = b"".join(orjson.dumps(r) + b"\n" for r in lines)
    plain = tmp_path / "Observation.ndjson"
    plain.write_bytes(body)
    packed = tmp_path / "Observation.ndjson.gz"
    packed.write_bytes(gzip.compress(body))
    want = "line 2: Observation.valueQuantity.value: a string where R4 has a decimal"
    assert describe_line(plain, 2) == f"Observation.ndjson {want}"
    assert describe_line(packed, 2) == f"Observation.ndjson.gz {want}"
    assert describe_line(plain, 1) is None
    assert describe_line(plain, 9) is None
    (tmp_path / "x.ndjson").write_bytes(b'{"resourceType": "Observation", "id": "o1"\n')
    assert describe_line(tmp_path / "x.ndjson", 1) == "x.ndjson line 1: not JSON"


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_the_engine_names_where_not_what(
    tmp_path: Path, engine_name: str, request: pytest.FixtureRequest
) -> None:
    lines = [_obs(), _obs(id="o2"), _obs(id="o3", valueQuantity={"value": SECRET})]
    (tmp_path / "Observation.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    engine = request.getfixturevalue(f"{engine_name}_engine")
    with Source.from_path(tmp_path) as source, pytest.raises(ViewError) as caught:
        engine.run(iop_view("iop-observation-score"), source)
    message = str(caught.value)
    assert message == (
        "Observation.ndjson line 3: Observation.valueQuantity.value: "
        "a string where R4 has a decimal"
    )
    assert SECRET not in message


def test_the_cli_says_it_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _obs(subject=SECRET)
    (tmp_path / "Observation.ndjson").write_bytes(orjson.dumps(bad) + b"\n")
    assert main(["outcomes", str(tmp_path), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "Observation.ndjson line 1: Observation.subject: a string where R4 has an object" in err
    assert SECRET not in err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"resourceType": "Patient", "id": "p1"}\n{"resourceType": "Patient", "id": "p2",\n',
         "Patient.ndjson line 2: not JSON"),
        (b'{"resourceType": "Patient", "id": "p1", "name": [{"family": "\xff\xfe"}]}\n',
         "Patient.ndjson line 1: not UTF-8"),
        (b'{"resourceType": "Patient", "id": "p1"}\n\n[1, 2]\n',
         "Patient.ndjson line 3: not a JSON object"),
    ],
)  # fmt: skip
def test_input_that_is_no_json_is_named(
    tmp_path: Path, body: bytes, expected: str, duckdb_engine: Any
) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(body)
    with Source.from_path(tmp_path) as source, pytest.raises(ViewError) as caught:
        duckdb_engine.run(iop_view("iop-patient"), source)
    assert str(caught.value) == expected
