"""A small cohort written by hand, with the measure figures worked out by hand.

Four patients (dates in 2025):

* A (female, born 1990-06-15, referred from an inpatient stay 02-20..03-01): mental-health
  episode 03-03 (Mon) .. 03-30, 4 whole weeks, minimum 9 h over 3 days a week, completed.
  PHQ-9 27 on 02-01 (too early, ignored), 20 on 02-24 (baseline, 7 days before admission),
  12 on 03-10, 4 on 03-28 (last): response and remission. GAD-7 12 then 7: neither.
  Sessions of 3 h: week 1 three kept (met), week 2 two kept + a no-show (not met), week 3
  three kept, one by video (met), week 4 two kept + a cancelled one (not met); a team
  review (the patient not taking part) is not counted. Aftercare visit kept 04-04 (5 days),
  inpatient admission 04-20..04-25 (21 days after discharge). Continuity: the stay's clinician
  (practitioner X, role rX1) leads A's sessions under another role (rX2): continued; the
  aftercare clinician (Y) was not in the IOP.
* B (male, born 1960-01-10: 65 at admission, referred from PHP): substance-use episode
  03-03 .. 04-13 (6 whole weeks, no program limits), left against advice. PHQ-9 8 then 3
  (baseline under 10: not in the response denominator). AUDIT-C 8 then 2, DAST-10 6, 4, 1.
  Two kept 2 h sessions and a no-show. An ambulatory visit 04-25 (12 days), inpatient stays
  06-30..07-05 (78 days after discharge) and 07-20..07-22 (15 days after that stay). An
  aftercare appointment booked for 04-20 with W, who led one of B's sessions: continued.
* C (no sex, no birth date, no referral): mental-health episode from 03-17, still active.
  PHQ-9 15 once. One kept session.
* D (female, born 2005-05-01: 19): mental-health episode 01-06 .. 02-02 (4 weeks, limits
  9 h / 3 days), died (disposition deceased). PHQ-9 14 then 10. No sessions. An inpatient
  stay 2024-12-20..2025-01-03 with clinician Z, who is not in the IOP: not continued.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SK = "https://iopfhir.org/fhir/CodeSystem/session-kind"
LOINC = "http://loinc.org"


def _patient(pid: str, gender: str | None, birth: str | None) -> dict[str, Any]:
    r: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if gender:
        r["gender"] = gender
    if birth:
        r["birthDate"] = birth
    return r


def _episode(
    eid: str,
    pid: str,
    program: str,
    start: str,
    end: str | None,
    disposition: str | None,
    referral: str | None,
    limits: bool,
) -> dict[str, Any]:
    ext: list[dict[str, Any]] = []
    if limits:
        ext.append(
            {
                "url": "https://iopfhir.org/fhir/StructureDefinition/iop-program",
                "extension": [
                    {"url": "name", "valueString": "Test IOP"},
                    {"url": "minimumHoursPerWeek", "valueDecimal": 9.0},
                    {"url": "minimumDaysPerWeek", "valueInteger": 3},
                    {"url": "maximumHoursPerWeek", "valueDecimal": 20.0},
                    {"url": "maximumDaysPerWeek", "valueInteger": 5},
                ],
            }
        )
    if disposition:
        ext.append(
            {
                "url": "https://iopfhir.org/fhir/StructureDefinition/discharge-disposition",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://iopfhir.org/fhir/CodeSystem/discharge-disposition",
                            "code": disposition,
                        }
                    ]
                },
            }
        )
    r: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": eid,
        "status": "finished" if end else "active",
        "type": [
            {
                "coding": [
                    {"system": "https://iopfhir.org/fhir/CodeSystem/program-type", "code": program}
                ]
            }
        ],
        "patient": {"reference": f"Patient/{pid}"},
        "period": {"start": start, **({"end": end} if end else {})},
    }
    if ext:
        r["extension"] = ext
    if referral:
        r["referralRequest"] = [{"reference": f"ServiceRequest/{referral}"}]
    return r


def _referral(sid: str, pid: str, source: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": "completed",
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": "https://iopfhir.org/fhir/CodeSystem/referral-source",
                        "code": source,
                    }
                ]
            }
        ],
        "subject": {"reference": f"Patient/{pid}"},
    }


def _score(oid: str, pid: str, loinc: str, day: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{day}T09:00:00-05:00",
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "{score}"},
    }


def write_ndjson(folder: Path, resources: list[dict[str, Any]]) -> Path:
    """``resources`` written into ``folder`` (made), one NDJSON file per resource type."""
    folder.mkdir()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    for rtype, items in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("".join(json.dumps(x) + "\n" for x in items))
    return folder


def responders(pids: str) -> list[dict[str, Any]]:
    """A patient per letter of ``pids``, each with a PHQ-9 of 20 on 2025-03-01 and of 4 on
    2025-04-20: a response and a remission in an episode from 2025-03-02 to 2025-04-25."""
    out: list[dict[str, Any]] = []
    for pid in pids:
        out.append(_patient(pid, "female", "1990-01-01"))
        out.append(_score(f"{pid}1", pid, "44261-6", "2025-03-01", 20))
        out.append(_score(f"{pid}2", pid, "44261-6", "2025-04-20", 4))
    return out


def _session(
    sid: str,
    pid: str,
    eid: str,
    day: str,
    hours: int,
    status: str = "fulfilled",
    kind: str = "group-therapy",
    video: bool = False,
    role: str | None = None,
) -> list[dict[str, Any]]:
    start, end = f"{day}T09:00:00-05:00", f"{day}T{9 + hours:02d}:00:00-05:00"
    appt: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": f"a-{sid}",
        "status": status,
        "serviceType": [{"coding": [{"system": SK, "code": kind}]}],
        "start": start,
        "end": end,
        "participant": [
            {
                "actor": {"reference": f"Patient/{pid}"},
                "status": "declined" if kind == "team-review" else "accepted",
            }
        ],
    }
    if video:
        appt["extension"] = [
            {
                "url": "https://iopfhir.org/fhir/StructureDefinition/delivery-setting",
                "valueCode": "telehealth",
            }
        ]
    out = [appt]
    if status == "fulfilled":
        out.append(
            {
                "resourceType": "Encounter",
                "id": f"e-{sid}",
                "status": "finished",
                "class": {"code": "VR" if video else "AMB"},
                "type": [{"coding": [{"system": SK, "code": kind}]}],
                "subject": {"reference": f"Patient/{pid}"},
                "episodeOfCare": [{"reference": f"EpisodeOfCare/{eid}"}],
                "period": {"start": start, "end": end},
                "appointment": [{"reference": f"Appointment/a-{sid}"}],
            }
        )
        if role:
            out[-1]["participant"] = [{"individual": {"reference": f"PractitionerRole/{role}"}}]
    return out


def _stay(sid: str, pid: str, start: str, end: str, role: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": sid,
        "status": "finished",
        "class": {"code": "IMP"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": start, "end": end},
    }
    if role:
        r["participant"] = [{"individual": {"reference": f"PractitionerRole/{role}"}}]
    return r


def _role(rid: str, practitioner: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": rid,
        "practitioner": {"reference": f"Practitioner/{practitioner}"},
    }


def _aftercare(aid: str, pid: str, day: str, status: str, role: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "serviceType": [
            {
                "coding": [
                    {
                        "system": "https://iopfhir.org/fhir/CodeSystem/aftercare-service",
                        "code": "outpatient-therapy",
                    }
                ]
            }
        ],
        "start": f"{day}T10:00:00-05:00",
        "end": f"{day}T11:00:00-05:00",
        "participant": [
            {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
            {"actor": {"reference": f"PractitionerRole/{role}"}, "status": "accepted"},
        ],
    }


def cohort() -> list[dict[str, Any]]:
    """The resources of the cohort."""
    phq, gad, audit, dast = "44261-6", "70274-6", "75626-2", "82667-7"
    r: list[dict[str, Any]] = [
        _patient("A", "female", "1990-06-15"),
        _patient("B", "male", "1960-01-10"),
        _patient("C", None, None),
        _patient("D", "female", "2005-05-01"),
        _referral("srA", "A", "inpatient"),
        _referral("srB", "B", "php"),
        _episode("EA", "A", "mental-health", "2025-03-03", "2025-03-30", "completed", "srA", True),
        _episode(
            "EB",
            "B",
            "substance-use",
            "2025-03-03",
            "2025-04-13",
            "left-against-advice",
            "srB",
            False,
        ),
        _episode("EC", "C", "mental-health", "2025-03-17", None, None, None, True),
        _episode("ED", "D", "mental-health", "2025-01-06", "2025-02-02", "deceased", None, True),
        _score("a0", "A", phq, "2025-02-01", 27),
        _score("a1", "A", phq, "2025-02-24", 20),
        _score("a2", "A", phq, "2025-03-10", 12),
        _score("a3", "A", phq, "2025-03-28", 4),
        _score("a4", "A", gad, "2025-03-03", 12),
        _score("a5", "A", gad, "2025-03-30", 7),
        _score("b1", "B", phq, "2025-03-04", 8),
        _score("b2", "B", phq, "2025-04-10", 3),
        _score("b3", "B", audit, "2025-03-04", 8),
        _score("b4", "B", audit, "2025-04-10", 2),
        _score("b5", "B", dast, "2025-03-04", 6),
        _score("b6", "B", dast, "2025-03-20", 4),
        _score("b7", "B", dast, "2025-04-10", 1),
        _score("c1", "C", phq, "2025-03-17", 15),
        _score("d1", "D", phq, "2025-01-06", 14),
        _score("d2", "D", phq, "2025-01-31", 10),
        _stay("sA1", "A", "2025-02-20", "2025-03-01", role="rX1"),
        _stay("sA2", "A", "2025-04-20", "2025-04-25"),
        _stay("sB1", "B", "2025-06-30", "2025-07-05"),
        _stay("sB2", "B", "2025-07-20", "2025-07-22"),
        _aftercare("afterA", "A", "2025-04-04", "fulfilled", "rY"),
        _aftercare("afterB", "B", "2025-04-20", "booked", "rW"),
        _role("rX1", "X"),
        _role("rX2", "X"),
        _role("rY", "Y"),
        _role("rW", "W"),
        _role("rZ", "Z"),
        _stay("sD0", "D", "2024-12-20", "2025-01-03", role="rZ"),
        {
            "resourceType": "Encounter",
            "id": "visitB",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/B"},
            "period": {"start": "2025-04-25T10:00:00-05:00", "end": "2025-04-25T10:30:00-05:00"},
        },
    ]
    weeks_a = [
        [("03", "fulfilled"), ("05", "fulfilled"), ("07", "fulfilled")],
        [("10", "fulfilled"), ("12", "fulfilled"), ("14", "noshow")],
        [("17", "fulfilled"), ("19", "fulfilled"), ("21", "fulfilled")],
        [("24", "fulfilled"), ("26", "fulfilled"), ("28", "cancelled")],
    ]
    for w, week in enumerate(weeks_a):
        for day, status in week:
            video = w == 2 and day == "19"
            r += _session(
                f"A{day}", "A", "EA", f"2025-03-{day}", 3, status, video=video, role="rX2"
            )
    r += _session("Areview", "A", "EA", "2025-03-12", 1, kind="team-review")
    r += _session("B1", "B", "EB", "2025-03-05", 2, role="rW")
    r += _session("B2", "B", "EB", "2025-03-12", 2)
    r += _session("B3", "B", "EB", "2025-03-19", 2, "noshow")
    r += _session("C1", "C", "EC", "2025-03-17", 3)
    return r


def _p(ip: int, den: int, num: int, excl: int | None = None) -> dict[str, int]:
    out = {"initial-population": ip, "denominator": den, "numerator": num}
    if excl is not None:
        out["denominator-exclusion"] = excl
    return out


def _cv(n: int) -> dict[str, int]:
    return {"initial-population": n, "measure-population": n}


#: measure -> (populations, score), worked out by hand from the docstring
EXPECTED: dict[str, tuple[dict[str, int], float | None]] = {
    "iop-phq9-baseline": (_cv(4), 14.25),  # (20 + 8 + 15 + 14) / 4
    "iop-phq9-last": (_cv(3), 5.6667),  # (4 + 3 + 10) / 3
    "iop-phq9-change": (_cv(3), -8.3333),  # (-16 - 5 - 4) / 3
    "iop-phq9-response": (_p(3, 2, 1), 0.5),  # A and D start at 10+, A halves
    "iop-phq9-remission": (_p(3, 2, 1), 0.5),  # A ends at 4
    "iop-gad7-baseline": (_cv(1), 12.0),
    "iop-gad7-last": (_cv(1), 7.0),
    "iop-gad7-change": (_cv(1), -5.0),
    "iop-gad7-response": (_p(1, 1, 0), 0.0),
    "iop-gad7-remission": (_p(1, 1, 0), 0.0),
    "iop-auditc-change": (_cv(1), -6.0),
    "iop-dast10-change": (_cv(1), -5.0),
    "iop-attendance": (_p(16, 16, 13), 0.8125),  # A 12 settled / 10 kept, B 3 / 2, C 1 / 1
    "iop-no-show": (_p(16, 16, 2), 0.125),
    "iop-cancellation": (_p(16, 16, 1), 0.0625),
    "iop-telehealth-share": (_p(13, 13, 1), 0.0769),
    "iop-intensity-weeks": (_p(8, 8, 2), 0.25),  # A 2 of 4 weeks, D 0 of 4
    "iop-intensity-hours": (_cv(3), 2.7222),  # (30 h / 4 + 4 h / 6 + 0) / 3
    "iop-readmission-30": (_p(3, 3, 1), 0.3333),  # A (21 days)
    "iop-readmission-90": (_p(3, 3, 2), 0.6667),  # A, B (78 days)
    "iop-followup-7": (_p(3, 3, 1), 0.3333),  # A (5 days)
    "iop-followup-30": (_p(3, 3, 2), 0.6667),  # A, B (12 days)
    "iop-completion": (_p(3, 3, 1, excl=1), 0.5),  # A of A, B (D died: excluded)
    "iop-continuity-inpatient": (_p(2, 2, 1), 0.5),  # A: X in the stay and the IOP; D: Z not
    "iop-continuity-aftercare": (_p(2, 2, 1), 0.5),  # B: W in the IOP and aftercare; A: Y not
    "iop-inpatient-readmission-30": (_p(5, 5, 1), 0.2),  # B's 07-05 -> 07-20
    # reliable change (PHQ-9 6 points, GAD-7 4): A 20 -> 4 and GAD-7 12 -> 7; B -5, D -4 not
    "iop-phq9-reliable-improvement": (_p(3, 3, 1), 0.3333),
    "iop-phq9-reliable-deterioration": (_p(3, 3, 0), 0.0),
    "iop-gad7-reliable-improvement": (_p(1, 1, 1), 1.0),
    "iop-gad7-reliable-deterioration": (_p(1, 1, 0), 0.0),
    "iop-intensity-weeks-over": (_p(8, 8, 0), 0.0),  # A, D: 4 weeks each, none over 20 h / 5 d
    # no PROMIS-10, WHODAS, safety screens or check-ins here: tests/outcomes/test_measures_more.py
    "iop-promis10-change": ({}, None),
    "iop-whodas12-change": ({}, None),
    "iop-safety-positive": ({}, None),
    "iop-safety-followup": ({}, None),
    "iop-checkins-kept": ({}, None),
}
