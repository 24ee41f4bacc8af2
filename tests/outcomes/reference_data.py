"""The codes and small helpers of the plain-Python reading of the measures (:mod:`reference`):
dates, references, an episode's parts, age bands, periods, scores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

LOINC = "http://loinc.org"
SESSION_KIND = "https://iopfhir.org/fhir/CodeSystem/session-kind"
AFTERCARE = "https://iopfhir.org/fhir/CodeSystem/aftercare-service"
PROGRAM_TYPE = "https://iopfhir.org/fhir/CodeSystem/program-type"
REFERRAL_SOURCE = "https://iopfhir.org/fhir/CodeSystem/referral-source"
PROGRAM_EXT = "https://iopfhir.org/fhir/StructureDefinition/iop-program"
DISPOSITION_EXT = "https://iopfhir.org/fhir/StructureDefinition/discharge-disposition"
DELIVERY_EXT = "https://iopfhir.org/fhir/StructureDefinition/delivery-setting"
WITHOUT_PATIENT = {"family-education", "family-therapy-without-patient", "team-review"}
TOTALS = {"phq9": "44261-6", "gad7": "70274-6", "auditc": "75626-2", "dast10": "82667-7"}
#: totals in the project code systems (PROMIS-10 global mental health raw, WHODAS 12 sum)
OTHER_TOTALS = {
    "promis10": ("https://iopfhir.org/fhir/CodeSystem/promis-10", "gmh-raw"),
    "whodas12": ("https://iopfhir.org/fhir/CodeSystem/whodas-12", "simple-sum"),
}
RELIABLE = {"phq9": 6, "gad7": 4}  # NHS Talking Therapies reliable change, in points
ITEM9 = "44260-8"
#: screening answers: LOINC item or risk-level code -> the answer codes that are positive
SCREENS = {
    ITEM9: {"LA6569-3", "LA6570-1", "LA6571-9"},
    "93247-5": {"LA33-6"},  # C-SSRS 2: suicidal thoughts
    "93249-1": {"LA33-6"},  # C-SSRS 4: intent
    "93250-9": {"LA33-6"},  # C-SSRS 5: plan
    "93269-9": {"LA33-6"},  # C-SSRS 6b: behaviour in the past 3 months
    "93374-7": {"LA9194-7", "LA6751-7", "LA9193-9"},  # risk level low / moderate / high
}
SAFETY_FLAGS = {
    "recent-suicidal-behavior",
    "self-harm-risk",
    "suicidal-ideation",
    "suicidal-intent",
    "suicidal-plan",
}
SAFETY_FLAG_SYSTEM = "https://iopfhir.org/fhir/CodeSystem/safety-flag"
CHECK_IN = "https://iopfhir.org/fhir/CodeSystem/check-in"
PLAN_KIND = "https://iopfhir.org/fhir/CodeSystem/care-plan-kind"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
FINAL = ("final", "amended", "corrected")
#: v3 ActInpatientEncounterCode: IMP and its specialisations
INPATIENT = ("IMP", "ACUTE", "NONAC")


def _d(text: Any) -> dt.date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _birth(text: Any) -> dt.date | None:
    """A birth date; a year or a year and month as its first day."""
    if isinstance(text, str) and len(text) in (4, 7):
        text += "-01-01" if len(text) == 4 else "-01"
    return _d(text)


def _seconds(text: Any) -> int | None:
    """A dateTime with a time as whole seconds since 1970 UTC (its offset honoured; one
    without an offset read as UTC; fractions of a second left out)."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        moment = dt.datetime.fromisoformat(text[:19] + text[19:].lstrip(".0123456789"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _minutes(start: Any, end: Any) -> int:
    """Whole minutes from ``start`` to ``end``; 0 without both times or when the end is
    before the start."""
    a, b = _seconds(start), _seconds(end)
    if a is None or b is None or b < a:
        return 0
    return (b - a) // 60


def _lasted(r: Mapping[str, Any]) -> int:
    """Whole minutes an Encounter lasted: its period's start to its end; without an end,
    its ``length`` (a Duration in s, min or h, at most a day); else 0."""
    period = r.get("period", {})
    if period.get("end") is not None:
        return _minutes(period.get("start"), period.get("end"))
    length = r.get("length") or {}
    per_unit = {"s": 1 / 60, "min": 1, "h": 60}.get(length.get("code") or length.get("unit"))
    value = length.get("value")
    if per_unit is None or not isinstance(value, int | float):
        return 0
    minutes = value * per_unit
    return int(minutes) if 0 < minutes <= 1440 else 0


def _effective(r: Mapping[str, Any], name: str, *, instant: bool = False) -> Any:
    """The date of ``<name>[x]``: a dateTime (or instant), else the start of a Period."""
    value = r.get(name + "DateTime")
    if value is None and instant:
        value = r.get(name + "Instant")
    if value is None:
        value = (r.get(name + "Period") or {}).get("start")
    return value


def _ref(value: Any, rtype: str) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    if isinstance(ref, str) and ref.startswith(rtype + "/"):
        return ref.split("/_history")[0]
    return None


def is_iop_episode(r: Mapping[str, Any], local: Mapping[tuple[str, str], str]) -> bool:
    """An EpisodeOfCare of an IOP program: a type of iopfhir's program types, of the local
    program codes given (``local``), of the IOP billing codes, the program's extension with
    its name, or no type at all (one typed only otherwise is none)."""
    named = any(
        sub.get("url") == "name" and isinstance(sub.get("valueString"), str)
        for ext in r.get("extension", [])
        if ext.get("url") == PROGRAM_EXT
        for sub in ext.get("extension", [])
    )
    return not r.get("type") or named or _episode(r, local)["program_type"] is not None


# IOP billing codes (HCPCS per diem, NUBC revenue codes) and the program type each names
_BILLING = {
    ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "S9480"): "mental-health",
    ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "H0015"): "substance-use",
    ("https://www.nubc.org/CodeSystem/RevenueCodes", "0905"): "mental-health",
    ("https://www.nubc.org/CodeSystem/RevenueCodes", "0906"): "substance-use",
}


# procedure codes (CPT psychotherapy, HCPCS G0410) and the one session kind each stands for
_CPT = "http://www.ama-assn.org/go/cpt"
_PROCEDURES = {
    (_CPT, "90832"): "individual-therapy",
    (_CPT, "90834"): "individual-therapy",
    (_CPT, "90837"): "individual-therapy",
    (_CPT, "90791"): "intake-assessment",
    (_CPT, "90846"): "family-therapy-without-patient",
    (_CPT, "90847"): "family-therapy",
    (_CPT, "90849"): "multi-family-group",
    (_CPT, "90853"): "group-therapy",
    ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "G0410"): "group-therapy",
}


def _codings(r: Mapping[str, Any], element: str) -> list[Mapping[str, Any]]:
    """The codings of CodeableConcept ``element`` of ``r`` (0..1 or 0..*)."""
    value = r.get(element)
    concepts = value if isinstance(value, list) else [value] if value else []
    return [c for concept in concepts for c in concept.get("coding", [])]


def session_kind(
    r: Mapping[str, Any], elements: tuple[str, str] = ("type", "serviceType")
) -> str | None:
    """A session's kind: the code of the first coding of iopfhir's session kinds in the
    first of ``elements`` (an Encounter's type, then its service type; an Appointment's
    service types, then its appointment type) that has one, else the kind of the first
    procedure code of one kind, looked for in the same order."""
    for element in elements:
        ours = [
            c["code"]
            for c in _codings(r, element)
            if c.get("system") == SESSION_KIND and c.get("code")
        ]
        if ours:
            return str(ours[0])
    for element in elements:
        done = (_PROCEDURES.get((c.get("system"), c.get("code"))) for c in _codings(r, element))
        kind = next((k for k in done if k is not None), None)
        if kind is not None:
            return kind
    return None


def _program_type(r: Mapping[str, Any], local: Mapping[tuple[str, str], str]) -> str | None:
    """iopfhir's program type of the episode's first coding of it, else the type of the
    first of the local codes given (``local``, in its order) the episode has, else the type
    its first IOP billing code names."""
    codings = [c for t in r.get("type", []) for c in t.get("coding", [])]
    ours = (c.get("code") for c in codings if c.get("system") == PROGRAM_TYPE)
    held = {(c.get("system"), c.get("code")) for c in codings}
    given = (program_type for pair, program_type in local.items() if pair in held)
    billed = (_BILLING.get((c.get("system"), c.get("code"))) for c in codings)
    for found in (ours, given, billed):
        first = next((x for x in found if x is not None), None)
        if first is not None:
            return first
    return None


def _episode(r: Mapping[str, Any], local: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    program: dict[str, Any] = {}
    disposition = None
    for ext in r.get("extension", []):
        if ext.get("url") == PROGRAM_EXT:
            for sub in ext.get("extension", []):
                program[sub["url"]] = next(
                    (v for k, v in sub.items() if k.startswith("value")), None
                )
        elif ext.get("url") == DISPOSITION_EXT:
            codings = ext.get("valueCodeableConcept", {}).get("coding", [])
            disposition = codings[0].get("code") if codings else None
    return {
        "key": "EpisodeOfCare/" + r["id"],
        "patient": _ref(r.get("patient"), "Patient"),
        "start": _d(r.get("period", {}).get("start")),
        "end": _d(r.get("period", {}).get("end")),
        "min_hours": program.get("minimumHoursPerWeek"),
        "min_days": program.get("minimumDaysPerWeek"),
        "max_hours": program.get("maximumHoursPerWeek"),
        "max_days": program.get("maximumDaysPerWeek"),
        "disposition": disposition,
        "status": r.get("status"),
        "program_type": _program_type(r, local),
        "referral": next(
            (x for x in (_ref(v, "ServiceRequest") for v in r.get("referralRequest", [])) if x),
            None,
        ),
    }


def _age_band(birth: dt.date | None, at: dt.date | None) -> str:
    if birth is None or at is None:
        return "unknown"
    age = at.year - birth.year - int((at.month, at.day) < (birth.month, birth.day))
    for limit, band in ((18, "0-17"), (26, "18-25"), (45, "26-44"), (65, "45-64")):
        if age < limit:
            return band
    return "65+"


def _period(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _proportion(num: int, den: int, excl: int = 0) -> float | None:
    return round(num / (den - excl), 4) if den - excl > 0 else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
