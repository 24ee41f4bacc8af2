"""The command line as a user runs it: exit codes, outputs, and nothing written on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from iopfhir.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MH = EXAMPLES / "mental-health-iop.yaml"


def test_convert_transaction_then_import_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle.json"
    assert main(["convert", str(MH), "-o", str(out)]) == 0
    bundle = json.loads(out.read_bytes())
    assert bundle["type"] == "transaction"
    # conditional creates on the business identifier; a review's Provenance (no identifier
    # in R4) is PUT to the id of its full URL
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Provenance":
            assert e["request"] == {"method": "PUT", "url": f"Provenance/{e['resource']['id']}"}
        else:
            assert e["request"]["ifNoneExist"].startswith("identifier=")
    capsys.readouterr()
    assert main(["import", str(out), "--summary"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    assert json.loads(printed[0]) == {
        "patients": 1,
        "episodes": 1,
        "care_plans": 3,
        "care_teams": 1,
        "team_members": 6,
        "sessions": 28,  # 25 with the patient, 2 team reviews, 1 family-education evening
        "conditions": 2,
        "goals": 4,
        "reviews": 3,
        "medications": 1,
        "prescriptions": 1,
        "allergies": 1,
        "measures": {"gad-7": 5, "phq-9": 5},
        "ignored": {},
        "unmapped": {},  # our own output reads back whole
    }


def test_convert_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["convert", str(EXAMPLES), "-o", str(a), "--format", "collection"]) == 0
    assert main(["convert", str(EXAMPLES), "-o", str(b), "--format", "collection"]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_synth_convert_ndjson_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort, nd = tmp_path / "cohort", tmp_path / "nd"
    assert main(["synth", "--patients", "5", "--seed", "3", "-o", str(cohort)]) == 0
    assert len(list(cohort.glob("*.json"))) == 5
    assert main(["convert", str(cohort), "--format", "ndjson", "-o", str(nd)]) == 0
    files = {p.name for p in nd.iterdir()}
    assert {"Patient.ndjson", "CarePlan.ndjson", "Observation.ndjson"} <= files
    patients = (nd / "Patient.ndjson").read_text().splitlines()
    assert len(patients) == 5
    capsys.readouterr()
    assert main(["import", str(nd), "--summary"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 5 and summary["episodes"] == 5


def test_import_writes_a_loadable_episode_file(tmp_path: Path) -> None:
    bundle, episode = tmp_path / "b.json", tmp_path / "back.yaml"
    assert main(["convert", str(MH), "-o", str(bundle)]) == 0
    assert main(["import", str(bundle), "-o", str(episode)]) == 0
    again = tmp_path / "again.json"
    assert main(["convert", str(episode), "-o", str(again)]) == 0
    assert again.read_bytes() == bundle.read_bytes()


def _broken(tmp_path: Path, mutate: object) -> Path:
    data = yaml.safe_load(MH.read_text())
    mutate(data)  # type: ignore[operator]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BAD_INPUT = [
    ("missing field", lambda d: d["patient"].pop("identifiers"), "$.patient"),
    ("wrong type", lambda d: d["sessions"][3].update(start=17), "$.sessions[3].start"),
    ("unknown code", lambda d: d["sessions"][0].update(kind="yoga"), "$.sessions[0].kind"),
    (
        "score out of range",
        lambda d: d["measures"][0]["answers"].update(q1=9),
        "$.measures[0].answers.q1",
    ),
    (
        "end before start",
        lambda d: d["sessions"][2].update(end="2026-03-01T08:00:00-05:00"),
        "$.sessions[2].end",
    ),
    (
        "not on the team",
        lambda d: d["sessions"][1].update(facilitator="dr-okafor"),
        "$.sessions[1].facilitator",
    ),
]


@pytest.mark.parametrize(("what", "mutate", "path"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_exit_2_names_path_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, mutate: object, path: str
) -> None:
    source = _broken(tmp_path, mutate)
    out = tmp_path / "out.json"
    nd = tmp_path / "nd"
    assert main(["convert", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(source) in err and path in err, err
    assert "Rivera" not in err and "MRN-448812" not in err  # no patient data
    assert not out.exists()
    assert main(["convert", str(source), "--format", "ndjson", "-o", str(nd)]) == 2
    assert not nd.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken.yaml"]


def test_bad_file_in_a_directory_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(MH, folder / "a.yaml")
    (folder / "b.json").write_text("{not json")
    nd = tmp_path / "nd"
    assert main(["convert", str(folder), "--format", "ndjson", "-o", str(nd)]) == 2
    assert "b.json" in capsys.readouterr().err
    assert not nd.exists()


def test_import_of_non_fhir_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    assert main(["import", str(path), "--summary"]) == 2
    assert "x.json" in capsys.readouterr().err


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    assert main(["convert", str(tmp_path / "nope.yaml")]) == 2


def test_demo_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "round trip: identical" in out
    assert "0 errors" in out


@pytest.mark.integration
def test_demo_with_a_local_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "started a local FHIR R4 server at http://127.0.0.1:" in out
    again = next(line for line in out.splitlines() if line.startswith("7. push again"))
    summary = json.loads(again.split(" ", 3)[3])
    assert summary["created"] == summary["updated"] == summary["failed"] == 0
    assert "round trip through the server: identical" in out
