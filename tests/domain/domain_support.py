"""Helpers of the domain tests: the mental-health example as raw episode-file data, and
the error of a broken copy (checked to repeat no patient data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from iopfhir.domain import parse_episodes
from iopfhir.errors import EpisodeInputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mental-health-iop.yaml"

#: patient data of the example that no message may repeat
PATIENT_DATA = ["Rivera", "Dana", "MRN-448812", "+1-555-0142", "1991-07-14", "Carmen", "Nguyen"]


def example_data() -> dict[str, Any]:
    """The mental-health example as parsed YAML, dates kept as strings."""
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    # keep dates as strings, as the loader does
    return _strings(loaded)


def _strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def error_of(data: dict[str, Any]) -> EpisodeInputError:
    with pytest.raises(EpisodeInputError) as info:
        parse_episodes(data, source="episode.yaml")
    error = info.value
    text = f"{error} {error.message if hasattr(error, 'message') else ''}"
    for issue in getattr(error, "issues", []):
        text += f" {issue.message}"
    for secret in PATIENT_DATA:
        assert secret not in text, f"message repeats patient data: {secret}"
    return error
