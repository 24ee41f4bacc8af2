"""Which of an episode's resources each section of a ToC document lists.

Two moments: ``discharge`` (the IOP hands the patient on to aftercare: everything the
episode holds) and ``referral`` (the inpatient unit refers the patient to the IOP: only
what was known on the referral date - the referral and the stay, problems, medications,
allergies and scores recorded by then, the hospital's discharge plan, the stay's
clinicians; aftercare has not started). A resource without a date is taken as known.

:func:`select_sections` returns, per section key (see
:func:`iopfhir.terminology.documents.toc_sections`), the full URLs of the section's
entries in episode order, and for an empty section the ``list-empty-reason`` code.
Imports: :mod:`iopfhir.fhir.document._index`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from iopfhir.fhir.document._index import DocIndex, Resource

__all__ = ["At", "Selection", "measure_urls", "select_sections"]

At = Literal["discharge", "referral"]

#: Project care-plan kinds shown as the plan of care (at discharge).
_TREATMENT_KINDS = ("treatment", "other")


@dataclass(slots=True)
class Selection:
    """Entries per section key, and the reason a section is empty."""

    entries: dict[str, list[str]] = field(default_factory=dict)
    empty: dict[str, str] = field(default_factory=dict)


def select_sections(ix: DocIndex, at: At, cutoff: str) -> Selection:
    """The entries of every section of a document written ``at`` on day ``cutoff``
    (``YYYY-MM-DD``; at discharge nothing is cut off)."""
    known: Callable[[str | None], bool] = (
        (lambda _day: True) if at == "discharge" else (lambda day: day is None or day <= cutoff)
    )
    res = ix.by_url
    sel: dict[str, list[str]] = {}
    sel["reason-for-referral"] = ix.urls("referral") + ix.urls("stay")
    if at == "discharge":
        sel["reason-for-referral"] += ix.urls("episode")
    sel["problems"] = [
        u
        for u in ix.urls("condition")
        if known(_day(res[u], "recordedDate") or _day(res[u], "onsetDateTime"))
    ]
    sel["medications"] = [
        u for u in ix.urls("medicationstatement") if known(_statement_day(res[u]))
    ] + [u for u in ix.urls("medicationrequest") if known(_day(res[u], "authoredOn"))]
    sel["allergies"] = [
        u for u in ix.urls("allergyintolerance") if known(_day(res[u], "recordedDate"))
    ]
    sel["assessments"] = [
        u for key, day in _administrations(ix) if known(day) for u in measure_urls(ix, key)
    ]
    if at == "discharge":
        plans = [u for kind in _TREATMENT_KINDS for u in ix.care_plans(kind)]
        sel["plan-of-care"] = sorted(plans, key=ix.order.__getitem__)
    else:
        sel["plan-of-care"] = ix.urls("dischargeplan") + [
            u
            for kind in _TREATMENT_KINDS
            for u in ix.care_plans(kind)
            if known(_day(res[u], "created"))
        ]
    sel["relapse-prevention"] = [
        u for u in ix.care_plans("relapse-prevention") if known(_day(res[u], "created"))
    ]
    if at == "discharge":
        sel["goals"] = ix.urls("goal")
    else:  # the goals of the plans known then
        planned = {
            ref.get("reference")
            for u in sel["plan-of-care"] + sel["relapse-prevention"]
            for ref in res[u].get("goal", [])
        }
        sel["goals"] = [u for u in ix.urls("goal") if u in planned]
    sel["care-team"] = ix.urls("careteam") if at == "discharge" else _stay_team(ix)
    if at == "discharge":
        sel["encounters"] = ix.urls("stay") + sorted(
            ix.urls("session") + ix.urls("encounter"), key=ix.order.__getitem__
        )
        sel["aftercare"] = sorted(
            ix.care_plans("aftercare") + ix.urls("servicerequest") + ix.urls("appointment"),
            key=ix.order.__getitem__,
        )
    else:
        sel["encounters"] = ix.urls("stay")
        sel["aftercare"] = []
    empty = {
        key: ("notstarted" if key == "aftercare" and at == "referral" else "nilknown")
        for key, urls in sel.items()
        if not urls
    }
    return Selection(entries=sel, empty=empty)


def _administrations(ix: DocIndex) -> list[tuple[str, str | None]]:
    """``(measure key, day)`` of every instrument administration, in episode order, whatever
    forms it was written in: a QuestionnaireResponse, a total Observation (keyed by the
    measure), a panel or items alone (``key/panel``, ``key/q1``)."""
    found: dict[str, str | None] = {}
    for local, url in sorted(
        ix.of_kind("questionnaireresponse") + ix.of_kind("observation"),
        key=lambda pair: ix.order[pair[1]],
    ):
        key = local.split("/", 1)[0]
        if key not in found:
            resource = ix.by_url[url]
            found[key] = _day(resource, "authored") or _day(resource, "effectiveDateTime")
    return list(found.items())


def measure_urls(ix: DocIndex, measure_key: str) -> list[str]:
    """A measure's section entries: its panel Observation (which brings the item and total
    Observations and the QuestionnaireResponse along), else its total, else its
    QuestionnaireResponse, else its item Observations; then its Flags and RiskAssessment."""
    head = (
        ix.local("observation", f"{measure_key}/panel")
        or ix.local("observation", measure_key)
        or ix.local("questionnaireresponse", measure_key)
    )
    out = (
        [head]
        if head
        else [u for key, u in ix.of_kind("observation") if key.startswith(f"{measure_key}/")]
    )
    out += [u for key, u in ix.of_kind("flag") if key.startswith(f"{measure_key}/")]
    risk = ix.local("riskassessment", measure_key)
    if risk:
        out.append(risk)
    return out


def _day(resource: Resource, element: str) -> str | None:
    value = resource.get(element)
    return value[:10] if isinstance(value, str) else None


def _statement_day(resource: Resource) -> str | None:
    """When a medication was known to be taken: its start, else when it was asserted."""
    period = resource.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return str(period["start"])[:10]
    return _day(resource, "effectiveDateTime") or _day(resource, "dateAsserted")


def _stay_team(ix: DocIndex) -> list[str]:
    """At referral: the referring clinicians (the stay's participants, the requester)."""
    out: list[str] = []
    for url in ix.urls("stay") + ix.urls("referral"):
        res = ix.by_url[url]
        refs = [p.get("individual") for p in res.get("participant", [])]
        refs.append(res.get("requester"))
        for ref in refs:
            target = ref.get("reference") if isinstance(ref, dict) else None
            if target in ix.by_url and target not in out:
                out.append(target)
    return out
