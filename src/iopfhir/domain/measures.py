"""Outcome measures: one administration of a scored instrument (PHQ-9, GAD-7...).

Answers are item points by item id (``q1``..``q9``); the total, severity band and
safety flags are computed from them with the instrument's own rules. A measure read
from foreign data may carry only a total, or only some items.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator

from iopfhir.domain.common import Key, Model, Timestamp
from iopfhir.domain.vocabulary import InstrumentId
from iopfhir.terminology import Instrument, instrument

__all__ = ["Measure"]


@lru_cache(maxsize=4096)
def _total(instrument_id: str, answers: tuple[tuple[str, int], ...]) -> int:
    # a measure's total is asked for by its band, its flags and every builder: sum once
    return instrument(instrument_id).total(dict(answers))


class Measure(Model):
    """One administration of an instrument to the patient at one time."""

    key: Key
    instrument: InstrumentId
    date: Timestamp
    answers: dict[str, int] = Field(default_factory=dict)
    total: int | None = None
    session: Key | None = None
    performer: Key | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Measure:
        inst = self.definition
        known = {it.id: it for it in inst.all_items}
        for position, (item_id, points) in enumerate(self.answers.items()):
            item = known.get(item_id)
            if item is None:  # the key is input: name its position, not its text
                raise ValueError(
                    f"@answers.<key {position}>: {inst.id} has no such item;"
                    f" expected {sorted(known)}"
                )
            if not any(a.score == points for a in item.answers):
                allowed = sorted(a.score for a in item.answers)
                raise ValueError(f"@answers.{item_id}: score out of range; allowed {allowed}")
        if self.total is not None and not inst.min_total <= self.total <= inst.max_total:
            raise ValueError(f"@total: score out of range {inst.min_total}..{inst.max_total}")
        if self.total is None and not self.answers:
            raise ValueError("@answers: a measure needs answers or a total")
        computed = self._computed_total()
        if computed is not None and self.total is not None and computed != self.total:
            raise ValueError(f"@total: does not match the sum of the answers ({computed})")
        return self

    @property
    def definition(self) -> Instrument:
        """The instrument's definition."""
        return instrument(self.instrument)

    @property
    def complete(self) -> bool:
        """Whether every required item is answered."""
        return all(it.id in self.answers for it in self.definition.items if it.required)

    def _computed_total(self) -> int | None:
        if not self.answers or not self.complete:
            return None
        return _total(self.instrument, tuple(self.answers.items()))

    @property
    def score(self) -> int | None:
        """The total: given, or computed from complete answers."""
        if self.total is not None:
            return self.total
        return self._computed_total()

    @property
    def band(self) -> str | None:
        """The severity band of the total (``moderate``, ``positive``, ``high``...)."""
        total = self.score
        return None if total is None else self.definition.band(total)

    @property
    def flags(self) -> tuple[str, ...]:
        """Safety flags raised by the answers or the score (PHQ-9 item 9, C-SSRS intent,
        AUDIT-C or DAST-10 over the threshold...)."""
        return self.definition.flags(self.answers, self.score)
