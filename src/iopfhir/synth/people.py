"""The episode's frame and its people: program kind and dates, team, support, patient,
the referral (with the inpatient stay's clinicians and discharge plan), medications.

Each function makes the draws of one part of an episode from the episode's random
stream, in the order :func:`iopfhir.synth.episode.synth_episode_data` calls them (the
order is what makes a seed's output reproducible). Imports :mod:`.pools` and
:mod:`iopfhir.terminology` (the RxNorm and SNOMED codes it draws).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from typing import Any

from iopfhir.terminology import codes

from .pools import DX, person_name

__all__ = [
    "Frame",
    "Team",
    "draw_diagnoses",
    "draw_disposition",
    "draw_frame",
    "draw_medications",
    "draw_patient",
    "draw_referral",
    "draw_support",
    "draw_team",
]

Data = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Frame:
    """What every step of one episode shares: its random stream, program kind and dates."""

    rng: random.Random
    seed: int
    index: int
    kind: str
    weeks: int
    tz: timezone
    start: date
    end: date
    period: dict[str, str]


@dataclass(frozen=True, slots=True)
class Team:
    """The episode's clinicians, drawn from the shared staff pool."""

    roles: list[str]
    practitioners: list[Data]
    by_role: dict[str, str]
    lead: str


def draw_frame(index: int, seed: int) -> Frame:
    """The program kind, its length, the time zone and the dates."""
    rng = random.Random(f"{seed}-{index}")
    kind = rng.choices(["mental-health", "substance-use", "co-occurring"], [5, 3, 2])[0]
    weeks = rng.randint(6, 10)
    tz = timezone(timedelta(hours=rng.choice([-8, -7, -6, -5])))
    start = date(2025, 1, 6) + timedelta(weeks=rng.randrange(90))
    end = start + timedelta(weeks=weeks) - timedelta(days=3)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    return Frame(rng, seed, index, kind, weeks, tz, start, end, period)


def draw_team(frame: Frame, staff: dict[str, list[Data]]) -> Team:
    """Five clinicians; substance-use programs have an addiction prescriber."""
    rng = frame.rng
    team_roles = ["therapist", "psychiatrist", "counselor", "case-manager", "peer-support"]
    if frame.kind != "mental-health":
        team_roles[1] = rng.choice(["addiction-specialist", "psychiatric-np"])
    practitioners = [rng.choice(staff[role]) for role in team_roles]
    by_role = {p["role"]: p["key"] for p in practitioners}
    return Team(team_roles, practitioners, by_role, practitioners[0]["key"])


def draw_support(frame: Frame) -> Data:
    """The patient's support person."""
    rng = frame.rng
    return {
        "key": "support-1",
        "name": person_name(rng),
        "relationship": rng.choice(["mother", "father", "spouse", "sibling", "friend"]),
        "phone": f"+1-555-{rng.randrange(10000):04d}",
    }


def draw_diagnoses(frame: Frame) -> list[Data]:
    """A primary diagnosis for the program kind, often a mental-health second one."""
    rng = frame.rng
    kind = frame.kind
    dx_pool = DX["mental-health"] if kind == "mental-health" else DX["substance-use"]
    diagnoses = [(dx_pool[rng.randrange(len(dx_pool))])]
    if kind == "co-occurring" or rng.random() < 0.5:
        other = DX["mental-health"][rng.randrange(2)]
        if other not in diagnoses:
            diagnoses.append(other)
    return [
        {
            "key": f"dx-{i + 1}",
            "code": {
                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                "code": code,
                "display": display,
            },
            "clinical_status": "active",
            "recorded": frame.start.isoformat(),
        }
        for i, (code, display) in enumerate(diagnoses)
    ]


def draw_patient(frame: Frame) -> Data:
    """The patient: an identifier from the seed and index, name, birth date, gender."""
    rng = frame.rng
    return {
        "key": "patient",
        "identifiers": [
            {
                "system": f"urn:oid:2.16.840.1.113883.3.8901.{frame.seed}",
                "value": f"SYN-{frame.index:06d}",
            }
        ],
        "name": person_name(rng),
        "birth_date": date(
            1950 + rng.randrange(55), rng.randint(1, 12), rng.randint(1, 28)
        ).isoformat(),
        "gender": rng.choice(["female", "male", "other"]),
    }


def draw_referral(frame: Frame, team: Team, readmitted: date | None = None) -> Data:
    """The referral into the program, often after an inpatient stay; after the inpatient
    readmission admitted on ``readmitted`` (the patient's earlier episode ended before it),
    always from that stay."""
    rng = frame.rng
    stay_end = frame.start - timedelta(days=rng.randint(1, 5))
    source = rng.choices(["inpatient", "php", "outpatient", "emergency"], [5, 2, 2, 1])[0]
    if readmitted is not None:
        source = "inpatient"
        stay_end = max(stay_end, readmitted + timedelta(days=2))
    referral: Data = {
        "key": "referral",
        "source": source,
        "date": stay_end.isoformat(),
        "requester": team.by_role[team.roles[1]],
        "reason": "Needs more support than weekly therapy",
    }
    if source == "inpatient":
        stay_start = stay_end - timedelta(days=rng.randint(4, 14))
        referral["stay"] = {
            "start": (readmitted or stay_start).isoformat(),
            "end": stay_end.isoformat(),
        }
        _add_stay_clinicians(frame, team, referral)
    return referral


def _add_stay_clinicians(frame: Frame, team: Team, referral: Data) -> None:
    """The stay's clinicians and discharge plan. Drawn from a stream of their own, so the
    draws of every other part of a seed's episodes stay what they were before stays had
    clinicians."""
    rng = random.Random(f"{frame.seed}-{frame.index}-stay")
    requester = referral["requester"]
    participants = [{"practitioner": requester, "role": "attender"}]
    if rng.random() < 0.5:  # the patient keeps the therapist they had on the ward
        participants.append({"practitioner": team.lead, "role": "consultant"})
    participants.append({"practitioner": requester, "role": "discharger"})
    referral["stay_participants"] = participants
    referral["discharge_plan"] = {
        "key": "discharge-plan",
        "title": "Inpatient discharge plan",
        "status": "completed",
        "created": referral["stay"]["end"],
        "author": requester,
        "description": "Step down to an intensive outpatient program",
    }


#: Medications by program kind: keys of ``codes.json`` ``medications``.
_MEDICATIONS = {
    "mental-health": [
        "sertraline-50mg-tablet",
        "escitalopram-10mg-tablet",
        "fluoxetine-20mg-capsule",
    ],
    "substance-use": ["naltrexone-50mg-tablet"],
}


def draw_medications(frame: Frame, team: Team, diagnoses: list[Data]) -> Data:
    """``medications``, ``prescriptions`` and ``allergies`` of one episode: an SSRI for a
    mental-health diagnosis, naltrexone for a substance-use one (RxNorm codes from the
    terminology data), each taken and prescribed by the team's prescriber; sometimes a
    sulfonamide allergy. Drawn from a stream of their own (see :func:`_add_stay_clinicians`)."""
    rng = random.Random(f"{frame.seed}-{frame.index}-medications")
    table = codes()
    prescriber = team.by_role[team.roles[1]]
    medications: list[Data] = []
    prescriptions: list[Data] = []
    for dx in diagnoses:
        kind = "substance-use" if dx["code"]["code"].startswith("F1") else "mental-health"
        name = rng.choice(_MEDICATIONS[kind])
        code = dict(table["medications"][name])
        n = len(medications) + 1
        medications.append(
            {
                "key": f"med-{n}",
                "code": code,
                "status": "active",
                "period": {"start": frame.start.isoformat()},
                "asserted": frame.start.isoformat(),
                "dosage": "Once daily by mouth",
                "reasons": [dx["key"]],
                "source": "patient",
            }
        )
        prescriptions.append(
            {
                "key": f"rx-{n}",
                "code": code,
                "status": "completed",
                "authored": frame.start.isoformat(),
                "prescriber": prescriber,
                "dosage": "Once daily by mouth",
                "reasons": [dx["key"]],
                "refills": rng.randint(0, 3),
            }
        )
    allergies: list[Data] = []
    if rng.random() < 0.2:
        allergies.append(
            {
                "key": "allergy-1",
                "code": dict(table["allergens"]["sulfonamide"]),
                "category": "medication",
                "criticality": rng.choice(["low", "high"]),
                "recorded": frame.start.isoformat(),
                "recorder": prescriber,
                "reactions": [
                    {
                        "manifestation": dict(table["allergy_reactions"]["skin-rash"]),
                        "severity": rng.choice(["mild", "moderate"]),
                    }
                ],
            }
        )
    return {"medications": medications, "prescriptions": prescriptions, "allergies": allergies}


def draw_disposition(frame: Frame, dropped_out: bool) -> str:
    """How the episode ended: completed or stepped down, or, for a patient who stopped
    attending, lost to follow-up or left against advice."""
    if dropped_out:
        return frame.rng.choices(["lost-to-follow-up", "left-against-advice"], [3, 2])[0]
    return frame.rng.choices(["completed", "step-down"], [2, 1])[0]
