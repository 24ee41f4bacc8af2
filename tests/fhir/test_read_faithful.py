"""Import is faithful or loud: what the model cannot take is counted and warned about at
its FHIRPath (never its value); a dateTime without a time zone is kept, never shifted;
``iopfhir import --strict`` turns any warning into exit 2 with nothing written."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import import_ as cli_import
from iopfhir.domain import PartialDate, date_text, load_episodes
from iopfhir.errors import InputError
from iopfhir.fhir.bundle import dumps, transaction_bundle
from iopfhir.fhir.read import ReadWarning, read_fhir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MARK = "MARKER-7f3a"


def _patient(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:example:mrn", "value": f"MRN-{MARK}"}],
        "name": [{"family": f"{MARK}-family", "given": [f"{MARK}-given"]}],
        **fields,
    }


def _encounter(start: str, end: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": start, "end": end},
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:r{i}", "resource": r} for i, r in enumerate(resources)],
    }


def _paths(result: Any) -> dict[str, str]:
    return {w.path: w.reason for w in result.warnings}


def test_invalid_birth_date_is_reported() -> None:
    result = read_fhir(_bundle(_patient(birthDate=f"1990-13-45{MARK}")))
    assert result.episodes[0].patient.birth_date is None
    assert _paths(result) == {"Patient.birthDate": "not a valid date (dropped)"}
    assert result.unmapped["Patient.birthDate: not a valid date (dropped)"] == 1


def test_name_as_a_string_is_reported() -> None:
    result = read_fhir(_bundle(_patient(name=f"{MARK} Person")))
    assert result.episodes[0].patient.name is None
    assert _paths(result) == {"Patient.name": "not a HumanName (dropped)"}


def test_a_partial_date_is_kept_and_an_invalid_gender_reported() -> None:
    result = read_fhir(_bundle(_patient(birthDate="1990-05", gender=MARK)))
    patient = result.episodes[0].patient
    # R4 allows a year-month birth date: kept as given, not read as the 1st of May
    assert isinstance(patient.birth_date, PartialDate)
    assert date_text(patient.birth_date) == "1990-05"
    assert _paths(result) == {"Patient.gender": "not an administrative-gender code (dropped)"}


def test_a_datetime_without_zone_is_kept_as_written() -> None:
    result = read_fhir(
        _bundle(_patient(), _encounter("2024-03-01T10:00:00", "2024-03-01T11:30:00"))
    )
    session = result.episodes[0].sessions[0]
    assert session.start == datetime(2024, 3, 1, 10, 0)  # naive: not shifted to UTC
    assert session.start.tzinfo is None and session.end.tzinfo is None
    assert session.end == datetime(2024, 3, 1, 11, 30)
    assert _paths(result) == {
        "Encounter.period.start": "dateTime without a time zone (kept as written)",
        "Encounter.period.end": "dateTime without a time zone (kept as written)",
    }
    # FHIR R4 requires an offset with a time: converting it back is refused, by path
    with pytest.raises(InputError) as info:
        transaction_bundle(result.episodes)
    assert info.value.path == "$.sessions[0].start"


def test_a_datetime_with_an_offset_keeps_it() -> None:
    result = read_fhir(
        _bundle(_patient(), _encounter("2024-03-01T10:00:00-05:00", "2024-03-01T11:00:00-05:00"))
    )
    start = result.episodes[0].sessions[0].start
    assert start.isoformat() == "2024-03-01T10:00:00-05:00"
    assert result.warnings == []


def test_invalid_datetime_and_disordered_times_are_reported() -> None:
    result = read_fhir(_bundle(_patient(), _encounter("2024-03-01T10:00:00Z", "not-a-time")))
    reasons = _paths(result)
    assert reasons["Encounter.period.end"] == "not a valid dateTime (dropped)"
    result = read_fhir(
        _bundle(_patient(), _encounter("2024-03-01T10:00:00Z", "2024-03-01T09:00:00Z"))
    )
    assert _paths(result)["Encounter.end"] == "before the start (read as the start)"


def test_warnings_never_hold_values() -> None:
    result = read_fhir(
        _bundle(
            _patient(birthDate=MARK, name=MARK, gender=MARK),
            _encounter(f"{MARK}T10:00", "2024-03-01T11:00:00"),
        )
    )
    assert result.warnings
    for warning in result.warnings:
        assert isinstance(warning, ReadWarning)
        assert MARK not in str(warning)
        assert "\n" not in str(warning)
    assert all(MARK not in key for key in result.unmapped)


@pytest.mark.parametrize("name", ["mental-health-iop.yaml", "co-occurring-sud-iop.yaml"])
def test_our_own_output_reads_back_without_warnings(name: str) -> None:
    episodes = load_episodes(EXAMPLES / name)
    result = read_fhir(dumps(transaction_bundle(episodes)))
    assert result.episodes == episodes
    assert result.warnings == []


def test_warning_counts_and_text() -> None:
    assert str(ReadWarning("Patient.birthDate", "not a valid date (dropped)", 3)) == (
        "Patient.birthDate: not a valid date (dropped) (3 times)"
    )
    assert str(ReadWarning("Goal", "not part of a care plan")) == "Goal: not part of a care plan"


def _import(tmp_path: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="iopfhir")
    cli_import.register(parser.add_subparsers())
    args = parser.parse_args(["import", *argv])
    return int(args.func(args))


def test_cli_import_prints_warnings_and_strict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(_bundle(_patient(birthDate=MARK, name=MARK))))
    out = tmp_path / "out.yaml"
    assert _import(tmp_path, str(source), "-o", str(out)) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "warning" in line]
    assert sorted(lines) == [
        "iopfhir: warning: Patient.birthDate: not a valid date (dropped)",
        "iopfhir: warning: Patient.name: not a HumanName (dropped)",
    ]
    assert MARK not in captured.err
    assert out.exists()

    strict_out = tmp_path / "strict.yaml"
    with pytest.raises(InputError) as info:
        _import(tmp_path, str(source), "--strict", "-o", str(strict_out))
    assert "--strict" in str(info.value)
    assert MARK not in str(info.value)
    assert not strict_out.exists()
    captured = capsys.readouterr()
    assert MARK not in captured.out + captured.err


def test_cli_import_strict_passes_clean_input(tmp_path: Path) -> None:
    episodes = load_episodes(EXAMPLES / "mental-health-iop.yaml")
    source = tmp_path / "bundle.json"
    source.write_bytes(dumps(transaction_bundle(episodes)))
    out = tmp_path / "back.json"
    assert _import(tmp_path, str(source), "--strict", "-o", str(out)) == 0
    assert out.exists()
