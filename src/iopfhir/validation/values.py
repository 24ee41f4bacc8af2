"""Small pure helpers on JSON values, shared by the checks.

Lives here: equality of primitive values (:func:`prim_equal`), fixed/pattern matching
(:func:`matches`), the short renderings used in messages (:func:`describe`,
:func:`json_kind`, :func:`json_expect`), and the path fhirpathpy should see for a node
(:func:`model_path`).

Imports ``.model`` and :func:`iopfhir.loading.json_values.json_kind` (re-exported).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from iopfhir.loading.json_values import json_kind

from .model import ElementNode

__all__ = [
    "cap",
    "describe",
    "json_expect",
    "json_kind",
    "matches",
    "model_path",
    "prim_equal",
]


def model_path(node: ElementNode, type_code: str) -> str:
    """Where fhirpathpy should think an element is: its data type, or its definition path
    for backbone elements (so choice elements inside are typed correctly)."""
    if type_code in ("BackboneElement", "Element") or not type_code:
        return node.path
    return type_code


def cap(t: str) -> str:
    return t[:1].upper() + t[1:]


def json_expect(t: str) -> str:
    if t == "boolean":
        return "JSON boolean"
    if t in ("integer", "positiveInt", "unsignedInt", "decimal"):
        return "JSON number"
    return "JSON string"


def prim_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def matches(value: Any, pattern: Any, *, exact: bool) -> bool:
    """Pattern semantics: every property of ``pattern`` is found in ``value``."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for k, pv in pattern.items():
            if k not in value:
                return False
            if not matches(value[k], pv, exact=exact):
                return False
        if exact:
            extra = set(value) - set(pattern) - {"extension", "id"}
            if extra:
                return False
        return True
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        if exact and len(value) != len(pattern):
            return False
        return all(any(matches(v, p, exact=exact) for v in value) for p in pattern)
    return prim_equal(value, pattern)


def describe(v: Any, type_code: str | None = None) -> str:
    """A short rendering of a fixed/pattern value: codes and urls only."""
    if isinstance(v, dict):
        codings: list[Any] = (
            v["coding"]
            if isinstance(v.get("coding"), list)
            else ([v] if "code" in v or "system" in v else [])
        )
        parts = [
            f"{c.get('system', '')}#{c.get('code', '')}" for c in codings if isinstance(c, dict)
        ]
        if parts:
            return ", ".join(parts)
        return "complex value"
    if type_code in ("code", "uri", "url", "canonical", "boolean", "id", "oid", "uuid") or (
        isinstance(v, (bool, int, float))
    ):
        return repr(v)
    return "the profile's value"
