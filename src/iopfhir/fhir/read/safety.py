"""Reading safety signals back: total-score ``interpretation``, Flag and RiskAssessment.

The counterpart of :mod:`iopfhir.fhir.build.safety` (and of the ``interpretation`` the
measure builder writes). None of these is stored in the domain: the band, the flags and
the C-SSRS risk level are computed from the measure's answers (and total), never taken
from the input. So reading them means checking them:

* ``interpretation`` of a total Observation: its severity-band and v3 POS / NEG codings
  must be those of the band of the measure's score; otherwise the band is recomputed and
  ``Observation.interpretation`` is reported.
* A Flag is consumed (no loss: the builder writes it again) when it is active, coded in
  the ``safety-flag`` code system, belongs to a measure (iopfhir's own identifier
  ``flag`` → ``<episode>/<measure key>/<flag>``, or a ``flag-detail`` extension naming one
  of the measure's Observations / its QuestionnaireResponse) and that measure's answers
  raise that flag (a period other than the score's time, the one written again, is
  counted). Otherwise it is reported: ``Flag`` "not raised by the answers" (a
  flag of a measure whose answers do not raise it) or "not derived from an instrument".
* A RiskAssessment likewise (identifier ``riskassessment`` → ``<episode>/<measure key>``,
  or ``basis``): consumed when its measure is a risk-level instrument (C-SSRS) and every
  prediction's ``qualitativeRisk`` is the one the answers give.

A consumed Flag or RiskAssessment of others is written anew from the measure: what it
carries beyond that (an ``author``, a ``note``, its identifiers, another extension, a
prediction's probability) is counted under ``unmapped``
(:func:`~iopfhir.fhir.read.held.note_unheld`).

What was consumed joins the measure's ``forms`` (``flags``, ``risk-assessment``), so that
a measure read from FHIR is written again with the safety resources its source had and no
others; forms that are every form the measure can have are forgotten (``None``).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's ``_context``, ``administrations``, ``held``, ``instruments``, ``source``
and ``values``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from iopfhir.domain import Measure
from iopfhir.domain.common import when
from iopfhir.domain.measures import MeasureForm
from iopfhir.fhir.conventions import CORE_EXT
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.administrations import Administration
from iopfhir.fhir.read.concepts import note_beside
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, codings, note, parse_timestamp
from iopfhir.terminology import Instrument, code_system_url, codes

__all__ = ["check_interpretation", "patient_sex", "read_safety"]

#: Systems whose codings in ``Observation.interpretation`` say what the band is.
_V3_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_SCREENS: Final = frozenset({"POS", "NEG"})


def patient_sex(ctx: Context) -> str | None:
    """The patient's administrative gender as written (for sex-specific thresholds)."""
    patient = ctx.group.patient
    gender = patient.resource.get("gender") if patient is not None else None
    return gender if isinstance(gender, str) else None


def _expected_interpretation(inst: Instrument, score: int, sex: str | None) -> set[tuple[str, str]]:
    band = inst.band(score)
    if band is None:
        return set()
    return {(c.system, c.code) for c in inst.interpretation(band, sex=sex)}


def check_interpretation(ctx: Context, adm: Administration, measure: Measure) -> None:
    """Report a total Observation whose band codings are not those of the measure's score."""
    score = measure.score
    if score is None:
        return
    inst = measure.definition
    expected: set[tuple[str, str]] | None = None
    severity = code_system_url("severity")
    for entry in adm.entries:
        if entry.type != "Observation":
            continue
        role = adm.role_of(entry)
        if role is None or role[0] != "total":
            continue
        concepts = as_list(entry.resource.get("interpretation"))
        stated = {
            (system, code)
            for concept in concepts
            for system, code in codings(concept)
            if system == severity or (system == _V3_INTERPRETATION and code in _SCREENS)
        }
        _note_beside_band(ctx, concepts, stated)
        if not stated:
            continue
        if expected is None:
            expected = _expected_interpretation(inst, score, patient_sex(ctx))
        if not any(system == _V3_INTERPRETATION for system, _c in expected):
            # no screen to compare with (AUDIT-C 3 for a patient of unknown gender)
            stated = {(system, code) for system, code in stated if system != _V3_INTERPRETATION}
        if not stated <= expected:
            ctx.unmapped[
                "Observation.interpretation: disagrees with the score (band computed from it)"
            ] += 1


def _note_beside_band(ctx: Context, concepts: list[Any], band: set[tuple[str, str]]) -> None:
    """Count what of a total's ``interpretation`` is no band coding (``band``: those it
    has): the writer gives back the band of the score alone."""
    for concept in concepts:
        if others := sum(1 for pair in codings(concept) if pair not in band):
            ctx.unmapped[_BESIDE_BAND] += others
        if isinstance(concept, dict) and concept.get("text") is not None:
            ctx.unmapped["Observation.interpretation.text: written back as the band (dropped)"] += 1


_BESIDE_BAND = "Observation.interpretation.coding: not a band of the score (dropped)"


def _flag_code(resource: dict[str, Any]) -> str | None:
    system = code_system_url("safety-flag")
    for sys, code in codings(resource.get("code")):
        if sys == system:
            return code
    return None


def _risk_codes(resource: dict[str, Any]) -> list[str | None]:
    system = codes()["safety_signals"]["risk_probability"]["system"]
    out: list[str | None] = []
    for prediction in as_list(resource.get("prediction")):
        found = None
        if isinstance(prediction, dict):
            for sys, code in codings(prediction.get("qualitativeRisk")):
                if sys == system:
                    found = code
        out.append(found)
    return out


class _Measures:
    """Which measure a Flag / RiskAssessment belongs to: by own key or by what it cites."""

    def __init__(self, measured: Iterable[tuple[Administration, Measure | None]]) -> None:
        self.by_key: dict[tuple[str | None, str], Measure] = {}  # (episode, measure key)
        self.by_entry: dict[int, Measure] = {}
        for adm, measure in measured:
            if measure is None:
                continue
            if adm.own_key:
                self.by_key.setdefault((adm.own_episode, adm.own_key), measure)
            for entry in adm.entries:
                self.by_entry[id(entry)] = measure

    def of(self, ctx: Context, entry: Entry, kind: str, cited: list[Any]) -> Measure | None:
        own = entry.own_key_or_none(kind)
        if own is not None:
            found = self.by_key.get((own[0], own[1].split("/", 1)[0]))
            if found is not None:
                return found
        for ref in cited:
            target = ctx.resolve(ref, entry)
            if target is not None and id(target) in self.by_entry:
                return self.by_entry[id(target)]
        return None


def read_safety(
    ctx: Context,
    entries: Iterable[Entry],
    measured: Iterable[tuple[Administration, Measure | None]],
) -> None:
    """Check the episode's Flags and RiskAssessments against its measures (see above)."""
    index = _Measures(measured)
    sex = patient_sex(ctx)
    #: measure key → the safety forms its source had (consumed Flags / RiskAssessment)
    found: dict[str, set[MeasureForm]] = {}
    for entry in entries:
        res = entry.resource
        if entry.type == "Flag":
            details = [
                ext.get("valueReference")
                for ext in as_list(res.get("extension"))
                if isinstance(ext, dict) and ext.get("url") == CORE_EXT.FLAG_DETAIL
            ]
            measure = index.of(ctx, entry, "flag", details)
            code = _flag_code(res)
            if measure is None or code is None:
                ctx.unmapped["Flag: not derived from an instrument (not kept)"] += 1
            elif res.get("status") != "active" or code not in measure.definition.flags(
                measure.answers, measure.score, sex=sex
            ):
                ctx.unmapped["Flag: not raised by the answers (not kept)"] += 1
            else:
                found.setdefault(measure.key, set()).add("flags")
                note_unheld(res, "Flag")
                _note_flag_period(res.get("period"), measure.date)
                note_beside(res.get("code"), "Flag.code", {(code_system_url("safety-flag"), code)})
        elif entry.type == "RiskAssessment":
            measure = index.of(ctx, entry, "riskassessment", as_list(res.get("basis")))
            if measure is None or measure.definition.scoring != "risk-level":
                ctx.unmapped["RiskAssessment: not derived from an instrument (not kept)"] += 1
                continue
            score = measure.score
            band = measure.definition.band(score) if score is not None else None
            levels: dict[str, str] = codes()["safety_signals"]["risk_probability"]["levels"]
            expected = levels.get(band) if band is not None else None
            stated = _risk_codes(res)
            if not stated or any(code != expected for code in stated):
                ctx.unmapped[
                    "RiskAssessment.prediction.qualitativeRisk: disagrees with the answers"
                    " (computed from them)"
                ] += 1
            else:
                found.setdefault(measure.key, set()).add("risk-assessment")
                note_unheld(res, "RiskAssessment")
                _note_predictions(res["prediction"])
    ctx.measures[:] = [_with_forms(m, found.get(m.key, set()), sex) for m in ctx.measures]


def _note_flag_period(period: Any, date: datetime) -> None:
    """Count a consumed Flag's period that is not the one it is written with again
    (``start`` = its score's time, no end): another start, an end, or an end alone. A
    Flag without a period loses nothing (its start is derived, as the Flag is)."""
    if not isinstance(period, dict):
        return
    if period.get("start") is None:
        note("Flag.period", "without a start (written as the score's time)")
    else:
        start = parse_timestamp(period["start"])  # (a bad value is counted here, once)
        if start is None or when(start) != when(date):
            note("Flag.period.start", "not the score's time (written as it)")
    if period.keys() - {"start"}:
        note("Flag.period", "an end or extension (dropped)")


#: what iopfhir writes of a RiskAssessment's prediction (the rest is counted)
_PREDICTION_WRITTEN = frozenset({"outcome", "qualitativeRisk"})


def _note_predictions(predictions: Any) -> None:
    """Count what a consumed RiskAssessment's predictions hold beyond the risk level
    (a probability, a rationale, a time span: written anew without them)."""
    for prediction in as_list(predictions):
        if isinstance(prediction, dict) and prediction.keys() - _PREDICTION_WRITTEN:
            note("RiskAssessment.prediction", "more than the risk level (dropped)")


def _with_forms(measure: Measure, safety: set[MeasureForm], sex: str | None) -> Measure:
    """``measure`` with the safety forms its source had, its forms reduced to what the
    builder can write, and none recorded when that is every form it can have (and its
    stated total, if any, agrees with its answers)."""
    if measure.forms is None:
        return measure
    # the written forms of the measure with other forms recorded, asked without copying it
    written = measure.written_forms_as([*measure.forms, *safety], sex)
    if written == measure.written_forms_as(None, sex) and not measure.stated_disagrees:
        # the copy is not checked again: it differs from the measure, checked when made,
        # only in ``forms``, and with none recorded the one rule more (a stated total
        # agrees with complete answers) is what ``stated_disagrees`` has just answered
        return measure.model_copy(update={"forms": None})
    if list(written) == measure.forms:
        return measure
    return Measure.model_validate({**measure.model_dump(), "forms": list(written)})
