"""Regenerate src/iopfhir/domain/episode.schema.json from the domain models."""

import json
from pathlib import Path

from iopfhir.domain.files import generate_json_schema

target = Path(__file__).resolve().parents[1] / "src/iopfhir/domain/episode.schema.json"
target.write_text(json.dumps(generate_json_schema(), indent=1, sort_keys=True) + "\n", "utf-8")
print(f"wrote {target}")
