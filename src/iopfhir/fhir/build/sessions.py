"""Sessions → FHIR R4 Appointment (+ Encounter when the session took place or is planned).

Every session has an Appointment (status booked / fulfilled / noshow / cancelled).
Scheduled and attended sessions also have an Encounter (planned / finished), class
``AMB`` or ``VR`` (telehealth); R4 ``Encounter.status`` has no no-show, so no-show and
cancelled sessions have no Encounter. A telehealth session's Appointment carries the
``delivery-setting`` extension (``telehealth``). The facilitator is a participant of type ``PPRF``,
attendees of type ``PART``; the patient is an Appointment participant only (R4
``Encounter.participant.individual`` cannot be a Patient). The Encounter's period is the
actual time when recorded, else the planned time.

A session without the patient (team review, family therapy without the patient, family
education) still lists the patient on the Appointment, so that it stays in the patient's
compartment, but as ``information-only`` and ``declined`` (not coming), never accepted;
its Encounter's subject stays the patient (the record is about them). The modality goes
on both resources as the ``therapy-modality`` extension. The session's CPT / HCPCS codes
(derived, see :meth:`iopfhir.domain.Session.procedure_codes`) are a second
``Encounter.type`` CodeableConcept: US Core binds ``Encounter.type`` to CPT (and SNOMED CT)
encounter types, while ``serviceType`` is one broad category (the session kind).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.domain import Session
from iopfhir.fhir.build._context import (
    DATA_ABSENT,
    PARTICIPANT_ATTENDEE,
    PARTICIPANT_FACILITATOR,
    Context,
    Entry,
    code_concept,
    project_concept,
)
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
_ENCOUNTER_STATUS: Final = {"scheduled": "planned", "attended": "finished"}
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
    if kind is not None:
        appt["serviceType"] = [kind]
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
    out: list[Entry] = [(appt_url, appt)]

    enc_status = _ENCOUNTER_STATUS.get(session.status)
    if enc_status is None:
        return out
    enc_url = ctx.local_url("Encounter", "encounter", session.key)
    enc = ctx.head("Encounter", enc_url, PROFILE.SESSION_ENCOUNTER, linked=True)
    if session.modality is not None:
        enc["extension"] = [e for e in extensions if e["url"] == EXT.THERAPY_MODALITY]
    enc["identifier"] = [ctx.identifier("encounter", session.key)]
    enc["status"] = enc_status
    enc["class"] = _CLASS["telehealth" if session.telehealth else "in-person"]
    if kind is not None:
        procedures = _procedures(ctx, session)
        enc["type"] = [kind] if procedures is None else [kind, procedures]
        enc["serviceType"] = kind
    else:  # US Core: type 1..*
        enc["type"] = DATA_ABSENT
    enc["subject"] = ctx.patient_ref
    if ctx.eoc_ref is not None:
        enc["episodeOfCare"] = [ctx.eoc_ref]
    if staff:
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
    enc["appointment"] = [ctx.appointment_ref[session.key]]
    out.append((enc_url, enc))
    return out
