"""Reading FHIR JSON from files: one resource, a Bundle, or NDJSON (one resource a line).

Lives here: :func:`read_resources` (yields each resource with a label; raises
:class:`~iopfhir.errors.FhirInputError` for unreadable input) and :func:`validate_file`.

Imports ``iopfhir.errors``, :mod:`iopfhir.loading` (bytes to JSON under limits, the
one rule of every reader), :mod:`iopfhir.fhir.ndjson` (the NDJSON line reader, shared
with the FHIR reader) and sibling modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from iopfhir.errors import FhirInputError, Issue, LoadError
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS, parse_ndjson
from iopfhir.loading import load_json

from .report import ReportBuilder, ValidationReport
from .validator import Validator

__all__ = ["read_resources", "validate_file"]


def read_resources(path: str | Path) -> Iterator[tuple[str | None, Any]]:
    """Yield ``(label, resource)``: label is None for a JSON file, ``line N`` for NDJSON."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FhirInputError(f"{p}: file not found") from None
    except OSError as exc:
        raise FhirInputError(f"{p}: cannot read ({exc.__class__.__name__})") from None
    if p.suffix in (".ndjson", ".jsonl"):
        for n, resource in parse_ndjson(raw, str(p)):
            yield f"line {n}", resource
        return
    try:
        data = load_json(raw, str(p), path_keys=FHIR_PATH_KEYS)
    except LoadError as exc:
        raise FhirInputError(str(exc)) from None
    if not isinstance(data, dict) or "resourceType" not in data:
        raise FhirInputError(f"{p}: not a FHIR resource (no resourceType)")
    yield None, data


def validate_file(
    path: str | Path,
    *,
    validator: Validator | None = None,
    profile: str | list[str] | None = None,
) -> ValidationReport:
    """Validate every resource in a JSON or NDJSON file; NDJSON messages name their line.

    ``profile``: canonical url(s) of loaded profiles; each applies to the resources of the
    type it constrains (so one call can cover an NDJSON file of mixed types).
    """
    v = validator if validator is not None else Validator()
    urls = [profile] if isinstance(profile, str) else list(profile or ())
    report = ReportBuilder()  # one pass over all issues: a loop of merges is quadratic
    for label, res in read_resources(path):
        rt = res.get("resourceType") if isinstance(res, dict) else None
        wanted = [u for u in urls if v.definitions.sd_type(u) == rt]
        r = v.validate(res, profile=wanted or None)
        if label is not None:
            r = ValidationReport(tuple(_label(i, label) for i in r.issues), r.skipped_invariants)
        report.add(r)
    return report.build()


def _label(issue: Issue, label: str) -> Issue:
    return replace(issue, message=f"{issue.message} ({label})")
