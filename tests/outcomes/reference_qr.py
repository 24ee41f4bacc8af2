"""The plain-Python reading of instrument scores recorded as QuestionnaireResponses (the
reference for :mod:`iopfhir.outcomes.questionnaires`, written apart from its SQL).

A completed (or amended) response with a patient and an ``authored`` date gives, for each
instrument of :data:`PREFIXES`, its stated total (an item named by the total code, answered
with a number), else the sum of its scored items when
every required item is answered (an answer Coding of the item's answer list is worth its
points; a number is the item's value, recoded where the instrument recodes it). A total
Observation of the instrument that derives from the response, or of the same patient at the
same date-time, records the same administration: the response then adds nothing.

An item names the code its Questionnaire gives it (the Questionnaire found by the
response's ``questionnaire``: its canonical url, a ``|version`` left out, or
``Questionnaire/<id>``; the least code of the item's codings in LOINC or an instrument's code
system, or without a system), else the last segment of its ``linkId``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tests.outcomes.reference_data import FINAL, LOINC, OTHER_TOTALS, SCREENS, TOTALS, _d, _ref

from iopfhir.terminology.instruments import Instrument, instrument, instruments

#: column prefix -> instrument id (the measures' instruments)
PREFIXES = {
    "phq9": "phq-9",
    "gad7": "gad-7",
    "auditc": "audit-c",
    "dast10": "dast-10",
    "promis10": "promis-10",
    "whodas12": "whodas-12",
}
MAX_DEPTH = 6  # nested item levels the view reads (in items or in answers)


def _items(items: Any, depth: int = 1) -> Iterator[Mapping[str, Any]]:
    """Items depth-first, nested items (groups) included, then the items nested in each
    answer (``answer.item``, a question's follow-ups): :data:`MAX_DEPTH` levels of either."""
    if depth > MAX_DEPTH or not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, Mapping):
            yield item
            yield from _items(item.get("item"), depth + 1)
            answers = item.get("answer")
            for answer in answers if isinstance(answers, list) else ():
                if isinstance(answer, Mapping):
                    yield from _items(answer.get("item"), depth + 1)


Codes = Mapping[tuple[str, str], str]  # (questionnaire url or key, linkId) -> code


def form_codes(forms: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """The codes Questionnaires give their items, by url, ``url|version`` and
    ``Questionnaire/<id>``."""
    systems = {LOINC, *(i.code_system for i in instruments().values())}
    found: dict[tuple[str, str], set[str]] = {}
    for form in forms:
        url, version = form.get("url"), form.get("version")
        names = [n for n in (url, f"Questionnaire/{form.get('id')}") if n]
        if url and version:
            names.append(f"{url}|{version}")
        for item in _items(form.get("item")):
            link = item.get("linkId")
            # the item's first code in the instruments' systems
            first = next(
                (
                    c["code"]
                    for c in item.get("code") or []
                    if c.get("code") and (c.get("system") is None or c.get("system") in systems)
                ),
                None,
            )
            if isinstance(link, str) and first:
                for name in names:
                    found.setdefault((name, link), set()).add(first)
    # two forms of one url that code an item differently: the least of their codes
    return {key: min(codes) for key, codes in found.items()}


def _code(r: Mapping[str, Any], item: Mapping[str, Any], codes: Codes) -> str | None:
    link = item.get("linkId")
    if not isinstance(link, str):
        return None
    named = str(r.get("questionnaire") or "")
    form = named.split("|")[0]
    return codes.get((named, link)) or codes.get((form, link)) or link.split("/")[-1]


def _number(answer: Mapping[str, Any]) -> float | None:
    for key in ("valueInteger", "valueDecimal"):
        if isinstance(answer.get(key), int | float):
            return float(answer[key])
    quantity = answer.get("valueQuantity")
    if isinstance(quantity, Mapping) and quantity.get("comparator") is None:
        value = quantity.get("value")
        if isinstance(value, int | float):
            return float(value)
    return None


def _points(inst: Instrument, code: str, answer: Mapping[str, Any]) -> float | None:
    item = inst.item_by_code(code)
    if item is None:
        return None
    number = _number(answer)
    if number is not None:
        for raw, points in item.recode:
            if raw == number:
                return float(points)
        return number
    coding = answer.get("valueCoding")
    if isinstance(coding, Mapping):
        for option in item.answers:
            if option.code == coding.get("code") and coding.get("system") in (None, option.system):
                return float(item.points(option.score))
    return None


def response_scores(r: Mapping[str, Any], codes: Codes) -> dict[str, float]:
    """prefix -> score of one response (none when it gives none)."""
    out: dict[str, float] = {}
    for prefix, inst_id in PREFIXES.items():
        inst = instrument(inst_id)
        total: float | None = None
        points: dict[str, float] = {}
        for item in _items(r.get("item")):
            code = _code(r, item, codes)
            answers = item.get("answer")
            first = answers[0] if isinstance(answers, list) and answers else {}
            if code == inst.total_code:
                value = _number(first)
                if value is not None:
                    total = value if total is None else max(total, value)
            elif code is not None and inst.item_by_code(code) is not None:
                value = _points(inst, code, first)
                if value is not None:
                    points[code] = max(points.get(code, value), value)
        if total is not None:
            out[prefix] = total
        elif all(it.code in points for it in inst.items if it.required):
            out[prefix] = sum(points.get(it.code, 0.0) for it in inst.items if it.scored)
    return out


def qr_screens(
    responses: Iterable[Mapping[str, Any]], codes: Codes
) -> Iterator[tuple[str, Any, bool]]:
    """``(patient, day, positive)`` of each screening answer of the responses: a coded
    answer to a safety item or the C-SSRS risk level (positive: :data:`SCREENS`), or a
    number answering a safety item (positive above 0)."""
    for r in responses:
        if r.get("status") not in ("completed", "amended"):
            continue
        patient = _ref(r.get("subject"), "Patient")
        day = _d(r.get("authored"))
        for item in _items(r.get("item")):
            code = _code(r, item, codes)
            if code not in SCREENS:
                continue
            answers = item.get("answer")
            first = answers[0] if isinstance(answers, list) and answers else {}
            coding = first.get("valueCoding")
            answer = coding.get("code") if isinstance(coding, Mapping) else None
            if answer is not None:
                yield patient, day, answer in SCREENS[code]
            elif code != "93374-7" and (number := _number(first)) is not None:
                yield patient, day, number > 0


def qr_scores(
    responses: Iterable[Mapping[str, Any]],
    totals: Iterable[tuple[str | None, str, Any, str | None]],
    codes: Codes,
) -> Iterator[tuple[str, tuple[Any, Any, str, str, float]]]:
    """``(patient, (day, authored, key, prefix, score))`` of the responses' scores that no
    total Observation records; ``totals``: ``(patient, prefix, effective, derived from)``
    of every total Observation."""
    derived = {(d, p) for _pat, p, _e, d in totals if d}
    same = {(pat, p, e) for pat, p, e, _d in totals if pat and e}
    for r in responses:
        if r.get("status") not in ("completed", "amended"):
            continue
        patient = _ref(r.get("subject"), "Patient")
        authored = r.get("authored")
        day = _d(authored)
        if not patient or day is None:
            continue
        key = "QuestionnaireResponse/" + str(r.get("id"))
        for prefix, score in response_scores(r, codes).items():
            if (key, prefix) in derived or (patient, prefix, authored) in same:
                continue
            yield patient, (day, authored, key, prefix, score)


def note_total(
    r: Mapping[str, Any],
    value: Any,
    patient: str | None,
    effective: Any,
    first: Mapping[str, Any],
    totals: list[tuple[str | None, str, Any, str | None]],
) -> None:
    """Keep a total Observation's patient, instrument, date-time and the response it derives
    from: a response recording the same administration adds no score."""
    if value is None or r.get("status") not in FINAL:
        return
    loinc = next(
        (c.get("code") for c in r.get("code", {}).get("coding", []) if c.get("system") == LOINC),
        None,
    )
    prefix = next((p for p, code in TOTALS.items() if code == loinc), None)
    if prefix is None:
        pair = (first.get("system"), first.get("code"))
        prefix = next((p for p, sc in OTHER_TOTALS.items() if sc == pair), None)
    if prefix is None:
        return
    derived = next(
        (
            ref
            for d in r.get("derivedFrom", [])
            if (ref := _ref(d, "QuestionnaireResponse")) is not None
        ),
        None,
    )
    totals.append((patient, prefix, effective, derived))
