"""What synthetic episodes are drawn from: names, diagnoses, roles, the shared staff pool.

Fixed lists (fictional names, ICD-10-CM diagnoses per program kind, clinician roles),
:func:`staff_pool` (the clinicians every patient of a cohort shares) and the small
helpers every step uses (:func:`person_name`, :func:`ts`). Imports nothing of the package.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timezone
from typing import Any

__all__ = [
    "DX",
    "FAMILY",
    "GIVEN",
    "NPI_SYSTEM",
    "ROLES",
    "WEEKDAYS",
    "person_name",
    "staff_pool",
    "ts",
]

FAMILY = [
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
GIVEN = [
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
DX = {
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
ROLES = [
    "therapist",
    "psychiatrist",
    "counselor",
    "case-manager",
    "peer-support",
    "addiction-specialist",
    "psychiatric-np",
]
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def _npi(rng: random.Random) -> str:
    return "1" + "".join(str(rng.randrange(10)) for _ in range(9))


def person_name(rng: random.Random) -> dict[str, Any]:
    """A family and a given name (two draws, family first)."""
    return {"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}


def staff_pool(seed: int) -> dict[str, list[dict[str, Any]]]:
    """Clinicians shared by every patient of the cohort, by role."""
    rng = random.Random(f"staff-{seed}")
    pool: dict[str, list[dict[str, Any]]] = {}
    for role in ROLES:
        pool[role] = [
            {
                "key": f"{role}-{i + 1}",
                "name": person_name(rng),
                "identifiers": [{"system": NPI_SYSTEM, "value": _npi(rng)}],
                "role": role,
                "organization": "program-site",
            }
            for i in range(4)
        ]
    return pool


def ts(day: date, hour: int, minute: int = 0, tz: timezone = UTC) -> str:
    """An ISO date-time on ``day`` at ``hour:minute`` in ``tz``."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz).isoformat()
