"""The IOP ViewDefinitions shipped as package data (``iopfhir/views/data/*.json``).

Plain SQL-on-FHIR v2 JSON, usable by any other implementation: ``iop-patient``,
``iop-encounter`` (sessions and inpatient stays), ``iop-observation-score`` (instrument
totals), ``iop-questionnaire-answer`` (QuestionnaireResponse items),
``iop-questionnaire-item`` (the codes of a Questionnaire's items), ``iop-episode-of-care``,
``iop-careplan``, ``iop-goal`` and the others the outcome measures read (``docs/views.md``
lists them all). Keys are ``getResourceKey()`` / ``getReferenceKey()`` values, so the views
join on ``*_key``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from iopfhir.views.errors import ViewError
from iopfhir.views.model import View, parse_view

__all__ = ["iop_view", "iop_view_json", "iop_view_names"]


def _data() -> Any:
    return resources.files("iopfhir.views") / "data"


def iop_view_names() -> list[str]:
    """The names of the shipped views (``iop-patient``...)."""
    return sorted(p.name[:-5] for p in _data().iterdir() if p.name.endswith(".json"))


def iop_view_json(name: str) -> dict[str, Any]:
    """The ViewDefinition JSON of shipped view ``name``."""
    if name not in iop_view_names():
        raise ViewError(f"no shipped view {name!r} (known: {', '.join(iop_view_names())})")
    value = orjson.loads((_data() / f"{name}.json").read_bytes())
    assert isinstance(value, dict)
    return value


def iop_view(name: str) -> View:
    """The shipped view ``name``, parsed."""
    return parse_view(iop_view_json(name))
