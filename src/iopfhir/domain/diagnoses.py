"""Diagnoses: the patient's conditions (FHIR Condition), and the ones an episode lists.

A :class:`Diagnosis` is coded in ICD-10-CM, SNOMED CT or any system, with its clinical and
verification statuses and when it began and ended. Foreign FHIR may list only some of a
patient's conditions as the episode's (``EpisodeOfCare.diagnosis``), ranked or not:
:class:`ListedDiagnosis` keeps that list as it came, so that writing it again lists
neither more nor other ranks (an episode file without one lists every diagnosis, ranked
in order).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, Literal

from pydantic import PositiveInt, model_validator

from iopfhir.domain.common import (
    Code,
    ConditionTime,
    Day,
    Key,
    Model,
    no_clinical_status_in_error,
)

__all__ = ["ABATED_STATUSES", "Diagnosis", "ListedDiagnosis", "listing_problems"]

#: the clinical statuses a diagnosis with an abatement may have (R4 con-4)
ABATED_STATUSES = frozenset({"inactive", "resolved", "remission"})


class Diagnosis(Model):
    """A diagnosis (FHIR Condition), coded in ICD-10-CM, SNOMED CT or any system."""

    key: Key
    code: Code
    category: Literal["problem-list-item", "encounter-diagnosis", "health-concern"] = (
        "problem-list-item"
    )
    clinical_status: (
        Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"] | None
    ) = "active"
    verification_status: (
        Literal[
            "unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"
        ]
        | None
    ) = "confirmed"
    #: when it began: a date, or a period, an age, an age range or text (R4 ``onset[x]``)
    onset: Day | ConditionTime | None = None
    #: when it ended (R4 ``abatement[x]``, same forms); only for an inactive, resolved or
    #: remitted diagnosis (R4 con-4)
    abatement: Day | ConditionTime | None = None
    recorded: Day | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_status_in_error(cls, data: Any) -> Any:
        """An entered-in-error diagnosis has no clinical status (FHIR con-5)."""
        return no_clinical_status_in_error(data)

    @model_validator(mode="after")
    def _con5(self) -> Diagnosis:
        if self.verification_status == "entered-in-error" and self.clinical_status is not None:
            raise ValueError(
                "@clinical_status: an entered-in-error diagnosis has no clinical status"
            )
        if self.abatement is not None and self.clinical_status not in ABATED_STATUSES:
            raise ValueError(
                "@abatement: only an inactive, resolved or remitted diagnosis has an abatement"
            )
        return self


class ListedDiagnosis(Model):
    """One entry of the episode's list of diagnoses: which diagnosis, and its rank where
    the source gave one (R4 ``EpisodeOfCare.diagnosis.rank``, a positive integer)."""

    diagnosis: Key
    rank: PositiveInt | None = None


def listing_problems(
    listed: list[ListedDiagnosis] | None, diagnoses: Collection[str]
) -> Iterator[tuple[str, str]]:
    """(JSON path, message) for each entry of ``listed`` that names no diagnosis of
    ``diagnoses`` or one listed before."""
    seen: set[str] = set()
    for i, entry in enumerate(listed or ()):
        at = f"$.diagnoses_listed[{i}].diagnosis"
        if entry.diagnosis not in diagnoses:
            yield at, "names no diagnosis"  # the key is input: where, not what
        elif entry.diagnosis in seen:
            yield at, "lists a diagnosis twice"
        seen.add(entry.diagnosis)
