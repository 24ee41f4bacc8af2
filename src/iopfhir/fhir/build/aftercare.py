"""Aftercare → FHIR R4: the aftercare plan's referrals (ServiceRequest), appointments
(Appointment) and the CarePlan activities that point at them or hold its check-ins.

An aftercare plan's CarePlan (written by :mod:`iopfhir.fhir.build.plans`) lists its
referrals and appointments as ``reference`` activities, in that order, then its check-ins
as ``detail`` activities coded ``check-in#<method>``. Referrals and appointments are
resources of their own, written right after the CarePlan. Aftercare services carry the
project ``aftercare-service`` coding, plus SNOMED CT where there is one.

The episode's other requests (:class:`~iopfhir.domain.Request`, foreign ServiceRequests
that are not referrals) are written by :func:`request_to_fhir` as they were read, with no
profile (the IOP referral profile does not describe them), identifier ``request`` →
``<episode>/<key>``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the builders' ``_context``.
"""

from __future__ import annotations

from typing import Any

from iopfhir.domain import (
    AftercareAppointment,
    AftercarePlan,
    AftercareReferral,
    Period,
    Request,
    date_text,
)
from iopfhir.fhir.build._context import (
    Context,
    Entry,
    code_concept,
    fhir_moment,
    fhir_period,
    project_concept,
)
from iopfhir.fhir.conventions import PROFILE
from iopfhir.terminology import codes

__all__ = ["aftercare_activities", "aftercare_to_fhir", "request_to_fhir"]


def aftercare_activities(ctx: Context, plan: AftercarePlan) -> list[dict[str, Any]]:
    """The aftercare CarePlan's activities: referrals, appointments, then check-ins."""
    activities: list[dict[str, Any]] = [
        {"reference": ctx.ref("ServiceRequest", _referral_url(ctx, r))} for r in plan.referrals
    ]
    activities += [
        {"reference": ctx.ref("Appointment", _appointment_url(ctx, a))} for a in plan.appointments
    ]
    for check in plan.check_ins:
        detail: dict[str, Any] = {
            "code": project_concept("check-in", check.method),
            "status": check.status,
            "scheduledPeriod": {"start": date_text(check.due)},
        }
        if check.with_ is not None:
            detail["performer"] = [ctx.person_ref[check.with_]]
        activities.append({"id": check.key, "detail": detail})
    return activities


def _referral_url(ctx: Context, ref: AftercareReferral) -> str:
    return ctx.local_url("ServiceRequest", "servicerequest", ref.key)


def _appointment_url(ctx: Context, appt: AftercareAppointment) -> str:
    return ctx.local_url("Appointment", "appointment", appt.key)


def _service(key: str) -> dict[str, Any]:
    concept = project_concept("aftercare-service", key)
    snomed = codes()["aftercare_service_snomed"].get(key)
    if snomed is None:
        return concept
    return {"coding": [*concept["coding"], dict(snomed)]}


def aftercare_to_fhir(ctx: Context, plan: AftercarePlan) -> list[Entry]:
    """The aftercare plan's referrals (ServiceRequest) and appointments (Appointment).

    R4 needs both ``start`` and ``end`` on a booked Appointment (app-2, app-3): an
    appointment without an end is written with ``end`` = ``start``.
    """
    out: list[Entry] = []
    for ref in plan.referrals:
        url = _referral_url(ctx, ref)
        res = ctx.head("ServiceRequest", url, PROFILE.REFERRAL, linked=True)
        res["identifier"] = [ctx.identifier("servicerequest", ref.key)]
        res["status"] = ref.status
        res["intent"] = "order"
        res["code"] = _service(ref.service)
        res["subject"] = ctx.patient_ref
        if ref.authored is not None:
            res["authoredOn"] = date_text(ref.authored)
        if ref.requester is not None:
            res["requester"] = ctx.person_ref[ref.requester]
        performers = []
        if ref.organization is not None:
            performers.append(ctx.org_ref[ref.organization])
        if ref.practitioner is not None:
            performers.append(ctx.person_ref[ref.practitioner])
        if performers:
            res["performer"] = performers
        if ref.reason:
            res["reasonCode"] = [{"text": ref.reason}]
        out.append((url, res))
    for appt in plan.appointments:
        url = _appointment_url(ctx, appt)
        res = ctx.head("Appointment", url, PROFILE.SESSION_APPOINTMENT, linked=True)
        res["identifier"] = [ctx.identifier("appointment", appt.key)]
        res["status"] = appt.status
        res["serviceType"] = [_service(appt.service)]
        res["start"] = appt.start.isoformat()
        res["end"] = (appt.end or appt.start).isoformat()
        if appt.organization is not None:
            res["supportingInformation"] = [ctx.org_ref[appt.organization]]
        if appt.referral is not None:
            res["basedOn"] = [
                ctx.ref(
                    "ServiceRequest",
                    ctx.local_url("ServiceRequest", "servicerequest", appt.referral),
                )
            ]
        participants: list[dict[str, Any]] = [{"actor": ctx.patient_ref, "status": "accepted"}]
        if appt.practitioner is not None:
            participants.append({"actor": ctx.person_ref[appt.practitioner], "status": "accepted"})
        res["participant"] = participants
        out.append((url, res))
    return out


def request_to_fhir(ctx: Context, request: Request) -> Entry:
    """A ServiceRequest of the episode's other requests, as it was read."""
    url = ctx.local_url("ServiceRequest", "request", request.key)
    res = ctx.head("ServiceRequest", url, None, linked=True)
    res["identifier"] = [ctx.identifier("request", request.key)]
    res["status"] = request.status
    res["intent"] = request.intent
    if request.categories:
        res["category"] = [code_concept(c) for c in request.categories]
    if request.priority is not None:
        res["priority"] = request.priority
    code: dict[str, Any] = code_concept(request.code) if request.code is not None else {}
    if request.title:
        code = {**code, "text": request.title}
    if code:
        res["code"] = code
    res["subject"] = ctx.patient_ref
    if isinstance(request.occurrence, Period):
        res["occurrencePeriod"] = fhir_period(request.occurrence)
    elif request.occurrence is not None:
        res["occurrenceDateTime"] = fhir_moment(request.occurrence)
    if request.authored is not None:
        res["authoredOn"] = fhir_moment(request.authored)
    if request.requester is not None:
        res["requester"] = _party(ctx, request.requester)
    if request.performers:
        res["performer"] = [_party(ctx, k) for k in request.performers]
    if request.reason_codes:
        res["reasonCode"] = [code_concept(c) for c in request.reason_codes]
    if request.reasons:
        res["reasonReference"] = [ctx.condition_ref[k] for k in request.reasons]
    return url, res


def _party(ctx: Context, key: str) -> dict[str, str]:
    """A person (a practitioner through their role) or an organization of the episode."""
    return ctx.person_ref.get(key) or ctx.org_ref[key]
