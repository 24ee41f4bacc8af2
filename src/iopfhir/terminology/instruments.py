"""Scored instruments (PHQ-9, PHQ-2, GAD-7, AUDIT-C, C-SSRS screener) from package data.

An :class:`Instrument` knows its LOINC panel and total-score codes, its items with their
answer codes and points, its severity bands and safety rules, and scores a set of answers.
Sum-scored instruments add item points; the C-SSRS screener derives a risk level
(none/low/moderate/high = 0..3) from which items were answered yes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from iopfhir.errors import TerminologyError

__all__ = [
    "LOINC",
    "AnswerOption",
    "Instrument",
    "Item",
    "Score",
    "instrument",
    "instrument_by_code",
    "instruments",
]

#: The LOINC code system: instruments, their items, answers and totals are LOINC-coded.
LOINC = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class AnswerOption:
    """One answer of an item: its LOINC answer code and the points it scores."""

    code: str
    display: str
    score: int


@dataclass(frozen=True, slots=True)
class Item:
    """One question of an instrument."""

    id: str
    code: str
    label: str
    answers: tuple[AnswerOption, ...]
    required: bool = True
    scored: bool = True

    @property
    def max_score(self) -> int:
        """The highest number of points an answer can score."""
        return max(a.score for a in self.answers)

    def answer_for_score(self, score: int) -> AnswerOption:
        """The answer option scoring ``score`` points."""
        for answer in self.answers:
            if answer.score == score:
                return answer
        raise TerminologyError(f"item {self.id} ({self.code}) has no answer scoring {score}")

    def answer_for_code(self, code: str) -> AnswerOption | None:
        """The answer option with LOINC answer code ``code``, if any."""
        for answer in self.answers:
            if answer.code == code:
                return answer
        return None


@dataclass(frozen=True, slots=True)
class Score:
    """The result of scoring one administration."""

    total: int
    band: str
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A scored instrument and its LOINC codes."""

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

    @property
    def all_items(self) -> tuple[Item, ...]:
        """Scored items followed by unscored extra items."""
        return self.items + self.extra_items

    def item(self, item_id: str) -> Item:
        """An item by its id (``q1``...) or by its LOINC code."""
        for it in self.all_items:
            if item_id in (it.id, it.code):
                return it
        raise TerminologyError(f"{self.id} has no item {item_id!r}")

    def item_by_code(self, code: str) -> Item | None:
        """The item whose LOINC code is ``code``, if any."""
        for it in self.all_items:
            if it.code == code:
                return it
        return None

    def band(self, total: int) -> str:
        """The severity band of a total score."""
        for code, low, high in self.bands:
            if low <= total <= high:
                return code
        raise TerminologyError(
            f"{self.id} total {total} is outside {self.min_total}..{self.max_total}"
        )

    def check_answers(self, answers: Mapping[str, int]) -> list[tuple[str, str]]:
        """Problems with a set of answers as (item id, message) pairs; empty when fine."""
        problems: list[tuple[str, str]] = []
        known = {it.id for it in self.all_items}
        for key, value in answers.items():
            if key not in known:
                problems.append((key, f"{self.id} has no item {key!r}"))
                continue
            it = self.item(key)
            if not any(a.score == value for a in it.answers):
                allowed = sorted(a.score for a in it.answers)
                problems.append((key, f"answer {value} out of range for {self.id} {key} {allowed}"))
        for it in self.items:
            if it.required and it.id not in answers:
                problems.append((it.id, f"{self.id} item {it.id} is required"))
        return problems

    def score(self, answers: Mapping[str, int]) -> Score:
        """Score complete answers (item id → points). Raises on a problem."""
        problems = self.check_answers(answers)
        if problems:
            raise TerminologyError(problems[0][1])
        if self.scoring == "risk-level":
            total = self._risk_level(answers)
        else:
            total = sum(answers.get(it.id, 0) for it in self.items if it.scored)
        return Score(total, self.band(total), self.flags(answers))

    def flags(self, answers: Mapping[str, int]) -> tuple[str, ...]:
        """Safety flags raised by the answers (e.g. PHQ-9 item 9 above 0)."""
        return tuple(
            flag for item_id, minimum, flag in self.safety if answers.get(item_id, 0) >= minimum
        )

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


def _item(raw: Mapping[str, Any]) -> Item:
    return Item(
        id=raw["id"],
        code=raw["code"],
        label=raw["label"],
        answers=tuple(AnswerOption(a["code"], a["display"], a["score"]) for a in raw["answers"]),
        required=raw.get("required", True),
        scored=raw.get("scored", True),
    )


@cache
def instruments() -> dict[str, Instrument]:
    """Every instrument the package knows, by id (``phq-9``, ``gad-7``...)."""
    path = resources.files("iopfhir.terminology").joinpath("data/instruments.json")
    raw = json.loads(path.read_text("utf-8"))["instruments"]
    out: dict[str, Instrument] = {}
    for key, spec in sorted(raw.items()):
        out[key] = Instrument(
            id=key,
            title=spec["title"],
            panel_code=spec.get("panel"),
            total_code=spec["total"],
            questionnaire=spec["questionnaire"],
            min_total=spec["min"],
            max_total=spec["max"],
            items=tuple(_item(i) for i in spec["items"]),
            extra_items=tuple(_item(i) for i in spec.get("extra_items", [])),
            bands=tuple((b["code"], b["low"], b["high"]) for b in spec["bands"]),
            safety=tuple((s["item"], s["min"], s["flag"]) for s in spec.get("safety", [])),
            scoring=spec.get("scoring", "sum"),
            risk_levels=tuple(spec.get("risk_levels", [])),
            risk_rules=tuple((r["level"], tuple(r["any_yes"])) for r in spec.get("risk_rules", [])),
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
