"""Issues another validator reported (a server's ``$validate`` OperationOutcome), made fit
for a report.

Lives here: :func:`foreign_issues` (the issues of an OperationOutcome as sent) and
:func:`foreign_issue` (one ``OperationOutcome.issue`` element), and
:func:`fhirpath_location` (a location kept only when it is FHIRPath made of element names).

A server's text is untrusted: servers repeat what they were sent (the value they refused,
a name, an identifier, an unknown property's key, the id in ``Patient/123``). So an issue
keeps its severity and its code (both checked against the R4 value sets), its location only
when it is FHIRPath made of R4 type and element names, indexes and ``ofType(Type)`` (no
quotes, no comments, no values), and its text is replaced by the fixed :data:`SUMMARY`.

Imports only ``iopfhir.errors`` and ``.definitions``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from iopfhir.errors import R4_RESOURCE_TYPES, Issue, Severity

from .definitions import core_element_names

__all__ = ["SUMMARY", "fhirpath_location", "foreign_issue", "foreign_issues"]

#: The message of every foreign issue: where, never what (the server's words may be input).
SUMMARY = "reported by the server"

_SEVERITIES: frozenset[str] = frozenset({"fatal", "error", "warning", "information"})
#: http://hl7.org/fhir/issue-type (R4): an issue's code is kept only when it is one of these
_ISSUE_TYPE_CODES = """
    invalid structure required value invariant security login unknown expired forbidden
    suppressed processing not-supported duplicate multiple-matches not-found deleted
    too-long code-invalid extension too-costly business-rule conflict transient lock-error
    no-store exception timeout incomplete throttled informational"""
_ISSUE_TYPES = frozenset(_ISSUE_TYPE_CODES.split())
#: longer locations are not FHIRPath a validator writes (and would not fit on one line)
_MAX_LOCATION = 300
#: the locations of one issue looked at (a server could send any number)
_MAX_CANDIDATES = 8
_STEP = re.compile(r"([A-Za-z][A-Za-z0-9]*)(?:\[(\d{1,9})\])?")
_OF_TYPE = re.compile(r"ofType\(([A-Za-z][A-Za-z0-9]*)\)")


def foreign_issues(outcome: Any) -> list[Issue]:
    """The issues of an ``OperationOutcome`` as a server sent it (anything else: none)."""
    raw = outcome.get("issue") if isinstance(outcome, Mapping) else None
    if not isinstance(raw, list):
        return []
    return [foreign_issue(element) for element in raw if isinstance(element, Mapping)]


def foreign_issue(element: Mapping[str, Any]) -> Issue:
    """One ``OperationOutcome.issue`` element: severity, code and a FHIRPath location kept,
    the diagnostics and details text replaced by :data:`SUMMARY`."""
    raw_severity = element.get("severity")
    severity: Severity = "error"
    if raw_severity in _SEVERITIES:
        severity = raw_severity
    code = element.get("code")
    path = None
    for key in ("expression", "location"):
        candidates = element.get(key)
        if isinstance(candidates, list):
            # the first that is plain FHIRPath (servers put XPath or "Line 1, Col 2" here too)
            path = next(filter(None, map(fhirpath_location, candidates[:_MAX_CANDIDATES])), None)
            if path is not None:
                break
    return Issue(
        severity=severity,
        code=code if isinstance(code, str) and code in _ISSUE_TYPES else "unknown",
        message=SUMMARY,
        path=path,
    )


def fhirpath_location(text: Any) -> str | None:
    """``text`` when it is FHIRPath made of names the R4 definitions know: a resource or
    data type, then element names with indexes and ``ofType(Type)``; else None."""
    if not isinstance(text, str) or not text or len(text) > _MAX_LOCATION:
        return None
    head, *steps = text.split(".")
    if not _is_type(head):
        return None
    names = core_element_names()
    for step in steps:
        m = _STEP.fullmatch(step)
        if m is not None and m.group(1) in names:
            continue
        t = _OF_TYPE.fullmatch(step)
        if t is not None and _is_type(t.group(1)):
            continue
        return None
    return text


def _is_type(name: str) -> bool:
    """An R4 resource type, or a data type (``Quantity``; ``string`` as ``String``)."""
    return name in R4_RESOURCE_TYPES or name[:1].upper() + name[1:] in _DATA_TYPES


_DATA_TYPE_NAMES = """
    Address Age Annotation Attachment BackboneElement Base64Binary Boolean Canonical Code
    CodeableConcept Coding ContactDetail ContactPoint Contributor Count DataRequirement Date
    DateTime Decimal Distance Dosage Duration Element ElementDefinition Expression Extension
    HumanName Id Identifier Instant Integer Markdown Meta Money MoneyQuantity Narrative Oid
    ParameterDefinition Period PositiveInt Quantity Range Ratio Reference RelatedArtifact
    SampledData Signature SimpleQuantity String Time Timing TriggerDefinition UnsignedInt Uri
    Url UsageContext Uuid Xhtml"""
_DATA_TYPES = frozenset(_DATA_TYPE_NAMES.split())
