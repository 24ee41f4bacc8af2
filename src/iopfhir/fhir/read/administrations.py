"""Grouping the resources that record one instrument administration.

One administration may arrive as a QuestionnaireResponse, a total-score Observation, a
panel Observation with item Observations, a DiagnosticReport coded with the panel whose
``result`` lists the item (and total) Observations, or all of these. They are grouped into
one :class:`Administration` by their links (``derivedFrom``, ``hasMember``, ``result``), by
iopfhir's own identifiers (``<episode>/<measure key>[/...]``), and by the same patient +
instrument + effective time. Item Observations on their own do not identify an instrument
(PHQ-2 items are PHQ-9 items), so they join an administration of the same patient and time
whose instrument has that item, or are reported as unmapped. Each administration is
filled here (time, answers, total, performer, encounter);
:func:`iopfhir.fhir.read.measures.read_measure` turns it into a domain Measure.

Imports: :mod:`iopfhir.terminology` and the reader's ``index``, ``instruments``,
``source`` and ``values``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from iopfhir.fhir.read.index import Index
from iopfhir.fhir.read.instruments import (
    answer_points,
    effective_time,
    instrument_of_qr,
    item_code,
    loinc_codes,
    obs_role,
    ordinal_disagrees,
    own_measure_id,
    questionnaire_codes,
    role_of_codes,
    total_value,
    walk_items,
)
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, own_key_or_none
from iopfhir.terminology import Instrument

__all__ = ["Administration", "find_administrations"]

#: an answer's stated ordinal value (``ordinalValue`` / ``itemWeight``) other than the points
#: it was read as: written back as the instrument's points
_ORDINAL = "{}.value: an ordinal value other than the answer's points (dropped)"


@dataclass(eq=False)
class Administration:
    """The resources that together record one administration of one instrument."""

    instrument: Instrument
    patient: str
    entries: list[Entry] = field(default_factory=list)
    when: datetime | None = None
    answers: dict[str, int] = field(default_factory=dict)
    total: int | None = None
    #: local key from iopfhir's own identifiers, when present, and its episode's key
    own_key: str | None = None
    own_episode: str | None = None
    #: who performed it, as its members name them (a QR's author, the Observations' first
    #: performer), each reference once, in the members' order: the first that resolves is
    #: the measure's performer
    performers: list[tuple[Any, Entry]] = field(default_factory=list)
    encounter: tuple[Any, Entry] | None = None
    problems: Counter[str] = field(default_factory=Counter)
    #: the FHIRPath the total was read from (``Observation.value``...), for warnings
    total_at: str | None = None
    #: ours: the total Observation's value, set aside (the domain computes the total) but
    #: checked against the computed score, with its FHIRPath
    stated_total: tuple[int, str] | None = None
    #: a QuestionnaireResponse iopfhir wrote is part of it, and whether it had a total item
    own_qr: bool = False
    qr_total: bool = False
    #: entry id → what :func:`~iopfhir.fhir.read.instruments.obs_role` says of it (found
    #: once, while grouping)
    roles: dict[int, tuple[str, Instrument | None] | None] = field(default_factory=dict)
    #: QuestionnaireResponse entry id → its items and their codes (:func:`_qr_items`,
    #: found once, while grouping)
    qr_items: dict[int, list[tuple[dict[str, Any], str | None]]] = field(default_factory=dict)
    #: Observation entry id → the LOINC codes of its ``code`` (found once, while grouping)
    codes: dict[int, list[str]] = field(default_factory=dict)

    def role_of(self, entry: Entry) -> tuple[str, Instrument | None] | None:
        """``obs_role`` of one of the administration's Observations."""
        key = id(entry)
        if key in self.roles:
            return self.roles[key]
        return obs_role(entry.resource)

    def codes_of(self, entry: Entry) -> list[str]:
        """``loinc_codes`` of the ``code`` of one of the administration's Observations."""
        found = self.codes.get(id(entry))
        return loinc_codes(entry.resource.get("code")) if found is None else found


#: ``unmapped`` reason of an item's ``definition`` (an ElementDefinition URI)
_ITEM_DEFINITION: Final = (
    "QuestionnaireResponse.item.definition: no place in the IOP model (dropped)"
)


def _read_qr(adm: Administration, qr: Entry, index: Index) -> None:
    inst = adm.instrument
    totals = {inst.total_code, *getattr(inst, "alternate_totals", ())}
    for item, code in adm.qr_items.get(id(qr)) or _qr_items(qr, index):
        if "definition" in item:  # the item is known by its code (linkId, Questionnaire)
            adm.problems[_ITEM_DEFINITION] += 1
        answers = [a for a in as_list(item.get("answer")) if isinstance(a, dict)]
        if code is None or not answers:
            continue
        if code in totals:
            adm.qr_total = True
            total = total_value(inst, answers[0])
            if total is not None and adm.total is None:
                adm.total = total
                adm.total_at = "QuestionnaireResponse.item.answer.value"
            continue
        it = inst.item_by_code(code)
        if it is None:
            if code != inst.panel_code:
                adm.problems[
                    "QuestionnaireResponse.item: not an item of the instrument (dropped)"
                ] += 1
            continue
        if len(answers) > 1:  # an item of one choice: the first answer is its answer
            adm.problems["QuestionnaireResponse.item.answer: a second answer (dropped)"] += (
                len(answers) - 1
            )
        points = answer_points(it, answers[0])
        if points is None:
            adm.problems[
                "QuestionnaireResponse.item.answer: no points in the instrument (dropped)"
            ] += 1
        else:
            adm.answers.setdefault(it.id, points)
            if ordinal_disagrees(answers[0], points):
                adm.problems[_ORDINAL.format("QuestionnaireResponse.item.answer")] += 1


def _qr_items(qr: Entry, index: Index) -> list[tuple[dict[str, Any], str | None]]:
    """Every item of a QuestionnaireResponse (nested ones too, in order) with its code."""
    by_link = questionnaire_codes(qr, index)
    return [(item, item_code(item, by_link)) for item in walk_items(qr.resource.get("item"))]


# -- grouping -------------------------------------------------------------------------------

#: the elements that link the resources of one administration, in the order they are followed
_LINKS = ("derivedFrom", "hasMember", "result")


class _Union:
    """Disjoint sets of ``0 .. n-1``; the root of a set is its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
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
    obs_roles: dict[int, tuple[str, Instrument | None] | None] = {}
    qr_items: dict[int, list[tuple[dict[str, Any], str | None]]] = {}
    obs_codes: dict[int, list[str]] = {}
    for entry in candidates:
        obs = None
        if entry.type == "QuestionnaireResponse":
            items = _qr_items(entry, index)
            inst = instrument_of_qr(entry, [c for _i, c in items if c])
            if inst is None:
                continue
            qr_items[id(entry)] = items
            role: tuple[str, Instrument | None] | None = ("qr", inst)
        elif entry.type == "Observation":
            codes = loinc_codes(entry.resource.get("code"))
            role = obs = role_of_codes(codes)
        elif entry.type == "DiagnosticReport":
            # a report coded with the panel (or total): its results are the administration
            found_role = obs_role(entry.resource)
            role = ("panel", found_role[1]) if found_role and found_role[1] else None
        else:
            role = None
        if role is None:
            continue
        status = entry.resource.get("status")
        if status == "entered-in-error" or status == "cancelled":  # no result (R4)
            problems[f"{entry.type}: {status}"] += 1
            continue
        position[id(entry)] = len(nodes)
        nodes.append(entry)
        roles.append(role)
        if obs is not None:
            obs_roles[id(entry)] = obs
            obs_codes[id(entry)] = codes

    union = _Union(len(nodes))
    unite, resolve, place = union.union, index.resolve, position.get
    own_keys: dict[tuple[str, str, str], int] = {}
    owns: list[tuple[str, str] | None] = []
    for i, entry in enumerate(nodes):
        res = entry.resource
        for name in _LINKS:
            link = res.get(name)
            if link is None:
                continue
            for ref in link if type(link) is list else as_list(link):
                target = resolve(ref, entry)
                if target is not None and (j := place(id(target))) is not None:
                    unite(i, j)
        own = own_measure_id(res)
        owns.append(own)
        if own:  # one measure of one episode (its key is unique within the episode only)
            first = own_keys.setdefault((patient_of(entry) or "", *own), i)
            unite(i, first)

    # same patient + instrument + time: one administration
    by_time: dict[tuple[str, str, datetime], int] = {}
    for i, entry in enumerate(nodes):
        _kind, inst = roles[i]
        if inst is None or owns[i]:
            # ours: grouped by identifier above; two measures of one instrument at the same
            # time with different identifiers stay two (the heuristic is for foreign data)
            continue
        when = effective_time(entry.resource)
        if when is None:
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
        adm = Administration(
            instrument=inst, patient=patient, roles=obs_roles, qr_items=qr_items, codes=obs_codes
        )
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
        when = effective_time(entry.resource)
        codes = obs_codes.get(id(entry)) or loinc_codes(entry.resource.get("code"))
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
    unscored = 0  # total Observations whose value is no score
    for kind, role_inst, entry in members:
        res = entry.resource
        if role_inst is not None and role_inst is not inst:
            adm.problems[f"{entry.type}: another instrument in the same administration"] += 1
            continue
        if adm.own_key is None and (own := own_measure_id(res)) is not None:
            adm.own_episode, adm.own_key = own
        if adm.when is None:
            adm.when = effective_time(res, noted=True)
        who = res.get("author") if kind == "qr" else (as_list(res.get("performer")) or [None])[0]
        if who is not None and all(who != named for named, _ in adm.performers):
            adm.performers.append((who, entry))
        if adm.encounter is None and res.get("encounter") is not None:
            adm.encounter = (res["encounter"], entry)
        if kind == "qr":
            if own_key_or_none(res, "questionnaireresponse"):
                adm.own_qr = True
            _read_qr(adm, entry, index)
        elif kind in ("total", "panel"):
            total = total_value(inst, res)
            if total is None and kind == "total" and any(k[:5] == "value" for k in res):
                unscored += 1  # a bound (``< 5``), a fraction, text: no score
            if (
                kind == "total"
                and adm.total_at == "Observation.value"
                and total not in (None, adm.total)
            ):
                # two total Observations of one time (a duplicate, a correction): the
                # first is kept, not silently replaced by the last
                adm.problems["Observation: another total at the same time (dropped)"] += 1
            elif total is not None and (kind == "total" or adm.total is None):
                adm.total = total
                adm.total_at = f"{entry.type}.value"
            for component in as_list(res.get("component")):
                if isinstance(component, dict):
                    _read_value(adm, component, f"{entry.type}.component")
        else:
            _read_item(adm, entry)
    if unscored and adm.answers:
        # with answers the measure is read and its stated total dropped (else the whole
        # administration is, and counted so)
        adm.problems["Observation.value: not a score of the instrument (dropped)"] += unscored
    if adm.own_qr and not adm.qr_total:
        # ours: a QR without a total item records a total computed from the answers, not
        # one that was given (the total Observation holds the computed score)
        if adm.total is not None and adm.total_at is not None:
            adm.stated_total = (adm.total, adm.total_at)
        adm.total = None
        adm.total_at = None


def _read_item(adm: Administration, entry: Entry) -> None:
    _read_value(adm, entry.resource, entry.type, adm.codes_of(entry))


def _read_value(
    adm: Administration, element: dict[str, Any], where: str, codes: list[str] | None = None
) -> None:
    """The answer or total ``element`` (an Observation or a component) gives, read at
    ``where`` (its FHIRPath without ``.value``: written out only for a total); ``codes``:
    the LOINC codes of its ``code``, when already found."""
    inst = adm.instrument
    for code in loinc_codes(element.get("code")) if codes is None else codes:
        if code == inst.total_code:
            if adm.total is None:
                adm.total = total_value(inst, element)
                adm.total_at = f"{where}.value" if adm.total is not None else None
            return
        it = inst.item_by_code(code)
        if it is None:
            continue
        if it.id in adm.answers:  # answered already (the QuestionnaireResponse): kept
            return
        points = answer_points(it, element)
        if points is not None:
            adm.answers[it.id] = points
            if ordinal_disagrees(element, points):
                adm.problems[_ORDINAL.format(where)] += 1
        return
