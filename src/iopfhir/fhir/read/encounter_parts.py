"""Parts of a session's Encounter the session keeps only as a flag, or not at all.

``Encounter.class`` is ``Session.telehealth``: the writer gives the terminology data's
``encounter_class`` codes (``VR`` when virtual, else ``AMB``), so a class that is neither
(``EMER``, ``IMP``, ``HH``, an EHR's local class code) is counted where it is read, not
written back as ``AMB`` without a word. ``Encounter.participant.period`` has no place in
a :class:`~iopfhir.domain.SessionParticipant` and is counted when its participant is kept.
Of an Appointment's participants the session holds who takes part: the writer gives each
``status`` ``accepted`` and no ``required`` (the patient of a kind that meets without
them: ``information-only``, ``declined``), so another ``required`` or ``status``, and a
participant's ``period``, are counted. ``Encounter.episodeOfCare`` is the session's
episode: a reference to another EpisodeOfCare (one the input lacks, as a partial export's
Encounter has, or another episode of the patient) is counted, as the writer names the
session's episode.

Imports: :mod:`iopfhir.terminology` and the reader's ``held`` and ``values``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Final

from iopfhir.fhir.read.held import NO_PLACE
from iopfhir.fhir.read.values import as_list, codings, note
from iopfhir.terminology import codes

__all__ = [
    "note_appointment_participants",
    "note_episode_links",
    "note_participant",
    "telehealth_class",
]

#: ``(required, status)`` of an Appointment participant as the writer gives it: the
#: patient of a session they take part in (and anyone else), and of one without them
_WRITTEN_PRESENT: Final = (None, "accepted")
_WRITTEN_ABSENT: Final = ("information-only", "declined")
#: why such a part is counted
_NOT_KEPT: Final = "not kept (dropped)"

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


#: why an Encounter's link to another episode than the session's is counted
_OTHER_EPISODE: Final = "not the episode's EpisodeOfCare of the input (dropped)"


def note_episode_links(refs: Any, is_episode: Callable[[Any], bool]) -> None:
    """Count each ``Encounter.episodeOfCare`` reference of ``refs`` for which
    ``is_episode(ref)`` is false: it names no EpisodeOfCare of the input, or another
    than the session's episode."""
    for ref in as_list(refs):
        if not is_episode(ref):
            note("Encounter.episodeOfCare", _OTHER_EPISODE)


def note_participant(part: dict[str, Any]) -> None:
    """Count what a kept ``Encounter.participant`` says that a session participant has no
    place for (its ``period``: the session's times are the Encounter's)."""
    if "period" in part:
        note("Encounter.participant.period", NO_PLACE)


def note_appointment_participants(
    participants: Any, is_patient: Callable[[Any], bool], present: bool
) -> None:
    """Count what each Appointment participant says beyond who takes part (``present``:
    whether the patient takes part in the session's kind; ``is_patient(actor)``: asked
    only of a participant not as the writer gives everyone)."""
    for part in as_list(participants):
        if type(part) is not dict:
            continue
        found = (part.get("required"), part.get("status"))
        if found == _WRITTEN_PRESENT and present and "period" not in part:
            continue  # as the writer gives it (nearly every one)
        actor = part.get("actor")
        if not isinstance(actor, dict) or not ("reference" in actor or "identifier" in actor):
            continue  # a participant naming nobody is dropped whole, and counted so
        if "period" in part:
            note("Appointment.participant.period", NO_PLACE)
        if found == _WRITTEN_PRESENT and present:
            continue
        patient = not present and is_patient(actor)
        written = _WRITTEN_ABSENT if patient else _WRITTEN_PRESENT
        # an element the participant does not give is nothing dropped (R4 requires a
        # status: the writer gives its own)
        if found[0] is not None and found[0] != written[0]:
            note("Appointment.participant.required", _NOT_KEPT)
        if found[1] is not None and found[1] != written[1]:
            note("Appointment.participant.status", _NOT_KEPT)
