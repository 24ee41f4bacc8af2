"""Discriminator paths: parsing them and reading the values they select in an instance.

Lives here: :func:`disc_steps` (a discriminator path as steps, or None for expressions not
supported), :func:`values_at` (the values the steps select), :func:`actual_choice_type` (the
type of a choice element as written in the JSON) and :func:`codes_of` ((system, code) pairs of
a code, Coding or CodeableConcept). Pure functions on JSON values; slicing uses them.

Imports nothing from iopfhir.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["actual_choice_type", "codes_of", "disc_steps", "values_at"]


def disc_steps(path: str) -> list[str] | None:
    """A discriminator path as steps; None for expressions we do not support."""
    steps: list[str] = []
    rest = path.strip()
    while rest:
        m = re.match(r"(\$this|resolve\(\)|[A-Za-z][A-Za-z0-9_]*)(\((['\"])(.*?)\3\))?", rest)
        if m is None:
            m2 = re.match(r"ofType\(([A-Za-z]+)\)", rest)
            if m2 is None:
                return None
            steps.append("ofType:" + m2.group(1))
            rest = rest[m2.end() :]
        else:
            name = m.group(1)
            if m.group(2) is not None:
                if name == "extension":
                    steps.append("extension:" + m.group(4))
                else:
                    return None
            elif name == "ofType":
                return None
            else:
                steps.append(name)
            rest = rest[m.end() :]
        if rest.startswith("."):
            rest = rest[1:]
        elif rest:
            return None
    return steps


def values_at(value: Any, steps: Sequence[str]) -> list[Any]:
    current = [value]
    for step in steps:
        nxt: list[Any] = []
        for v in current:
            if step == "$this":
                nxt.append(v)
                continue
            if step.startswith("ofType:"):
                nxt.append(v)
                continue
            if not isinstance(v, dict):
                continue
            if step.startswith("extension:"):
                url = step.split(":", 1)[1]
                for e in v.get("extension", ()) or ():
                    if isinstance(e, dict) and e.get("url") == url:
                        nxt.append(e)
                continue
            got = v.get(step)
            if got is None:
                for k, kv in v.items():
                    if k.startswith(step) and len(k) > len(step) and k[len(step)].isupper():
                        got = kv
                        break
            if got is None:
                continue
            if isinstance(got, list):
                nxt.extend(got)
            else:
                nxt.append(got)
        current = nxt
    return current


def actual_choice_type(value: Any, steps: Sequence[str]) -> str | None:
    if not steps or steps == ["$this"]:
        return None
    parent = values_at(value, steps[:-1]) if len(steps) > 1 else [value]
    last = steps[-1]
    for p in parent:
        if isinstance(p, dict):
            for k in p:
                k = str(k)
                if k.startswith(last) and len(k) > len(last) and k[len(last)].isupper():
                    t = k[len(last) :]
                    low = t[0].lower() + t[1:]
                    return low if low in _PRIMITIVE_NAMES else t
    return None


def codes_of(v: Any) -> list[tuple[str | None, str]]:
    if isinstance(v, str):
        return [(None, v)]
    if not isinstance(v, dict):
        return []
    codings: list[Any] = v["coding"] if isinstance(v.get("coding"), list) else [v]
    out: list[tuple[str | None, str]] = []
    for c in codings:
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            s = c.get("system")
            out.append((s if isinstance(s, str) else None, c["code"]))
    return out


_PRIMITIVE_NAMES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "xhtml",
    }
)
