"""Only IOP episodes are measured: an EpisodeOfCare typed only with other programs' codes
(Synthea writes a ``hacc`` home-and-community-care episode for many visits) is none, and
neither its scores nor its discharge count; one of an iopfhir program type, with the
program's extension, or with no type at all is, and so is one typed by an IOP billing code
(HCPCS per diem S9480 / H0015, NUBC revenue code 0905 / 0906: how an EHR or a payer types
it), of the program type that code names. The episodes left out as of other programs are
counted (``Outcomes.other_programs``, the CLI's note, the report's header). DuckDB, Spark
and the plain loop agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.outcomes import reference
from tests.outcomes.cohort import _episode, responders, write_ndjson

from iopfhir.cli import main
from iopfhir.outcomes import compute
from iopfhir.views import Source

HACC = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/episodeofcare-type",
            "code": "hacc",
            "display": "Home and Community Care",
        }
    ]
}
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NUBC = "https://www.nubc.org/CodeSystem/RevenueCodes"


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def _typed(episode: dict[str, Any], *types: dict[str, Any]) -> dict[str, Any]:
    out = {**episode, "type": list(types)}
    if not types:
        del out["type"]
    return out


def cohort() -> list[dict[str, Any]]:
    r = responders("ABCDEFG")
    dates = ("2025-03-02", "2025-04-25", "completed", None)
    iop = _episode("EA", "A", "mh-iop", *dates, False)
    hacc = _episode("EB", "B", "mh-iop", *dates, False)
    untyped = _episode("EC", "C", "mh-iop", *dates, False)
    # typed otherwise, but the program's extension says it is one of iopfhir's programs
    named = _episode("ED", "D", "mh-iop", *dates, True)
    billed = [_episode(f"E{p}", p, "x", *dates, False) for p in "EFG"]
    r += [
        _typed(iop, *iop["type"], HACC),  # a program type beside another type: IOP
        _typed(hacc, HACC),
        _typed(untyped),
        _typed(named, HACC),
        # typed by billing codes: HCPCS H0015 (substance use IOP per diem); hacc beside a
        # concept of hacc and NUBC 0905 (psychiatric IOP revenue code); a HCPCS code of no
        # IOP (T1017, case management): another program
        _typed(billed[0], {"coding": [_coding(HCPCS, "H0015")]}),
        _typed(billed[1], HACC, {"coding": [HACC["coding"][0], _coding(NUBC, "0905")]}),
        _typed(billed[2], {"coding": [_coding(HCPCS, "T1017")]}),
    ]
    return r


EXPECTED = {f"EpisodeOfCare/E{p}" for p in "ACDEF"}


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_only_iop_episodes_are_measured(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue(engine_name)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    for measure_id in ("iop-completion", "iop-phq9-baseline", "iop-phq9-response"):
        subjects = {row.subject_key for row in outcomes.subjects[measure_id]}
        assert subjects == EXPECTED, (engine_name, measure_id)
        assert outcomes.summary(measure_id).overall.populations["initial-population"] == 5
    assert outcomes.summary("iop-phq9-response").overall.score == 1.0
    # the billed episodes are of the program types their codes name
    by_type = outcomes.summary("iop-completion").strata["program_type"]
    assert by_type["substance-use"].populations["initial-population"] == 1
    assert by_type["mental-health"].populations["initial-population"] == 1
    # the hacc episode and the one of a case-management code: other programs, left out
    assert outcomes.other_programs == 2


def test_the_plain_loop_agrees() -> None:
    ref = reference.compute(cohort())
    assert ref["iop-completion"]["populations"]["initial-population"] == 5
    assert ref["iop-phq9-response"]["populations"]["numerator"] == 5
    # the hacc episode's patient has a PHQ-9 in its window: not a baseline of an IOP episode
    assert ref["iop-phq9-baseline"]["populations"]["initial-population"] == 5
    by_type = ref["iop-completion"]["strata"]["program_type"]
    assert by_type["substance-use"]["populations"]["initial-population"] == 1
    assert by_type["mental-health"]["populations"]["initial-population"] == 1


def test_the_cli_and_the_report_say_what_was_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_ndjson(tmp_path / "nd", cohort())
    out = tmp_path / "out.json"
    assert main(["outcomes", str(folder), "--format", "json", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: 2 EpisodeOfCare resource(s) typed only as other programs were left out" in err
    page = tmp_path / "report.html"
    assert main(["report", str(folder), "-o", str(page)]) == 0
    assert "2 episodes of other programs left out" in page.read_text()
