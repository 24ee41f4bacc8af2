"""Reading FHIR JSON from files: one resource, a Bundle, or NDJSON (one resource a line),
each also gzip-compressed (``.json.gz``, ``.ndjson.gz``).

Lives here: :func:`read_resources` (yields each resource with a label; raises
:class:`~iopfhir.errors.FhirInputError` for unreadable input) and :func:`validate_file`.

Imports ``iopfhir.errors``, :mod:`iopfhir.loading` (bytes to JSON under limits, the
one rule of every reader; NDJSON streamed from the file), :mod:`iopfhir.fhir.ndjson` (the
keys FHIR paths may name) and sibling modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from iopfhir.errors import FhirInputError, Issue, LoadError
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS
from iopfhir.fhir.xml import load_fhir_data
from iopfhir.loading import data_kind, iter_json_stream, open_data, read_data

from .report import ReportBuilder, ValidationReport
from .validator import Validator

__all__ = ["read_resources", "validate_file"]


def read_resources(path: str | Path) -> Iterator[tuple[str | None, Any]]:
    """Yield ``(label, resource)``: label is None for a JSON file, ``line N`` for NDJSON."""
    p = Path(path)
    if data_kind(p) == "ndjson":
        # line by line from the file: memory follows the longest line, not the file
        try:
            with open_data(p) as handle:
                for n, resource in iter_json_stream(handle, str(p), path_keys=FHIR_PATH_KEYS):
                    yield f"line {n}", resource
        except LoadError as exc:
            raise FhirInputError(exc.detail, path=str(p)) from None
        except FileNotFoundError:
            raise FhirInputError(f"{p}: file not found") from None
        except OSError as exc:
            raise FhirInputError(f"{p}: cannot read ({exc.__class__.__name__})") from None
        return
    try:
        raw = read_data(p)
    except LoadError as exc:
        raise FhirInputError(exc.detail, path=str(p)) from None
    except FileNotFoundError:
        raise FhirInputError(f"{p}: file not found") from None
    except OSError as exc:
        raise FhirInputError(f"{p}: cannot read ({exc.__class__.__name__})") from None
    try:
        data = load_fhir_data(raw, str(p), xml=data_kind(p) == "xml")
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
