"""A realistic synthetic IOP cohort in the input format, for integrators' tests and benchmarks.

``synth_episodes(n, seed)`` yields ``n`` episodes, deterministic for a seed: programs of
each kind (mental health, substance use, co-occurring), a referral (often after an
inpatient stay), a multidisciplinary team drawn from a shared staff pool (the same NPIs
recur across patients, as in a real program), diagnoses, the three care plans, three
program days a week of sessions over six to ten weeks (with telehealth, no-shows,
cancellations and family sessions), and instruments every two weeks whose scores
improve in most patients. Everything is fictional.

Imports the domain and terminology only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from iopfhir.domain import Episode
from iopfhir.terminology import instrument

__all__ = ["synth_episode_data", "synth_episodes"]

_FAMILY = [
    "Garcia",
    "Smith",
    "Johnson",
    "Nguyen",
    "Brown",
    "Patel",
    "Okafor",
    "Kowalski",
    "Haddad",
    "Lopez",
    "Kim",
    "Murphy",
    "Silva",
    "Chen",
    "Novak",
    "Adeyemi",
    "Rossi",
    "Jensen",
    "Yamamoto",
    "Walker",
]
_GIVEN = [
    "Alex",
    "Jordan",
    "Sam",
    "Taylor",
    "Casey",
    "Morgan",
    "Riley",
    "Jamie",
    "Avery",
    "Quinn",
    "Drew",
    "Robin",
    "Elena",
    "Marcus",
    "Priya",
    "Tomas",
    "Aisha",
    "Leo",
]
_DX = {
    "mental-health": [
        ("F33.1", "Major depressive disorder, recurrent, moderate"),
        ("F41.1", "Generalized anxiety disorder"),
        ("F31.81", "Bipolar II disorder"),
        ("F43.10", "Post-traumatic stress disorder, unspecified"),
    ],
    "substance-use": [
        ("F10.20", "Alcohol dependence, uncomplicated"),
        ("F11.20", "Opioid dependence, uncomplicated"),
        ("F15.20", "Other stimulant dependence, uncomplicated"),
    ],
}
_ROLES = [
    "therapist",
    "psychiatrist",
    "counselor",
    "case-manager",
    "peer-support",
    "addiction-specialist",
    "psychiatric-np",
]
_NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def _npi(rng: random.Random) -> str:
    return "1" + "".join(str(rng.randrange(10)) for _ in range(9))


def _staff_pool(seed: int) -> dict[str, list[dict[str, Any]]]:
    """Clinicians shared by every patient of the cohort, by role."""
    rng = random.Random(f"staff-{seed}")
    pool: dict[str, list[dict[str, Any]]] = {}
    for role in _ROLES:
        pool[role] = [
            {
                "key": f"{role}-{i + 1}",
                "name": {"family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]},
                "identifiers": [{"system": _NPI_SYSTEM, "value": _npi(rng)}],
                "role": role,
                "organization": "program-site",
            }
            for i in range(4)
        ]
    return pool


def _ts(day: date, hour: int, minute: int = 0, tz: timezone = UTC) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=tz).isoformat()


def _scores(rng: random.Random, inst_id: str, level: float) -> dict[str, int]:
    """Answers whose points track ``level`` (0 = no symptoms, 1 = most severe)."""
    inst = instrument(inst_id)
    answers: dict[str, int] = {}
    for item in inst.items:
        top = item.max_score
        mean = level * top
        answers[item.id] = max(0, min(top, round(rng.gauss(mean, 0.6))))
    return answers


def synth_episode_data(
    index: int, seed: int, staff: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """One synthetic episode as input-format data (what an episode file holds)."""
    rng = random.Random(f"{seed}-{index}")
    kind = rng.choices(["mental-health", "substance-use", "co-occurring"], [5, 3, 2])[0]
    weeks = rng.randint(6, 10)
    tz = timezone(timedelta(hours=rng.choice([-8, -7, -6, -5])))
    start = date(2025, 1, 6) + timedelta(weeks=rng.randrange(90))
    end = start + timedelta(weeks=weeks) - timedelta(days=3)
    key = f"syn-{seed}-{index:05d}"
    team_roles = ["therapist", "psychiatrist", "counselor", "case-manager", "peer-support"]
    if kind != "mental-health":
        team_roles[1] = rng.choice(["addiction-specialist", "psychiatric-np"])
    practitioners = [rng.choice(staff[role]) for role in team_roles]
    by_role = {p["role"]: p["key"] for p in practitioners}
    lead = practitioners[0]["key"]
    support = {
        "key": "support-1",
        "name": {"family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]},
        "relationship": rng.choice(["mother", "father", "spouse", "sibling", "friend"]),
        "phone": f"+1-555-{rng.randrange(10000):04d}",
    }
    dx_pool = _DX["mental-health"] if kind == "mental-health" else _DX["substance-use"]
    diagnoses = [(dx_pool[rng.randrange(len(dx_pool))])]
    if kind == "co-occurring" or rng.random() < 0.5:
        other = _DX["mental-health"][rng.randrange(2)]
        if other not in diagnoses:
            diagnoses.append(other)
    dx = [
        {
            "key": f"dx-{i + 1}",
            "code": {
                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                "code": code,
                "display": display,
            },
            "clinical_status": "active",
            "recorded": start.isoformat(),
        }
        for i, (code, display) in enumerate(diagnoses)
    ]
    dx_keys = [d["key"] for d in dx]
    period = {"start": start.isoformat(), "end": end.isoformat()}
    primary = "audit-c" if kind == "substance-use" else "phq-9"
    goals = [
        {
            "key": "goal-1",
            "description": "Symptom remission on the primary measure",
            "lifecycle_status": "active",
            "start": start.isoformat(),
            "targets": [
                {
                    "instrument": primary,
                    "comparator": "<",
                    "value": 3 if primary == "audit-c" else 5,
                    "due": end.isoformat(),
                }
            ],
            "addresses": [dx_keys[0]],
        },
        {
            "key": "goal-2",
            "description": "Attend every scheduled program day",
            "lifecycle_status": "active",
            "start": start.isoformat(),
        },
    ]
    days = sorted(rng.sample(_WEEKDAYS, 3), key=_WEEKDAYS.index)
    activities = [
        {
            "key": "act-group",
            "kind": "group-therapy",
            "title": "Process group",
            "modality": "relapse-prevention" if kind != "mental-health" else "cbt",
            "status": "completed",
            "lead": by_role["counselor"],
            "setting": "in-person",
            "schedule": {
                "days": days[:2],
                "start_time": "09:00:00",
                "duration_minutes": 180,
                "period": period,
            },
            "goals": ["goal-1", "goal-2"],
        },
        {
            "key": "act-skills",
            "kind": "skills-group",
            "title": "Skills group",
            "modality": "dbt",
            "status": "completed",
            "lead": lead,
            "setting": rng.choice(["in-person", "telehealth"]),
            "schedule": {
                "days": days[2:],
                "start_time": "09:00:00",
                "duration_minutes": 180,
                "period": period,
            },
            "goals": ["goal-1"],
        },
        {
            "key": "act-family",
            "kind": "family-therapy",
            "title": "Family session",
            "status": "completed",
            "lead": lead,
            "setting": "in-person",
        },
    ]
    care_plans: list[dict[str, Any]] = [
        {
            "kind": "treatment",
            "key": "treatment-plan",
            "title": "IOP treatment plan",
            "status": "completed",
            "period": period,
            "created": start.isoformat(),
            "author": lead,
            "addresses": dx_keys,
            "goals": goals,
            "activities": activities,
            "revisions": [
                {
                    "date": (start + timedelta(weeks=w)).isoformat(),
                    "author": lead,
                    "summary": f"Weekly team review, week {w}",
                }
                for w in range(1, weeks, 2)
            ],
        },
        {
            "kind": "relapse-prevention",
            "key": "relapse-plan",
            "status": "active",
            "created": (start + timedelta(days=7)).isoformat(),
            "author": lead,
            "addresses": dx_keys[:1],
            "triggers": rng.sample(
                [
                    "Conflict at home",
                    "Payday",
                    "Poor sleep",
                    "Isolation",
                    "Work stress",
                    "Old friends who use",
                ],
                3,
            ),
            "warning_signs": rng.sample(
                [
                    "Skipping sessions",
                    "Withdrawing",
                    "Irritability",
                    "Cravings",
                    "Hopeless thoughts",
                ],
                2,
            ),
            "coping_strategies": rng.sample(
                [
                    "Call a support",
                    "Urge surfing",
                    "Walk outside",
                    "Paced breathing",
                    "Attend a meeting",
                ],
                3,
            ),
            "daily_routines": ["Regular wake time", "Daily check-in with support"],
            "supports": ["support-1", by_role["peer-support"]],
            "crisis_contacts": [
                {"key": "lifeline", "name": "988 Suicide and Crisis Lifeline", "phone": "988"}
            ],
        },
        {
            "kind": "aftercare",
            "key": "aftercare-plan",
            "status": "active",
            "period": {
                "start": (end + timedelta(days=1)).isoformat(),
                "end": (end + timedelta(days=183)).isoformat(),
            },
            "created": (end - timedelta(days=7)).isoformat(),
            "author": by_role["case-manager"],
            "addresses": dx_keys,
            "referrals": [
                {
                    "key": "ref-1",
                    "service": "outpatient-therapy",
                    "authored": (end - timedelta(days=7)).isoformat(),
                    "requester": by_role["case-manager"],
                    "practitioner": lead,
                },
                {
                    "key": "ref-2",
                    "service": "peer-support-group",
                    "authored": (end - timedelta(days=7)).isoformat(),
                    "requester": by_role["peer-support"],
                    "organization": "program-site",
                },
            ],
            "appointments": [
                {
                    "key": "appt-1",
                    "service": "outpatient-therapy",
                    "start": _ts(end + timedelta(days=7), 15, tz=tz),
                    "end": _ts(end + timedelta(days=7), 16, tz=tz),
                    "practitioner": lead,
                    "referral": "ref-1",
                }
            ],
            "check_ins": [
                {
                    "key": f"checkin-{m}m",
                    "due": (end + timedelta(days=30 * m)).isoformat(),
                    "method": "phone",
                    "with": by_role["case-manager"],
                }
                for m in (1, 3, 6)
            ],
        },
    ]
    sessions: list[dict[str, Any]] = []
    session_days: list[tuple[date, str]] = []
    for week in range(weeks):
        monday = start + timedelta(weeks=week)
        for day_key in days:
            day = monday + timedelta(days=_WEEKDAYS.index(day_key))
            if day > end:
                continue
            activity = "act-group" if day_key in days[:2] else "act-skills"
            roll = rng.random()
            s_key = f"s{len(sessions) + 1:03d}"
            session: dict[str, Any] = {
                "key": s_key,
                "kind": "group-therapy" if activity == "act-group" else "skills-group",
                "status": "attended",
                "start": _ts(day, 9, tz=tz),
                "end": _ts(day, 12, tz=tz),
                "facilitator": by_role["counselor"] if activity == "act-group" else lead,
                "activity": activity,
                "telehealth": activity == "act-skills"
                and care_plans[0]["activities"][1]["setting"] == "telehealth",
            }
            if roll < 0.06:
                session["status"] = "no-show"
            elif roll < 0.09:
                session["status"] = "cancelled"
                session["cancel_reason"] = "Program closed"
            else:
                session["actual_start"] = _ts(day, 9, tz=tz)
                session["actual_end"] = _ts(day, 12, tz=tz)
                session_days.append((day, s_key))
            sessions.append(session)
        if week in (2, weeks - 2):
            day = monday + timedelta(days=_WEEKDAYS.index(days[-1]))
            sessions.append(
                {
                    "key": f"s{len(sessions) + 1:03d}",
                    "kind": "family-therapy",
                    "status": "attended",
                    "start": _ts(day, 13, tz=tz),
                    "end": _ts(day, 14, tz=tz),
                    "actual_start": _ts(day, 13, tz=tz),
                    "actual_end": _ts(day, 14, tz=tz),
                    "facilitator": lead,
                    "attendees": ["support-1"],
                    "activity": "act-family",
                }
            )
    instruments = ["phq-9", "gad-7"] if kind == "mental-health" else ["audit-c", "phq-9"]
    measures: list[dict[str, Any]] = []
    baseline = rng.uniform(0.45, 0.85)
    improvement = rng.uniform(0.2, 0.9)
    attended = sorted(session_days)
    for n, week in enumerate(range(0, weeks, 2)):
        candidates = [sd for sd in attended if (sd[0] - start).days // 7 == week]
        if not candidates:
            continue
        day, s_key = candidates[0]
        level = baseline * (1 - improvement * week / max(1, weeks - 1))
        for inst_id in instruments:
            answers = _scores(rng, inst_id, level)
            measures.append(
                {
                    "key": f"{inst_id}-w{week}",
                    "instrument": inst_id,
                    "date": _ts(day, 8, 30 + n % 20, tz=tz),
                    "answers": answers,
                    "session": s_key,
                    "performer": lead,
                }
            )
        if n == 0:
            measures.append(
                {
                    "key": "c-ssrs-intake",
                    "instrument": "c-ssrs",
                    "date": _ts(day, 8, 55, tz=tz),
                    "answers": {"q1": int(rng.random() < 0.3), "q2": 0, "q6": 0},
                    "session": s_key,
                    "performer": lead,
                }
            )
    patient = {
        "key": "patient",
        "identifiers": [
            {"system": f"urn:oid:2.16.840.1.113883.3.8901.{seed}", "value": f"SYN-{index:06d}"}
        ],
        "name": {"family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]},
        "birth_date": date(
            1950 + rng.randrange(55), rng.randint(1, 12), rng.randint(1, 28)
        ).isoformat(),
        "gender": rng.choice(["female", "male", "other"]),
    }
    stay_end = start - timedelta(days=rng.randint(1, 5))
    source = rng.choices(["inpatient", "php", "outpatient", "emergency"], [5, 2, 2, 1])[0]
    referral: dict[str, Any] = {
        "key": "referral",
        "source": source,
        "date": stay_end.isoformat(),
        "requester": by_role[team_roles[1]],
        "reason": "Needs more support than weekly therapy",
    }
    if source == "inpatient":
        referral["stay"] = {
            "start": (stay_end - timedelta(days=rng.randint(4, 14))).isoformat(),
            "end": stay_end.isoformat(),
        }
    return {
        "key": key,
        "patient": patient,
        "program": {
            "name": f"{kind.replace('-', ' ').title()} IOP",
            "type": kind,
            "organization": "program-site",
            "min_hours_per_week": 9,
            "min_days_per_week": 3,
        },
        "status": "finished",
        "admission": start.isoformat(),
        "referral": referral,
        "discharge": {
            "date": end.isoformat(),
            "disposition": rng.choices(
                ["completed", "step-down", "left-against-advice"], [6, 3, 1]
            )[0],
        },
        "part2": kind != "mental-health",
        "care_manager": by_role["case-manager"],
        "organizations": [
            {
                "key": "program-site",
                "name": "Riverside Behavioral Health IOP",
                "identifiers": [{"system": _NPI_SYSTEM, "value": f"19{seed:08d}"}],
                "kind": "provider",
            }
        ],
        "practitioners": practitioners,
        "supports": [support],
        "teams": [
            {
                "key": "iop-team",
                "name": "IOP team",
                "status": "inactive",
                "organization": "program-site",
                "period": period,
                "members": [{"member": p["key"], "role": p["role"]} for p in practitioners]
                + [{"member": "support-1", "role": "caregiver"}],
            }
        ],
        "diagnoses": dx,
        "care_plans": care_plans,
        "sessions": sessions,
        "measures": measures,
    }


def synth_episodes(n: int, seed: int = 0) -> Iterator[Episode]:
    """``n`` synthetic episodes, the same for the same ``seed``, built one at a time."""
    staff = _staff_pool(seed)
    for index in range(n):
        yield Episode.model_validate(synth_episode_data(index, seed, staff))
