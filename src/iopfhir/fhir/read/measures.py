"""An instrument administration → one :class:`~iopfhir.domain.Measure` of the episode.

The counterpart of :mod:`iopfhir.fhir.build.measures`. The administrations themselves
(which QuestionnaireResponse and Observations record one administration, and what they
say) are found by :mod:`iopfhir.fhir.read.administrations`; here one becomes a Measure:
its key (iopfhir's own identifier, else the first resource's id), its performer, the
session whose Encounter it names, and the FHIR forms it came in (``Measure.forms``:
QuestionnaireResponse, item Observations, total Observation, panel, interpretation; the
Flags and RiskAssessment are added by :func:`iopfhir.fhir.read.safety.read_safety`, which
also forgets forms that are every form the measure can have). Every answer and a stated
total are kept; a stated total that disagrees with complete answers is kept as written
and reported at its FHIRPath (``Observation.value``,
``QuestionnaireResponse.item.answer.value``): the score, band and flags come from the
answers. A total of iopfhir's own Observation without its QuestionnaireResponse that
equals the answers' total was computed, not stated. The total Observation's
``interpretation`` is checked against the score
(:func:`iopfhir.fhir.read.safety.check_interpretation`).

Imports: :mod:`iopfhir.domain` and the reader's ``_context``, ``administrations``,
``instruments``, ``people``, ``safety`` and ``values``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from iopfhir.domain import Measure
from iopfhir.domain.measures import MEASURE_FORMS, MeasureForm
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.administrations import Administration
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.keys import url_tail
from iopfhir.fhir.read.people import PERSON_UNRESOLVED, person_key
from iopfhir.fhir.read.safety import check_interpretation
from iopfhir.fhir.read.values import note

__all__ = ["read_measure"]


def read_measure(ctx: Context, adm: Administration) -> Measure | None:
    """The Measure of one administration, added to the episode's measures (and returned)."""
    when = adm.when
    if when is None:
        ctx.unmapped[f"{adm.entries[0].type}: instrument without a time"] += 1
        return None
    if adm.total is None and not adm.answers:
        ctx.unmapped[f"{adm.entries[0].type}: instrument without a score or answers"] += 1
        return None
    primary = adm.entries[0]
    allocator = ctx.keys["measures"]
    key = ctx.key_of.get(("measures", id(primary)))
    if key is None:
        key = allocator.take(adm.own_key or primary.id or url_tail(primary.full_url) or "m")
        ctx.key_of[("measures", id(primary))] = key
    performer = None
    for who, at in adm.performers:
        # the first member's person that resolves (an unresolvable QR author leaves its
        # Observations' performer); one not kept is counted where it stood
        performer = person_key(ctx, who, at)
        if performer is not None:
            break
        field_name = "author" if at.type == "QuestionnaireResponse" else "performer"
        note(f"{at.type}.{field_name}", PERSON_UNRESOLVED)
    session = None
    if adm.encounter is not None:
        target = ctx.resolve(*adm.encounter)
        if target is not None:
            session = ctx.session_of.get(id(target))
        if session is None:  # the writer names a session's Encounter only: the link is lost
            note(f"{adm.encounter[1].type}.encounter", "not a session of the input (dropped)")
    forms = _forms(adm)
    total = adm.total
    if adm.own_key and "questionnaire-response" not in forms and total is not None:
        # ours without its QR: a total equal to the answers' own was computed, not stated
        inst = adm.instrument
        if not inst.check_answers(adm.answers) and inst.total(adm.answers) == total:
            total = None
    fields: dict[str, Any] = {
        "key": key,
        "instrument": adm.instrument.id,
        "date": when,
        "answers": adm.answers,
        "total": total,
        "session": session,
        "performer": performer,
        "forms": forms,
    }
    for attempt in (fields, {**fields, "total": None}, {**fields, "answers": {}}):
        if not attempt["answers"] and attempt["total"] is None:
            continue
        try:
            measure = Measure(**attempt)
        except ValidationError:
            continue
        ctx.measures.append(measure)
        for entry in adm.entries:  # (an Observation, QuestionnaireResponse, DiagnosticReport)
            note_unheld(entry.resource, entry.type, _time_read(entry.resource))
            if entry.type == "Observation" and entry.resource.get("status") != "final":
                _note_status(entry.resource.get("status"))
        if attempt is not fields:
            ctx.unmapped[f"{primary.type}: answers or total out of range (kept one)"] += 1
        elif measure.stated_disagrees:
            _disagreeing_total(ctx, adm.total_at or f"{primary.type}.value", "kept as stated")
        elif adm.stated_total is not None and measure.score not in (None, adm.stated_total[0]):
            # ours: the total Observation holds the computed total, changed since
            _disagreeing_total(ctx, adm.stated_total[1], None)
        check_interpretation(ctx, adm, measure)
        return measure
    ctx.unmapped[f"{primary.type}: instrument values out of range"] += 1
    return None


def _forms(adm: Administration) -> list[MeasureForm]:
    """The FHIR forms an administration came in (the Flags and RiskAssessment are found
    later); a value read from a form the builder does not write (a panel's value or
    components) counts as the form that carries it."""
    found: set[MeasureForm] = set()
    for entry in adm.entries:
        if entry.type == "QuestionnaireResponse":
            found.add("questionnaire-response")
        elif entry.type == "DiagnosticReport":
            found.add("panel")  # the report groups the results: written as the panel
        elif entry.type == "Observation":
            role = adm.role_of(entry)
            kind = role[0] if role is not None else "item"
            if kind == "total":
                found.add("total")
                if entry.resource.get("interpretation"):
                    found.add("interpretation")
            elif kind == "panel":
                found.add("panel")
            else:
                found.add("items")
    if adm.answers and not found & {"questionnaire-response", "items"}:
        found.add("items")
    if adm.total is not None and not found & {"questionnaire-response", "total"}:
        found.add("total")
    return sorted(found, key=MEASURE_FORMS.index)


def _disagreeing_total(ctx: Context, at: str, kept: str | None) -> None:
    done = f"{kept}; scored from them" if kept else "computed from them"
    ctx.unmapped[f"{at}: total disagrees with the answers ({done})"] += 1


#: the elements :func:`~iopfhir.fhir.read.instruments.effective_time` reads before ``issued``
_TIMES = ("effectiveDateTime", "effectiveInstant", "effectivePeriod", "authored")


def _time_read(resource: dict[str, Any]) -> tuple[str, ...]:
    """``("issued",)`` when that is where the resource's time was read from (no effective
    time): held as the measure's date, not dropped."""
    if "issued" not in resource or any(key in resource for key in _TIMES):
        return ()
    return ("issued",)


#: R4 ObservationStatus codes a measure's Observation may have (cancelled and
#: entered-in-error ones are no administration: :mod:`iopfhir.fhir.read.administrations`)
_OBSERVATION_STATUSES = frozenset({"registered", "preliminary", "amended", "corrected", "unknown"})


def _note_status(status: Any) -> None:
    """A measure's Observation that is not ``final``: the model holds no status, and its
    Observations are written back ``final``; said, not silent."""
    named = (
        status if type(status) is str and status in _OBSERVATION_STATUSES else "not an R4 status"
    )
    note("Observation.status", f"{named} (written back as final)")
