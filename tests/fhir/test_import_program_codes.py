"""An EHR's own codes typing its IOP episodes, read on import (``program_codes``,
``iopfhir import|pull --program-code SYSTEM|CODE=TYPE``).

An EpisodeOfCare typed with a code given is of the program type given for it, matched by
system and code together; iopfhir's own program type comes first, then the codes given (the
first given that the episode has), then an IOP billing code, as the outcome measures read
them. iopfhir's coding is written in its place (counted). Both readers, NDJSON and Bundle;
bad codes are errors before anything is read (``pull``: tests/sync/test_pull_program_codes.py).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.fhir.both_readers import FORMS, read_both, unmapped_delta

from iopfhir.cli import main
from iopfhir.domain import load_episodes
from iopfhir.errors import TerminologyError
from iopfhir.fhir.read import read_fhir, read_fhir_stream
from iopfhir.terminology import code_system_url

LOCAL = "urn:oid:2.16.840.1.113883.3.9999.7"
OTHER = "urn:oid:2.16.840.1.113883.3.9999.8"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
OURS = code_system_url("program-type")
CODES = {(LOCAL, "IOP-MH"): "mental-health", (OTHER, "DUAL"): "co-occurring"}
GIVEN = (
    "EpisodeOfCare.type.coding: a program code given read as the program type "
    "(written as iopfhir's)"
)
NOT_THE_TYPE = "EpisodeOfCare.type.coding: not the program type (dropped)"


def _patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "pt", "birthDate": "1980-05-05"}


def _eoc(*codings: tuple[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": "eoc",
        "status": "active",
        "patient": {"reference": "Patient/pt"},
        "period": {"start": "2026-01-10"},
    }
    if codings:
        out["type"] = [{"coding": [{"system": s, "code": c} for s, c in codings]}]
    return out


def _program_type(codings: tuple[tuple[str, str], ...], tmp: Path, form: str) -> str | None:
    result = read_both([_patient(), _eoc(*codings)], tmp, form, program_codes=CODES)
    program = result.episodes[0].program
    return None if program is None else program.type


@FORMS
def test_an_episode_typed_by_a_code_given_is_of_its_program_type(tmp_path: Path, form: str) -> None:
    added, result, _ = unmapped_delta(
        [_patient(), _eoc()],
        [_patient(), _eoc((HCPCS, "T1017"), (LOCAL, "IOP-MH"))],
        tmp_path,
        form,
        program_codes=CODES,
    )
    program = result.episodes[0].program
    assert program is not None and program.type == "mental-health"
    assert added == Counter({GIVEN: 1, NOT_THE_TYPE: 1})
    # without the codes: no program, every type counted as none
    plain = read_both([_patient(), _eoc((LOCAL, "IOP-MH"))], tmp_path / "without", form)
    assert plain.episodes[0].program is None
    assert plain.unmapped["EpisodeOfCare.type: not a program type (dropped)"] == 1


@FORMS
@pytest.mark.parametrize(
    ("codings", "program_type"),
    [
        # iopfhir's own program type comes first
        (((LOCAL, "IOP-MH"), (OURS, "substance-use")), "substance-use"),
        # a code given comes before an IOP billing code (H0015: substance use)
        (((HCPCS, "H0015"), (LOCAL, "IOP-MH")), "mental-health"),
        # two codes given: the first given (IOP-MH) is read, whatever the coding order
        (((OTHER, "DUAL"), (LOCAL, "IOP-MH")), "mental-health"),
        (((OTHER, "DUAL"),), "co-occurring"),
        # the same code in another system is not the code given
        (((OTHER, "IOP-MH"),), None),
    ],
)
def test_which_code_names_the_program(
    tmp_path: Path, form: str, codings: tuple[tuple[str, str], ...], program_type: str | None
) -> None:
    assert _program_type(codings, tmp_path, form) == program_type


def test_bad_codes_are_errors_before_anything_is_read(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps(_patient()) + "\n")
    for codes, says in (
        ({(LOCAL, "X"): "day-program"}, "'day-program' is not a program type"),
        ({(LOCAL, " X"): "mental-health"}, "the code must be non-empty"),
    ):
        with pytest.raises(TerminologyError, match=says):
            read_fhir(source, program_codes=codes)
        with pytest.raises(TerminologyError, match=says):
            next(read_fhir_stream(source, program_codes=codes))


def _exit_code(argv: list[str]) -> int:
    """The command's exit code: returned, or a usage error's (argparse exits)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_the_import_command_takes_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in (_patient(), _eoc((LOCAL, "IOP-MH")))))
    out = tmp_path / "episodes.json"
    given = f"--program-code={LOCAL}|IOP-MH=mental-health"
    assert main(["import", str(source), given, "-o", str(out)]) == 0
    (episode,) = load_episodes(out)
    assert episode.program is not None and episode.program.type == "mental-health"
    capsys.readouterr()
    # a malformed code, an unknown type, a code given as two types: exit 2, nothing read
    for bad, says in (
        (["--program-code", "IOP-MH"], "SYSTEM|CODE=TYPE"),
        (["--program-code", f"{LOCAL}|X=day-program"], "is not a program type"),
        (
            ["--program-code", f"{LOCAL}|X=mental-health", "--program-code",
             f"{LOCAL}|X=substance-use"],
            "--program-code: program code " + LOCAL + "|X is given as two program types",
        ),
    ):  # fmt: skip
        missing = tmp_path / "missing.ndjson"
        assert _exit_code(["import", str(missing), *bad, "-o", str(tmp_path / "x.json")]) == 2
        err = capsys.readouterr().err
        assert says in err, err
        assert "--program-code" in err and "no such file" not in err.lower()
