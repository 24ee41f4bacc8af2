"""Regenerate src/iopfhir/outcomes/data/view-columns.json: the columns of each IOP view
the outcome measures' SQL reads, as DuckDB plans them (shipped so that a run does not
plan the SQL again; see iopfhir.outcomes.columns)."""

import json
from pathlib import Path

from iopfhir.outcomes.columns import SHIPPED, measure_columns

target = Path(__file__).resolve().parents[1] / "src/iopfhir/outcomes/data" / SHIPPED
target.write_text(json.dumps(measure_columns(), indent=1, sort_keys=True) + "\n", "utf-8")
print(f"wrote {target}")
