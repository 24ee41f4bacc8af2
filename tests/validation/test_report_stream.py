"""Linear report merging and the streaming ``iopfhir validate``.

``ReportBuilder`` gives what a loop of ``merge`` gives (same issues, same order, same
skipped invariants) in one pass; ``validate_file`` does not merge in a loop. The CLI prints
text issues as they are found and writes JSON a file at a time, byte-identical to the
document the whole reports give.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import validate as cli_validate
from iopfhir.errors import Issue
from iopfhir.validation import ValidationReport, validate_file
from iopfhir.validation.report import ReportBuilder

SEVERITIES = ("information", "warning", "error", "fatal", "other")


def _issue(rng: random.Random) -> Issue:
    return Issue(
        severity=rng.choice(SEVERITIES),  # type: ignore[arg-type]
        code=rng.choice(("value", "structure")),
        message=f"m{rng.randrange(30)}",
        path=rng.choice((None, "Patient.x", "Patient.y")),
    )


def test_builder_equals_a_loop_of_merges() -> None:
    rng = random.Random(4)
    for _ in range(50):
        reports = [
            ValidationReport.from_issues(
                [_issue(rng) for _ in range(rng.randrange(6))],
                skipped_invariants={f"k{rng.randrange(4)}": f"r{rng.randrange(9)}"},
            )
            for _ in range(rng.randrange(8))
        ]
        merged = ValidationReport()
        builder = ReportBuilder()
        for report in reports:
            merged = merged.merge(report)
            builder.add(report)
        built = builder.build()
        assert built == merged
        assert (
            built.issues
            == ValidationReport.from_issues([i for r in reports for i in r.issues]).issues
        )


def test_builder_returns_only_new_issues() -> None:
    a = Issue("error", "value", "a")
    builder = ReportBuilder()
    assert builder.add_issues([a, a]) == [a]
    assert builder.add_issues([a]) == []


def test_validate_file_does_not_merge_in_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps({"resourceType": "Patient", "gender": f"g{n}"}) for n in range(40)]
    path = tmp_path / "p.ndjson"
    path.write_text("\n".join(lines) + "\n")
    expected = validate_file(path)

    def refuse(self: ValidationReport, other: ValidationReport) -> ValidationReport:
        raise AssertionError("merge called in a loop")

    monkeypatch.setattr(ValidationReport, "merge", refuse)
    assert validate_file(path) == expected
    assert len(expected.errors) == 40


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="iopfhir")
    cli_validate.register(parser.add_subparsers())
    return parser.parse_args(["validate", *argv])


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_validate.run(_args(*argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _expected_json(paths: list[Path]) -> str:
    """The document the whole reports give (what ``validate --format json`` wrote before
    it streamed)."""
    outcomes: list[Any] = []
    for path in paths:
        try:
            report = validate_file(path)
        except Exception:  # unreadable: left out, as the CLI does
            continue
        outcomes.append(report.to_operation_outcome())
    payload = outcomes[0] if len(paths) == 1 and len(outcomes) == 1 else outcomes
    return json.dumps(payload, indent=2) + "\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"resourceType": "Patient", "birthDate": "1990-13-45", "gender": "x", "foo": 1})
    )
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"resourceType": "Patient", "id": "ok"}))
    nd = tmp_path / "many.ndjson"
    nd.write_text(
        "\n".join(
            json.dumps({"resourceType": "Observation", "status": s})
            for s in ("final", "bogus", "amended", "nope")
        )
        + "\n\n"
        + json.dumps({"resourceType": "Patient", "gender": "q\u00e9\n"})
        + "\n"
    )
    broken = tmp_path / "broken.ndjson"
    broken.write_text(json.dumps({"resourceType": "Patient"}) + "\nnot json\n")
    return {"bad": bad, "good": good, "nd": nd, "broken": broken}


@pytest.mark.parametrize(
    "names",
    [["bad"], ["good"], ["nd"], ["broken"], ["bad", "good", "nd"], ["broken", "good"], []],
)
def test_json_is_byte_identical_to_the_whole_report(
    files: dict[str, Path], names: list[str]
) -> None:
    paths = [files[n] for n in names] or [files["broken"], files["broken"]]
    code, out, _err = _run(*map(str, paths), "--format", "json")
    assert out == _expected_json(paths)
    assert code in (0, 1, 2)


def test_text_issues_are_printed_as_found(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = io.StringIO(), io.StringIO()
    seen_before_second: list[str] = []
    real = cli_validate.read_resources

    def spy(path: str) -> Iterator[tuple[str | None, Any]]:
        for n, item in enumerate(real(path)):
            if n == 1:  # the first resource's issues are out before the second is read
                seen_before_second.append(out.getvalue())
            yield item

    monkeypatch.setattr(cli_validate, "read_resources", spy)
    code = cli_validate.run(_args(str(files["nd"]), str(files["good"])), out=out, err=err)
    assert code == 1
    assert "(line 1)" in seen_before_second[0]
    assert "(line 2)" not in seen_before_second[0]
    text = out.getvalue().splitlines()
    status = [i for i, line in enumerate(text) if line.startswith(str(files["nd"]))]
    assert len(status) == 1
    assert "FAILED" in text[status[0]]
    issues = [line for line in text[: status[0]] if line.startswith("  ")]
    assert any("line 2" in line for line in issues)
    assert any("line 4" in line for line in issues)
    assert text[-1].startswith(f"{files['good']}: OK")


def test_text_reports_an_unreadable_file_and_goes_on(files: dict[str, Path]) -> None:
    code, out, err = _run(str(files["broken"]), str(files["bad"]))
    assert code == 2
    assert "line 2" in err
    assert f"{files['bad']}: FAILED" in out
