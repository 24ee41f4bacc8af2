"""Parts of a session's Encounter the session keeps only as a flag, or not at all.

``Encounter.class`` is ``Session.telehealth``: the writer gives the terminology data's
``encounter_class`` codes (``VR`` when virtual, else ``AMB``), so a class that is neither
(``EMER``, ``IMP``, ``HH``, an EHR's local class code) is counted where it is read, not
written back as ``AMB`` without a word. ``Encounter.participant.period`` has no place in
a :class:`~iopfhir.domain.SessionParticipant` and is counted when its participant is kept.

Imports: :mod:`iopfhir.terminology` and the reader's ``held`` and ``values``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from iopfhir.fhir.read.held import NO_PLACE
from iopfhir.fhir.read.values import codings, note
from iopfhir.terminology import codes

__all__ = ["note_participant", "telehealth_class"]

#: why a class the writer cannot give back is counted
_OTHER_CLASS = "neither ambulatory nor virtual (written back as ambulatory)"


@cache
def _classes() -> tuple[str, str, str]:
    """The class system and the codes of an in-person and a virtual session (package data)."""
    data = codes()["encounter_class"]
    return data["system"], data["in-person"], data["telehealth"]


def telehealth_class(encounter: dict[str, Any]) -> bool:
    """Whether ``encounter``'s class says the session was virtual; one that names neither
    class the writer gives back is counted at ``Encounter.class`` (an empty ``encounter``,
    a session without one, has none to count)."""
    if not encounter:
        return False
    system, in_person, virtual = _classes()
    found = set()
    for sys, code in codings(encounter.get("class")):
        # no system: the bare code, as some senders write the class (R4 gives it a Coding)
        if sys is None or sys == system:
            found.add(code)
    if not found & {in_person, virtual}:
        note("Encounter.class", _OTHER_CLASS)
    return virtual in found


def note_participant(part: dict[str, Any]) -> None:
    """Count what a kept ``Encounter.participant`` says that a session participant has no
    place for (its ``period``: the session's times are the Encounter's)."""
    if "period" in part:
        note("Encounter.participant.period", NO_PLACE)
