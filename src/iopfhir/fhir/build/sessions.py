"""Sessions → FHIR R4 Appointment (+ Encounter when the session took place or is planned).

Every session has an Appointment (status booked / fulfilled / noshow / cancelled).
Scheduled and attended sessions also have an Encounter (planned / finished); a session
read from FHIR has only the resources its source had (``Session.forms``). The
Encounter's class is ``AMB`` or ``VR`` (telehealth); R4 ``Encounter.status`` has no
no-show, so no-show and cancelled sessions have no Encounter (but a cancelled session
read from a cancelled Encounter is written with it). A telehealth session's
Appointment carries the ``delivery-setting`` extension (``telehealth``). The
facilitator is a participant of type ``PPRF``, attendees of type ``PART``; the patient
is an Appointment participant only (R4 ``Encounter.participant.individual`` cannot be a
Patient). The Encounter's period is the actual time when recorded, else the planned time.
A session read from foreign data whose Encounter listed other participants (or types) has
them in ``participants``: the Encounter then lists exactly those; its ``locations`` and
``provider`` are ``Encounter.location`` and ``serviceProvider``.

A session without the patient (team review, family therapy without the patient, family
education) still lists the patient on the Appointment, so that it stays in the patient's
compartment, but as ``information-only`` and ``declined`` (not coming), never accepted;
its Encounter's subject stays the patient (the record is about them). The modality goes
on both resources as the ``therapy-modality`` extension. The session's CPT / HCPCS codes
(derived, see :meth:`iopfhir.domain.Session.procedure_codes`) are a second
``Encounter.type`` CodeableConcept: US Core binds ``Encounter.type`` to CPT (and SNOMED CT)
encounter types, while ``serviceType`` is one broad category (the session kind). A session
read from FHIR has its kind where its source had it (``Session.kind_in``: no service type
the source did not have, no procedure codes in an Encounter's type that had none), and
always in ``Encounter.type``, which the profile requires.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.domain import Session, SessionParticipant
from iopfhir.fhir.build._context import (
    DATA_ABSENT,
    PARTICIPANT_ATTENDEE,
    PARTICIPANT_FACILITATOR,
    Context,
    Entry,
    code_concept,
    project_concept,
)
from iopfhir.fhir.build.people import location_ref
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology import Coding, codes

__all__ = ["session_to_fhir"]

_APPOINTMENT_STATUS: Final = {
    "scheduled": "booked",
    "attended": "fulfilled",
    "no-show": "noshow",
    "cancelled": "cancelled",
}
_TELEHEALTH: Final = [{"url": EXT.DELIVERY_SETTING, "valueCode": "telehealth"}]
#: a cancelled session has an Encounter only when read from one (``Session.forms``)
_ENCOUNTER_STATUS: Final = {
    "scheduled": "planned",
    "attended": "finished",
    "cancelled": "cancelled",
}
_CLASS: Final = {
    setting: {
        "system": codes()["encounter_class"]["system"],
        "code": codes()["encounter_class"][setting],
    }
    for setting in ("in-person", "telehealth")
}


def _kind(session: Session) -> dict[str, Any] | None:
    if session.kind is not None:
        return project_concept("session-kind", session.kind)
    if session.kind_code is not None:
        return code_concept(session.kind_code)
    return None


def _extensions(session: Session) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if session.telehealth:
        # an Appointment has no class: without this a no-show video session would not say so
        out += _TELEHEALTH
    if session.modality is not None:
        out.append(
            {
                "url": EXT.THERAPY_MODALITY,
                "valueCodeableConcept": project_concept("modality", session.modality),
            }
        )
    return out


def _procedures(ctx: Context, session: Session) -> dict[str, Any] | None:
    program = ctx.episode.program
    found = session.procedure_codes(program.type if program is not None else None)
    if not found:
        return None
    return {"coding": [Coding(c.system, c.code).to_fhir() for c in found]}


def _participant(ctx: Context, part: SessionParticipant) -> dict[str, Any]:
    """One ``Encounter.participant`` as foreign data wrote it: its types, then who."""
    out: dict[str, Any] = {}
    if part.types:
        out["type"] = [code_concept(c) for c in part.types]
    out["individual"] = ctx.person_ref[part.member]
    return out


def session_to_fhir(ctx: Context, session: Session) -> list[Entry]:
    """The Appointment, and the Encounter for scheduled and attended sessions."""
    kind = _kind(session)
    start, end = session.start.isoformat(), session.end.isoformat()
    appt_url = ctx.local_url("Appointment", "session", session.key)
    appt = ctx.head("Appointment", appt_url, PROFILE.SESSION_APPOINTMENT, linked=True)
    extensions = _extensions(session)
    if extensions:
        appt["extension"] = extensions
    appt["identifier"] = [ctx.identifier("session", session.key)]
    appt["status"] = _APPOINTMENT_STATUS[session.status]
    if session.status == "cancelled" and session.cancel_reason:
        appt["cancelationReason"] = {"text": session.cancel_reason}
    places = session.kind_places() if kind is not None else ()
    if "appointment-service" in places:
        appt["serviceType"] = [kind]
    if "appointment-type" in places:
        appt["appointmentType"] = kind
    appt["start"] = start
    appt["end"] = end
    patient_key = ctx.episode.patient.key
    patient_part: dict[str, Any] = {"actor": ctx.patient_ref, "status": "accepted"}
    if not session.patient_present:
        # about the patient, without them: in their compartment, but not attending
        patient_part = {"actor": ctx.patient_ref, "required": "information-only"}
        patient_part["status"] = "declined"
    #: (type, key) of the practitioners and supports taking part
    staff: list[tuple[list[dict[str, Any]], str]] = []
    if session.facilitator == patient_key:
        patient_part = {"type": PARTICIPANT_FACILITATOR, **patient_part}
    elif session.facilitator in ctx.person_ref:
        staff.append((PARTICIPANT_FACILITATOR, session.facilitator))
    # an organization cannot take part in an R4 Appointment or Encounter: not written
    for key in session.attendees:
        if key != session.facilitator and key != patient_key:
            staff.append((PARTICIPANT_ATTENDEE, key))
    participants = [patient_part]
    for ptype, key in staff:
        participants.append({"type": ptype, "actor": ctx.person_ref[key], "status": "accepted"})
    appt["participant"] = participants
    # a session read from FHIR is written as it came (``Session.written_forms``)
    out: list[Entry] = [(appt_url, appt)] if session.key in ctx.appointment_ref else []

    enc_status = _ENCOUNTER_STATUS.get(session.status)
    if enc_status is None or session.key not in ctx.encounter_ref:
        return out
    enc_url = ctx.local_url("Encounter", "encounter", session.key)
    enc = ctx.head("Encounter", enc_url, PROFILE.SESSION_ENCOUNTER, linked=True)
    if session.modality is not None:
        enc["extension"] = [e for e in extensions if e["url"] == EXT.THERAPY_MODALITY]
    enc["identifier"] = [ctx.identifier("encounter", session.key)]
    enc["status"] = enc_status
    enc["class"] = _CLASS["telehealth" if session.telehealth else "in-person"]
    if kind is not None:
        procedures = _procedures(ctx, session) if "encounter-procedure" in places else None
        enc["type"] = [kind] if procedures is None else [kind, procedures]
        if "encounter-service" in places:
            enc["serviceType"] = kind
    else:  # US Core: type 1..*
        enc["type"] = DATA_ABSENT
    enc["subject"] = ctx.patient_ref
    if ctx.eoc_ref is not None:
        enc["episodeOfCare"] = [ctx.eoc_ref]
    if session.participants:  # foreign data: the Encounter's participants as written
        enc["participant"] = [_participant(ctx, part) for part in session.participants]
    elif staff:
        enc["participant"] = [
            {"type": ptype, "individual": ctx.person_ref[key]} for ptype, key in staff
        ]
    if session.actual_start is not None and session.actual_end is not None:
        enc["period"] = {
            "start": session.actual_start.isoformat(),
            "end": session.actual_end.isoformat(),
        }
    else:
        enc["period"] = {"start": start, "end": end}
    if session.key in ctx.appointment_ref:
        enc["appointment"] = [ctx.appointment_ref[session.key]]
    if session.locations:
        enc["location"] = [{"location": location_ref(ctx, k)} for k in session.locations]
    if session.provider is not None:
        enc["serviceProvider"] = ctx.org_ref[session.provider]
    out.append((enc_url, enc))
    return out
