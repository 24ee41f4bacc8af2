"""An instrument administration → one :class:`~iopfhir.domain.Measure` of the episode.

The counterpart of :mod:`iopfhir.fhir.build.measures`. The administrations themselves
(which QuestionnaireResponse and Observations record one administration, and what they
say) are found by :mod:`iopfhir.fhir.read.administrations`; here one becomes a Measure:
its key (iopfhir's own identifier, else the first resource's id), its performer, and the
session whose Encounter it names. When the given total disagrees with complete answers,
the answers win (the domain computes the total from them) and the total's FHIRPath is
reported; when the answers cannot be taken, the total is kept without them. The total
Observation's ``interpretation`` is checked against the score
(:func:`iopfhir.fhir.read.safety.check_interpretation`).

Imports: :mod:`iopfhir.domain` and the reader's ``_context``, ``administrations``,
``people``, ``safety`` and ``values``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from iopfhir.domain import Measure
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.administrations import Administration
from iopfhir.fhir.read.people import person_key
from iopfhir.fhir.read.safety import check_interpretation
from iopfhir.fhir.read.values import url_tail

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
    if adm.performer is not None:
        performer = person_key(ctx, *adm.performer)
    session = None
    if adm.encounter is not None:
        target = ctx.resolve(*adm.encounter)
        if target is not None:
            session = ctx.session_of.get(id(target))
    fields: dict[str, Any] = {
        "key": key,
        "instrument": adm.instrument.id,
        "date": when,
        "answers": adm.answers,
        "total": adm.total,
        "session": session,
        "performer": performer,
    }
    items_win = {**fields, "total": None}
    for attempt in (fields, items_win, {**fields, "answers": {}}):
        if not attempt["answers"] and attempt["total"] is None:
            continue
        try:
            measure = Measure(**attempt)
        except ValidationError:
            continue
        ctx.measures.append(measure)
        if attempt is items_win and measure.score is not None:
            _disagreeing_total(ctx, adm.total_at or f"{primary.type}.value")
        elif attempt is not fields:
            ctx.unmapped[f"{primary.type}: answers and total disagree (kept one)"] += 1
        elif adm.stated_total is not None and measure.score not in (None, adm.stated_total[0]):
            _disagreeing_total(ctx, adm.stated_total[1])
        check_interpretation(ctx, adm, measure)
        return measure
    ctx.unmapped[f"{primary.type}: instrument values out of range"] += 1
    return None


def _disagreeing_total(ctx: Context, at: str) -> None:
    ctx.unmapped[f"{at}: total disagrees with the answers (computed from them)"] += 1
