"""The measures read what R4 allows, not only the shapes iopfhir writes.

Another system sends the same care in other R4 shapes: an instrument total as
``valueInteger`` rather than ``valueQuantity``, its date as ``effectiveInstant`` or
``effectivePeriod``, a RiskAssessment's as ``occurrencePeriod``, an inpatient stay as
Encounter class ``ACUTE`` or ``NONAC`` (the specialisations of ``IMP`` in v3
ActInpatientEncounterCode); and it may send a bound (``valueQuantity`` with a
``comparator``), which is no score. A synthetic cohort is rewritten into those shapes,
resource by resource, with such bounds added; every measure must give the figures of the
original, on DuckDB, on Spark, and in the plain-Python reference.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.engines import synth_ndjson
from tests.outcomes.figures import reference_figures, subject_figures


def _reshape(r: dict[str, Any], n: int, seen: Counter[str]) -> dict[str, Any]:
    """``r`` in another R4 shape meaning the same (``n``: its place, to vary the shapes)."""
    rt = r.get("resourceType")
    if rt == "Observation":
        value = r.get("valueQuantity", {}).get("value")
        if isinstance(value, (int, float)) and value == int(value) and n % 2 == 0:
            r.pop("valueQuantity")
            r["valueInteger"] = int(value)
            seen["valueInteger"] += 1
        when = r.get("effectiveDateTime")
        if isinstance(when, str) and len(when) > 10:
            r.pop("effectiveDateTime")
            if n % 3 == 0:  # an instant: the same time, seconds and offset present
                r["effectiveInstant"] = when
                seen["effectiveInstant"] += 1
            else:
                r["effectivePeriod"] = {"start": when, "end": when}
                seen["effectivePeriod"] += 1
    elif rt == "RiskAssessment" and "occurrenceDateTime" in r:
        r["occurrencePeriod"] = {"start": r.pop("occurrenceDateTime")}
        seen["occurrencePeriod"] += 1
    elif rt == "Encounter" and (r.get("class") or {}).get("code") == "IMP":
        r["class"] = {**r["class"], "code": "NONAC" if n % 2 else "ACUTE"}
        seen[r["class"]["code"]] += 1
    return r


def _bounds(lines: list[bytes], seen: Counter[str]) -> list[bytes]:
    """A copy of each PHQ-9 total whose value is a bound (``< 1``): no score, so nothing
    changes (counted, it would be the last score of its day: its id sorts after)."""
    out = []
    for line in lines:
        r = orjson.loads(line)
        codes = [c.get("code") for c in r.get("code", {}).get("coding", [])]
        if "44261-6" in codes and "valueQuantity" in r:
            r["id"] = "zz" + r["id"]
            r["valueQuantity"] = {"value": 0, "comparator": "<"}
            out.append(orjson.dumps(r))
            seen["comparator"] += 1
    return out


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Counter[str]]:
    root = tmp_path_factory.mktemp("shapes")
    ours = synth_ndjson(root, patients=40, seed=11)
    theirs = root / "theirs"
    theirs.mkdir()
    seen: Counter[str] = Counter()
    for path in sorted(ours.glob("*.ndjson")):
        lines = path.read_bytes().splitlines()
        out = [orjson.dumps(_reshape(orjson.loads(x), n, seen)) for n, x in enumerate(lines)]
        if path.stem == "Observation":
            out += _bounds(lines, seen)
        (theirs / path.name).write_bytes(b"\n".join(out) + b"\n")
    return ours, theirs, seen


def test_the_cohort_holds_every_shape(layouts: tuple[Path, Path, Counter[str]]) -> None:
    *_, seen = layouts
    for shape in ("valueInteger", "effectiveInstant", "effectivePeriod", "occurrencePeriod",
                  "comparator"):  # fmt: skip
        assert seen[shape] > 10, shape
    assert seen["ACUTE"] + seen["NONAC"] > 0 and seen["NONAC"] > 0


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_other_r4_shapes_give_the_samesubject_figures(
    layouts: tuple[Path, Path, Counter[str]], engine_name: str, request: pytest.FixtureRequest
) -> None:
    ours, theirs, _ = layouts
    engine = request.getfixturevalue(f"{engine_name}_engine")
    want = subject_figures(ours, engine)
    # the measures the reshaped elements feed have subjects with figures to compare
    for mid in (
        "iop-phq9-change",
        "iop-readmission-30",
        "iop-safety-positive",
        "iop-inpatient-readmission-30",
    ):
        assert want.get(mid), mid
    assert subject_figures(theirs, engine) == want


def test_the_reference_reads_them_alike(layouts: tuple[Path, Path, Counter[str]]) -> None:
    ours, theirs, _ = layouts
    want = reference_figures(ours)
    assert want["iop-phq9-change"]["populations"]
    assert reference_figures(theirs) == want
