"""Narratives of the care sections of a ToC document: assessments (scores over time per
instrument, bands, flags), plan of care, goals, relapse-prevention plan, care team,
encounters and aftercare.

Each function takes the :class:`~iopfhir.fhir.document._index.DocIndex` and the section's
entry URLs and returns XHTML (the inside of the section's ``div``), read from the FHIR
resources themselves. Imports: :mod:`iopfhir.terminology`, the document's ``_index``
and ``_xhtml``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from iopfhir.fhir.document._index import DocIndex, Resource, concept_text, short_moment
from iopfhir.fhir.document._xhtml import bullets, heading, para, table
from iopfhir.terminology import Instrument, instrument_by_code, instruments

__all__ = [
    "aftercare_text",
    "assessments_text",
    "care_team_text",
    "encounters_text",
    "goals_text",
    "plan_of_care_text",
    "relapse_text",
]

_APPOINTMENT_STATUS = {
    "fulfilled": "attended",
    "noshow": "no-show",
    "booked": "scheduled",
    "cancelled": "cancelled",
    "proposed": "proposed",
}


def _measure_key(ix: DocIndex, url: str) -> str | None:
    key = ix.keys.get(url)
    return key.split("/", 1)[0] if key is not None else None


def _instrument_coded(obs: Resource) -> Instrument | None:
    """The instrument of a panel or total Observation, by its LOINC code (item codes are
    shared between instruments and name none)."""
    for coding in (obs.get("code") or {}).get("coding", []):
        found = instrument_by_code(str(coding.get("code")))
        if found is not None:
            return found[0]
    return None


def _instrument_of(qr: Resource | None) -> Instrument | None:
    canonical = (qr or {}).get("questionnaire")
    return next((i for i in instruments().values() if i.questionnaire == canonical), None)


def _score(obs: Resource | None, tool: Instrument | None) -> str:
    """The total as a reader says it: a number, or a risk level's name (C-SSRS)."""
    if obs is None:
        return ""
    quantity = obs.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        value = quantity["value"]
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    concept = obs.get("valueCodeableConcept")
    codes = {c.get("code") for c in (concept or {}).get("coding", [])}
    for level in tool.risk_levels if tool else ():
        if level.get("answer") in codes or level.get("code") in codes:
            return f"{level['code']} risk"
    return concept_text(concept)


def _band(obs: Resource | None) -> str:
    texts = []
    for concept in (obs or {}).get("interpretation", []):
        for coding in concept.get("coding", []):
            if coding.get("display"):
                texts.append(str(coding["display"]))
    return ", ".join(texts)


def assessments_text(ix: DocIndex, urls: list[str]) -> str:
    """One table per instrument: date, score, band / interpretation, safety flags."""
    rows: dict[str, list[tuple[str, str, str, str]]] = {}
    seen: set[str] = set()
    for url in urls:
        res = ix.by_url[url]
        if res["resourceType"] not in ("Observation", "QuestionnaireResponse"):
            continue
        key = _measure_key(ix, url)
        if key is None or key in seen:  # one row per administration (items alone: many urls)
            continue
        seen.add(key)
        qr = ix.get(ix.local("questionnaireresponse", key) or "")
        total = ix.get(ix.local("observation", key) or "")
        flags = [
            concept_text(ix.by_url[u].get("code"))
            for k, u in ix.of_kind("flag")
            if k.startswith(f"{key}/") and u in urls
        ]
        risk = ix.get(ix.local("riskassessment", key) or "")
        if risk is not None:
            levels = [concept_text(p.get("qualitativeRisk")) for p in risk.get("prediction", [])]
            flags += [f"suicide risk: {level}" for level in levels if level]
        when = short_moment((qr or {}).get("authored") or res.get("effectiveDateTime"))
        tool = _instrument_of(qr) or _instrument_coded(res)
        title = tool.title if tool else str((qr or {}).get("questionnaire", "Instrument"))
        rows.setdefault(title, []).append(
            (when, _score(total, tool) or "not scored", _band(total), "; ".join(flags))
        )
    out = []
    for title, lines in rows.items():
        lines.sort(key=lambda line: line[0])
        out.append(heading(title))
        out.append(table(("Date", "Score", "Interpretation", "Flags"), lines))
    return "".join(out)


def _activity_line(ix: DocIndex, activity: dict[str, Any]) -> str:
    detail = activity.get("detail")
    if isinstance(detail, dict):
        parts = [concept_text(detail.get("code")), detail.get("description", "")]
        text = " - ".join(p for p in parts if p)
        status = detail.get("status")
        return f"{text} ({status})" if status else text
    target = ix.get(activity.get("reference"))
    if target is not None:
        return concept_text(target.get("code")) or concept_text(
            (target.get("serviceType") or [{}])[0]
        )
    return ""


def _plan_header(ix: DocIndex, plan: Resource) -> str:
    period = plan.get("period", {})
    when = " to ".join(p for p in (period.get("start", ""), period.get("end", "")) if p)
    problems = ", ".join(
        concept_text(c.get("code")) for c in map(ix.get, plan.get("addresses", [])) if c
    )
    out = heading(plan.get("title") or concept_text((plan.get("category") or [{}])[0]))
    out += para(str(plan.get("status", "")), label="Status")
    if when:
        out += para(when, label="Period")
    if plan.get("description"):
        out += para(str(plan["description"]), label="Summary")
    if problems:
        out += para(problems, label="Addresses")
    author = ix.name(plan.get("author"))
    if author:
        out += para(author, label="Author")
    return out


def plan_of_care_text(ix: DocIndex, urls: list[str]) -> str:
    """Each plan: title, status, period, problems addressed, activities, revisions."""
    out = []
    for url in urls:
        plan = ix.by_url[url]
        out.append(_plan_header(ix, plan))
        out.append(bullets(_activity_line(ix, a) for a in plan.get("activity", [])))
        notes = [
            f"{short_moment(n.get('time'))}: {n.get('text', '')}" for n in plan.get("note", [])
        ]
        if notes:
            out.append(heading("Revisions"))
            out.append(bullets(notes))
    return "".join(out)


def goals_text(ix: DocIndex, urls: list[str]) -> str:
    """A table of goals: description, lifecycle and achievement status, target, start."""
    rows = []
    for url in urls:
        goal = ix.by_url[url]
        targets = []
        for target in goal.get("target", []):
            measure = concept_text(target.get("measure"))
            code = next((c.get("code") for c in target.get("measure", {}).get("coding", [])), "")
            hit = next((i.title for i in instruments().values() if i.total_code == code), "")
            qty = target.get("detailQuantity", {})
            due = f" by {target['dueDate']}" if target.get("dueDate") else ""
            targets.append(
                f"{hit or measure} {qty.get('comparator', '')} {qty.get('value', '')}{due}".strip()
            )
        rows.append(
            (
                concept_text(goal.get("description")),
                goal.get("lifecycleStatus", ""),
                concept_text(goal.get("achievementStatus")),
                "; ".join(targets),
                goal.get("startDate", ""),
            )
        )
    return table(("Goal", "Status", "Achievement", "Target", "Start"), rows)


def relapse_text(ix: DocIndex, urls: list[str]) -> str:
    """Each plan's triggers, warning signs, coping strategies, routines, supports and
    crisis contacts (who to call), grouped by element in the plan's order."""
    out = []
    for url in urls:
        plan = ix.by_url[url]
        out.append(_plan_header(ix, plan))
        contained = {c.get("id"): c for c in plan.get("contained", [])}
        groups: dict[str, list[str]] = {}
        for activity in plan.get("activity", []):
            detail = activity.get("detail") or {}
            label = concept_text(detail.get("code")) or "Other"
            lines = groups.setdefault(label, [])
            if detail.get("description"):
                lines.append(str(detail["description"]))
            for ref in detail.get("performer", []):
                target = ref.get("reference", "")
                if target.startswith("#") and target[1:] in contained:
                    org = contained[target[1:]]
                    phone = next(
                        (t.get("value") for t in org.get("telecom", []) if t.get("value")), ""
                    )
                    note = concept_text((org.get("type") or [{}])[0])
                    lines.append(" - ".join(p for p in (org.get("name", ""), phone, note) if p))
                else:
                    name, phone = ix.name(ref), ix.phone(ref)
                    lines.append(" - ".join(p for p in (name, ix.role(ref), phone) if p))
        for label, lines in groups.items():
            out.append(heading(label))
            out.append(bullets(lines))
    return "".join(out)


def care_team_text(ix: DocIndex, urls: list[str]) -> str:
    """Each team's members with role and phone; or the listed clinicians (at referral)."""
    out = []
    loose = []
    for url in urls:
        res = ix.by_url[url]
        if res["resourceType"] != "CareTeam":
            loose.append(
                (ix.name(url), ix.role(url), ix.name(res.get("organization")), ix.phone(url))
            )
            continue
        out.append(heading(res.get("name") or "Care team"))
        rows = [
            (
                ix.name(p.get("member")),
                ", ".join(concept_text(c) for c in p.get("role", []) if concept_text(c)),
                ix.phone(p.get("member")),
            )
            for p in res.get("participant", [])
        ]
        out.append(table(("Member", "Role", "Phone"), rows))
    if loose:
        out.append(table(("Clinician", "Role", "Organization", "Phone"), loose))
    return "".join(out)


def encounters_text(ix: DocIndex, urls: list[str]) -> str:
    """The inpatient stay, then a count of sessions by status and one row per session."""
    out = []
    rows = []
    counts: dict[str, int] = {}
    minutes = 0
    for url in urls:
        res = ix.by_url[url]
        if res["resourceType"] == "Encounter" and url in ix.urls("stay"):
            period = res.get("period", {})
            out.append(
                para(
                    " to ".join(p for p in (period.get("start"), period.get("end")) if p)
                    + (
                        f" at {ix.name(res.get('serviceProvider'))}"
                        if res.get("serviceProvider")
                        else ""
                    ),
                    label="Inpatient stay",
                )
            )
        elif res["resourceType"] == "Appointment":
            raw = str(res.get("status", ""))
            status = _APPOINTMENT_STATUS.get(raw, raw)
            counts[status] = counts.get(status, 0) + 1
            kind = concept_text((res.get("serviceType") or [{}])[0])
            rows.append((short_moment(res.get("start")), kind, status))
        elif res["resourceType"] == "Encounter" and res.get("status") == "finished":
            minutes += _minutes(res.get("period", {}))
    if rows:
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        out.append(
            para(
                f"{len(rows)} sessions: {summary}; {minutes / 60:.1f} hours attended",
                label="Program sessions",
            )
        )
        out.append(table(("Date", "Session", "Status"), rows))
    return "".join(out)


def _minutes(period: dict[str, str]) -> int:
    try:
        start = datetime.fromisoformat(period["start"])
        end = datetime.fromisoformat(period["end"])
    except (KeyError, ValueError):
        return 0
    return max(0, int((end - start).total_seconds() // 60))


def aftercare_text(ix: DocIndex, urls: list[str]) -> str:
    """Aftercare plans with check-ins, referrals and follow-up appointments."""
    out = []
    referrals, appointments = [], []
    for url in urls:
        res = ix.by_url[url]
        rtype = res["resourceType"]
        if rtype == "CarePlan":
            out.append(_plan_header(ix, res))
            checks = [
                (
                    concept_text(a["detail"].get("code")),
                    a["detail"].get("scheduledPeriod", {}).get("start", ""),
                    ", ".join(ix.name(p) for p in a["detail"].get("performer", [])),
                    a["detail"].get("status", ""),
                )
                for a in res.get("activity", [])
                if isinstance(a.get("detail"), dict)
            ]
            if checks:
                out.append(
                    table(("Check-in", "Due", "With", "Status"), checks, caption="Check-ins")
                )
        elif rtype == "ServiceRequest":
            referrals.append(
                (
                    concept_text(res.get("code")),
                    ", ".join(ix.name(p) for p in res.get("performer", [])),
                    "; ".join(concept_text(r) for r in res.get("reasonCode", [])),
                    res.get("status", ""),
                    res.get("authoredOn", ""),
                )
            )
        elif rtype == "Appointment":
            people = []
            for participant in res.get("participant", []):
                actor = ix.get(participant.get("actor"))
                if actor is not None and actor["resourceType"] != "Patient":
                    people.append(ix.name(participant["actor"]))
            people += [ix.name(s) for s in res.get("supportingInformation", [])]
            appointments.append(
                (
                    concept_text((res.get("serviceType") or [{}])[0]),
                    short_moment(res.get("start")),
                    ", ".join(p for p in people if p),
                    _APPOINTMENT_STATUS.get(res.get("status", ""), res.get("status", "")),
                )
            )
    if referrals:
        out.append(
            table(("Service", "To", "Reason", "Status", "Date"), referrals, caption="Referrals")
        )
    if appointments:
        out.append(
            table(
                ("Service", "When", "With", "Status"),
                appointments,
                caption="Follow-up appointments",
            )
        )
    return "".join(out)
