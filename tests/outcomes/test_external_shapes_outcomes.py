"""The measures over shapes other systems' R4 data takes: a resource given twice, a score
too large to sum.

* NDJSON exports that overlap (an incremental export beside a full one, both holding the
  Patient) give the same Patient, or referral ServiceRequest, more than once: each copy
  must not count the patient's episodes or stays again (the reference keeps one per key).
* R4's decimal has no upper bound: a total of ``1e29`` (or one that reads as infinite) is
  valid FHIR no instrument gives; it is an error naming the measure and the elements, never
  the engine's message or the value.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.outcomes import reference
from tests.outcomes.cohort import cohort

from iopfhir.cli import main
from iopfhir.errors import InputError
from iopfhir.outcomes import OutcomesError, compute
from iopfhir.outcomes.reports import summary_rows
from iopfhir.views import Source

PHQ9 = {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]}


def _figures(resources: list[dict[str, Any]], engine: Any) -> Any:
    with Source.from_resources(resources) as source:
        return summary_rows(compute(source, engine))


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_patient_or_referral_given_twice_counts_once(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(f"{engine_name}_engine")
    once = cohort()
    again = [copy.deepcopy(r) for r in once if r["resourceType"] in ("Patient", "ServiceRequest")]
    assert {r["resourceType"] for r in again} == {"Patient", "ServiceRequest"}
    twice = once + again
    want = _figures(once, engine)
    assert _figures(twice, engine) == want
    # and the reference (a Patient is one entry of its map) agrees
    ref = reference.compute(twice)
    with Source.from_resources(twice) as source:
        outcomes = compute(source, engine)
    for mid in ("iop-completion", "iop-phq9-change", "iop-readmission-30"):
        assert outcomes.summary(mid).overall.score == ref[mid]["score"], mid
        strata = outcomes.summary(mid).strata
        assert (
            sum(s.populations["initial-population"] for s in strata["sex"].values())
            == (outcomes.summary(mid).overall.populations["initial-population"])
        )


def _patient_and_episode() -> list[dict[str, Any]]:
    """A patient and one IOP episode of theirs (2025-03-03 to 2025-04-11)."""
    return [
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980"},
        {
            "resourceType": "EpisodeOfCare",
            "id": "e1",
            "status": "finished",
            "patient": {"reference": "Patient/p1"},
            "period": {"start": "2025-03-03", "end": "2025-04-11"},
        },
    ]


def _cohort_with(value: bytes, tmp_path: Path) -> Path:
    """One IOP episode with a PHQ-9 baseline of 12 and a last total written as ``value``."""
    lines = [
        *_patient_and_episode(),
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": PHQ9,
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2025-03-03T10:00:00-05:00",
            "valueInteger": 12,
        },
    ]
    text = b"\n".join(orjson.dumps(x) for x in lines) + b"\n"
    text += (
        b'{"resourceType":"Observation","id":"o2","status":"final","code":'
        + orjson.dumps(PHQ9)
        + b',"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2025-04-10",'
        b'"valueQuantity":{"value":' + value + b"}}\n"
    )
    (tmp_path / "export.ndjson").write_bytes(text)
    return tmp_path


@pytest.mark.parametrize("value", [b"4", b"1e29", b"-1.5E+35", b"1e400"])
def test_a_score_too_large_to_sum_is_named(
    value: bytes, tmp_path: Path, duckdb_engine: Any
) -> None:
    folder = _cohort_with(value, tmp_path)
    with Source.from_path(folder) as source:
        if value == b"4":  # the same cohort with a score: figures as usual
            outcomes = compute(source, duckdb_engine)
            assert outcomes.summary("iop-phq9-change").overall.score == -8.0
            return
        with pytest.raises(OutcomesError) as caught:
            compute(source, duckdb_engine)
    assert isinstance(caught.value, InputError)  # bad input: exit 2
    message = str(caught.value)
    assert message.startswith("measure iop-phq9-"), message
    assert "Observation.valueQuantity.value" in message
    assert "DECIMAL" not in message and "Conversion" not in message
    assert "e29" not in message and "e+29" not in message and "inf" not in message.lower()


def test_spark_names_it_too(tmp_path: Path, spark_engine: Any) -> None:
    # Spark's cast gives NULL where DuckDB's fails: the score would drop out of the mean
    folder = _cohort_with(b"1e29", tmp_path)
    with Source.from_path(folder) as source, pytest.raises(OutcomesError, match="iop-phq9-"):
        compute(source, spark_engine)


def test_the_cli_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _cohort_with(b"-1.5E+35", tmp_path)
    assert main(["outcomes", str(folder), "--format", "csv"]) == 2
    err = capsys.readouterr().err
    assert "Observation.valueQuantity.value" in err and "E+35" not in err


def _with_text_scores(first: str, last: str) -> list[dict[str, Any]]:
    """One IOP episode whose PHQ-9 totals are given as text (``valueString``, as US Core's
    own PHQ-9 example gives one), a day apart from its ends."""
    total = {"resourceType": "Observation", "status": "final", "code": PHQ9}
    return [
        *_patient_and_episode(),
        {**total, "id": "o1", "subject": {"reference": "Patient/p1"},
         "effectiveDateTime": "2025-03-03", "valueString": first},
        {**total, "id": "o2", "subject": {"reference": "Patient/p1"},
         "effectiveDateTime": "2025-04-10", "valueString": last},
    ]  # fmt: skip


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
@pytest.mark.parametrize(
    ("first", "last", "change"),
    [("12", "4", -8.0), ("+12", "4.0", -8.0), ("12", "four", None), ("12", " 4", None)],
)
def test_a_score_given_as_text(
    first: str, last: str, change: float | None, engine_name: str, request: pytest.FixtureRequest
) -> None:
    """A total given as a decimal string is the score (FHIRPath ``toDecimal()``); text
    that is no number (``four``, or with blanks) gives none, so the episode has no last
    score to change from."""
    engine = request.getfixturevalue(f"{engine_name}_engine")
    resources = _with_text_scores(first, last)
    with Source.from_resources(resources) as source:
        outcomes = compute(source, engine)
    phq9 = outcomes.summary("iop-phq9-change").overall
    assert phq9.score == change
    baseline = outcomes.summary("iop-phq9-baseline").overall
    assert baseline.populations["initial-population"] == 1
    assert reference.compute(resources)["iop-phq9-change"]["score"] == change
