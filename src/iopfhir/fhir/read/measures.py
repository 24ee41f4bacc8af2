"""Recognising instrument administrations (PHQ-9, PHQ-2, GAD-7, AUDIT-C, C-SSRS) in FHIR.

One administration may arrive as a QuestionnaireResponse, a total-score Observation, a
panel Observation with item Observations, or all of these. They are grouped into one
:class:`Administration` by their links (``derivedFrom``, ``hasMember``), by iopfhir's own
identifiers (``<episode>/<measure key>[/...]``), and by the same patient + instrument +
effective time. Item Observations on their own do not identify an instrument (PHQ-2
items are PHQ-9 items), so they join an administration of the same patient and time
whose instrument has that item, or are reported as unmapped.

An instrument is recognised by the LOINC panel or total code of an Observation; for a
QuestionnaireResponse by its ``questionnaire`` canonical (the package's own, US Core's,
one ending in the panel code or naming the instrument), else by its items' codes
(``linkId`` ``/44250-9`` or ``44250-9``, ``item.code``, or the code of the matching item
of a Questionnaire in the same input).

Item points come from the answer code (LOINC answer list), else from the
``ordinalValue`` / ``itemWeight`` extensions, else from ``valueInteger`` /
``valueDecimal``. A total item or Observation is used as given; without one the domain
computes the total from complete answers.

Imports: :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`, and the reader's own
modules.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from iopfhir.fhir.conventions import parse_identifier
from iopfhir.fhir.read.index import Index
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, codings, parse_timestamp, text
from iopfhir.terminology import Instrument, Item, instrument_by_code, instruments

__all__ = ["Administration", "find_administrations", "is_instrument_code"]

LOINC = "http://loinc.org"
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
)
_NUMBER = re.compile(r"^\s*-?\d+(?:\.0+)?\s*$")


@dataclass(eq=False)
class Administration:
    """The resources that together record one administration of one instrument."""

    instrument: Instrument
    patient: str
    entries: list[Entry] = field(default_factory=list)
    when: datetime | None = None
    answers: dict[str, int] = field(default_factory=dict)
    total: int | None = None
    #: local key from iopfhir's own identifiers, when present
    own_key: str | None = None
    performer: tuple[Any, Entry] | None = None
    encounter: tuple[Any, Entry] | None = None
    problems: Counter[str] = field(default_factory=Counter)
    #: a QuestionnaireResponse iopfhir wrote is part of it, and whether it had a total item
    own_qr: bool = False
    qr_total: bool = False


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


def _loinc_codes(concept: Any) -> list[str]:
    return [code for system, code in codings(concept) if system in (LOINC, None)]


def _obs_role(resource: dict[str, Any]) -> tuple[str, Instrument | None] | None:
    """``("panel"|"total", instrument)`` or ``("item", None)`` for an instrument Observation."""
    codes = _loinc_codes(resource.get("code"))
    for code in codes:
        hit = instrument_by_code(code)
        if hit is not None:
            return hit[1], hit[0]
    for code in codes:
        if code in _item_index():
            return "item", None
    return None


def _effective(resource: dict[str, Any]) -> datetime | None:
    for key in ("effectiveDateTime", "effectiveInstant", "authored"):
        moment = parse_timestamp(resource.get(key))
        if moment is not None:
            return moment
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        moment = parse_timestamp(period.get("start"))
        if moment is not None:
            return moment
    return parse_timestamp(resource.get("issued"))


def own_key_of(resource: dict[str, Any], kind: str) -> bool:
    """Whether the resource has iopfhir's own identifier of ``kind``."""
    for ident in as_list(resource.get("identifier")):
        if isinstance(ident, dict):
            parsed = parse_identifier(ident.get("system"), ident.get("value"))
            if parsed and parsed[0] == kind:
                return True
    return False


def _own_measure_key(resource: dict[str, Any]) -> str | None:
    for ident in as_list(resource.get("identifier")):
        if not isinstance(ident, dict):
            continue
        parsed = parse_identifier(ident.get("system"), ident.get("value"))
        if parsed and parsed[0] in ("questionnaireresponse", "observation"):
            return parsed[2].split("/", 1)[0]
    return None


# -- QuestionnaireResponse ------------------------------------------------------------------


def _walk_items(items: Any) -> Iterator[dict[str, Any]]:
    for item in as_list(items):
        if isinstance(item, dict):
            yield item
            yield from _walk_items(item.get("item"))
            for answer in as_list(item.get("answer")):
                if isinstance(answer, dict):
                    yield from _walk_items(answer.get("item"))


def _questionnaire_codes(qr: Entry, index: Index) -> dict[str, str]:
    """linkId → LOINC code from the Questionnaire the response answers, if it is in the input."""
    canonical = text(qr.resource.get("questionnaire"))
    if not canonical:
        return {}
    url = canonical.split("|", 1)[0]
    found = index.resolve(url, qr) or index.resolve({"reference": url}, qr)
    if found is None:
        found = index.find_canonical(url)
    if found is None or found.type != "Questionnaire":
        return {}
    out: dict[str, str] = {}
    for item in _walk_items(found.resource.get("item")):
        link = text(item.get("linkId"))
        loinc = [
            c
            for s, c in (p for concept in as_list(item.get("code")) for p in codings(concept))
            if s in (LOINC, None)
        ]
        if link and loinc:
            out[link] = loinc[0]
    return out


def _item_code(item: dict[str, Any], by_link: dict[str, str]) -> str | None:
    link = text(item.get("linkId")) or ""
    if link in by_link:
        return by_link[link]
    bare = link.rsplit("/", 1)[-1]
    if bare and (is_instrument_code(bare) or bare in _known_extra_codes()):
        return bare
    for concept in as_list(item.get("code")):
        for system, code in codings(concept):
            if system in (LOINC, None):
                return code
    return bare or None


@cache
def _known_extra_codes() -> frozenset[str]:
    return frozenset(["68517-2"])


def _instrument_of_qr(qr: Entry, codes: list[str]) -> Instrument | None:
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
            if token in squashed:
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


def _points(item: Item, value: dict[str, Any]) -> int | None:
    """Points of one answer value (QR answer or Observation ``value[x]`` holder)."""
    coding = value.get("valueCoding")
    concept = value.get("valueCodeableConcept")
    candidates: list[float | None] = []
    for holder in (coding, concept):
        for system, code in codings(holder):
            if system in (LOINC, None):
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
    if isinstance(quantity, dict):
        candidates.append(_number(quantity.get("value")))
    if isinstance(value.get("valueBoolean"), bool):
        candidates.append(1.0 if value["valueBoolean"] else 0.0)
    for number in candidates:
        if number is not None and number.is_integer():
            points = int(number)
            if any(a.score == points for a in item.answers):
                return points
    return None


def _total_value(inst: Instrument, value: dict[str, Any]) -> int | None:
    if inst.scoring == "risk-level":
        for holder in (value.get("valueCodeableConcept"), value.get("valueCoding")):
            for system, code in codings(holder):
                level = inst.total_from_coding(system, code)
                if level is not None:
                    return level
    candidates = [_number(value.get(k)) for k in ("valueInteger", "valueDecimal", "valueString")]
    quantity = value.get("valueQuantity")
    if isinstance(quantity, dict):
        candidates.append(_number(quantity.get("value")))
    for number in candidates:
        if number is not None and number.is_integer():
            return int(number)
    return None


def _read_qr(adm: Administration, qr: Entry, index: Index) -> None:
    inst = adm.instrument
    by_link = _questionnaire_codes(qr, index)
    totals = {inst.total_code, *getattr(inst, "alternate_totals", ())}
    for item in _walk_items(qr.resource.get("item")):
        code = _item_code(item, by_link)
        answers = [a for a in as_list(item.get("answer")) if isinstance(a, dict)]
        if code is None or not answers:
            continue
        if code in totals:
            adm.qr_total = True
            total = _total_value(inst, answers[0])
            if total is not None and adm.total is None:
                adm.total = total
            continue
        it = inst.item_by_code(code)
        if it is None:
            if code != inst.panel_code:
                adm.problems["QuestionnaireResponse: item not in the instrument"] += 1
            continue
        points = _points(it, answers[0])
        if points is None:
            adm.problems["QuestionnaireResponse: answer without points"] += 1
        else:
            adm.answers.setdefault(it.id, points)


# -- grouping -------------------------------------------------------------------------------


class _Union:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent.setdefault(x, x)
        while parent != x:
            grand = self.parent.setdefault(parent, parent)
            self.parent[x] = grand
            x, parent = parent, grand
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_administrations(
    candidates: Iterable[Entry],
    index: Index,
    patient_of: Callable[[Entry], str | None],
) -> tuple[list[Administration], Counter[str]]:
    """Group instrument resources into administrations; also count what could not be used."""
    problems: Counter[str] = Counter()
    nodes: list[Entry] = []
    roles: list[tuple[str, Instrument | None]] = []
    position: dict[int, int] = {}
    for entry in candidates:
        if entry.type == "QuestionnaireResponse":
            by_link = _questionnaire_codes(entry, index)
            found = (_item_code(i, by_link) for i in _walk_items(entry.resource.get("item")))
            codes = [c for c in found if c]
            inst = _instrument_of_qr(entry, codes)
            if inst is None:
                continue
            role: tuple[str, Instrument | None] | None = ("qr", inst)
        elif entry.type == "Observation":
            role = _obs_role(entry.resource)
        else:
            role = None
        if role is None:
            continue
        if entry.resource.get("status") == "entered-in-error":
            problems[f"{entry.type}: entered-in-error"] += 1
            continue
        position[id(entry)] = len(nodes)
        nodes.append(entry)
        roles.append(role)

    union = _Union()
    own_keys: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(nodes):
        union.find(i)
        res = entry.resource
        for ref in as_list(res.get("derivedFrom")) + as_list(res.get("hasMember")):
            target = index.resolve(ref, entry)
            if target is not None and id(target) in position:
                union.union(i, position[id(target)])
        own = _own_measure_key(res)
        patient = patient_of(entry) or ""
        if own:
            first = own_keys.setdefault((patient, own), i)
            union.union(i, first)

    # same patient + instrument + time: one administration
    by_time: dict[tuple[str, str, datetime], int] = {}
    for i, entry in enumerate(nodes):
        _kind, inst = roles[i]
        when = _effective(entry.resource)
        if inst is None or when is None:
            continue
        if _own_measure_key(entry.resource):
            # ours: grouped by identifier above; two measures of one instrument at the same
            # time with different identifiers stay two (the heuristic is for foreign data)
            continue
        slot = (patient_of(entry) or "", inst.id, when)
        first = by_time.setdefault(slot, i)
        union.union(i, first)

    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(nodes)):
        groups[union.find(i)].append(i)

    admins: list[Administration] = []
    loose_items: list[int] = []
    for members in groups.values():
        identifying = [i for i in members if roles[i][1] is not None]
        if not identifying:
            loose_items.extend(members)
            continue
        order = {"qr": 0, "total": 1, "panel": 2}
        identifying.sort(key=lambda i: (order.get(roles[i][0], 3), i))
        inst = roles[identifying[0]][1]
        assert inst is not None
        patient = patient_of(nodes[identifying[0]]) or ""
        adm = Administration(instrument=inst, patient=patient)
        for i in sorted(members):
            adm.entries.append(nodes[i])
        rest = sorted(set(members) - set(identifying))
        _fill(adm, [(roles[i][0], roles[i][1], nodes[i]) for i in identifying + rest], index)
        admins.append(adm)

    # items without their own link: join an administration of the same patient and time
    slots: dict[tuple[str, datetime], list[Administration]] = defaultdict(list)
    for adm in admins:
        if adm.when is not None:
            slots[(adm.patient, adm.when)].append(adm)
    for i in sorted(loose_items):
        entry = nodes[i]
        when = _effective(entry.resource)
        codes = _loinc_codes(entry.resource.get("code"))
        home = None
        if when is not None:
            for adm in slots.get((patient_of(entry) or "", when), []):
                if any(adm.instrument.item_by_code(c) for c in codes):
                    home = adm
                    break
        if home is None:
            problems["Observation: instrument item without its instrument"] += 1
            continue
        home.entries.append(entry)
        _read_item(home, entry)
    admins.sort(key=lambda a: min(position.get(id(e), 0) for e in a.entries))
    return admins, problems


def _fill(
    adm: Administration,
    members: list[tuple[str, Instrument | None, Entry]],
    index: Index,
) -> None:
    inst = adm.instrument
    for kind, role_inst, entry in members:
        res = entry.resource
        if role_inst is not None and role_inst is not inst:
            adm.problems[f"{entry.type}: another instrument in the same administration"] += 1
            continue
        adm.own_key = adm.own_key or _own_measure_key(res)
        if adm.when is None:
            adm.when = _effective(res)
        if adm.performer is None:
            who = (
                res.get("author") if kind == "qr" else (as_list(res.get("performer")) or [None])[0]
            )
            if who is not None:
                adm.performer = (who, entry)
        if adm.encounter is None and res.get("encounter") is not None:
            adm.encounter = (res["encounter"], entry)
        if kind == "qr":
            if own_key_of(res, "questionnaireresponse"):
                adm.own_qr = True
            _read_qr(adm, entry, index)
        elif kind in ("total", "panel"):
            total = _total_value(inst, res)
            if total is not None and (kind == "total" or adm.total is None):
                adm.total = total
            for component in as_list(res.get("component")):
                if isinstance(component, dict):
                    _read_value(adm, component)
        else:
            _read_item(adm, entry)
    if adm.own_qr and not adm.qr_total:
        # ours: a QR without a total item records a total computed from the answers, not
        # one that was given (the total Observation holds the computed score)
        adm.total = None


def _read_item(adm: Administration, entry: Entry) -> None:
    _read_value(adm, entry.resource)


def _read_value(adm: Administration, element: dict[str, Any]) -> None:
    inst = adm.instrument
    for code in _loinc_codes(element.get("code")):
        if code == inst.total_code:
            if adm.total is None:
                adm.total = _total_value(inst, element)
            return
        it = inst.item_by_code(code)
        if it is None:
            continue
        points = _points(it, element)
        if points is not None:
            adm.answers.setdefault(it.id, points)
        return
