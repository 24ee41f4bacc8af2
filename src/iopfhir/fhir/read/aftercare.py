"""An aftercare CarePlan's activities → its referrals (ServiceRequest), appointments
(Appointment) and check-ins.

The counterpart of :mod:`iopfhir.fhir.build.aftercare`. ``reference`` activities point at
the plan's ServiceRequests and Appointments (those Appointments are not sessions);
``detail`` activities coded ``check-in#<method>`` with a due date are check-ins. An
appointment's ``basedOn`` names its referral; ``end == start`` is how iopfhir writes an
appointment without an end (R4 app-2), so it reads back as no end. What these hold one of
is counted when there are more: a referral's performers other than its first organization
and first practitioner, its reasons other than the first's text, a check-in's performers
after the first; an appointment's participants other than the patient and its (first)
practitioner, its ``supportingInformation`` other than its first organization and its
``basedOn`` other than its first referral of the plan.

A ServiceRequest that is neither the episode's referral nor an aftercare referral is one of
the episode's other requests (:func:`read_request`), read as written.

Imports: :mod:`iopfhir.domain` and the reader's ``_context``, ``people``, ``source`` and
``values``.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.domain import AftercareAppointment, AftercareReferral, CheckIn, Code, Request
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.activity_parts import note_unread_parts
from iopfhir.fhir.read.concepts import note_beside, read_code
from iopfhir.fhir.read.encounter_parts import note_appointment_participants
from iopfhir.fhir.read.episode import condition_keys, reason_text
from iopfhir.fhir.read.held import NO_PLACE, note_unheld
from iopfhir.fhir.read.people import PERSON_UNRESOLVED, org_key, person_key, practitioner_key
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_dict,
    as_list,
    concept_key,
    first_code,
    note,
    one_of,
    parse_date,
    parse_moment,
    parse_period,
    parse_timestamp,
    text,
)
from iopfhir.terminology import code_system_url, codes

__all__ = [
    "read_aftercare",
    "read_aftercare_appointment",
    "read_aftercare_referral",
    "read_request",
]


#: what a check-in's reader reads of its detail, and the statuses a check-in has
_CHECK_IN_READ: Final = frozenset({"code", "scheduledPeriod", "performer", "status"})
_CHECK_IN_STATUS: Final = ("not-started", "scheduled", "completed", "cancelled")


def read_aftercare(ctx: Context, activities: list[dict[str, Any]], entry: Entry) -> dict[str, Any]:
    """The ``referrals``, ``appointments`` and ``check_ins`` of an aftercare plan."""
    referrals: list[AftercareReferral] = []
    appointments: list[AftercareAppointment] = []
    check_ins: list[CheckIn] = []
    pending_appointments: list[Entry] = []
    for n, activity in enumerate(activities, start=1):
        ref = activity.get("reference")
        detail = activity.get("detail")
        if ref is not None:
            note_unread_parts(activity, None, frozenset())
            target = ctx.resolve(ref, entry)
            if target is None:
                ctx.unmapped[
                    "CarePlan.activity.reference: names nothing in the input (dropped)"
                ] += 1
            elif target.type == "ServiceRequest":
                ctx.used_requests.add(id(target))
                item = ctx.attempt(target, read_aftercare_referral, ctx, target)
                if item is not None:
                    referrals.append(item)
            elif target.type == "Appointment":
                ctx.not_sessions.add(id(target))
                pending_appointments.append(target)
            else:
                ctx.unmapped[
                    "CarePlan.activity.reference: aftercare reference of another type (dropped)"
                ] += 1
        elif isinstance(detail, dict):
            method = concept_key(detail.get("code"), "check-in")
            if method is not None:
                checkin = {(code_system_url("check-in"), method)}
                note_beside(detail.get("code"), "CarePlan.activity.detail.code", checkin)
            due = (
                parse_date(
                    as_dict(detail.get("scheduledPeriod")).get("start"),
                    "CarePlan.activity.detail.scheduledPeriod.start",
                )
                if isinstance(detail.get("scheduledPeriod"), dict)
                else None
            )
            if method is None or due is None:
                ctx.unmapped[
                    "CarePlan.activity.detail: aftercare activity not recognised (dropped)"
                ] += 1
                continue
            note_unread_parts(activity, detail, _CHECK_IN_READ)
            if "end" in detail["scheduledPeriod"]:
                note("CarePlan.activity.detail.scheduledPeriod.end", NO_PLACE)
            with_ = None
            performers = as_list(detail.get("performer"))
            for pref in performers[:1]:
                with_ = person_key(ctx, pref, entry)
                if with_ is None:
                    note("CarePlan.activity.detail.performer", PERSON_UNRESOLVED)
                elif with_ == ctx.patient_key:
                    with_ = None
            if len(performers) > 1:  # a check-in is with one person
                note(
                    "CarePlan.activity.detail.performer",
                    "of a check-in, after the first (dropped)",
                    len(performers) - 1,
                )
            status = detail.get("status")
            if status not in _CHECK_IN_STATUS:
                note("CarePlan.activity.detail.status", "not a check-in's (read as scheduled)")
            raw_id = activity.get("id")
            check_ins.append(
                CheckIn.model_validate(
                    {
                        "key": ctx.keys["aftercare"].take(
                            raw_id if isinstance(raw_id, str) else f"check-in-{n}"
                        ),
                        "due": due,
                        "method": method,
                        "status": status if status in _CHECK_IN_STATUS else "scheduled",
                        "with": with_,
                    }
                )
            )
    # appointments last: their ``basedOn`` may name any referral of the plan
    referral_keys = {e: k for (space, e), k in ctx.key_of.items() if space == "aftercare"}
    for target in pending_appointments:
        booked = ctx.attempt(target, read_aftercare_appointment, ctx, target, referral_keys)
        if booked is not None:
            appointments.append(booked)
    return {"referrals": referrals, "appointments": appointments, "check_ins": check_ins}


_OTHER_PERFORMER = (
    "ServiceRequest.performer: of an aftercare referral, not its one organization or "
    "practitioner (dropped)"
)


def _service(concepts: Any, at: str) -> str:
    """The aftercare service of a referral's code or an appointment's service type
    (``other`` when none is coded: counted), the rest of the concept counted (the writer
    gives back the service's code and its SNOMED CT coding)."""
    service = read_code(
        concepts, "aftercare-service", at, derived=_snomed, otherwise="read as other"
    )
    return service or "other"


def _snomed(service: str) -> tuple[tuple[str | None, str], ...]:
    snomed = codes()["aftercare_service_snomed"].get(service)
    return () if snomed is None else ((snomed.get("system"), snomed["code"]),)


def read_aftercare_referral(ctx: Context, entry: Entry) -> AftercareReferral:
    """An aftercare ServiceRequest."""
    res = entry.resource
    note_unheld(res, "ServiceRequest:aftercare")
    service = _service(res.get("code"), "ServiceRequest.code")
    fields: dict[str, Any] = {
        "key": ctx.new_key("aftercare", entry, "servicerequest"),
        "service": service,
        "status": one_of(
            res.get("status"), {"draft", "active", "on-hold", "revoked", "completed"}, "active"
        ),
        "authored": parse_date(res.get("authoredOn"), "ServiceRequest.authoredOn"),
    }
    if res.get("requester") is not None:
        requester = practitioner_key(ctx, res["requester"], entry, "ServiceRequest.requester")
        if requester is not None:
            fields["requester"] = requester
    for ref in as_list(res.get("performer")):
        target = ctx.resolve(ref, entry)
        kind = target.type if target is not None else None
        if kind == "Organization" and "organization" not in fields:
            fields["organization"] = org_key(ctx, ref, entry)
        elif kind in ("Practitioner", "PractitionerRole") and "practitioner" not in fields:
            fields["practitioner"] = person_key(ctx, ref, entry)
        else:  # the referral names one organization and one practitioner
            ctx.unmapped[_OTHER_PERFORMER] += 1
    fields["reason"] = reason_text(ctx, res.get("reasonCode"))
    return AftercareReferral(**fields)


def read_aftercare_appointment(
    ctx: Context, entry: Entry, referral_keys: dict[int, str]
) -> AftercareAppointment:
    """An aftercare Appointment; ``referral_keys``: ServiceRequest entry id → referral key."""
    res = entry.resource
    start = parse_timestamp(res.get("start"), "Appointment.start")
    if start is None:
        raise ValueError("aftercare appointment without a start")
    note_unheld(res, "Appointment:aftercare")
    end = parse_timestamp(res.get("end"), "Appointment.end")
    fields: dict[str, Any] = {
        "key": ctx.new_key("aftercare", entry, "appointment"),
        "service": _service(res.get("serviceType"), "Appointment.serviceType"),
        "start": start,
        # ours: end == start stands for "no end" (R4 app-2 needs both; MAPPING.md)
        "end": end if end is not None and end != start else None,
        "status": one_of(
            res.get("status"),
            {"proposed", "booked", "fulfilled", "noshow", "cancelled"},
            "booked",
        ),
    }
    # the writer gives the patient and the one practitioner, each accepted, without a type
    note_appointment_participants(res.get("participant"), lambda _actor: False, True)
    for part in as_list(res.get("participant")):
        if not isinstance(part, dict):
            continue
        if part.get("type"):
            note("Appointment.participant.type", NO_PLACE)
        actor = part.get("actor")
        target = ctx.resolve(actor, entry)
        if target is not None and target is ctx.group.patient:
            continue
        practitioner = None
        if actor is not None and (target is None or target.type in _PRACTITIONER):
            practitioner = person_key(ctx, actor, entry)  # (or a reference-only one)
        if practitioner is None or fields.setdefault("practitioner", practitioner) != practitioner:
            ctx.unmapped[_OTHER_PARTICIPANT] += 1  # the appointment holds one
    for ref in as_list(res.get("supportingInformation")):
        org = org_key(ctx, ref, entry)
        if org is None or fields.setdefault("organization", org) != org:
            ctx.unmapped[_OTHER_INFORMATION] += 1
    for ref in as_list(res.get("basedOn")):
        target = ctx.resolve(ref, entry)
        referral = referral_keys.get(id(target)) if target is not None else None
        if referral is None or fields.setdefault("referral", referral) != referral:
            ctx.unmapped[_OTHER_BASIS] += 1
    return AftercareAppointment(**fields)


_PRACTITIONER = frozenset({"Practitioner", "PractitionerRole"})
#: ``unmapped`` reasons of what an aftercare appointment holds one of (or none)
_OTHER_PARTICIPANT = (
    "Appointment.participant: of an aftercare appointment, not its patient or its one "
    "practitioner (dropped)"
)
_OTHER_INFORMATION = (
    "Appointment.supportingInformation: of an aftercare appointment, not its one "
    "organization (dropped)"
)
_OTHER_BASIS = (
    "Appointment.basedOn: of an aftercare appointment, not its one referral of the plan (dropped)"
)


_REQUEST_STATUS = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
_REQUEST_INTENT = frozenset(
    {
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)
_PRIORITY = frozenset({"routine", "urgent", "asap", "stat"})


def _codes(concepts: Any, at: str) -> list[Code]:
    """The first coding of each CodeableConcept that has one (the rest counted at ``at``)."""
    return [c for concept in as_list(concepts) if (c := first_code(concept, at)) is not None]


def _without_text(code: Code | None) -> Code | None:
    return code.model_copy(update={"text": None}) if code is not None and code.text else code


def read_request(ctx: Context, entry: Entry) -> None:
    """A ServiceRequest that is not a referral, added to the episode's other requests."""
    res = entry.resource
    note_unheld(res, "ServiceRequest")
    code = res.get("code")
    fields: dict[str, Any] = {
        "key": ctx.new_key("requests", entry, "request"),
        "status": one_of(res.get("status"), _REQUEST_STATUS, "unknown"),
        "intent": one_of(res.get("intent"), _REQUEST_INTENT, "order"),
        # the concept's text is the request's title (written back as its code's text)
        "code": _without_text(first_code(code, "ServiceRequest.code")),
        "title": text(code.get("text")) if isinstance(code, dict) else None,
        "categories": _codes(res.get("category"), "ServiceRequest.category"),
        "priority": res.get("priority") if res.get("priority") in _PRIORITY else None,
        "authored": parse_moment(res.get("authoredOn"), "ServiceRequest.authoredOn"),
        "reason_codes": _codes(res.get("reasonCode"), "ServiceRequest.reasonCode"),
        "reasons": condition_keys(
            ctx, res.get("reasonReference"), entry, "ServiceRequest.reasonReference"
        ),
    }
    if res.get("occurrencePeriod") is not None:
        fields["occurrence"] = parse_period(
            res["occurrencePeriod"], "ServiceRequest.occurrencePeriod"
        )
    else:
        fields["occurrence"] = parse_moment(
            res.get("occurrenceDateTime"), "ServiceRequest.occurrenceDateTime"
        )
    if res.get("occurrenceTiming") is not None:
        note("ServiceRequest.occurrenceTiming", "not taken (dropped)")
    if len(fields["reasons"]) < len(as_list(res.get("reasonReference"))):
        note("ServiceRequest.reasonReference", "not a diagnosis of the episode (dropped)")
    if res.get("requester") is not None:
        fields["requester"] = _party(ctx, res["requester"], entry, "ServiceRequest.requester")
    performers = [
        _party(ctx, r, entry, "ServiceRequest.performer") for r in as_list(res.get("performer"))
    ]
    fields["performers"] = list(dict.fromkeys(k for k in performers if k is not None))
    ctx.requests.append(Request(**fields))


def _party(ctx: Context, ref: Any, at: Entry, where: str) -> str | None:
    """The person or organization a reference names; anything else is noted."""
    key = person_key(ctx, ref, at) or org_key(ctx, ref, at)
    if key is None:
        note(where, "not a person or organization of the episode (dropped)")
    return key
