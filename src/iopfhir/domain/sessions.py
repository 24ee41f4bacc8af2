"""Sessions: one scheduled meeting of the program about the patient, and what happened.

A session is scheduled, attended, a no-show or cancelled. Attended sessions carry the
actual times; group sessions list other attendees by key (family members, co-leaders).
Some kinds meet without the patient (team reviews, family therapy without the patient,
family education: ``session_kinds_without_patient`` in the terminology data): they are
about the patient but count toward neither their hours nor their attendance. A session
has the therapy modality it was delivered in (the episode fills in its activity's), and
the procedure codes (CPT / HCPCS) that describe it, derived from the terminology data.
``kind_in`` records where a session read from FHIR had its kind (the Appointment's service
or appointment type, the Encounter's type or service type: :meth:`Session.kind_places`);
``forms`` records whether a session read from FHIR came as an Appointment, an Encounter
or both (``None``, every session of an episode file: the Appointment, plus the Encounter
of a scheduled or attended session; a cancelled session read from a cancelled Encounter
keeps it, a no-show has none, as R4's Encounter has no such status);
:meth:`Session.written_forms` is what the FHIR builder writes.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from iopfhir.domain.common import Code, Key, Model, OwnRules, Timestamp
from iopfhir.domain.vocabulary import Modality, SessionKind, SessionStatus
from iopfhir.terminology import codes

__all__ = [
    "KindPlace",
    "Session",
    "SessionForm",
    "SessionParticipant",
    "default_kind_places",
    "fill_session_modality",
    "kinds_without_patient",
    "procedure_codes_of",
]

#: The FHIR resources of one session.
SessionForm = Literal["appointment", "encounter"]
#: Where a session's kind is written: the Appointment's service type or appointment type,
#: the Encounter's type or service type (an Encounter written always has it in its type,
#: which the profile requires); ``encounter-procedure``: the procedure codes derived from
#: the kind (:meth:`Session.procedure_codes`) beside it in the Encounter's type.
KindPlace = Literal[
    "appointment-service",
    "appointment-type",
    "encounter-procedure",
    "encounter-type",
    "encounter-service",
]
_WITH_ENCOUNTER = frozenset({"scheduled", "attended"})
#: the statuses an Encounter can hold (R4 has no no-show): a cancelled session read from
#: a cancelled Encounter keeps it (``forms``), though one of an episode file has none
_ENCOUNTER_CAN_HOLD = _WITH_ENCOUNTER | {"cancelled"}


@cache
def kinds_without_patient() -> frozenset[str]:
    """The session kinds that meet without the patient (terminology data)."""
    return frozenset(codes()["session_kinds_without_patient"])


@cache
def _per_diem_kinds() -> frozenset[str]:
    return frozenset(codes()["program_per_diem_session_kinds"])


#: where the kind goes when nothing says otherwise (``Session.kind_places``)
_DEFAULT_PLACES: tuple[KindPlace, ...] = (
    "appointment-service",
    "encounter-procedure",
    "encounter-service",
    "encounter-type",
)


@cache  # a few distinct arguments, asked for every session read
def default_kind_places(forms: tuple[SessionForm, ...]) -> tuple[KindPlace, ...]:
    """Where the FHIR builder writes the kind of a session written as ``forms`` when the
    session records no ``kind_in``: each resource's service type, the Encounter's type
    (with the procedure codes)."""
    return tuple(sorted(p for p in _DEFAULT_PLACES if p.split("-")[0] in forms))


class SessionParticipant(Model):
    """Someone who took part in a session as foreign data records it (FHIR
    ``Encounter.participant``): a practitioner or support, with the participation types
    written (v3 ParticipationType or any system; none when the source gave none)."""

    member: Key
    types: list[Code] = Field(default_factory=list)


class Session(OwnRules):
    """One session (FHIR Appointment, plus an Encounter when it took place or is planned).

    ``participants``: the Encounter's participants exactly as foreign data wrote them,
    when they are not what ``facilitator`` and ``attendees`` give (empty: the Encounter
    lists the facilitator and attendees). ``locations``: where it took place (location
    keys); ``provider``: the organization responsible (``Encounter.serviceProvider``)."""

    key: Key
    kind: SessionKind | None = None
    kind_code: Code | None = None
    status: SessionStatus
    start: Timestamp
    end: Timestamp
    actual_start: Timestamp | None = None
    actual_end: Timestamp | None = None
    telehealth: bool = False
    facilitator: Key | None = None
    attendees: list[Key] = Field(default_factory=list)
    activity: Key | None = None
    modality: Modality | None = None
    cancel_reason: str | None = None
    participants: list[SessionParticipant] = Field(default_factory=list)
    locations: list[Key] = Field(default_factory=list)
    provider: Key | None = None
    #: the FHIR resources the source had (read from FHIR); ``None``: the default ones
    forms: list[SessionForm] | None = None
    #: where the source wrote the kind (read from FHIR); ``None``: where the builder
    #: writes it by default (:meth:`kind_places`)
    kind_in: list[KindPlace] | None = None

    @field_validator("kind_in")
    @classmethod
    def _place_order(cls, value: list[KindPlace] | None) -> list[KindPlace] | None:
        """One entry per place, in a fixed order."""
        return None if value is None else sorted(set(value))

    @field_validator("forms")
    @classmethod
    def _form_order(cls, value: list[SessionForm] | None) -> list[SessionForm] | None:
        """One entry per form, Appointment first."""
        return None if value is None else sorted(set(value))

    @model_validator(mode="before")
    @classmethod
    def _attended_times(cls, data: Any) -> Any:
        """An attended session without recorded actual times took place as planned: actual
        = planned (FHIR has one Encounter.period, so the two cannot be told apart)."""
        if (
            isinstance(data, dict)
            and data.get("status") == "attended"
            and data.get("actual_start") is None
            and data.get("actual_end") is None
            and data.get("start") is not None
            and data.get("end") is not None
        ):
            data = {**data, "actual_start": data["start"], "actual_end": data["end"]}
        return data

    def check(self) -> None:
        """Raise ``ValueError`` (``@field: message``) if the session breaks one of its
        rules (run when a session is made)."""
        if self.end < self.start:
            raise ValueError("@end: is before start")
        if self.kind is not None and self.kind_code is not None:
            raise ValueError("@kind_code: a session has a kind or a kind_code, not both")
        if self.cancel_reason is not None and self.status != "cancelled":
            raise ValueError("@cancel_reason: only a cancelled session has a cancel reason")
        if len(set(self.attendees)) != len(self.attendees):
            raise ValueError("@attendees: lists an attendee twice")
        if self.facilitator is not None and self.facilitator in self.attendees:
            raise ValueError("@attendees: lists the facilitator (who attends anyway)")
        if (self.actual_start is None) != (self.actual_end is None):
            raise ValueError("@actual_end: actual_start and actual_end go together")
        if self.actual_start is not None and self.actual_end is not None:
            if self.status != "attended":
                raise ValueError(f"@actual_start: a {self.status} session has no actual times")
            if self.actual_end < self.actual_start:
                raise ValueError("@actual_end: is before actual_start")
        if self.forms is not None:
            self._check_forms(self.forms)
        self._check_encounter_parts()
        if self.kind_in is not None:
            self._check_kind_places(self.kind_in)

    def _check_kind_places(self, places: list[KindPlace]) -> None:
        """A kind is written where its resource is; an Encounter written has it in its
        type."""
        if self.kind is None and self.kind_code is None:
            raise ValueError("@kind_in: a session without a kind or kind_code")
        if not places:
            raise ValueError("@kind_in: names no place")
        forms = self.written_forms()
        for place in places:
            if place.split("-")[0] not in forms:
                raise ValueError(f"@kind_in: {place} of a session without that resource")
        if "encounter" in forms and "encounter-type" not in places:
            raise ValueError("@kind_in: the encounter's type holds the kind (encounter-type)")

    def _check_encounter_parts(self) -> None:
        """Encounter participants, locations and provider need an Encounter; a session
        without an Appointment that lists participants names no facilitator or attendees
        (its Encounter is where they would be written)."""
        forms = self.written_forms()
        if "encounter" not in forms:
            for name in ("participants", "locations", "provider"):
                if getattr(self, name):
                    raise ValueError(f"@{name}: a session without an encounter has none")
        elif (
            self.participants
            and "appointment" not in forms
            and (self.facilitator is not None or self.attendees)
        ):
            raise ValueError(
                "@participants: a session without an appointment lists participants, or a "
                "facilitator and attendees, not both"
            )

    def _check_forms(self, forms: list[SessionForm]) -> None:
        """What one resource alone cannot carry (read from FHIR, it never has it)."""
        if not forms:
            raise ValueError("@forms: names no form")
        if "encounter" in forms and self.status not in _ENCOUNTER_CAN_HOLD:
            raise ValueError(f"@forms: a {self.status} session has no encounter")
        if "appointment" not in forms and self.activity is not None:
            raise ValueError("@forms: a session of a plan activity needs its appointment")
        one_period = (self.actual_start, self.actual_end) in ((None, None), (self.start, self.end))
        if len(forms) == 1 and not one_period:
            # planned times live on the Appointment, actual ones on the Encounter
            raise ValueError("@actual_start: a session of one resource has one period")
        if "encounter" not in forms and (self.participants or self.locations or self.provider):
            raise ValueError("@forms: participants, locations and provider need the encounter")

    def written_forms(self) -> tuple[SessionForm, ...]:
        """The resources the FHIR builder writes: the recorded ``forms``, else the
        Appointment plus, for a scheduled or attended session, the Encounter."""
        return self.forms_written(self.status, self.forms)

    @staticmethod
    def forms_written(
        status: SessionStatus, forms: list[SessionForm] | None
    ) -> tuple[SessionForm, ...]:
        """:meth:`written_forms` of a session of ``status`` and ``forms``."""
        if forms is not None:
            return tuple(sorted(set(forms)))
        return ("appointment", "encounter") if status in _WITH_ENCOUNTER else ("appointment",)

    def kind_places(self) -> tuple[KindPlace, ...]:
        """Where the FHIR builder writes the kind: the recorded ``kind_in``, else the
        service type of each resource written and the Encounter's type (with the
        procedure codes)."""
        if self.kind_in is not None:
            return tuple(self.kind_in)
        return default_kind_places(self.written_forms())

    @property
    def delivered_minutes(self) -> int:
        """Minutes actually delivered (0 unless attended)."""
        return self.minutes if self.status == "attended" else 0

    @property
    def patient_present(self) -> bool:
        """Whether the patient takes part: not in the kinds that meet without them."""
        return self.kind not in kinds_without_patient()

    @property
    def patient_minutes(self) -> int:
        """Minutes of treatment the patient received: delivered minutes of an attended
        session the patient takes part in, else 0."""
        return self.delivered_minutes if self.patient_present else 0

    @property
    def minutes(self) -> int:
        """Length in minutes: actual for an attended session, else planned."""
        start = self.actual_start or self.start
        end = self.actual_end or self.end
        return int((end - start).total_seconds() // 60)

    def procedure_codes(self, program_type: str | None = None) -> list[Code]:
        """The CPT / HCPCS codes that describe this session (alternatives of one service),
        from the terminology data: the kind's own codes whose minute range (if any) holds
        the session's length; else, for kinds delivered as part of the program day, the
        program's per-diem code. Empty for other kinds, foreign kinds, and sessions that
        did not or will not take place."""
        return list(procedure_codes_of(self.kind, self.status, self.minutes, program_type))


def procedure_codes_of(
    kind: str | None, status: str, minutes: int, program_type: str | None = None
) -> tuple[Code, ...]:
    """:meth:`Session.procedure_codes` of a session of ``kind``, ``status`` and length
    ``minutes`` (a reader asks before it makes the session)."""
    if kind is None or status not in ("scheduled", "attended"):
        return ()
    return _procedure_codes(kind, program_type, minutes)


@lru_cache(maxsize=1024)
def _procedure_codes(kind: str, program_type: str | None, minutes: int) -> tuple[Code, ...]:
    # a cohort has few (kind, program, length) combinations: look each up once
    table = codes()
    entries = table["session_procedures"].get(kind)
    if entries is None:
        per_diem = table["program_per_diem"].get(program_type or "")
        if per_diem is None or kind not in _per_diem_kinds():
            return ()
        entries = [per_diem]
    return tuple(
        Code(system=e["system"], code=e["code"])
        for e in entries
        if e.get("min_minutes", 0) <= minutes <= e.get("max_minutes", minutes)
    )


def _field(item: Any, name: str) -> Any:
    """A field of a model or of its raw (dict) input."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def fill_session_modality(data: Any) -> Any:
    """Raw episode input with each session's missing modality set to its activity's (a
    session is delivered in the modality its plan activity names unless it says
    otherwise); anything else is returned as is. FHIR carries the modality on each
    session, so filling it in before validation keeps reading back equal."""
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), list):
        return data
    modality: dict[Any, Any] = {}
    for plan in data.get("care_plans") or ():
        for act in _field(plan, "activities") or ():
            if _field(act, "modality") is not None:
                modality.setdefault(_field(act, "key"), _field(act, "modality"))
    if not modality:
        return data
    sessions = []
    changed = False
    for session in data["sessions"]:
        if isinstance(session, Session):  # made: its fields read directly (most are)
            current, activity = session.modality, session.activity
        else:
            current, activity = _field(session, "modality"), _field(session, "activity")
        if current is None and activity in modality:
            value = modality[activity]
            if isinstance(session, dict):
                session = {**session, "modality": value}
                changed = True
            elif isinstance(session, Session):
                # its fields, for the episode to validate (a session it receives made is
                # not checked again: see ``Session.model_post_init``)
                session = {**session.__dict__, "modality": value}
                changed = True
        sessions.append(session)
    return {**data, "sessions": sessions} if changed else data
