"""The sessions of the plain-Python reading of the measures (:mod:`reference`): each session
once, whether recorded as an Appointment, an Encounter or both (docs/outcomes.md,
``iopfhir.outcomes.sessions``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.outcomes.reference_data import (
    DELIVERY_EXT,
    INPATIENT,
    WITHOUT_PATIENT,
    _d,
    _minutes,
    _ref,
    session_kind,
)


def _planned(r: Mapping[str, Any]) -> int:
    """Whole minutes of an Appointment: start to end, else its minutesDuration (at most a
    day); else 0."""
    if r.get("end") is not None:
        return _minutes(r.get("start"), r.get("end"))
    planned = r.get("minutesDuration")
    return planned if isinstance(planned, int) and 0 < planned <= 1440 else 0


#: Appointment statuses an Encounter of the session settles
OPEN = ("booked", "pending", "arrived", "checked-in")

Session = tuple[dt.date, str, bool]  # (date, status, by video)
Link = tuple[str | None, bool]  # an Encounter referencing an Appointment: (status, class VR)
#: a session Encounter: (Appointment key, patient, date, status, class VR)
SessionEncounter = tuple[str | None, str, dt.date, str | None, bool]


@dataclass
class Sessions:
    """What the resources say of sessions, gathered as they are read, then joined."""

    appointment_keys: set[str] = field(default_factory=set)  # every Appointment of the data
    #: session Appointment key -> (patient, date, status, telehealth)
    appointments: dict[str, tuple[str, dt.date, str, bool]] = field(default_factory=dict)
    #: Appointment key -> the Encounters referencing it
    links: dict[str, list[Link]] = field(default_factory=lambda: defaultdict(list))
    encounters: list[SessionEncounter] = field(default_factory=list)
    #: fulfilled session Appointment key -> minutes it lasted (its hours, when no
    #: Encounter records it)
    minutes: dict[str, int] = field(default_factory=dict)

    def appointment(self, r: Mapping[str, Any], patient: str | None, pstatus: Any) -> None:
        key = "Appointment/" + r["id"]
        self.appointment_keys.add(key)
        day = _d(r.get("start"))
        tele = any(
            e.get("url") == DELIVERY_EXT and e.get("valueCode") == "telehealth"
            for e in r.get("extension", [])
        )
        kind = session_kind(r, ("serviceType", "appointmentType"))
        session = kind is not None and kind not in WITHOUT_PATIENT
        if patient and day and session and pstatus != "declined":
            self.appointments[key] = (patient, day, r.get("status", ""), tele)
            if r.get("status") == "fulfilled" and kind not in WITHOUT_PATIENT:
                self.minutes[key] = _planned(r)

    def encounter(self, r: Mapping[str, Any]) -> None:
        appt = _ref((r.get("appointment") or [{}])[0], "Appointment")  # the first reference
        video = r.get("class", {}).get("code") == "VR"
        status = r.get("status")
        if appt:
            self.links[appt].append((status, video))
        patient = _ref(r.get("subject"), "Patient")
        day = _d(r.get("period", {}).get("start"))
        kind = session_kind(r)
        inpatient = r.get("class", {}).get("code") in INPATIENT
        if patient and day and kind is not None and kind not in WITHOUT_PATIENT and not inpatient:
            self.encounters.append((appt, patient, day, status, video))

    def appointment_hours(self) -> dict[str, list[tuple[dt.date, int]]]:
        """patient -> (date, minutes) of their fulfilled session Appointments that no
        Encounter records: the hours of an EHR that keeps only the schedule."""
        out: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
        for key, minutes in self.minutes.items():
            if key not in self.links:
                patient, day, _status, _tele = self.appointments[key]
                out[patient].append((day, minutes))
        return out

    def by_patient(self) -> dict[str, list[Session]]:
        """patient -> their sessions: (date, status, by video)."""
        out: dict[str, list[Session]] = defaultdict(list)
        for key, (patient, day, status, tele) in self.appointments.items():
            links = self.links.get(key, [])
            if status in OPEN and any(s == "finished" for s, _v in links):
                status = "fulfilled"
            elif status in OPEN and any(s == "cancelled" for s, _v in links):
                status = "cancelled"
            out[patient].append((day, status, tele or any(v for _s, v in links)))
        for appt, patient, day, status, video in self.encounters:
            if appt in self.appointment_keys:
                continue  # the same session as that Appointment
            settled = {"finished": "fulfilled", "cancelled": "cancelled"}.get(status or "", "")
            out[patient].append((day, settled, video))
        return out
