"""Readable narratives (``text.div``) of a ToC document: the Composition's and each section's.

:func:`section_div` renders one section from its entries (the care sections live in
:mod:`.narrative_care`); :func:`composition_div` renders the document header (patient,
program, period, author, custodian, and what each section holds). Everything is read
from the FHIR resources the document carries and escaped (:mod:`._xhtml`), so the
narrative says what the entries say. Imports: the document's ``_index``, ``_xhtml`` and
``narrative_care``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iopfhir.fhir.document._index import DocIndex, Resource, concept_text, short_moment
from iopfhir.fhir.document._xhtml import div, esc, para, table
from iopfhir.fhir.document.narrative_care import (
    aftercare_text,
    assessments_text,
    care_team_text,
    encounters_text,
    goals_text,
    plan_of_care_text,
    relapse_text,
)

__all__ = ["EMPTY_TEXT", "composition_div", "section_div"]

#: What an empty section says, by its ``list-empty-reason`` code.
EMPTY_TEXT = {
    "nilknown": "None recorded.",
    "notstarted": "Not started when this document was written.",
    "unavailable": "Not available.",
}


def _period(period: Any) -> str:
    if not isinstance(period, dict):
        return ""
    return " to ".join(str(p) for p in (period.get("start"), period.get("end")) if p)


def reason_text(ix: DocIndex, urls: list[str]) -> str:
    """How the patient came to the program (and, at discharge, how they left it)."""
    out = []
    for url in urls:
        res = ix.by_url[url]
        rtype = res["resourceType"]
        if rtype == "ServiceRequest":
            source = ", ".join(concept_text(c) for c in res.get("category", []))
            who = ix.name(res.get("requester"))
            line = " ".join(
                p
                for p in (
                    f"Referred from {source}" if source else "Referred",
                    f"on {res['authoredOn']}" if res.get("authoredOn") else "",
                    f"by {who}" if who else "",
                    f"for {concept_text(res.get('code'))}" if res.get("code") else "",
                )
                if p
            )
            out.append(para(line + ".", label="Referral"))
            for reason in res.get("reasonCode", []):
                out.append(para(concept_text(reason), label="Reason"))
        elif rtype == "Encounter":
            where = ix.name(res.get("serviceProvider"))
            out.append(
                para(
                    _period(res.get("period")) + (f" at {where}" if where else ""),
                    label="Inpatient stay",
                )
            )
        elif rtype == "EpisodeOfCare":
            out.append(para(_period(res.get("period")), label="In the program"))
            for ext in res.get("extension", []):
                if ext.get("url", "").endswith("/discharge-disposition"):
                    out.append(
                        para(concept_text(ext.get("valueCodeableConcept")), label="Discharge")
                    )
    return "".join(out)


def problems_text(ix: DocIndex, urls: list[str]) -> str:
    """A table of problems: name, code, clinical status, onset, recorded."""
    rows = []
    for url in urls:
        cond = ix.by_url[url]
        coding: dict[str, Any] = next(iter(cond.get("code", {}).get("coding", [])), {})
        rows.append(
            (
                concept_text(cond.get("code")),
                coding.get("code", ""),
                concept_text(cond.get("clinicalStatus")),
                short_moment(cond.get("onsetDateTime")),
                short_moment(cond.get("recordedDate")),
            )
        )
    return table(("Problem", "Code", "Status", "Onset", "Recorded"), rows)


def medications_text(ix: DocIndex, urls: list[str]) -> str:
    """A table of medications taken (statements) and prescribed (requests)."""
    rows = []
    for url in urls:
        med = ix.by_url[url]
        taking = med["resourceType"] == "MedicationStatement"
        dosage = "; ".join(
            str(d.get("text"))
            for d in med.get("dosage" if taking else "dosageInstruction", [])
            if d.get("text")
        )
        since = (
            _period(med.get("effectivePeriod")) or short_moment(med.get("effectiveDateTime"))
            if taking
            else short_moment(med.get("authoredOn"))
        )
        who = ix.name(med.get("informationSource" if taking else "requester"))
        rows.append(
            (
                concept_text(med.get("medicationCodeableConcept")),
                "taking" if taking else "prescribed",
                med.get("status", ""),
                dosage,
                since,
                who,
            )
        )
    return table(("Medication", "Kind", "Status", "Dosage", "When", "Source"), rows)


def allergies_text(ix: DocIndex, urls: list[str]) -> str:
    """A table of allergies: substance, category, criticality, reactions, status."""
    rows = []
    for url in urls:
        allergy = ix.by_url[url]
        reactions = "; ".join(
            ", ".join(concept_text(m) for m in r.get("manifestation", []))
            + (f" ({r['severity']})" if r.get("severity") else "")
            for r in allergy.get("reaction", [])
        )
        rows.append(
            (
                concept_text(allergy.get("code")),
                ", ".join(allergy.get("category", [])),
                allergy.get("criticality", ""),
                reactions,
                concept_text(allergy.get("clinicalStatus")),
            )
        )
    return table(("Substance", "Category", "Criticality", "Reactions", "Status"), rows)


_SECTION_TEXT: dict[str, Callable[[DocIndex, list[str]], str]] = {
    "reason-for-referral": reason_text,
    "problems": problems_text,
    "medications": medications_text,
    "allergies": allergies_text,
    "assessments": assessments_text,
    "plan-of-care": plan_of_care_text,
    "goals": goals_text,
    "relapse-prevention": relapse_text,
    "care-team": care_team_text,
    "encounters": encounters_text,
    "aftercare": aftercare_text,
}


def section_div(ix: DocIndex, key: str, urls: list[str], empty_reason: str | None) -> str:
    """The ``text.div`` of section ``key`` listing ``urls`` (or saying why it is empty)."""
    if not urls:
        return div(f"<p>{esc(EMPTY_TEXT.get(empty_reason or 'nilknown', 'None recorded.'))}</p>")
    inner = _SECTION_TEXT[key](ix, urls)
    return div(inner or "<p>See the entries of this section.</p>")


def composition_div(
    ix: DocIndex,
    *,
    title: str,
    date: str,
    author: Any,
    custodian: Any,
    period: dict[str, str] | None,
    sections: list[tuple[str, int]],
) -> str:
    """The document header: title, patient, program, period, author, custodian, and a
    line per section (its title and how many entries it lists)."""
    patient: Resource = ix.by_url[ix.patient_url]
    lines = [f"<p><b>{esc(title)}</b></p>"]
    facts = [
        ("Patient", ix.name(ix.patient_url)),
        ("Born", patient.get("birthDate", "")),
        ("Gender", patient.get("gender", "")),
        ("Date", short_moment(date)),
        ("Period", _period(period)),
        ("Author", ix.name(author)),
        ("Custodian", ix.name(custodian)),
    ]
    lines += [para(str(value), label=label) for label, value in facts if value]
    lines.append(table(("Section", "Entries"), sections))
    return div("".join(lines))
