"""An EHR's own codes for its IOP programs (``program_codes``, ``--program-code``): an
EpisodeOfCare typed with a local code given is an IOP episode of the program type given for
it, matched by system and code together; iopfhir's own program type comes first, then the
local codes (the first given that the episode has), then an IOP billing code. Without the
codes, the same episodes are left out as of other programs. DuckDB, Spark and the plain
loop agree; bad codes are errors that name the option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.outcomes import reference
from tests.outcomes.cohort import _episode, responders, write_ndjson

from iopfhir.cli import main
from iopfhir.errors import TerminologyError
from iopfhir.outcomes import compute
from iopfhir.outcomes.programs import episode_view
from iopfhir.terminology import check_program_codes, parse_program_code
from iopfhir.views import Source

LOCAL = "urn:oid:2.16.840.1.113883.3.9999.7"
OTHER = "urn:oid:2.16.840.1.113883.3.9999.8"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
OURS = "https://iopfhir.org/fhir/CodeSystem/program-type"
QUOTED = "IOP 'SU'\\2"  # a quote and a backslash: written into FHIRPath as a literal

CODES = {
    (LOCAL, "IOP-MH"): "mental-health",
    (LOCAL, QUOTED): "substance-use",
    (OTHER, "DUAL"): "co-occurring",
}


def _typed(eid: str, pid: str, *codings: tuple[str, str]) -> dict[str, Any]:
    episode = _episode(eid, pid, "x", "2025-03-02", "2025-04-25", "completed", None, False)
    episode["type"] = [{"coding": [{"system": s, "code": c} for s, c in codings]}]
    return episode


def cohort() -> list[dict[str, Any]]:
    r = responders("ABCDEFGH")
    r += [
        _typed("EA", "A", (LOCAL, "IOP-MH")),
        _typed("EB", "B", (LOCAL, QUOTED)),
        _typed("EC", "C", (OTHER, "DUAL")),
        # the same code in another system: not the code given
        _typed("ED", "D", (OTHER, "IOP-MH")),
        # iopfhir's own program type comes first
        _typed("EE", "E", (LOCAL, "IOP-MH"), (OURS, "substance-use")),
        # a local code given comes before an IOP billing code (H0015: substance use)
        _typed("EF", "F", (HCPCS, "H0015"), (LOCAL, "IOP-MH")),
        # two local codes: the first given (IOP-MH) is read, whatever the coding order
        _typed("EG", "G", (OTHER, "DUAL"), (LOCAL, "IOP-MH")),
        # a local code not given: another program
        _typed("EH", "H", (LOCAL, "IOP-DAY")),
    ]
    return r


TYPES = {
    "EpisodeOfCare/EA": "mental-health",
    "EpisodeOfCare/EB": "substance-use",
    "EpisodeOfCare/EC": "co-occurring",
    "EpisodeOfCare/EE": "substance-use",
    "EpisodeOfCare/EF": "mental-health",
    "EpisodeOfCare/EG": "mental-health",
}


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_local_codes_read_as_program_types(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine, program_codes=CODES)
        without = compute(source, engine)
    subjects = outcomes.subjects["iop-completion"]
    assert {row.subject_key: row.strata["program_type"] for row in subjects} == TYPES
    assert outcomes.other_programs == 2  # ED (another system's code) and EH
    assert outcomes.program_codes == CODES
    by_type = outcomes.summary("iop-phq9-response").strata["program_type"]
    assert {k: v.populations["numerator"] for k, v in by_type.items()} == {
        "co-occurring": 1,
        "mental-health": 3,
        "substance-use": 2,
    }
    # without the codes: only the episodes of iopfhir's type and of the billing code
    kept = {row.subject_key for row in without.subjects["iop-completion"]}
    assert kept == {"EpisodeOfCare/EE", "EpisodeOfCare/EF"}
    assert without.other_programs == 6
    assert {
        r.subject_key: r.strata["program_type"] for r in without.subjects["iop-completion"]
    } == {"EpisodeOfCare/EE": "substance-use", "EpisodeOfCare/EF": "substance-use"}


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = reference.compute(cohort(), CODES)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, duckdb_engine, program_codes=CODES)
    for measure_id in ("iop-completion", "iop-phq9-response", "iop-phq9-baseline"):
        summary = outcomes.summary(measure_id)
        assert summary.overall.populations == ref[measure_id]["populations"], measure_id
        strata = {
            k: {c: n for c, n in v.populations.items() if n}
            for k, v in summary.strata["program_type"].items()
        }
        want = {k: v["populations"] for k, v in ref[measure_id]["strata"]["program_type"].items()}
        assert strata == want, measure_id
    assert ref["iop-completion"]["populations"]["initial-population"] == len(TYPES)


def test_the_episode_view_is_the_shipped_one_with_the_codes() -> None:
    view = episode_view(CODES)
    column = next(c for c in view.root.all_columns() if c.name == "program_type")
    assert column.path.startswith("(type.coding.where(system = %program_type).code.first() | ")
    assert "'IOP \\'SU\\'\\\\2'" in column.path  # FHIRPath string escapes
    plain = episode_view({})
    assert [c.name for c in plain.root.all_columns()] == [c.name for c in view.root.all_columns()]


def test_parse_program_code() -> None:
    assert parse_program_code("urn:oid:1.2|IOP-MH=mental-health") == (
        ("urn:oid:1.2", "IOP-MH"),
        "mental-health",
    )
    # a code may hold '=' and '|': the type follows the last '=', the code the first '|'
    assert parse_program_code("http://x|a=b|c=substance-use") == (
        ("http://x", "a=b|c"),
        "substance-use",
    )
    for bad in ("IOP-MH=mental-health", "urn:x|=mental-health", "|c=mental-health",
                "urn:x|c", "urn:x|c="):  # fmt: skip
        with pytest.raises(TerminologyError, match=r"SYSTEM\|CODE=TYPE"):
            parse_program_code(bad)


def test_check_program_codes_names_the_code() -> None:
    with pytest.raises(TerminologyError, match=r"urn:x\|c: 'day-program' is not a program type"):
        check_program_codes({("urn:x", "c"): "day-program"})
    with pytest.raises(TerminologyError, match="given as two program types"):
        check_program_codes([(("urn:x", "c"), "mental-health"), (("urn:x", "c"), "substance-use")])
    with pytest.raises(TerminologyError, match="the system must be non-empty"):
        check_program_codes({(" urn:x", "c"): "mental-health"})
    with pytest.raises(TerminologyError, match="the code must be non-empty"):
        check_program_codes({("urn:x", ""): "mental-health"})


def test_the_cli_takes_program_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_ndjson(tmp_path / "nd", cohort())
    options = [f"--program-code={s}|{c}={t}" for (s, c), t in CODES.items()]
    out = tmp_path / "out.json"
    assert main(["outcomes", str(folder), *options, "--format", "json", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: 2 EpisodeOfCare resource(s) typed only as other programs" in err
    rows = json.loads(out.read_text())["rows"]
    completion = [
        r for r in rows if r["measure"] == "iop-completion" and r["stratifier"] == "program_type"
    ]
    assert {r["stratum"]: r["initial_population"] for r in completion} == {
        "co-occurring": 1,
        "mental-health": 3,
        "substance-use": 2,
    }
    # without them, the note says how to give them
    assert main(["outcomes", str(folder), "--format", "json", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: 6 EpisodeOfCare resource(s)" in err and "--program-code" in err
    page = tmp_path / "report.html"
    assert main(["report", str(folder), *options, "-o", str(page)]) == 0
    assert "2 episodes of other programs left out" in page.read_text()


def test_the_cli_names_a_bad_program_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_ndjson(tmp_path / "nd", cohort())
    for command in ("outcomes", "report"):
        for bad, says in (
            ("IOP-MH", "SYSTEM|CODE=TYPE"),
            (f"{LOCAL}|IOP-MH=day-program", "'day-program' is not a program type"),
        ):
            assert _exit_code([command, str(folder), "--program-code", bad]) == 2
            err = capsys.readouterr().err
            assert "--program-code" in err and says in err, (command, err)
        # one code given as two types: found when the codes are read together
        twice = [f"--program-code={LOCAL}|X={t}" for t in ("mental-health", "substance-use")]
        assert _exit_code([command, str(folder), *twice]) == 2
        assert "--program-code: program code" in capsys.readouterr().err


def _exit_code(argv: list[str]) -> int:
    """The command's exit code: returned, or a usage error's (argparse exits)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
