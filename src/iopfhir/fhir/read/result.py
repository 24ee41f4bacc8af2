"""What a read of FHIR R4 gives back: :class:`ImportResult` (episodes and counts of what
was not taken) and :class:`ReadWarning` (one kind of loss, at its FHIRPath, with a count).

Shared by the in-memory reader (:func:`iopfhir.fhir.read.read_fhir`) and the streaming one
(:mod:`iopfhir.fhir.read.stream`). Imports: :mod:`iopfhir.domain` only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from iopfhir.domain import Episode

__all__ = ["ImportResult", "ReadWarning"]

#: ``unmapped`` reasons that do not start with a FHIRPath: (path, reason) for each
_WHERE: Final = {
    "duplicate resource (same type and id): read once": (
        "Resource",
        "duplicate resource (same type and id): read once",
    ),
    "file without resourceType": ("$", "file without resourceType (skipped)"),
    "XML file that is not FHIR": ("$", "XML file that is not FHIR (skipped)"),
}


@dataclass(frozen=True, slots=True)
class ReadWarning:
    """Something in the input that the IOP model did not take as written.

    ``path``: the FHIRPath of the value or resource (``Patient.birthDate``,
    ``Encounter.period.start``, ``Goal``); ``reason``: what is wrong and what was done
    (``not a valid date (dropped)``); ``count``: how many times. Never the value.
    """

    path: str
    reason: str
    count: int = 1

    def __str__(self) -> str:
        times = f" ({self.count} times)" if self.count > 1 else ""
        return f"{self.path}: {self.reason}{times}"


@dataclass
class ImportResult:
    """What :func:`read_fhir` found.

    ``episodes``: one per patient, or one per EpisodeOfCare of a patient.
    ``patients``: how many patients the episodes belong to.
    ``ignored``: resources by type that the domain does not take (Claim, Immunization,
    Observations that are not instrument scores...).
    ``unmapped``: things of types the domain takes that could not be mapped or were not
    taken as written, by ``"<FHIRPath>: <reason>"`` (``"Goal: not part of a care plan"``,
    ``"Patient.birthDate: not a valid date (dropped)"``).
    ``warnings``: the same, structured (one :class:`ReadWarning` per reason, in the order
    found); empty when the input was read without loss.
    """

    episodes: list[Episode] = field(default_factory=list)
    patients: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)

    @property
    def warnings(self) -> list[ReadWarning]:
        """Every ``unmapped`` reason as a :class:`ReadWarning`."""
        out = []
        for key, count in self.unmapped.items():
            where = _WHERE.get(key)
            if where is None:
                path, _sep, reason = key.partition(": ")
                where = (path, reason) if reason else ("$", key)
            out.append(ReadWarning(where[0], where[1], count))
        return out
