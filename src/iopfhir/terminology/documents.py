"""The codes of the transition-of-care (ToC) document: a typed view of ``data/documents.json``.

The document's type (by the moment it is written: ``discharge`` or ``referral``), its
category (LOINC transfer summary, as the PACIO Transitions of Care Composition fixes it),
and its sections in order, each with its LOINC code and title. The builder
(:mod:`iopfhir.fhir.document`) and any reader of ToC documents ask this module instead of
spelling codes out. Imports only :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from iopfhir.errors import TerminologyError

__all__ = [
    "TocSection",
    "document_data",
    "toc_category",
    "toc_section",
    "toc_section_by_code",
    "toc_sections",
    "toc_type",
]


@dataclass(frozen=True, slots=True)
class TocSection:
    """One section of the ToC document: project key, LOINC code and display, title."""

    key: str
    code: str
    display: str
    title: str

    def concept(self) -> dict[str, Any]:
        """``Composition.section.code``: a CodeableConcept with the LOINC coding."""
        return {
            "coding": [
                {"system": document_data()["loinc"], "code": self.code, "display": self.display}
            ]
        }


@cache
def document_data() -> dict[str, Any]:
    """The raw table (read once from package data)."""
    text = resources.files("iopfhir.terminology").joinpath("data/documents.json")
    data: dict[str, Any] = json.loads(text.read_text("utf-8"))
    return data


def _coding(entry: dict[str, str]) -> dict[str, str]:
    return {"system": document_data()["loinc"], "code": entry["code"], "display": entry["display"]}


def toc_type(at: str) -> dict[str, str]:
    """The LOINC document type of a ToC document written at ``at`` (discharge, referral)."""
    types: dict[str, dict[str, str]] = document_data()["types"]
    if at not in types:
        raise TerminologyError(f"no ToC document type for {at!r}; expected one of {sorted(types)}")
    return _coding(types[at])


def toc_category() -> dict[str, str]:
    """The document category coding (LOINC transfer summary note)."""
    return _coding(document_data()["category"])


@cache
def toc_sections() -> tuple[TocSection, ...]:
    """Every section of the ToC document, in document order."""
    return tuple(TocSection(**entry) for entry in document_data()["sections"])


def toc_section(key: str) -> TocSection:
    """A section by its project key (``problems``, ``relapse-prevention``...)."""
    for section in toc_sections():
        if section.key == key:
            return section
    raise TerminologyError(f"no ToC section {key!r}")


def toc_section_by_code(code: str) -> TocSection | None:
    """The section with LOINC code ``code``, or ``None``."""
    return next((s for s in toc_sections() if s.code == code), None)
