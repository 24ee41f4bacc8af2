"""FHIR R4 Appointment + Encounter → one :class:`~iopfhir.domain.Session` of the episode.

The counterpart of :mod:`iopfhir.fhir.build.sessions`. An Appointment and the Encounter
that names it (``Encounter.appointment``) are one session; either alone is one too.
Appointments and Encounters that are something else (aftercare appointments, the
referral's stay) are skipped. ``Session.forms`` records which of the two the source had
(``None`` when it had both, or an Appointment for a no-show / cancelled session), so that
re-export invents neither. The status comes from the Appointment (an Encounter that
happened, or was cancelled, makes a booked one attended, or cancelled), else from the
Encounter; the planned times from the Appointment, the actual times of an attended session
from the Encounter period (one end alone, or reversed, is counted: they are a pair).
The facilitator is the ``PPRF`` participant (else the first untyped practitioner; a
person neither takes nor the Encounter's participants hold, a further ``PPRF`` or untyped
one or one of the Appointment when the Encounter says who took part, is counted, and so
is a further Encounter of an Appointment's session),
attendees the ``PART`` / ``ATND`` ones and the supports (a patient listed as
``information-only`` / ``declined`` is neither: the session met without them, which the
kind says), read from iopfhir's own Appointment when there is one. The Encounter's
participants as written (each with its types) are ``Session.participants`` unless they are
what the facilitator and attendees give; its locations and ``serviceProvider`` are
``locations`` and ``provider``. A Location among the Appointment's actors is one of the
``locations`` of a session with an Encounter; an Appointment participant without an actor,
or whose actor names no resource (a ``display`` only), a Location of a session without an
Encounter, a HealthcareService, a Device, another patient or a person the input lacks
(a reference-only practitioner is one it has) has no place in a session and is counted. The
modality is the ``therapy-modality`` extension of the Encounter, else of the Appointment.
CPT / HCPCS codes in ``Encounter.type`` are derived from the kind and so not read back;
data without a session-kind coding gets its kind from a procedure code the terminology
data maps to exactly one kind (``90853`` group therapy...).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's ``_context``, ``encounter_parts``, ``people``, ``source`` and ``values``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from iopfhir.domain import Code, Session, SessionParticipant
from iopfhir.domain.common import when
from iopfhir.domain.sessions import SessionForm, kinds_without_patient, procedure_codes_of
from iopfhir.domain.vocabulary import SessionStatus
from iopfhir.fhir.conventions import EXT
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.concepts import note_beside, read_code
from iopfhir.fhir.read.encounter_parts import (
    note_appointment_participants,
    note_episode_links,
    note_participant,
    telehealth_class,
)
from iopfhir.fhir.read.grouping import NAMED_TYPE, TAKEN
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.keys import is_key
from iopfhir.fhir.read.people import (
    entry_person_key,
    location_key,
    org_key,
    person_key,
    read_location,
)
from iopfhir.fhir.read.session_kind import kind_places, read_kind
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_dict,
    as_list,
    codings,
    concept_key,
    duration_minutes,
    extension,
    first_code,
    note,
    parse_timestamp,
    text,
)
from iopfhir.terminology import code_system_url, codes

__all__ = ["derived_participants", "read_session"]

_APPOINTMENT_STATUS: dict[str, SessionStatus] = {
    "proposed": "scheduled",
    "pending": "scheduled",
    "booked": "scheduled",
    "waitlist": "scheduled",
    "arrived": "attended",
    "checked-in": "attended",
    "fulfilled": "attended",
    "noshow": "no-show",
    "cancelled": "cancelled",
}
_ENCOUNTER_STATUS: dict[str, SessionStatus] = {
    "planned": "scheduled",
    "arrived": "attended",
    "triaged": "attended",
    "in-progress": "attended",
    "onleave": "attended",
    "finished": "attended",
    "cancelled": "cancelled",
}
_HELD_BY_ENCOUNTER = frozenset({"scheduled", "attended", "cancelled"})  # R4: no no-show


def _length(res: dict[str, Any]) -> tuple[str, timedelta | None] | None:
    """The element of ``res`` that gives a session's planned length, and that length."""
    for element, at in (("minutesDuration", "Appointment"), ("length", "Encounter")):
        if res.get(element) is not None:
            return element, duration_minutes(res[element], f"{at}.{element}")
    return None


def read_session(ctx: Context, entry: Entry) -> None:
    """The session of an Appointment or Encounter, added to the episode's sessions (once
    per Appointment + Encounter pair)."""
    if id(entry) in ctx.not_sessions or id(entry) in ctx.session_of:
        return
    res = entry.resource
    if entry.own_key("stay") is not None:
        return
    appointment: Entry | None = None
    encounter: Entry | None = None
    if entry.type == "Appointment":
        appointment = entry
        encounter = _encounter_of(ctx).get(id(entry))
    else:
        encounter = entry
        for ref in as_list(res.get("appointment")):
            target = ctx.resolve(ref, entry)
            if target is not None and target.type == "Appointment":
                if id(target) in ctx.not_sessions:
                    continue
                appointment = target
                break
    if appointment is not None and id(appointment) in ctx.session_of:
        if encounter is not None:  # a further Encounter of the Appointment's session
            ctx.session_of[id(encounter)] = ctx.session_of[id(appointment)]
            ctx.unmapped[_MORE_ENCOUNTER] += 1
        return
    status = _session_status(appointment, encounter)
    if status is None:
        ctx.unmapped[f"{entry.type}: entered-in-error"] += 1
        return
    ares = appointment.resource if appointment else {}
    eres = encounter.resource if encounter else {}
    eperiod = as_dict(eres.get("period"))
    # each value parsed once, so a value that cannot be taken is reported once
    e_start = parse_timestamp(eperiod.get("start"), "Encounter.period.start")
    e_end = parse_timestamp(eperiod.get("end"), "Encounter.period.end")
    start = parse_timestamp(ares.get("start"), "Appointment.start") or e_start
    end = parse_timestamp(ares.get("end"), "Appointment.end") or e_end or start
    if appointment is not None and not ares.get("start"):
        end = e_end or start
    if start is None or end is None:
        ctx.unmapped[f"{entry.type}: session without a start time"] += 1
        return
    lasted = None  # an open end (R4): the planned length, when given, says when it ends
    if end is start and not (eperiod.get("end") or ares.get("end")):
        lasted = _length(ares if ares.get("start") else eres)
        if lasted is not None and lasted[1] is not None:
            end = start + lasted[1]
        else:
            where = "Appointment.end" if appointment is not None else "Encounter.period.end"
            note(where, "missing (the session is read as ending when it starts)")
    if when(end) < when(start):
        note(f"{entry.type}.end", "before the start (read as the start)")
        end = start
    actual_start = actual_end = None
    # the Encounter's period is what happened (equal to the plan when it went as planned:
    # the domain's default for attended sessions)
    attended = appointment is not None and encounter is not None and status == "attended"
    if attended and e_start and e_end and when(e_end) >= when(e_start):
        actual_start, actual_end = e_start, e_end
    elif attended and (e_start or e_end):  # actual times are a pair in the model
        note("Encounter.period", "one end only or reversed (read as the planned times)")
    primary = appointment or encounter
    assert primary is not None
    key = ctx.new_key("sessions", primary, "session", "encounter")
    length = (lasted[0],) if lasted is not None else ()  # the element the end was read from
    if appointment is not None:
        note_unheld(ares, "Appointment", length)
    if encounter is not None:
        note_unheld(eres, "Encounter", length)
        if "episodeOfCare" in eres:
            eoc, enc = ctx.eoc, encounter  # (eoc None: the input has none of the episode)
            links = eres["episodeOfCare"]
            note_episode_links(links, lambda r: eoc is not None and ctx.resolve(r, enc) is eoc)
    kind, kind_code = read_kind(ares, eres)
    if appointment is not None and "participant" in ares:
        note_appointment_participants(
            ares["participant"],
            lambda actor: person_key(ctx, actor, appointment) == ctx.patient_key,
            kind not in kinds_without_patient(),
        )
    modality = None
    for holder, rtype in ((eres, "Encounter"), (ares, "Appointment")):
        found = extension(holder, EXT.THERAPY_MODALITY)
        if found is None:
            continue
        at, concept = f"{rtype}.extension.valueCodeableConcept", found.get("valueCodeableConcept")
        if modality is None:  # the Encounter's first: written to both
            modality = read_code(concept, "modality", at)
        elif concept_key(concept, "modality") != modality:
            note(at, "a modality other than the session's (dropped)")
        else:
            note_beside(concept, at, {(code_system_url("modality"), modality)})
    telehealth = telehealth_class(eres)  # a class it cannot give back is counted there
    setting = extension(ares, EXT.DELIVERY_SETTING)
    if setting is not None and setting.get("valueCode") in ("telehealth", "in-person"):
        telehealth = setting["valueCode"] == "telehealth"
    facilitator, attendees, skipped = _participants(ctx, appointment, encounter)
    participants: list[SessionParticipant] = []
    locations: list[str] = []
    provider = None
    with_encounter = encounter is not None and status in _HELD_BY_ENCOUNTER
    if encounter is not None and with_encounter:
        written = _encounter_participants(ctx, encounter)
        if not _as_derived(ctx, written, facilitator, attendees):
            participants = [_participant(member, types) for member, types in written]
            if appointment is None:  # the Encounter's participants say who took part
                facilitator, attendees = None, []
        # else: what the facilitator and attendees give (not kept)
        locations, provider = _where(ctx, encounter)
    if skipped:  # people neither takes: dropped unless held as Encounter participants
        held = {facilitator, *attendees, *(p.member for p in participants)}
        for person, why in skipped.items():
            if person not in held:
                ctx.unmapped[why] += 1
    if appointment is not None:
        for place in _appointment_actors(ctx, appointment, with_encounter):
            if place not in locations:
                locations.append(place)
    activity = None
    for source in (appointment, encounter):
        if source is not None and id(source) in ctx.activity_of_appointment:
            activity = ctx.activity_of_appointment[id(source)]
            break
    cancel_reason = None
    reason = ares.get("cancelationReason")
    if isinstance(reason, dict):
        cancel_reason = text(reason.get("text"))
    forms = _forms(status, appointment is not None, encounter is not None, activity)
    resources = Session.forms_written(status, forms)
    minutes = int(((actual_end or end) - (actual_start or start)).total_seconds() // 60)
    derives = bool(procedure_codes_of(kind, status, minutes, ctx.program_type))
    session = Session(
        key=key,
        kind=kind,
        kind_code=kind_code,
        status=status,
        start=start,
        end=end,
        actual_start=actual_start,
        actual_end=actual_end,
        telehealth=telehealth,
        facilitator=facilitator,
        attendees=attendees,
        activity=activity,
        modality=modality,
        cancel_reason=cancel_reason if status == "cancelled" else None,
        forms=forms,
        kind_in=kind_places(
            kind,
            kind_code,
            ares if appointment is not None else None,
            eres if encounter is not None else None,
            resources,
            derives,
        ),
        participants=participants,
        locations=locations,
        provider=provider,
    )
    ctx.sessions.append(session)
    for source in (appointment, encounter):
        if source is not None:
            ctx.session_of[id(source)] = key


#: ``unmapped`` reasons of a session's Encounters and people it cannot hold
_MORE_ENCOUNTER = "Encounter: a further one of an Appointment's session (merged, not read)"
_SKIPPED = "a practitioner after the session's facilitator, untyped or a further PPRF (dropped)"
_UNLISTED = "Appointment.participant: a person the session's Encounter does not list (dropped)"
_NO_PERSON = "Appointment.participant.actor: a person not in the input (dropped)"
#: the actors of an Appointment participant a session may hold as a person
_PERSON_ACTORS = frozenset({"Patient", "Practitioner", "PractitionerRole", "RelatedPerson"})
#: ``unmapped`` reason of an Appointment actor that is no person, by its resource type
_ACTOR_DROPPED = {
    "Location": "Appointment.participant.actor: a Location of a session without an "
    "Encounter (dropped)",
    "HealthcareService": "Appointment.participant.actor: a HealthcareService (dropped)",
    "Device": "Appointment.participant.actor: a Device (dropped)",
}
_OTHER_ACTOR = (
    "Appointment.participant.actor: names no person, location, service or device of the "
    "input (dropped)"
)
_OTHER_PATIENT = "Appointment.participant.actor: a patient other than the episode's (dropped)"


def _appointment_actors(ctx: Context, appointment: Entry, with_encounter: bool) -> list[str]:
    """The keys of the Locations among the actors of ``appointment`` when the session has
    an Encounter (``Session.locations``, which are written there); the rest a session has
    no place for is counted: a participant without an actor (a role to fill) or with an
    actor that has no ``reference`` and names no resource by its identifier (a ``display``
    only), a Location of a session without an Encounter, a HealthcareService, a Device,
    another patient. The Encounter's participants are counted where they are read."""
    places: list[str] = []
    for part in as_list(appointment.resource.get("participant")):
        if not isinstance(part, dict):
            continue
        actor = part.get("actor")
        if actor is None:
            ctx.unmapped["Appointment.participant.actor: missing (participant dropped)"] += 1
            continue
        target = ctx.resolve(actor, appointment)
        if target is not None and target.type not in TAKEN:
            target = None  # no streaming store holds a type no reader takes: as there
        if target is not None:
            kind: str | None = target.type
        else:
            ref = actor.get("reference") if isinstance(actor, dict) else actor
            if not (isinstance(ref, str) and ref):
                ctx.unmapped["Appointment.participant.actor: no reference (dropped)"] += 1
                continue
            if person_key(ctx, actor, appointment) is not None:
                continue  # a reference-only practitioner: read by ``_participants``
            kind = _named_type(actor, ref)
        if kind in _PERSON_ACTORS:  # the usual case: read by ``_participants``
            if target is None:
                ctx.unmapped[_NO_PERSON] += 1
            elif kind == "Patient" and target is not ctx.group.patient:
                ctx.unmapped[_OTHER_PATIENT] += 1
            continue
        if kind == "Location" and target is not None and with_encounter:
            place = read_location(ctx, target)
            if place not in places:
                places.append(place)
            continue
        if kind == "Location" and target is None:
            kind = None  # a Location the input lacks
        ctx.unmapped[_ACTOR_DROPPED.get(kind or "", _OTHER_ACTOR)] += 1
    return places


def _named_type(actor: Any, ref: str) -> str | None:
    """The resource type a reference names by itself (``type``, else ``Type/id``)."""
    named = actor.get("type") if isinstance(actor, dict) else None
    if isinstance(named, str):
        return named
    found = NAMED_TYPE.search(ref)
    return found.group(1) if found is not None else None


def _forms(
    status: str, appointment: bool, encounter: bool, activity: str | None
) -> list[SessionForm] | None:
    """What the session came as (``Session.forms``); ``None`` when that is what every
    session of its status is written as. An Encounter cannot hold a no-show, and a plan
    activity names its session's Appointment: those are written with an Appointment even
    when the source had only an Encounter; a cancelled Encounter is kept."""
    held = encounter and status in _HELD_BY_ENCOUNTER
    with_appointment = appointment or activity is not None or not held
    forms: list[SessionForm] = ["appointment"] if with_appointment else []
    if held:
        forms.append("encounter")
    default = (
        ["appointment", "encounter"] if status in ("scheduled", "attended") else ["appointment"]
    )
    return None if forms == default else forms


#: v3 ParticipationType: how iopfhir types a facilitator (PPRF) and an attendee (PART)
_V3_PARTICIPATION = codes()["stay_participation"]["system"]


def derived_participants(
    ctx: Context, facilitator: str | None, attendees: list[str]
) -> list[SessionParticipant]:
    """The Encounter participants the facilitator and attendees give (as written)."""
    out = []
    if facilitator is not None and facilitator != ctx.patient_key:
        out.append(_part(facilitator, "PPRF"))
    out += [_part(k, "PART") for k in attendees if k not in (facilitator, ctx.patient_key)]
    return out


def _as_derived(
    ctx: Context,
    participants: Sequence[SessionParticipant | _Written],
    facilitator: str | None,
    attendees: list[str],
) -> bool:
    """``participants == derived_participants(ctx, facilitator, attendees)``, without
    building the derived ones (the same fields compared: member, and one type of
    :data:`_V3_PARTICIPATION` without a display)."""
    wanted: list[tuple[str, str]] = []
    if facilitator is not None and facilitator != ctx.patient_key:
        wanted.append((facilitator, "PPRF"))
    wanted += [(k, "PART") for k in attendees if k not in (facilitator, ctx.patient_key)]
    if len(wanted) != len(participants):
        return False
    for part, (member, code) in zip(participants, wanted, strict=True):
        if part.member != member or len(part.types) != 1:
            return False
        kind = part.types[0]
        if kind.system != _V3_PARTICIPATION or kind.code != code or kind.display is not None:
            return False
    return True


def _part(member: str, code: str) -> SessionParticipant:
    return SessionParticipant(member=member, types=[Code(system=_V3_PARTICIPATION, code=code)])


class _Written(NamedTuple):
    """An Encounter participant as read, before it is kept as a SessionParticipant (most
    are what the facilitator and attendees give, and are not)."""

    member: str
    types: list[Code]


def _encounter_participants(ctx: Context, encounter: Entry) -> list[_Written]:
    """``Encounter.participant`` as written: who (a practitioner or support) and the first
    coding of each type; one that names nobody of the episode is counted."""
    out: list[_Written] = []
    for part in as_list(encounter.resource.get("participant")):
        if not isinstance(part, dict):
            continue
        who = part.get("individual")
        member = person_key(ctx, who, encounter) if who is not None else None
        if member is None or member == ctx.patient_key:
            ctx.unmapped["Encounter.participant: not a practitioner or support (dropped)"] += 1
            continue
        note_participant(part)
        types = [
            c
            for t in as_list(part.get("type"))
            if (c := first_code(t, "Encounter.participant.type")) is not None
        ]
        out.append(_Written(member, types))
    return out


def _participant(member: str, types: list[Code]) -> SessionParticipant:
    """One participant read from an Encounter."""
    if is_key(member):  # checked here; ``types`` are validated Codes: not again
        return SessionParticipant.model_construct(member=member, types=types)
    return SessionParticipant(member=member, types=types)


def _where(ctx: Context, encounter: Entry) -> tuple[list[str], str | None]:
    """``Encounter.location`` (the locations) and ``serviceProvider`` (an organization)."""
    res = encounter.resource
    locations: list[str] = []
    for item in as_list(res.get("location")):
        key = location_key(ctx, as_dict(item).get("location"), encounter)
        if key is None:
            ctx.unmapped["Encounter.location: not a location of the input (dropped)"] += 1
        elif key not in locations:
            locations.append(key)
    provider = None
    if res.get("serviceProvider") is not None:
        provider = org_key(ctx, res["serviceProvider"], encounter)
        if provider is None:
            ctx.unmapped["Encounter.serviceProvider: not an organization of the input"] += 1
    return locations, provider


def _encounter_of(ctx: Context) -> dict[int, Entry]:
    """Appointment entry id → the (first) Encounter of the episode that names it."""
    cached = ctx.encounter_of
    if cached is None:
        cached = {}
        for entry in ctx.entries:
            if entry.type == "Encounter":
                for ref in as_list(entry.resource.get("appointment")):
                    target = ctx.resolve(ref, entry)
                    if target is not None:
                        cached.setdefault(id(target), entry)
        ctx.encounter_of = cached
    return cached


def _session_status(appointment: Entry | None, encounter: Entry | None) -> SessionStatus | None:
    if appointment is not None:
        raw = appointment.resource.get("status")
        if raw == "entered-in-error":
            return None
        if (mapped := _APPOINTMENT_STATUS.get(str(raw))) is not None:
            if mapped == "scheduled" and encounter is not None:
                # what happened since it was booked: it took place, or was called off
                enc = _ENCOUNTER_STATUS.get(str(encounter.resource.get("status")))
                if enc in _HELD_BY_ENCOUNTER:
                    return enc
            return mapped
    if encounter is not None:
        raw = encounter.resource.get("status")
        if raw == "entered-in-error":
            return None
        if (mapped := _ENCOUNTER_STATUS.get(str(raw))) is not None:
            return mapped
        period = encounter.resource.get("period")
        return "attended" if isinstance(period, dict) and period.get("end") else "scheduled"
    return "scheduled"


def _type_codes(types: Any) -> set[str]:
    """The codes of every coding of a participant's ``type`` (each code :func:`codings`
    finds), read inline for the common shape (a list of CodeableConcepts with a list of
    codings): asked of every participant of every session."""
    out: set[str] = set()
    for concept in types if type(types) is list else as_list(types):
        if type(concept) is dict and type(items := concept.get("coding")) is list:
            for coding in items:
                if isinstance(coding, dict):
                    code = coding.get("code")
                    if isinstance(code, str):
                        out.add(code)
        else:
            out.update(c for _s, c in codings(concept))
    return out


def _participants(
    ctx: Context, appointment: Entry | None, encounter: Entry | None
) -> tuple[str | None, list[str], dict[str, str]]:
    """The facilitator, the attendees, and the people neither takes (untyped practitioners
    after the first, further PPRF ones, an Appointment's people when its Encounter lists
    who took part): person key → ``unmapped`` reason, to count those the session does not
    hold as Encounter participants either."""
    facilitator: str | None = None
    skipped: dict[str, str] = {}
    untyped: list[str] = []
    attendees: list[str] = []
    sources: tuple[tuple[Entry | None, str], ...] = (
        (encounter, "individual"),
        (appointment, "actor"),
    )
    if appointment is not None and appointment.own_key("session") is not None:
        # iopfhir's Appointment lists the facilitator and attendees; the Encounter may list
        # participants as foreign data wrote them (``Session.participants``)
        sources = ((appointment, "actor"),)
    done = None
    for source, actor_key in sources:
        if source is None:
            continue
        done = source
        for part in as_list(source.resource.get("participant")):
            if not isinstance(part, dict) or part.get(actor_key) is None:
                continue
            target = ctx.resolve(part[actor_key], source)
            if target is None:  # a reference-only practitioner, else counted elsewhere
                person = person_key(ctx, part[actor_key], source)
                kind = "Practitioner"
            elif target.type in _PERSON_ACTORS:
                person = entry_person_key(ctx, target)  # person_key of the reference
                kind = target.type
            else:
                continue
            if person is None:
                continue
            types = _type_codes(part.get("type"))
            if "PPRF" in types:
                if facilitator is not None and person != facilitator:
                    skipped.setdefault(person, f"{source.type}.participant: {_SKIPPED}")
                facilitator = facilitator or person
            elif "PART" in types or ("ATND" in types and person != ctx.patient_key):
                if person not in attendees:
                    attendees.append(person)
            elif person != ctx.patient_key and kind != "RelatedPerson":
                untyped.append(person)
                skipped.setdefault(person, f"{source.type}.participant: {_SKIPPED}")
            elif kind == "RelatedPerson" and person not in attendees:
                attendees.append(person)
        if facilitator is not None or attendees:
            break
    if facilitator is None and appointment is not None:
        # the patient leads a session only on the Appointment (an Encounter participant
        # cannot be a Patient), so a PPRF there counts even when the Encounter has others
        for part in as_list(appointment.resource.get("participant")):
            if not isinstance(part, dict) or part.get("actor") is None:
                continue
            types = _type_codes(part.get("type"))
            if "PPRF" in types:
                facilitator = person_key(ctx, part["actor"], appointment)
                if facilitator is not None:
                    break
    if appointment is not None and done is not appointment:
        # the Encounter said who took part: the Appointment's people are not read from it
        for part in as_list(appointment.resource.get("participant")):
            if isinstance(part, dict) and part.get("actor") is not None:
                person = person_key(ctx, part["actor"], appointment)
                if person is not None and person != ctx.patient_key:
                    skipped.setdefault(person, _UNLISTED)
    if facilitator is None and untyped:
        facilitator = untyped[0]
    attendees = [a for a in attendees if a != facilitator]
    return facilitator, attendees, skipped
