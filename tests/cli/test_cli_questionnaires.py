"""``iopfhir questionnaires``: the instruments' Questionnaires on request, as a collection
Bundle or NDJSON, to stdout or a file (atomic, 0600); unknown ids are a usage error."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from iopfhir.cli import main
from iopfhir.fhir.build import questionnaire_to_fhir
from iopfhir.terminology import instruments
from iopfhir.validation import Validator


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_default_is_a_collection_of_every_instrument_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["questionnaires"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    resources = [e["resource"] for e in bundle["entry"]]
    assert [r["url"] for r in resources] == [
        instruments()[i].questionnaire for i in sorted(instruments())
    ]
    assert [e["fullUrl"] for e in bundle["entry"]] == [r["url"] for r in resources]
    report = Validator().validate(bundle)
    assert [i for i in report.issues if i.severity in ("error", "fatal")] == []


def test_ndjson_of_chosen_ids_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "q.ndjson"
    code = main(["questionnaires", "-o", str(out), "--format", "ndjson", "whodas-12", "dast-10"])
    assert code == 0
    assert "wrote 2 Questionnaires" in capsys.readouterr().err
    lines = out.read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        questionnaire_to_fhir("whodas-12"),
        questionnaire_to_fhir("dast-10"),
    ]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_output_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["questionnaires", "-o", str(a)]) == 0
    assert main(["questionnaires", "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_unknown_id_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "q.json"
    with pytest.raises(SystemExit) as exc:
        main(["questionnaires", "-o", str(out), "phq-9", "no-such-instrument"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown instrument" in err and "dast-10" in err
    assert not out.exists()


def test_bad_output_place_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder").mkdir()
    assert main(["questionnaires", "-o", str(tmp_path / "folder")]) == 2
    assert capsys.readouterr().err.startswith("iopfhir: error:")


def test_help_lists_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "questionnaires" in capsys.readouterr().out
