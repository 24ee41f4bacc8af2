"""Code systems, role and relationship codes, labels: a typed view of ``data/codes.json``.

Domain vocabulary uses short keys (``therapist``, ``group-therapy``); this module turns a
key into a FHIR coding and back. Unknown keys raise :class:`~iopfhir.errors.TerminologyError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from iopfhir.errors import TerminologyError

__all__ = [
    "BASE_URL",
    "Coding",
    "code_system",
    "code_system_url",
    "codes",
    "concept_display",
    "lookup_concept",
    "program_type_of_billing",
    "relationship_coding",
    "relationship_key",
    "role_coding",
    "role_key",
    "session_kinds_by_procedure",
]


@dataclass(frozen=True, slots=True)
class Coding:
    """A FHIR ``Coding`` as a value: system, code and an optional short display."""

    system: str
    code: str
    display: str | None = None

    def to_fhir(self) -> dict[str, str]:
        """The coding as FHIR JSON."""
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out


@cache
def codes() -> dict[str, Any]:
    """The raw terminology table (read once from package data)."""
    text = resources.files("iopfhir.terminology").joinpath("data/codes.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


BASE_URL: str = codes()["base_url"]


def code_system(name: str) -> dict[str, Any]:
    """A project code system (``url`` and ``concepts`` key → display) by its short name."""
    try:
        system: dict[str, Any] = codes()["code_systems"][name]
    except KeyError:
        raise TerminologyError(f"no code system named {name!r}") from None
    return system


def code_system_url(name: str) -> str:
    """The canonical URL of a project code system."""
    return str(code_system(name)["url"])


def concept_display(name: str, key: str) -> str:
    """The display of ``key`` in project code system ``name``; raises when unknown."""
    concepts: dict[str, str] = code_system(name)["concepts"]
    if key not in concepts:
        raise TerminologyError(f"unknown {name} code {key!r}; expected one of {sorted(concepts)}")
    return concepts[key]


def lookup_concept(name: str, key: str) -> Coding:
    """Coding for ``key`` in the project code system ``name``."""
    return Coding(code_system_url(name), key, concept_display(name, key))


@cache
def _billing_index() -> dict[tuple[str, str], str]:
    return {(c["system"], c["code"]): c["type"] for c in codes()["program_type_billing"]}


def program_type_of_billing(system: str | None, code: str | None) -> str | None:
    """The program type (``mental-health``, ``substance-use``) a billing code of an IOP
    names (HCPCS per diem, NUBC revenue code: an EHR's or a payer's way of typing an IOP
    episode), or ``None`` for any other coding."""
    if system is None or code is None:
        return None
    return _billing_index().get((system, code))


@cache
def session_kinds_by_procedure() -> dict[tuple[str, str], str]:
    """(system, code) -> session kind, for the procedure codes (CPT, HCPCS) of the
    terminology's ``session_procedures`` that stand for exactly one session kind: how an
    EHR types a session Encounter that carries no iopfhir session kind."""
    seen: dict[tuple[str, str], set[str]] = {}
    for kind, entries in codes()["session_procedures"].items():
        for e in entries:
            seen.setdefault((e["system"], e["code"]), set()).add(kind)
    return {pair: kinds.pop() for pair, kinds in seen.items() if len(kinds) == 1}


@cache
def _role_index() -> dict[tuple[str, str], str]:
    return {(c["system"], c["code"]): key for key, c in codes()["roles"].items()}


def role_coding(key: str) -> Coding:
    """The SNOMED CT / NUCC coding of a team role key (``therapist``, ``peer-support``...)."""
    try:
        entry = codes()["roles"][key]
    except KeyError:
        known = sorted(codes()["roles"])
        raise TerminologyError(f"unknown team role {key!r}; expected one of {known}") from None
    return Coding(entry["system"], entry["code"], entry["display"])


def role_key(system: str | None, code: str | None) -> str | None:
    """The role key of a coding, or ``None`` when the coding is not one of ours."""
    if system is None or code is None:
        return None
    return _role_index().get((system, code))


def relationship_coding(key: str) -> Coding:
    """The v3-RoleCode coding of a relationship key (``mother``, ``friend``...)."""
    table: dict[str, str] = codes()["relationships"]
    if key not in table:
        raise TerminologyError(f"unknown relationship {key!r}; expected one of {sorted(table)}")
    return Coding(codes()["relationship_system"], table[key])


def relationship_key(system: str | None, code: str | None) -> str | None:
    """The relationship key of a v3-RoleCode coding, or ``None``."""
    if system != codes()["relationship_system"]:
        return None
    for key, value in codes()["relationships"].items():
        if value == code:
            return str(key)
    return None
