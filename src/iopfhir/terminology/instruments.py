"""Scored instruments (PHQ-9, PHQ-2, GAD-7, AUDIT-C, C-SSRS, DAST-10, PROMIS-10, WHODAS) as data.

An :class:`Instrument` knows its panel and total-score codes, its items with their answer
codes and points, its severity bands with their interpretation codings, its flag rules,
and scores a set of answers. Sum-scored instruments add item points (an item may recode
its answer's value into points, e.g. the PROMIS-10 pain rating); the C-SSRS screener
derives a risk level (none/low/moderate/high = 0..3) from which items were answered yes.
Subscales (the PROMIS-10 raw physical and mental health sums) are scored the same way.
Everything is read from ``data/instruments.json``; codes come from there, never from here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from iopfhir.errors import TerminologyError
from iopfhir.terminology.codes import Coding, code_system_url, codes, lookup_concept

__all__ = [
    "LOINC",
    "AnswerOption",
    "Band",
    "FlagRule",
    "Instrument",
    "Item",
    "Score",
    "Subscale",
    "instrument",
    "instrument_by_code",
    "instruments",
]

#: The LOINC code system: instruments, their items, answers and totals are LOINC-coded.
LOINC = "http://loinc.org"

#: Administrative genders a sex-specific rule (AUDIT-C women's threshold) can name.
_SEXES = frozenset({"female", "male"})


@dataclass(frozen=True, slots=True)
class AnswerOption:
    """One answer of an item: its code, display and the value it records (its ordinal)."""

    code: str
    display: str
    score: int
    system: str = LOINC


@dataclass(frozen=True, slots=True)
class Item:
    """One question of an instrument.

    ``recode`` maps an answer's value to the points it adds to a sum (PROMIS-10 pain:
    a 0-10 rating becomes 5..1 points); without it the value is the points.
    """

    id: str
    code: str
    label: str
    answers: tuple[AnswerOption, ...]
    required: bool = True
    scored: bool = True
    recode: tuple[tuple[int, int], ...] = ()
    system: str = LOINC

    @property
    def max_score(self) -> int:
        """The highest value an answer records."""
        return max(a.score for a in self.answers)

    def points(self, value: int) -> int:
        """The points an answer of value ``value`` adds to a sum."""
        for raw, points in self.recode:
            if raw == value:
                return points
        return value

    def answer_for_score(self, score: int) -> AnswerOption:
        """The answer option recording value ``score``."""
        for answer in self.answers:
            if answer.score == score:
                return answer
        raise TerminologyError(f"item {self.id} ({self.code}) has no answer scoring {score}")

    def answer_for_code(self, code: str) -> AnswerOption | None:
        """The answer option with answer code ``code``, if any."""
        for answer in self.answers:
            if answer.code == code:
                return answer
        return None


@dataclass(frozen=True, slots=True)
class Band:
    """A severity band: its key in the severity-band code system, its range, and screens.

    ``screen`` is the HL7 v3 ObservationInterpretation code (``POS`` / ``NEG``) of a
    screener's band; ``screen_by_sex`` gives it per administrative gender where the
    threshold depends on it (AUDIT-C 3 is positive for women, negative for men).
    """

    code: str
    low: int
    high: int
    screen: str | None = None
    screen_by_sex: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FlagRule:
    """When a safety flag (a ``safety-flag`` code) is raised.

    Either on one item (its recorded value at least ``minimum``) or on the total (at least
    ``minimum``); ``sex`` limits a total rule to one administrative gender, and a rule
    limited to one gender applies too when the patient's gender is not known (the lower
    threshold wins: a missed positive screen costs more than a second look).
    """

    flag: str
    minimum: int
    item: str | None = None
    sex: str | None = None


@dataclass(frozen=True, slots=True)
class Subscale:
    """A scored part of an instrument (PROMIS-10 raw global mental / physical health)."""

    id: str
    code: str
    title: str
    items: tuple[str, ...]
    min_total: int
    max_total: int
    system: str = LOINC


@dataclass(frozen=True, slots=True)
class Score:
    """The result of scoring one administration."""

    total: int
    band: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A scored instrument and its codes."""

    id: str
    title: str
    panel_code: str | None
    total_code: str
    questionnaire: str
    min_total: int
    max_total: int
    items: tuple[Item, ...]
    extra_items: tuple[Item, ...]
    bands: tuple[tuple[str, int, int], ...]
    safety: tuple[tuple[str, int, str], ...]
    scoring: str
    risk_levels: tuple[Mapping[str, Any], ...] = ()
    risk_rules: tuple[tuple[str, tuple[str, ...]], ...] = ()
    band_specs: tuple[Band, ...] = ()
    flag_rules: tuple[FlagRule, ...] = ()
    subscales: tuple[Subscale, ...] = ()
    code_system: str = LOINC
    total_title: str = ""
    copyright: str | None = None
    alternate_totals: tuple[str, ...] = ()

    @property
    def all_items(self) -> tuple[Item, ...]:
        """Scored items followed by unscored extra items."""
        return self.items + self.extra_items

    def item(self, item_id: str) -> Item:
        """An item by its id (``q1``...) or by its code."""
        for it in self.all_items:
            if item_id in (it.id, it.code):
                return it
        raise TerminologyError(f"{self.id} has no item {item_id!r}")

    def item_by_code(self, code: str) -> Item | None:
        """The item whose code is ``code``, if any."""
        for it in self.all_items:
            if it.code == code:
                return it
        return None

    def band(self, total: int) -> str | None:
        """The severity band of a total score; ``None`` for an instrument without bands."""
        if not self.band_specs and self.min_total <= total <= self.max_total:
            return None
        for spec in self.band_specs:
            if spec.low <= total <= spec.high:
                return spec.code
        raise TerminologyError(
            f"{self.id} total {total} is outside {self.min_total}..{self.max_total}"
        )

    def interpretation(self, band: str, *, sex: str | None = None) -> tuple[Coding, ...]:
        """The ``Observation.interpretation`` codings of a band.

        The band's coding in the project severity-band code system first, then, for a
        screener, HL7 v3 ObservationInterpretation ``POS`` / ``NEG``. A band whose screen
        depends on the patient's gender (AUDIT-C 3) gets the v3 code only when ``sex`` is
        ``female`` or ``male``. Raises :class:`TerminologyError` for a band this
        instrument does not have.
        """
        spec = self._band_spec(band)
        out = [lookup_concept("severity", spec.code)]
        screen = spec.screen
        if screen is None and sex in _SEXES:
            screen = dict(spec.screen_by_sex).get(str(sex))
        if screen is not None:
            out.append(_screen_coding(screen))
        return tuple(out)

    def band_from_coding(self, system: str | None, code: str | None) -> str | None:
        """The band of a severity-band coding, when it is one of this instrument's bands."""
        if system != code_system_url("severity"):
            return None
        return code if any(spec.code == code for spec in self.band_specs) else None

    def _band_spec(self, band: str) -> Band:
        for spec in self.band_specs:
            if spec.code == band:
                return spec
        known = [spec.code for spec in self.band_specs]
        raise TerminologyError(f"{self.id} has no band {band!r}; expected one of {known}")

    def check_answers(self, answers: Mapping[str, int]) -> list[tuple[str, str]]:
        """Problems with a set of answers as (item id, message) pairs; empty when fine."""
        index = _index(self)
        problems: list[tuple[str, str]] = []
        for key, value in answers.items():
            allowed = index.allowed.get(key)
            if allowed is None:
                problems.append((key, f"{self.id} has no item {key!r}"))
            elif value not in allowed:
                shown = sorted(allowed)
                problems.append((key, f"answer {value} out of range for {self.id} {key} {shown}"))
        for item_id in index.required:
            if item_id not in answers:
                problems.append((item_id, f"{self.id} item {item_id} is required"))
        return problems

    def complete(self, answers: Mapping[str, int]) -> bool:
        """Whether every required item (of ``items``, scored or not) is answered."""
        return all(item_id in answers for item_id in _index(self).required)

    def score(self, answers: Mapping[str, int]) -> Score:
        """Score complete answers (item id → value). Raises on a problem."""
        total = self.total(answers)
        return Score(total, self.band(total), self._raised(answers, total, None))

    def total(self, answers: Mapping[str, int]) -> int:
        """The total of complete answers (item id → value). Raises on a problem."""
        problems = self.check_answers(answers)
        if problems:
            raise TerminologyError(problems[0][1])
        return self._sum(answers)

    def _sum(self, answers: Mapping[str, int]) -> int:
        if self.scoring == "risk-level":
            return self._risk_level(answers)
        return sum(it.points(answers[it.id]) for it in _index(self).scored if it.id in answers)

    def subscores(self, answers: Mapping[str, int]) -> dict[str, int]:
        """Raw sums of the subscales whose items are all answered, by subscale id."""
        out: dict[str, int] = {}
        for sub in self.subscales:
            if all(item_id in answers for item_id in sub.items):
                out[sub.id] = sum(self.item(i).points(answers[i]) for i in sub.items)
        return out

    def flags(
        self,
        answers: Mapping[str, int],
        total: int | None = None,
        *,
        sex: str | None = None,
    ) -> tuple[str, ...]:
        """Safety-flag codes (``safety-flag`` code system) raised by one administration.

        Item rules look at the answers (PHQ-9 item 9 above 0, C-SSRS intent...); total
        rules at the total (AUDIT-C, DAST-10 over threshold). The total is computed from
        the answers when they are complete (a given total that disagrees is not trusted),
        else ``total`` is used; without either no total rule fires. ``sex`` is the
        patient's administrative gender, for rules that depend on it (unknown: the lower
        threshold applies). Each flag appears once, in rule order.
        """
        if self.complete(answers) and not self.check_answers(answers):
            total = self._sum(answers)
        return self._raised(answers, total, sex)

    def _raised(
        self, answers: Mapping[str, int], total: int | None, sex: str | None
    ) -> tuple[str, ...]:
        """The flags of the rules that fire for these answers and this total."""
        out: list[str] = []
        for rule in self.flag_rules:
            if rule.item is not None:
                value = answers.get(rule.item)
                hit = value is not None and value >= rule.minimum
            else:
                applies = rule.sex is None or sex not in _SEXES or rule.sex == sex
                hit = applies and total is not None and total >= rule.minimum
            if hit and rule.flag not in out:
                out.append(rule.flag)
        return tuple(out)

    def _risk_level(self, answers: Mapping[str, int]) -> int:
        by_code = {str(level["code"]): int(level["score"]) for level in self.risk_levels}
        for level, items in self.risk_rules:
            if any(answers.get(item_id, 0) > 0 for item_id in items):
                return by_code[level]
        return 0

    def total_coding(self, total: int) -> dict[str, str] | None:
        """For risk-level instruments, the coded value of a level; ``None`` for sums."""
        if self.scoring != "risk-level":
            return None
        for level in self.risk_levels:
            if int(level["score"]) == total:
                return {"system": str(level["system"]), "code": str(level["answer"])}
        raise TerminologyError(f"{self.id} has no risk level {total}")

    def total_from_coding(self, system: str | None, code: str | None) -> int | None:
        """The risk level (0..3) of a coded total, or ``None`` when not recognised."""
        for level in self.risk_levels:
            if level["system"] == system and level["answer"] == code:
                return int(level["score"])
        return None


def _screen_coding(code: str) -> Coding:
    table: Mapping[str, Any] = codes()["observation_interpretation"]
    if code not in table["concepts"]:
        raise TerminologyError(f"unknown screen interpretation {code!r}")
    return Coding(str(table["system"]), code, str(table["concepts"][code]))


def _item(raw: Mapping[str, Any], system: str) -> Item:
    item_system = raw.get("system", system)
    return Item(
        id=raw["id"],
        code=raw["code"],
        label=raw["label"],
        answers=tuple(
            AnswerOption(a["code"], a["display"], a["score"], a.get("system", item_system))
            for a in raw["answers"]
        ),
        required=raw.get("required", True),
        scored=raw.get("scored", True),
        recode=tuple((int(k), int(v)) for k, v in raw.get("recode", {}).items()),
        system=item_system,
    )


def _band(raw: Mapping[str, Any]) -> Band:
    screen = raw.get("screen")
    by_sex: tuple[tuple[str, str], ...] = ()
    if isinstance(screen, Mapping):
        by_sex = tuple(sorted((str(k), str(v)) for k, v in screen.items()))
        screen = None
    return Band(raw["code"], raw["low"], raw["high"], screen, by_sex)


def _flag_rules(spec: Mapping[str, Any]) -> tuple[FlagRule, ...]:
    rules = [FlagRule(s["flag"], s["min"], item=s["item"]) for s in spec.get("safety", [])]
    rules += [FlagRule(s["flag"], s["min"], sex=s.get("sex")) for s in spec.get("total_flags", [])]
    return tuple(rules)


def _subscale(raw: Mapping[str, Any], system: str) -> Subscale:
    return Subscale(
        id=raw["id"],
        code=raw["code"],
        title=raw["title"],
        items=tuple(raw["items"]),
        min_total=raw["min"],
        max_total=raw["max"],
        system=raw.get("system", system),
    )


@cache
def instruments() -> dict[str, Instrument]:
    """Every instrument the package knows, by id (``phq-9``, ``gad-7``...)."""
    path = resources.files("iopfhir.terminology").joinpath("data/instruments.json")
    raw = json.loads(path.read_text("utf-8"))["instruments"]
    out: dict[str, Instrument] = {}
    for key, spec in sorted(raw.items()):
        system = spec.get("system", LOINC)
        band_specs = tuple(_band(b) for b in spec["bands"])
        out[key] = Instrument(
            id=key,
            title=spec["title"],
            panel_code=spec.get("panel"),
            total_code=spec["total"],
            questionnaire=spec["questionnaire"],
            min_total=spec["min"],
            max_total=spec["max"],
            items=tuple(_item(i, system) for i in spec["items"]),
            extra_items=tuple(_item(i, system) for i in spec.get("extra_items", [])),
            bands=tuple((b.code, b.low, b.high) for b in band_specs),
            safety=tuple((s["item"], s["min"], s["flag"]) for s in spec.get("safety", [])),
            scoring=spec.get("scoring", "sum"),
            risk_levels=tuple(spec.get("risk_levels", [])),
            risk_rules=tuple((r["level"], tuple(r["any_yes"])) for r in spec.get("risk_rules", [])),
            band_specs=band_specs,
            flag_rules=_flag_rules(spec),
            subscales=tuple(_subscale(s, system) for s in spec.get("subscales", [])),
            code_system=system,
            total_title=spec.get("total_title", f"{spec['title']} total score"),
            copyright=spec.get("copyright"),
            alternate_totals=tuple(spec.get("alternate_totals", [])),
        )
    return out


def instrument(instrument_id: str) -> Instrument:
    """An instrument by id; raises :class:`TerminologyError` when unknown."""
    try:
        return instruments()[instrument_id]
    except KeyError:
        known = sorted(instruments())
        raise TerminologyError(
            f"unknown instrument {instrument_id!r}; expected one of {known}"
        ) from None


@cache
def _by_code() -> dict[str, tuple[Instrument, str]]:
    index: dict[str, tuple[Instrument, str]] = {}
    for inst in instruments().values():
        if inst.panel_code:
            index[inst.panel_code] = (inst, "panel")
        index[inst.total_code] = (inst, "total")
    return index


def instrument_by_code(code: str) -> tuple[Instrument, str] | None:
    """The instrument whose panel or total LOINC code is ``code``, with ``"panel"``/``"total"``.

    Item codes are shared between instruments (PHQ-2 items are PHQ-9 items 1-2), so
    they do not identify an instrument on their own and are not indexed here.
    """
    return _by_code().get(code)


@dataclass(frozen=True, slots=True)
class _Index:
    """Lookups of one instrument, built once: allowed values by item id, required and
    scored items."""

    allowed: dict[str, frozenset[int]]
    required: tuple[str, ...]
    scored: tuple[Item, ...]


_INDEXES: dict[str, tuple[Instrument, _Index]] = {}


def _index(inst: Instrument) -> _Index:
    # keyed by id, checked by identity: an instrument built elsewhere gets its own
    found = _INDEXES.get(inst.id)
    if found is not None and found[0] is inst:
        return found[1]
    index = _Index(
        allowed={it.id: frozenset(a.score for a in it.answers) for it in inst.all_items},
        required=tuple(it.id for it in inst.items if it.required),
        scored=tuple(it for it in inst.items if it.scored),
    )
    _INDEXES[inst.id] = (inst, index)
    return index
