"""R4's vital-signs rule: an Observation with a vital-sign code conforms to that profile.

Lives here: :func:`vital_signs_profile` - the core vital-signs profile (``bp``,
``heartrate``, ``bodyweight``...) an Observation is held to because of its code, whatever it
claims. R4 says so in the Observation page ("Vital Signs"); the HL7 Java validator applies
it by a table of LOINC and SNOMED CT codes, and so do we: the table is package data
(``data/vital-signs-by-code.json``, the Java validator's groups in its order - the first group
with a matching Coding decides, a group without a profile applies none).

Imports nothing from iopfhir.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["vital_signs_groups", "vital_signs_profile"]


@cache
def vital_signs_groups() -> tuple[tuple[str, frozenset[str], str | None], ...]:
    """(system, codes, profile url or None) of each group, in the order they are tried."""
    raw = resources.files("iopfhir.validation").joinpath("data", "vital-signs-by-code.json")
    data = json.loads(raw.read_bytes())
    return tuple(
        (str(g["system"]), frozenset(str(c) for c in g["codes"]), g.get("profile"))
        for g in data["groups"]
    )


def vital_signs_profile(observation: Mapping[str, Any]) -> str | None:
    """The vital-signs profile ``observation`` must conform to by its code, or None."""
    code = observation.get("code")
    codings = code.get("coding") if isinstance(code, Mapping) else None
    if not isinstance(codings, list):
        return None
    pairs = [
        (c.get("system"), c.get("code"))
        for c in codings
        if isinstance(c, Mapping) and isinstance(c.get("code"), str)
    ]
    if not pairs:
        return None
    for system, codes, profile in vital_signs_groups():
        if any(s == system and c in codes for s, c in pairs):
            return profile
    return None
