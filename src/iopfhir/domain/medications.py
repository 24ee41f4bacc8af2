"""Medications and allergies of an IOP episode: what the patient takes, what was
prescribed, and what they must not be given.

* :class:`MedicationUse` - a medication the patient takes or took (FHIR MedicationStatement),
  coded in RxNorm (any system is accepted: foreign data keeps its own codes).
* :class:`Prescription` - a medication ordered by a clinician of the episode (FHIR
  MedicationRequest, intent ``order``).
* :class:`Allergy` - an allergy or intolerance with its criticality and reactions (FHIR
  AllergyIntolerance).

The RxNorm codes the package uses (examples, synthetic data) are terminology data
(``codes.json`` ``medications``), not literals here. Imports the domain's ``common`` and
``people`` modules only (the episode reaches :func:`medication_problems` through a protocol).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from iopfhir.domain.common import (
    Code,
    Day,
    Key,
    Model,
    Period,
    Timestamp,
    no_clinical_status_in_error,
)
from iopfhir.domain.people import Patient, Practitioner, Support

__all__ = [
    "Allergy",
    "MedicationUse",
    "Prescription",
    "Reaction",
    "RequestStatus",
    "StatementStatus",
    "medication_problems",
]


#: R4 MedicationStatement.status (required binding)
StatementStatus = Literal[
    "active",
    "completed",
    "entered-in-error",
    "intended",
    "stopped",
    "on-hold",
    "unknown",
    "not-taken",
]
#: R4 MedicationRequest.status (required binding)
RequestStatus = Literal[
    "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft"
]


class MedicationUse(Model):
    """A medication the patient takes or took (FHIR MedicationStatement)."""

    key: Key
    code: Code
    status: StatementStatus = "active"
    period: Period | None = None
    asserted: Day | Timestamp | None = None
    dosage: str | None = Field(default=None, min_length=1)
    #: the diagnoses it treats (keys)
    reasons: list[Key] = Field(default_factory=list)
    #: who reported it: a practitioner, a support or the patient (key)
    source: Key | None = None


class Prescription(Model):
    """A medication ordered by a clinician (FHIR MedicationRequest, intent ``order``)."""

    key: Key
    code: Code
    status: RequestStatus = "active"
    authored: Day | Timestamp | None = None
    #: the prescribing practitioner (key)
    prescriber: Key | None = None
    dosage: str | None = Field(default=None, min_length=1)
    reasons: list[Key] = Field(default_factory=list)
    refills: int | None = Field(default=None, ge=0, le=99)


class Reaction(Model):
    """One reaction to an allergen: what happened (a coded manifestation) and how bad."""

    manifestation: Code
    severity: Literal["mild", "moderate", "severe"] | None = None


class Allergy(Model):
    """An allergy or intolerance (FHIR AllergyIntolerance).

    R4 ait-1 / ait-2: an entered-in-error record has no clinical status, every other one
    has one (the default ``active`` is dropped for entered-in-error input that names none).
    """

    key: Key
    code: Code
    category: Literal["food", "medication", "environment", "biologic"] | None = None
    criticality: Literal["low", "high", "unable-to-assess"] | None = None
    clinical_status: Literal["active", "inactive", "resolved"] | None = "active"
    verification_status: (
        Literal["unconfirmed", "confirmed", "refuted", "entered-in-error"] | None
    ) = "confirmed"
    recorded: Day | None = None
    #: who recorded it: a practitioner of the episode (key)
    recorder: Key | None = None
    reactions: list[Reaction] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_status_in_error(cls, data: Any) -> Any:
        return no_clinical_status_in_error(data)

    @model_validator(mode="after")
    def _ait(self) -> Allergy:
        in_error = self.verification_status == "entered-in-error"
        if in_error and self.clinical_status is not None:
            raise ValueError("@clinical_status: an entered-in-error allergy has no clinical status")
        if not in_error and self.clinical_status is None:
            raise ValueError("@clinical_status: required unless the allergy is entered-in-error")
        return self


class _Diagnosis(Protocol):
    @property
    def key(self) -> str: ...


class _Episode(Protocol):
    """What the checks read of an episode (:class:`iopfhir.domain.Episode`; a protocol so
    that this module does not import the episode module, which imports it)."""

    @property
    def patient(self) -> Patient: ...
    @property
    def practitioners(self) -> Sequence[Practitioner]: ...
    @property
    def supports(self) -> Sequence[Support]: ...
    @property
    def diagnoses(self) -> Sequence[_Diagnosis]: ...
    @property
    def medications(self) -> Sequence[MedicationUse]: ...
    @property
    def prescriptions(self) -> Sequence[Prescription]: ...
    @property
    def allergies(self) -> Sequence[Allergy]: ...


def medication_problems(episode: _Episode) -> Iterator[tuple[str, str]]:
    """(JSON path, message) for every medication, prescription or allergy that names what
    the episode lacks (a diagnosis, a practitioner, a person) or repeats a key."""
    diagnoses = {d.key for d in episode.diagnoses}
    practitioners = {p.key for p in episode.practitioners}
    people = practitioners | {s.key for s in episode.supports} | {episode.patient.key}
    seen: set[str] = set()
    items: list[tuple[str, MedicationUse | Prescription | Allergy]] = [
        *((f"$.medications[{i}]", m) for i, m in enumerate(episode.medications)),
        *((f"$.prescriptions[{i}]", p) for i, p in enumerate(episode.prescriptions)),
        *((f"$.allergies[{i}]", a) for i, a in enumerate(episode.allergies)),
    ]
    for path, item in items:
        if item.key in seen:
            yield f"{path}.key", "duplicate key among medications, prescriptions and allergies"
        seen.add(item.key)
        if isinstance(item, Allergy):
            if item.recorder is not None and item.recorder not in practitioners:
                yield f"{path}.recorder", "names no practitioner of the episode"
            continue
        for r, key in enumerate(item.reasons):
            if key not in diagnoses:
                yield f"{path}.reasons[{r}]", "names no diagnosis"
        if isinstance(item, Prescription):
            if item.prescriber is not None and item.prescriber not in practitioners:
                yield f"{path}.prescriber", "names no practitioner of the episode"
        elif item.source is not None and item.source not in people:
            yield f"{path}.source", "names no person of the episode"
