"""A plain-Python reading of the outcome measures, independent of the SQL (tests, benchmark).

It walks the resources once (dicts, as ``orjson`` gives them) and computes, for every measure,
the overall population counts and score and the same per stratum (program type, referral
source, telehealth share, age band, sex, period; stays: age band, sex, period), following the
definitions in docs/outcomes.md. The tests compare it with what the engines compute;
``benchmarks/bench_outcomes.py`` times it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from tests.outcomes.reference_data import (
    AFTERCARE,
    CHECK_IN,
    FINAL,
    INPATIENT,
    LOINC,
    OTHER_TOTALS,
    PLAN_KIND,
    REFERRAL_SOURCE,
    RELIABLE,
    RISK_PROBABILITY,
    SAFETY_FLAG_SYSTEM,
    SAFETY_FLAGS,
    SCREENS,
    TOTALS,
    WITHOUT_PATIENT,
    _age_band,
    _birth,
    _d,
    _effective,
    _episode,
    _lasted,
    _mean,
    _period,
    _proportion,
    _ref,
    is_iop_episode,
    session_kind,
)
from tests.outcomes.reference_qr import form_codes, note_total, qr_scores, qr_screens
from tests.outcomes.reference_sessions import Sessions

#: FHIRPath's toDecimal() of a string: what a score given as text is
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def observed(r: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An Observation, then each of its components as an Observation of its own: the
    component's code and value with the Observation's other elements (a panel's total, item
    scores and answers given as components count as the views read them)."""
    base = {
        k: v for k, v in r.items() if k not in ("code", "component") and not k.startswith("value")
    }
    parts = [c for c in r.get("component") or [] if isinstance(c, dict)]
    return [
        r,
        *(
            {**base, **{k: v for k, v in c.items() if k == "code" or k.startswith("value")}}
            for c in parts
        ),
    ]


def compute(
    resources: Iterable[Mapping[str, Any]],
    program_codes: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, dict[str, Any]]:
    """measure id -> {"populations": {code: count}, "score": float | None,
    "strata": {stratifier: {value: {"populations": {code: count}, "score": ...}}}}
    (a stratum's counts only where not zero; a subject counts in a stratum when it is in
    one of the measure's populations). ``program_codes``: local program codes, as
    :func:`iopfhir.outcomes.compute` takes them."""
    local = program_codes or {}
    episodes: list[dict[str, Any]] = []
    persons: dict[str, tuple[str, dt.date | None]] = {}  # Patient key -> (sex, birth date)
    referral_sources: dict[str, str | None] = {}  # ServiceRequest key -> source code
    scores: dict[str, list[tuple[dt.date, str, str, str, float]]] = defaultdict(list)
    sessions = Sessions()  # Appointments and session Encounters, joined at the end
    session_encounters: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    inpatient: dict[str, list[tuple[str, dt.date | None, dt.date | None]]] = defaultdict(list)
    visits: dict[str, list[tuple[dt.date, str | None]]] = defaultdict(list)
    roles: dict[str, str] = {}  # PractitionerRole key -> Practitioner key
    stay_people: dict[str, set[str]] = {}  # inpatient Encounter key -> participant refs
    iop_people: dict[str, set[str]] = defaultdict(set)  # episode key -> participant refs
    known_episodes: set[str] = set()  # every EpisodeOfCare of the data
    #: non-inpatient Encounters: (episode linked, patient, day, participants, a session,
    #: attended, minutes), given to episodes once every EpisodeOfCare is known
    iop_encounters: list[tuple[str | None, str, dt.date | None, set[str], bool, bool, int]] = []
    aftercare: dict[str, list[tuple[dt.date, set[str]]]] = defaultdict(list)
    screens: dict[str, dict[dt.date, int]] = defaultdict(dict)  # patient -> day -> positive
    contacts: dict[str, list[dt.date]] = defaultdict(list)  # finished Encounters with patient
    safety_plans: dict[str, list[dt.date]] = defaultdict(list)
    check_ins: dict[str, list[tuple[dt.date | None, dt.date, bool]]] = defaultdict(list)

    responses: list[Mapping[str, Any]] = []  # QuestionnaireResponses (scored at the end)
    forms: list[Mapping[str, Any]] = []  # Questionnaires (the codes of their items)
    totals: list[tuple[str | None, str, Any, str | None]] = []  # total Observations

    def screened(patient: str | None, day: dt.date | None, positive: bool) -> None:
        if patient and day:
            screens[patient][day] = max(screens[patient].get(day, 0), int(positive))

    # each Type/id once, the first (as the engines read): the ids of each type, the
    # strings the resources hold (no new object per resource)
    seen: dict[Any, set[str]] = defaultdict(set)
    for r in resources:
        rt = r.get("resourceType")
        rid = r.get("id")
        if type(rid) is str:
            ids = seen[rt]
            if rid in ids:
                continue
            ids.add(rid)
        if rt == "EpisodeOfCare" and type(rid) is str:
            known_episodes.add("EpisodeOfCare/" + rid)
        if rt == "Patient":
            persons["Patient/" + r["id"]] = (
                r.get("gender") or "unknown",
                _birth(r.get("birthDate")),
            )
        elif rt == "ServiceRequest":
            referral_sources["ServiceRequest/" + r["id"]] = next(
                (
                    c.get("code")
                    for cat in r.get("category", [])
                    for c in cat.get("coding", [])
                    if c.get("system") == REFERRAL_SOURCE and c.get("code") is not None
                ),
                None,
            )
        elif rt == "PractitionerRole":
            practitioner = _ref(r.get("practitioner"), "Practitioner")
            if practitioner:
                roles["PractitionerRole/" + r["id"]] = practitioner
        elif (
            rt == "EpisodeOfCare"
            and r.get("status") != "entered-in-error"
            and is_iop_episode(r, local)
        ):
            episodes.append(_episode(r, local))
        elif rt == "Observation":
            for o in observed(r):  # the Observation, then its components
                quantity = o.get("valueQuantity", {})
                value = quantity.get("value") if quantity.get("comparator") is None else None
                if value is None:
                    value = o.get("valueInteger")
                if value is None and isinstance(text := o.get("valueString"), str):
                    value = float(text) if _DECIMAL.fullmatch(text) else None  # toDecimal()
                patient = _ref(o.get("subject"), "Patient")
                effective = _effective(o, "effective", instant=True)
                day = _d(effective)
                codings = o.get("code", {}).get("coding", [])
                item = next((c.get("code") for c in codings if c.get("system") == LOINC), None)
                if item in SCREENS and o.get("status") in FINAL:
                    answer = ((o.get("valueCodeableConcept") or {}).get("coding") or [{}])[0]
                    if answer.get("code"):
                        screened(patient, day, answer["code"] in SCREENS[item])
                    elif item != "93374-7" and value is not None:  # an item as a number
                        screened(patient, day, value > 0)
                first = (codings or [{}])[0]
                note_total(o, value, patient, effective, first, totals)
                for prefix, (system, code) in OTHER_TOTALS.items():
                    if (
                        value is not None
                        and patient
                        and day
                        and (first.get("system"), first.get("code")) == (system, code)
                        and o.get("status") in FINAL
                    ):
                        scores[patient].append(
                            (
                                day,
                                effective,
                                "Observation/" + o["id"],
                                prefix,
                                float(value),
                            )
                        )
                loinc = next(
                    (
                        c.get("code")
                        for c in o.get("code", {}).get("coding", [])
                        if c.get("system") == LOINC
                    ),
                    None,
                )
                if (
                    value is not None
                    and patient
                    and loinc in TOTALS.values()
                    and day
                    and o.get("status") in ("final", "amended", "corrected")
                ):
                    scores[patient].append(
                        (day, effective, "Observation/" + o["id"], loinc, float(value))
                    )
        elif rt == "QuestionnaireResponse":
            responses.append(r)
        elif rt == "Questionnaire":
            forms.append(r)
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
            sessions.appointment(r, patient, pstatus)
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
            sessions.encounter(r)
            if not patient:
                continue
            kind = session_kind(r)
            if status == "finished" and day and kind not in WITHOUT_PATIENT:
                contacts[patient].append(day)
            people = {
                p["individual"]["reference"]
                for p in r.get("participant", [])
                if p.get("individual", {}).get("reference", "").startswith("Practitioner")
            }
            if code in INPATIENT:
                stay_people["Encounter/" + r["id"]] = people
                if status not in ("planned", "cancelled", "entered-in-error"):
                    inpatient[patient].append(("Encounter/" + r["id"], day, _d(period.get("end"))))
                continue
            attended = status == "finished" and day is not None and kind not in WITHOUT_PATIENT
            minutes = _lasted(r)
            session = kind is not None
            iop_encounters.append((episode, patient, day, people, session, attended, minutes))
            if status == "finished" and code in ("AMB", "VR") and day:
                visits[patient].append((day, episode))
        elif rt == "RiskAssessment" and r.get("status") in FINAL:
            risks = [
                c.get("code")
                for pred in r.get("prediction", [])
                for c in pred.get("qualitativeRisk", {}).get("coding", [])
                if c.get("system") == RISK_PROBABILITY
            ]
            if risks:
                positive = any(x in ("low", "moderate", "high") for x in risks)
                screened(
                    _ref(r.get("subject"), "Patient"), _d(_effective(r, "occurrence")), positive
                )
        elif rt == "Flag" and r.get("status") != "entered-in-error":
            coding = (r.get("code", {}).get("coding") or [{}])[0]
            if coding.get("system") == SAFETY_FLAG_SYSTEM and coding.get("code") in SAFETY_FLAGS:
                screened(
                    _ref(r.get("subject"), "Patient"), _d(r.get("period", {}).get("start")), True
                )
        elif rt == "CarePlan":
            patient = _ref(r.get("subject"), "Patient")
            kinds = [
                c.get("code")
                for cat in r.get("category", [])
                for c in cat.get("coding", [])
                if c.get("system") == PLAN_KIND
            ]
            made = _d(r.get("created") or r.get("period", {}).get("start"))
            plan_ok = r.get("status") in ("active", "completed")
            if patient and made and kinds[:1] == ["relapse-prevention"] and plan_ok:
                safety_plans[patient].append(made)
            for act in r.get("activity", []):
                detail = act.get("detail")
                coding = ((detail or {}).get("code", {}).get("coding") or [{}])[0]
                due = _d((detail or {}).get("scheduledPeriod", {}).get("start"))
                if (
                    patient
                    and due
                    and coding.get("system") == CHECK_IN
                    and detail.get("status") != "entered-in-error"
                    and r.get("status") != "entered-in-error"
                ):
                    check_ins[patient].append((made, due, detail.get("status") == "completed"))

    def who(refs: Iterable[str]) -> set[str]:
        return {roles.get(ref, ref) for ref in refs}

    pops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    observations: dict[str, list[float]] = defaultdict(list)
    # measure -> (stratifier, value) -> counts / observations
    strata_pops: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    strata_obs: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    strata: dict[str, str] = {}  # the current subject's

    def add(measure: str, **counts: int) -> None:
        for code, n in counts.items():
            pops[measure][code.replace("_", "-")] += n
        if any(counts.values()):
            for item in strata.items():
                for code, n in counts.items():
                    strata_pops[measure][item][code.replace("_", "-")] += n

    def observe(measure: str, value: float) -> None:
        observations[measure].append(value)
        for item in strata.items():
            strata_obs[measure][item].append(value)

    codes = form_codes(forms)
    for patient, day, positive in qr_screens(responses, codes):
        screened(patient, day, positive)
    for patient, (day, authored, key, prefix, value) in qr_scores(responses, totals, codes):
        scores[patient].append((day, authored, key, TOTALS.get(prefix, prefix), value))

    # an Encounter linked to an episode of the data is that episode's; a session linked to
    # none (or to one the data lack) is of the patient's episodes whose dates hold it
    unlinked: dict[str, list[tuple[dt.date, set[str], bool, int]]] = defaultdict(list)
    for episode, patient, day, people, session, attended, minutes in iop_encounters:
        if episode in known_episodes:
            iop_people[episode] |= people
            if attended and day is not None:
                session_encounters[episode].append((day, minutes))
        elif session and day is not None:
            unlinked[patient].append((day, people, attended, minutes))

    appointments = sessions.by_patient()
    scheduled = sessions.appointment_hours()  # Appointments no Encounter records
    for ep in episodes:
        if ep["patient"] is None or ep["start"] is None:
            continue
        start, end, patient = ep["start"], ep["end"], ep["patient"]
        sex, birth = persons.get(patient, ("unknown", None))
        fulfilled = [
            a
            for a in appointments[patient]
            if (a[0] - start).days >= 0 and (end is None or a[0] <= end) and a[1] == "fulfilled"
        ]
        tele = sum(a[2] for a in fulfilled)
        strata = {
            "program_type": ep["program_type"] or "unknown",
            "referral_source": referral_sources.get(ep["referral"] or "") or "unknown",
            "telehealth_band": "unknown"
            if not fulfilled
            else "none"
            if tele == 0
            else "under-half"
            if tele * 2 < len(fulfilled)
            else "half-or-more",
            "age_band": _age_band(birth, start),
            "sex": sex,
            "period": _period(end or start),
        }
        within = [
            s
            for s in scores[patient]
            if (s[0] - start).days >= -14 and (end is None or s[0] <= end)
        ]
        for prefix, loinc in [*TOTALS.items(), *((p, p) for p in OTHER_TOTALS)]:
            mine = sorted((s for s in within if s[3] == loinc), key=lambda s: (s[0], s[1], s[2]))
            if not mine:
                continue
            base, last, n = mine[0][4], mine[-1][4], len(mine)
            if prefix in ("phq9", "gad7"):
                add(f"iop-{prefix}-baseline", initial_population=1, measure_population=1)
                observe(f"iop-{prefix}-baseline", base)
            if n < 2:
                continue
            add(f"iop-{prefix}-change", initial_population=1, measure_population=1)
            observe(f"iop-{prefix}-change", last - base)
            if prefix in RELIABLE:
                better = last <= base - RELIABLE[prefix]
                worse = last >= base + RELIABLE[prefix]
                for name, hit in (("improvement", better), ("deterioration", worse)):
                    add(
                        f"iop-{prefix}-reliable-{name}",
                        initial_population=1,
                        denominator=1,
                        numerator=int(hit),
                    )
            if prefix in ("phq9", "gad7"):
                add(f"iop-{prefix}-last", initial_population=1, measure_population=1)
                observe(f"iop-{prefix}-last", last)
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
        loose = [
            u
            for u in unlinked[patient]
            if (u[0] - start).days >= 0 and (end is None or u[0] <= end)
        ]
        in_iop = who(iop_people[ep["key"]].union(*(u[1] for u in loose)))
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
        days = {
            d: pos
            for d, pos in screens[patient].items()
            if (d - start).days >= -14 and (end is None or d <= end)
        }
        add(
            "iop-safety-positive",
            initial_population=int(bool(days)),
            denominator=int(bool(days)),
            numerator=int(any(days.values())),
        )
        positive = [d for d, pos in days.items() if pos]
        followed = 0
        for d in positive:
            later = [(x - d).days for x in contacts[patient]] + [
                (x - d).days for x in screens[patient]
            ]
            plans = [(x - d).days for x in safety_plans[patient]]
            followed += any(1 <= n <= 7 for n in later) or any(0 <= n <= 7 for n in plans)
        add(
            "iop-safety-followup",
            initial_population=len(positive),
            denominator=len(positive),
            numerator=followed,
        )
        if end is not None:
            due = [
                kept
                for made, day, kept in check_ins[patient]
                if 1 <= (day - end).days <= 183 and made is not None and start <= made <= end
            ]
            add(
                "iop-checkins-kept",
                initial_population=len(due),
                denominator=len(due),
                numerator=sum(due),
            )
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
            ] + [(u[0], u[3]) for u in loose if u[2]]
            sessions += [a for a in scheduled[patient] if (a[0] - start).days >= 0 and a[0] <= end]
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
            max_hours, max_days = ep["max_hours"], ep["max_days"]
            if max_hours is not None or max_days is not None:
                over = sum(
                    1
                    for w, ss in by_week.items()
                    if w < weeks_full
                    and (
                        (max_hours is not None and sum(s[1] for s in ss) > max_hours * 60)
                        or (max_days is not None and len({s[0] for s in ss}) > max_days)
                    )
                )
                add(
                    "iop-intensity-weeks-over",
                    initial_population=weeks_full,
                    denominator=weeks_full,
                    numerator=over if weeks_full > 0 else 0,
                )
            if weeks_full > 0:
                add("iop-intensity-hours", initial_population=1, measure_population=1)
                observe("iop-intensity-hours", minutes / 60.0 / weeks_full)
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
    for patient, stays in inpatient.items():
        sex, birth = persons.get(patient, ("unknown", None))
        for key, adm, dis in stays:
            if dis is None:
                continue
            strata = {"age_band": _age_band(birth, adm), "sex": sex, "period": _period(dis)}
            nxt = [(s[1] - dis).days for s in stays if s[0] != key and s[1] and s[1] > dis]
            add(
                "iop-inpatient-readmission-30",
                initial_population=1,
                denominator=1,
                numerator=int(bool(nxt) and min(nxt) <= 30),
            )

    strata = {}
    for prefix in (*TOTALS, *OTHER_TOTALS):  # measures of instruments a source may not have
        add(f"iop-{prefix}-change", initial_population=0, measure_population=0)
    out: dict[str, dict[str, Any]] = {}
    for measure, counts in pops.items():
        continuous = measure in observations or "measure-population" in counts

        def score(counts: Mapping[str, int], values: list[float], continuous: bool) -> Any:
            if continuous:
                return _mean(values)
            return _proportion(
                counts.get("numerator", 0),
                counts.get("denominator", 0),
                counts.get("denominator-exclusion", 0),
            )

        by_stratum: dict[str, dict[str, Any]] = defaultdict(dict)
        for (name, value), c in sorted(strata_pops[measure].items()):
            values = strata_obs[measure].get((name, value), [])
            by_stratum[name][value] = {
                "populations": {k: n for k, n in c.items() if n},
                "score": score(c, values, continuous),
            }
        out[measure] = {
            "populations": dict(counts),
            "score": score(counts, observations[measure], continuous),
            "strata": dict(by_stratum),
        }
    return out
