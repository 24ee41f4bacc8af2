"""Recognising instruments (PHQ-9, PHQ-2, GAD-7, AUDIT-C, C-SSRS, DAST-10...) in FHIR, and
reading item points and totals.

An instrument is recognised by the LOINC panel or total code of an Observation; for a
QuestionnaireResponse by its ``questionnaire`` canonical (the package's own, US Core's,
one ending in the panel code or naming the instrument), else by its items' codes
(``linkId`` ``/44250-9`` or ``44250-9``, ``item.code``, or the code of the matching item
of a Questionnaire in the same input).

Item points come from the answer code (LOINC answer list), else from the
``ordinalValue`` / ``itemWeight`` extensions, else from ``valueInteger`` /
``valueDecimal`` (an ordinal value other than the points read is counted). A total item
or Observation is used as given; without one the domain computes the total from complete
answers.

Imports: :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`, and the reader's
``index``, ``source`` and ``values``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

from iopfhir.fhir.conventions import ID_BASE
from iopfhir.fhir.read.index import Index
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, codings, note, parse_own, parse_timestamp, text
from iopfhir.terminology import Instrument, Item, instrument_by_code, instruments
from iopfhir.terminology.instruments import LOINC

__all__ = [
    "answer_points",
    "effective_time",
    "instrument_of_qr",
    "is_instrument_code",
    "item_code",
    "loinc_codes",
    "obs_role",
    "own_measure_id",
    "questionnaire_codes",
    "role_of_codes",
    "total_value",
    "walk_items",
]


@cache
def _systems() -> frozenset[str | None]:
    """Code systems of instrument codes: LOINC (also assumed for a coding without a system)
    and the project code systems of the instruments LOINC does not code."""
    return frozenset({LOINC, None, *(i.code_system for i in instruments().values())})


ORDINAL_URLS = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
)

#: Questionnaire canonicals of other publishers, known to hold one of our instruments.
KNOWN_QUESTIONNAIRES = {
    "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example": "phq-9",
    "http://hl7.org/fhir/us/core/Questionnaire/AUDIT-C": "audit-c",
    "http://hl7.org/fhir/Questionnaire/phq-9-questionnaire": "phq-9",
}

#: Instrument names as they appear in canonicals (``.../Questionnaire/PHQ9``), lower-case.
_NAME_TOKENS = (
    ("phq9", "phq-9"),
    ("phq2", "phq-2"),
    ("gad7", "gad-7"),
    ("auditc", "audit-c"),
    ("cssrs", "c-ssrs"),
    ("dast10", "dast-10"),
    ("promis10", "promis-10"),
    ("whodas12", "whodas-12"),
)
_NUMBER = re.compile(r"^\s*-?\d+(?:\.0+)?\s*$")


@cache
def _item_index() -> dict[str, list[tuple[Instrument, Item]]]:
    index: dict[str, list[tuple[Instrument, Item]]] = defaultdict(list)
    for inst in instruments().values():
        for item in inst.all_items:
            index[item.code].append((inst, item))
    return dict(index)


@cache
def _canonicals() -> dict[str, str]:
    out = dict(KNOWN_QUESTIONNAIRES)
    for inst in instruments().values():
        out[inst.questionnaire] = inst.id
    return out


def is_instrument_code(code: str) -> bool:
    """Whether a LOINC code is a panel, total or item code of a known instrument."""
    return instrument_by_code(code) is not None or code in _item_index()


def loinc_codes(concept: Any) -> list[str]:
    """The codes of a concept's LOINC codings (a coding without a system counts as LOINC)."""
    systems = _systems()
    return [code for system, code in codings(concept) if system in systems]


def obs_role(resource: dict[str, Any]) -> tuple[str, Instrument | None] | None:
    """``("panel"|"total", instrument)`` or ``("item", None)`` for an instrument Observation."""
    return role_of_codes(loinc_codes(resource.get("code")))


def role_of_codes(codes: list[str]) -> tuple[str, Instrument | None] | None:
    """:func:`obs_role` of an Observation whose ``code`` has the LOINC codes ``codes``."""
    for code in codes:
        hit = instrument_by_code(code)
        if hit is not None:
            return hit[1], hit[0]
    for code in codes:
        if code in _item_index():
            return "item", None
    return None


def effective_time(resource: dict[str, Any], *, noted: bool = False) -> datetime | None:
    """When an Observation or QuestionnaireResponse was recorded (naive when the input
    gives no time zone). ``noted``: report values that cannot be taken (only where the
    time is kept, so each is reported once)."""
    rtype = (
        "QuestionnaireResponse"
        if resource.get("resourceType") == "QuestionnaireResponse"
        else "Observation"
    )
    for key in ("effectiveDateTime", "effectiveInstant", "authored"):
        moment = parse_timestamp(resource.get(key), f"{rtype}.{key}" if noted else None)
        if moment is not None:
            return moment
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        at = f"{rtype}.effectivePeriod.start" if noted else None
        moment = parse_timestamp(period.get("start"), at)
        if moment is not None:
            if noted and period.get("end") not in (None, period.get("start")):
                # a measure is taken at one time: the period's end has no place
                note(f"{rtype}.effectivePeriod.end", "not kept (dropped)")
            return moment
    return parse_timestamp(resource.get("issued"), f"{rtype}.issued" if noted else None)


def own_measure_id(resource: dict[str, Any]) -> tuple[str, str] | None:
    """``(episode key, measure key)`` of iopfhir's own QR / Observation identifier
    (``<episode>/<key>[/...]``): a measure key is unique within its episode only (a
    patient's two episodes both have their ``phq-9-w0``)."""
    idents = resource.get("identifier")
    if idents is None:
        return None
    for ident in idents if type(idents) is list else as_list(idents):
        if not isinstance(ident, dict):
            continue
        system = ident.get("system")
        if type(system) is not str or not system.startswith(ID_BASE):
            continue  # not iopfhir's (what parse_identifier answers, without the call)
        parsed = parse_own(ident)
        if parsed and parsed[0] in ("questionnaireresponse", "observation"):
            return parsed[1], parsed[2].split("/", 1)[0]
    return None


# -- QuestionnaireResponse ------------------------------------------------------------------


def walk_items(items: Any) -> Iterator[dict[str, Any]]:
    """Every item of a QuestionnaireResponse or Questionnaire, nested ones too, in order."""
    for item in as_list(items):
        if isinstance(item, dict):
            yield item
            # nested walks only where something is nested (most items have none): each
            # is a generator made for nothing otherwise
            if (nested := item.get("item")) is not None:
                yield from walk_items(nested)
            for answer in as_list(item.get("answer")):
                if isinstance(answer, dict) and (nested := answer.get("item")) is not None:
                    yield from walk_items(nested)


def questionnaire_codes(qr: Entry, index: Index) -> dict[str, str]:
    """linkId → LOINC code from the Questionnaire the response answers, if it is in the input."""
    canonical = text(qr.resource.get("questionnaire"))
    if not canonical:
        return {}
    # ``url|version``: that version of the form, when the input has it (two versions may
    # code their items differently), else the form the url names
    found = index.find_canonical(canonical) if "|" in canonical else None
    url = canonical.split("|", 1)[0]
    if found is None:
        found = index.resolve(url, qr) or index.resolve({"reference": url}, qr)
    if found is None:
        found = index.find_canonical(url)
    if found is None or found.type != "Questionnaire":
        return {}
    out: dict[str, str] = {}
    for item in walk_items(found.resource.get("item")):
        link = text(item.get("linkId"))
        loinc = [
            c
            for s, c in (p for concept in as_list(item.get("code")) for p in codings(concept))
            if s in _systems()
        ]
        if link and loinc:
            out[link] = loinc[0]
    return out


def item_code(item: dict[str, Any], by_link: dict[str, str]) -> str | None:
    """The LOINC code of a QR item: from the Questionnaire, the ``linkId`` or ``item.code``."""
    link = text(item.get("linkId")) or ""
    if link in by_link:
        return by_link[link]
    bare = link.rsplit("/", 1)[-1]
    if bare and (is_instrument_code(bare) or bare in _known_extra_codes()):
        return bare
    for concept in as_list(item.get("code")):
        for system, code in codings(concept):
            if system in _systems():
                return code
    return bare or None


@cache
def _known_extra_codes() -> frozenset[str]:
    return frozenset(["68517-2"])


def instrument_of_qr(qr: Entry, codes: list[str]) -> Instrument | None:
    """The instrument a QR records: by its canonical, else by its items' ``codes``."""
    canonical = (text(qr.resource.get("questionnaire")) or "").split("|", 1)[0]
    known = _canonicals().get(canonical)
    if known:
        return instruments()[known]
    if canonical:
        tail = canonical.rstrip("/").rsplit("/", 1)[-1]
        hit = instrument_by_code(tail)
        if hit is not None:
            return hit[0]
        squashed = re.sub(r"[^a-z0-9]", "", tail.lower())
        for token, inst_id in _NAME_TOKENS:
            if token in squashed and inst_id in instruments():
                return instruments()[inst_id]
    for code in codes:
        hit = instrument_by_code(code)
        if hit is not None:
            return hit[0]
    best: tuple[int, int, Instrument] | None = None
    for inst in instruments().values():
        item_codes = {it.code for it in inst.all_items}
        matched = sum(1 for c in set(codes) if c in item_codes)
        if matched and (best is None or (matched, -len(inst.items)) > best[:2]):
            best = (matched, -len(inst.items), inst)
    return best[2] if best else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    return None


def _ordinal(element: Any) -> float | None:
    if not isinstance(element, dict):
        return None
    for ext in as_list(element.get("extension")):
        if isinstance(ext, dict) and ext.get("url") in ORDINAL_URLS:
            for key in ("valueDecimal", "valueInteger"):
                number = _number(ext.get(key))
                if number is not None:
                    return number
    return None


def answer_points(item: Item, value: dict[str, Any]) -> int | None:
    """Points of one answer value (QR answer or Observation ``value[x]`` holder)."""
    coding = value.get("valueCoding")
    concept = value.get("valueCodeableConcept")
    candidates: list[float | None] = []
    systems = _systems()
    for holder in (coding, concept):
        for system, code in codings(holder):
            if system in systems:
                option = item.answer_for_code(code)
                if option is not None:
                    return option.score
    candidates.append(_ordinal(coding))
    if isinstance(concept, dict):
        for c in as_list(concept.get("coding")):
            candidates.append(_ordinal(c))
    candidates.append(_ordinal(value))
    for key in ("valueInteger", "valueDecimal"):
        candidates.append(_number(value.get(key)))
    quantity = value.get("valueQuantity")
    if isinstance(quantity, dict) and quantity.get("comparator") is None:  # ">= 10": a bound
        candidates.append(_number(quantity.get("value")))
    if isinstance(value.get("valueBoolean"), bool):
        candidates.append(1.0 if value["valueBoolean"] else 0.0)
    for number in candidates:
        if number is not None and number.is_integer():
            points = int(number)
            if any(a.score == points for a in item.answers):
                return points
    return None


def ordinal_disagrees(value: dict[str, Any], points: int) -> bool:
    """Whether an answer states an ordinal value (``ordinalValue`` / ``itemWeight``) other
    than ``points``, the points it was read as (written back as the instrument's)."""
    concept = value.get("valueCodeableConcept")
    holders = [value.get("valueCoding"), value]
    if isinstance(concept, dict):
        holders.extend(as_list(concept.get("coding")))
    return any((n := _ordinal(h)) is not None and n != points for h in holders)


def total_value(inst: Instrument, value: dict[str, Any]) -> int | None:
    """The total score (or risk level) a ``value[x]`` holder gives, if it is a whole number."""
    if inst.scoring == "risk-level":
        for holder in (value.get("valueCodeableConcept"), value.get("valueCoding")):
            for system, code in codings(holder):
                level = inst.total_from_coding(system, code)
                if level is not None:
                    return level
    candidates = [_number(value.get(k)) for k in ("valueInteger", "valueDecimal", "valueString")]
    quantity = value.get("valueQuantity")
    if isinstance(quantity, dict) and quantity.get("comparator") is None:  # ">= 10": a bound
        candidates.append(_number(quantity.get("value")))
    for number in candidates:
        if number is not None and number.is_integer():
            return int(number)
    return None
