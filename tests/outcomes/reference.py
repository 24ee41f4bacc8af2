"""A plain-Python reading of the outcome measures, independent of the SQL (tests, benchmark).

It walks the resources once (dicts, as ``orjson`` gives them) and computes, for every measure,
the overall population counts and score, following the definitions in docs/outcomes.md. The
tests compare it with what the engines compute; ``benchmarks/bench_outcomes.py`` times it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

LOINC = "http://loinc.org"
SESSION_KIND = "https://iopfhir.org/fhir/CodeSystem/session-kind"
AFTERCARE = "https://iopfhir.org/fhir/CodeSystem/aftercare-service"
PROGRAM_TYPE = "https://iopfhir.org/fhir/CodeSystem/program-type"
PROGRAM_EXT = "https://iopfhir.org/fhir/StructureDefinition/iop-program"
DISPOSITION_EXT = "https://iopfhir.org/fhir/StructureDefinition/discharge-disposition"
DELIVERY_EXT = "https://iopfhir.org/fhir/StructureDefinition/delivery-setting"
WITHOUT_PATIENT = {"family-education", "family-therapy-without-patient", "team-review"}
TOTALS = {"phq9": "44261-6", "gad7": "70274-6", "auditc": "75626-2", "dast10": "82667-7"}


def _d(text: Any) -> dt.date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _minute(text: Any) -> int | None:
    if not isinstance(text, str) or len(text) < 16:
        return None
    try:
        return int(text[11:13]) * 60 + int(text[14:16])
    except ValueError:
        return None


def _ref(value: Any, rtype: str) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    if isinstance(ref, str) and ref.startswith(rtype + "/"):
        return ref.split("/_history")[0]
    return None


def _episode(r: Mapping[str, Any]) -> dict[str, Any]:
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
        "disposition": disposition,
        "status": r.get("status"),
    }


def _proportion(num: int, den: int, excl: int = 0) -> float | None:
    return round(num / (den - excl), 4) if den - excl > 0 else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def compute(resources: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """measure id -> {"populations": {code: count}, "score": float | None}."""
    episodes: list[dict[str, Any]] = []
    scores: dict[str, list[tuple[dt.date, str, str, str, float]]] = defaultdict(list)
    appointments: dict[str, list[tuple[dt.date, str, bool, str]]] = defaultdict(list)
    session_encounters: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    inpatient: dict[str, list[tuple[str, dt.date | None, dt.date | None]]] = defaultdict(list)
    visits: dict[str, list[tuple[dt.date, str | None]]] = defaultdict(list)
    roles: dict[str, str] = {}  # PractitionerRole key -> Practitioner key
    stay_people: dict[str, set[str]] = {}  # inpatient Encounter key -> participant refs
    iop_people: dict[str, set[str]] = defaultdict(set)  # episode key -> participant refs
    aftercare: dict[str, list[tuple[dt.date, set[str]]]] = defaultdict(list)
    for r in resources:
        rt = r.get("resourceType")
        if rt == "PractitionerRole":
            practitioner = _ref(r.get("practitioner"), "Practitioner")
            if practitioner:
                roles["PractitionerRole/" + r["id"]] = practitioner
        elif rt == "EpisodeOfCare" and r.get("status") != "entered-in-error":
            episodes.append(_episode(r))
        elif rt == "Observation":
            value = r.get("valueQuantity", {}).get("value")
            patient = _ref(r.get("subject"), "Patient")
            loinc = next(
                (
                    c.get("code")
                    for c in r.get("code", {}).get("coding", [])
                    if c.get("system") == LOINC
                ),
                None,
            )
            day = _d(r.get("effectiveDateTime"))
            if (
                value is not None
                and patient
                and loinc in TOTALS.values()
                and day
                and r.get("status") in ("final", "amended", "corrected")
            ):
                scores[patient].append(
                    (day, r["effectiveDateTime"], "Observation/" + r["id"], loinc, float(value))
                )
        elif rt == "Appointment":
            patient, pstatus = None, None
            for part in r.get("participant", []):
                p = _ref(part.get("actor"), "Patient")
                if p:
                    patient, pstatus = p, part.get("status")
                    break
            coding = (r.get("serviceType") or [{}])[0].get("coding") or [{}]
            system = coding[0].get("system")
            day = _d(r.get("start"))
            tele = any(
                e.get("url") == DELIVERY_EXT and e.get("valueCode") == "telehealth"
                for e in r.get("extension", [])
            )
            if patient and day and system == SESSION_KIND and pstatus != "declined":
                appointments[patient].append((day, r.get("status", ""), tele, system))
            if patient and day and system == AFTERCARE and r.get("status") == "fulfilled":
                visits[patient].append((day, None))
            people = {
                p["actor"]["reference"]
                for p in r.get("participant", [])
                if p.get("actor", {}).get("reference", "").startswith("Practitioner")
            }
            if (
                patient
                and day
                and system == AFTERCARE
                and r.get("status") not in ("cancelled", "entered-in-error")
            ):
                aftercare[patient].append((day, people))
        elif rt == "Encounter":
            patient = _ref(r.get("subject"), "Patient")
            code = r.get("class", {}).get("code")
            period = r.get("period", {})
            day = _d(period.get("start"))
            status = r.get("status")
            episode = _ref((r.get("episodeOfCare") or [{}])[0], "EpisodeOfCare")
            if not patient:
                continue
            people = {
                p["individual"]["reference"]
                for p in r.get("participant", [])
                if p.get("individual", {}).get("reference", "").startswith("Practitioner")
            }
            if code in ("IMP", "ACUTE"):
                stay_people["Encounter/" + r["id"]] = people
                if status not in ("planned", "cancelled", "entered-in-error"):
                    inpatient[patient].append(("Encounter/" + r["id"], day, _d(period.get("end"))))
                continue
            kinds = [
                c.get("code")
                for t in r.get("type", [])
                for c in t.get("coding", [])
                if c.get("system") == SESSION_KIND
            ]
            if episode:
                iop_people[episode] |= people
            if (
                status == "finished"
                and episode
                and day
                and (kinds[:1] or [""])[0] not in WITHOUT_PATIENT
            ):
                start, end = _minute(period.get("start")), _minute(period.get("end"))
                minutes = end - start if start is not None and end is not None else 0
                session_encounters[episode].append((day, minutes))
            if status == "finished" and code in ("AMB", "VR") and day:
                visits[patient].append((day, episode))

    def who(refs: Iterable[str]) -> set[str]:
        return {roles.get(ref, ref) for ref in refs}

    pops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    observations: dict[str, list[float]] = defaultdict(list)

    def add(measure: str, **counts: int) -> None:
        for code, n in counts.items():
            pops[measure][code.replace("_", "-")] += n

    for ep in episodes:
        if ep["patient"] is None or ep["start"] is None:
            continue
        start, end, patient = ep["start"], ep["end"], ep["patient"]
        within = [
            s
            for s in scores[patient]
            if (s[0] - start).days >= -14 and (end is None or s[0] <= end)
        ]
        for prefix, loinc in TOTALS.items():
            mine = sorted((s for s in within if s[3] == loinc), key=lambda s: (s[0], s[1], s[2]))
            if not mine:
                continue
            base, last, n = mine[0][4], mine[-1][4], len(mine)
            if prefix in ("phq9", "gad7"):
                add(f"iop-{prefix}-baseline", initial_population=1, measure_population=1)
                observations[f"iop-{prefix}-baseline"].append(base)
            if n < 2:
                continue
            add(f"iop-{prefix}-change", initial_population=1, measure_population=1)
            observations[f"iop-{prefix}-change"].append(last - base)
            if prefix in ("phq9", "gad7"):
                add(f"iop-{prefix}-last", initial_population=1, measure_population=1)
                observations[f"iop-{prefix}-last"].append(last)
                den = int(base >= 10)
                add(
                    f"iop-{prefix}-response",
                    initial_population=1,
                    denominator=den,
                    numerator=int(den and last <= base * 0.5),
                )
                add(
                    f"iop-{prefix}-remission",
                    initial_population=1,
                    denominator=den,
                    numerator=int(den and last < 5),
                )
        in_iop = who(iop_people[ep["key"]])
        before: set[str] = set()
        for key, _adm, dis in inpatient[patient]:
            if dis is not None and 0 <= (start - dis).days <= 30:
                before |= who(stay_people[key])
        if before:
            n = int(bool(before & in_iop))
            add("iop-continuity-inpatient", initial_population=1, denominator=1, numerator=n)
        after: set[str] = set()
        for day, people in aftercare[patient]:
            if end is not None and day > end:
                after |= who(people)
        if after:
            n = int(bool(after & in_iop))
            add("iop-continuity-aftercare", initial_population=1, denominator=1, numerator=n)
        mine_appts = [
            a
            for a in appointments[patient]
            if (a[0] - start).days >= 0 and (end is None or a[0] <= end)
        ]
        settled = [a for a in mine_appts if a[1] in ("fulfilled", "noshow", "cancelled")]
        attended = [a for a in mine_appts if a[1] == "fulfilled"]
        n_settled = len(settled)
        add(
            "iop-attendance",
            initial_population=n_settled,
            denominator=n_settled,
            numerator=len(attended),
        )
        add(
            "iop-no-show",
            initial_population=n_settled,
            denominator=n_settled,
            numerator=sum(a[1] == "noshow" for a in mine_appts),
        )
        add(
            "iop-cancellation",
            initial_population=n_settled,
            denominator=n_settled,
            numerator=sum(a[1] == "cancelled" for a in mine_appts),
        )
        add(
            "iop-telehealth-share",
            initial_population=len(attended),
            denominator=len(attended),
            numerator=sum(a[2] for a in attended),
        )
        if end is not None:
            weeks_full = ((end - start).days + 1) // 7
            sessions = [
                s for s in session_encounters[ep["key"]] if (s[0] - start).days >= 0 and s[0] <= end
            ]
            by_week: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
            for s in sessions:
                by_week[(s[0] - start).days // 7].append(s)
            minutes = sum(s[1] for s in sessions)
            if ep["min_hours"] is not None and ep["min_days"] is not None:
                met = sum(
                    1
                    for w, ss in by_week.items()
                    if w < weeks_full
                    and sum(s[1] for s in ss) >= ep["min_hours"] * 60
                    and len({s[0] for s in ss}) >= ep["min_days"]
                )
                add(
                    "iop-intensity-weeks",
                    initial_population=weeks_full,
                    denominator=weeks_full,
                    numerator=met if weeks_full > 0 else 0,
                )
            if weeks_full > 0:
                add("iop-intensity-hours", initial_population=1, measure_population=1)
                observations["iop-intensity-hours"].append(minutes / 60.0 / weeks_full)
            admissions = [(s[1] - end).days for s in inpatient[patient] if s[1] and s[1] > end]
            first = min(admissions) if admissions else None
            follow = [
                (v[0] - end).days
                for v in visits[patient]
                if v[0] > end and (v[1] is None or v[1] != ep["key"])
            ]
            first_fu = min(follow) if follow else None
            for d in (30, 90):
                add(
                    f"iop-readmission-{d}",
                    initial_population=1,
                    denominator=1,
                    numerator=int(first is not None and first <= d),
                )
            for d in (7, 30):
                add(
                    f"iop-followup-{d}",
                    initial_population=1,
                    denominator=1,
                    numerator=int(first_fu is not None and first_fu <= d),
                )
            has = ep["disposition"] is not None
            add(
                "iop-completion",
                initial_population=1,
                denominator=int(has),
                denominator_exclusion=int(has and ep["disposition"] == "deceased"),
                numerator=int(has and ep["disposition"] == "completed"),
            )
    for stays in inpatient.values():
        for key, _adm, dis in stays:
            if dis is None:
                continue
            nxt = [(s[1] - dis).days for s in stays if s[0] != key and s[1] and s[1] > dis]
            add(
                "iop-inpatient-readmission-30",
                initial_population=1,
                denominator=1,
                numerator=int(bool(nxt) and min(nxt) <= 30),
            )

    out: dict[str, dict[str, Any]] = {}
    for measure, counts in pops.items():
        counts = dict(counts)
        if measure in observations or "measure-population" in counts:
            score = _mean(observations[measure])
        else:
            score = _proportion(
                counts.get("numerator", 0),
                counts.get("denominator", 0),
                counts.get("denominator-exclusion", 0),
            )
        out[measure] = {"populations": counts, "score": score}
    return out
