"""Security labels, consent and disclosure-audit codes: a typed view of ``data/security.json``.

The DS4P labels iopfhir writes (confidentiality ``R``, sensitivity ``ETH`` / ``PSY``,
policy ``42CFRPart2``, obligation ``NORDSCLCD``), which resources of a program carry which
(:func:`security_data`), the v3 PurposeOfUse codes a consent and a disclosure name, the
fixed codes of a Part 2 ``Consent`` and of a disclosure ``AuditEvent``, and the texts of
the document sections a disclosure adds. Imports nothing of iopfhir.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "DATA_CLASSES",
    "data_class",
    "empty_reason",
    "label",
    "part2_codes",
    "purpose_codes",
    "purpose_coding",
    "security_data",
]

#: The data classes a consent provision names, each the name of its sensitivity label.
DATA_CLASSES = ("substance-use", "mental-health")


@cache
def security_data() -> dict[str, Any]:
    """The raw table (read once from package data)."""
    text = resources.files("iopfhir.terminology").joinpath("data/security.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def label(name: str) -> dict[str, str]:
    """The security label ``name`` (``confidentiality``, ``substance-use``, ``mental-health``,
    ``policy``, ``obligation``) as a FHIR Coding (a new dict)."""
    return dict(security_data()["labels"][name])


@cache
def purpose_codes() -> frozenset[str]:
    """The v3 PurposeOfUse codes a consent provision or a disclosure may name."""
    return frozenset(security_data()["purposes"]["concepts"])


def purpose_coding(code: str) -> dict[str, str]:
    """The Coding of a PurposeOfUse code (v3-ActReason)."""
    purposes = security_data()["purposes"]
    return {"system": purposes["system"], "code": code, "display": purposes["concepts"][code]}


@cache
def part2_codes() -> frozenset[tuple[str, str]]:
    """``(system, code)`` of the labels that make a resource Part 2 data (the policy
    ``42CFRPart2`` and the substance-use sensitivity ``ETH``)."""
    labels = security_data()["labels"]
    return frozenset((labels[n]["system"], labels[n]["code"]) for n in ("policy", "substance-use"))


@cache
def _classes() -> dict[tuple[str, str], str]:
    labels = security_data()["labels"]
    return {(labels[n]["system"], labels[n]["code"]): n for n in DATA_CLASSES}


def data_class(system: str | None, code: str | None) -> str | None:
    """The data class (``substance-use``, ``mental-health``) a sensitivity label stands for."""
    return _classes().get((str(system), str(code)))


def empty_reason(code: str) -> dict[str, str]:
    """A list-empty-reason Coding (``withheld``, ``unavailable``)."""
    reasons = security_data()["document"]["empty_reason"]
    return {"system": reasons["system"], "code": code, "display": reasons["displays"][code]}
