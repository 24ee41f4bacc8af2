"""What the outcome tests compare: each subject's figures per measure from an engine, and
the plain-Python reference's figures, both over a folder of NDJSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from tests.outcomes.reference import compute as reference

from iopfhir.outcomes import compute
from iopfhir.views import Source


def subject_figures(folder: Path, engine: Any) -> dict[str, list[str]]:
    """Measure id -> each subject's result (its repr), sorted: what two sources that mean
    the same must give alike."""
    with Source.from_path(folder) as src:
        outcomes = compute(src, engine)
    return {mid: sorted(repr(row) for row in rows) for mid, rows in outcomes.subjects.items()}


def reference_figures(folder: Path) -> dict[str, Any]:
    """The plain-Python reference over every NDJSON file of ``folder``."""
    files = sorted(folder.glob("*.ndjson"))
    return reference(orjson.loads(x) for p in files for x in p.read_bytes().splitlines())
