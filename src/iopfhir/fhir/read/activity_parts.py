"""What a treatment plan's CarePlan activity says that an :class:`~iopfhir.domain.Activity`
has no place for, counted at its FHIRPath rather than dropped without a word.

An activity is written back as a ``detail`` of kind ``Appointment`` (its sessions), with
its code, status, description, performer, goals and schedule. So a ``detail`` of another
kind, a ``detail.code`` with text and no coding (read as the title when there is no
description), the detail elements no activity holds (a product, a quantity, reasons, a
location...), an activity's outcome concepts and progress notes, and a ``reference`` to
nothing in the input (written back as a detail with an unknown status) are counted. An
activity whose ``detail.doNotPerform`` is true (an R4 modifier: the plan says *not* to do
it) is no activity to schedule: :func:`not_to_perform` says so, and its reader drops and
counts it rather than read a prohibition as a plan. A relapse-prevention or aftercare
activity is read as far as its reader reads it (a relapse element's code with its text or
its people, a check-in's code, due date, person and status): :func:`note_unread_parts`
counts the rest.

Imports: the reader's ``held`` and ``values``.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.fhir.read.held import NO_PLACE
from iopfhir.fhir.read.values import codings, note, text

__all__ = [
    "NOT_TO_PERFORM",
    "UNRESOLVED",
    "not_to_perform",
    "note_activity",
    "note_unread_parts",
    "uncoded_text",
]

#: ``unmapped`` reason of an activity the plan says not to perform
NOT_TO_PERFORM: Final = (
    "CarePlan.activity.detail.doNotPerform: an activity not to perform (dropped)"
)
#: ``unmapped`` reason of a ``reference`` activity naming nothing in the input
UNRESOLVED: Final = (
    "CarePlan.activity.reference: not in the input (written back as a detail, status unknown)"
)
#: the R4 elements of ``CarePlan.activity.detail`` no Activity holds (``extension``,
#: ``modifierExtension`` and ``doNotPerform`` are counted where they are read)
_DETAIL_UNHELD: Final = frozenset(
    {
        "instantiatesCanonical",
        "instantiatesUri",
        "reasonCode",
        "reasonReference",
        "statusReason",
        "location",
        "productCodeableConcept",
        "productReference",
        "dailyAmount",
        "quantity",
    }
)
#: the R4 elements of ``CarePlan.activity`` no Activity holds
_ACTIVITY_UNHELD: Final = ("outcomeCodeableConcept", "progress")
#: the one detail kind an activity is written back as
_KIND: Final = "Appointment"
#: an activity's and a detail's elements that are no content (``id``) or are counted where
#: they are read (extensions)
_NOT_CONTENT: Final = frozenset({"id", "extension", "modifierExtension"})
#: what a relapse-prevention or aftercare activity is, besides its detail's parts
_ACTIVITY_READ: Final = frozenset({"detail", "reference"})


def not_to_perform(detail: dict[str, Any]) -> bool:
    """Whether the detail says its activity is not to be done (``doNotPerform`` true)."""
    return detail.get("doNotPerform") is True


def uncoded_text(concept: Any) -> str | None:
    """The text of a concept that has no coding (else ``None``: the coding is read)."""
    if not isinstance(concept, dict) or codings(concept):
        return None
    return text(concept.get("text"))


def note_activity(activity: dict[str, Any], detail: dict[str, Any] | None) -> None:
    """Count what ``activity`` (and its ``detail``, when it has one) hold that an Activity
    does not; the values are not repeated, only where they were."""
    for key in _ACTIVITY_UNHELD:
        if activity.get(key) is not None:
            note(f"CarePlan.activity.{key}", NO_PLACE)
    if detail is None:
        return
    for key in sorted(detail.keys() & _DETAIL_UNHELD):
        note(f"CarePlan.activity.detail.{key}", NO_PLACE)
    kind = detail.get("kind")
    if kind is not None and kind != _KIND:
        note("CarePlan.activity.detail.kind", "not Appointment (written back as Appointment)")
    if uncoded_text(detail.get("code")) is not None:
        where = "read as the title" if detail.get("description") is None else "dropped"
        note("CarePlan.activity.detail.code", f"text without a coding ({where})")


def note_unread_parts(
    activity: dict[str, Any],
    detail: dict[str, Any] | None,
    read: frozenset[str],
    status: str | None = None,
) -> None:
    """Count what a relapse-prevention or aftercare plan's activity holds beyond what its
    reader reads: the activity's elements but its ``detail`` or ``reference``, and the
    detail's but those in ``read`` (a ``status`` other than the one the writer gives,
    ``status``, too: the model holds none)."""
    for key in sorted(activity.keys() - _NOT_CONTENT - _ACTIVITY_READ):
        note(f"CarePlan.activity.{key}", NO_PLACE)
    if detail is None:
        return
    for key in sorted(detail.keys() - _NOT_CONTENT - read):
        if key != "status" or detail[key] != status:
            note(f"CarePlan.activity.detail.{key}", NO_PLACE)
