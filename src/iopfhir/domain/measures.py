"""Outcome measures: one administration of a scored instrument (PHQ-9, GAD-7...).

Answers are item points by item id (``q1``..``q9``); the total, severity band and
safety flags are computed from them with the instrument's own rules. A measure read
from foreign data may carry only a total, or only some items.

``forms`` records the FHIR forms a measure was read from (``MeasureForm``: the
QuestionnaireResponse, item Observations, the total Observation, the panel, the total's
interpretation, the Flags, the RiskAssessment). ``None`` (every measure written in an
episode file) means every form the measure can have: :meth:`Measure.written_forms` is the
one rule for what the FHIR builder writes. A measure read from FHIR keeps the ``total`` its
source stated even when it disagrees with complete answers (the answers still give the
score, the band and the flags); an authored measure may not disagree with itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator

from iopfhir.domain.common import Key, OwnRules, Timestamp
from iopfhir.domain.vocabulary import InstrumentId
from iopfhir.terminology import Instrument, instrument

__all__ = ["MEASURE_FORMS", "Measure", "MeasureForm"]

#: The FHIR forms of one administration, in output order.
MeasureForm = Literal[
    "questionnaire-response",
    "items",
    "total",
    "panel",
    "interpretation",
    "flags",
    "risk-assessment",
]
MEASURE_FORMS: tuple[MeasureForm, ...] = (
    "questionnaire-response",
    "items",
    "total",
    "panel",
    "interpretation",
    "flags",
    "risk-assessment",
)
_ORDER = {form: i for i, form in enumerate(MEASURE_FORMS)}


@lru_cache(maxsize=4096)
def _total(instrument_id: str, answers: tuple[tuple[str, int], ...]) -> int:
    # a measure's total is asked for by its band, its flags and every builder: sum once
    return instrument(instrument_id).total(dict(answers))


@lru_cache(maxsize=4096)
def _complete_total(instrument_id: str, answers: tuple[tuple[str, int], ...]) -> int | None:
    # the total of complete answers, else None: a measure's score, band, flags and written
    # forms each ask for it, so whether the answers are complete is worked out once too
    if not instrument(instrument_id).complete(dict(answers)):
        return None
    return _total(instrument_id, answers)


class Measure(OwnRules):
    """One administration of an instrument to the patient at one time."""

    key: Key
    instrument: InstrumentId
    date: Timestamp
    answers: dict[str, int] = Field(default_factory=dict)
    total: int | None = None
    session: Key | None = None
    performer: Key | None = None
    #: the FHIR forms the source had (read from FHIR); ``None``: every form it can have
    forms: list[MeasureForm] | None = None

    @field_validator("forms")
    @classmethod
    def _form_order(cls, value: list[MeasureForm] | None) -> list[MeasureForm] | None:
        """One entry per form, in output order (a set, kept as a stable list)."""
        return None if value is None else sorted(set(value), key=_ORDER.__getitem__)

    def check(self) -> None:
        """Raise ``ValueError`` (``@field: message``) if the measure breaks one of its
        rules (run when a measure is made)."""
        inst = self.definition
        answers = self.answers
        # the instrument's own check first (its lookups are built once); it also names
        # required items that are missing, which a measure may lack
        problems = inst.check_answers(answers)
        if any(key in answers for key, _problem in problems):
            known = {it.id: it for it in inst.all_items}
            for position, (item_id, points) in enumerate(answers.items()):
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
        # what is left of the problems are required items not answered: none, complete
        complete = answers and not problems
        computed = _total(self.instrument, tuple(answers.items())) if complete else None
        if (
            self.forms is None
            and computed is not None
            and self.total is not None
            and computed != self.total
        ):
            raise ValueError(f"@total: does not match the sum of the answers ({computed})")
        if self.forms is not None:
            self._check_forms(computed)

    def _check_forms(self, computed: int | None) -> None:
        forms = set(self.forms or ())
        if self.answers and not forms & {"questionnaire-response", "items"}:
            raise ValueError("@forms: answers need questionnaire-response or items")
        if self.total is not None and not forms & {"questionnaire-response", "total"}:
            raise ValueError("@forms: a stated total needs questionnaire-response or total")
        if not forms & {"questionnaire-response", "total", "panel"}:
            # item Observations alone do not say which instrument they belong to
            raise ValueError("@forms: needs questionnaire-response, total or panel")
        score = computed if computed is not None else self.total
        impossible = forms - self._possible(score, None, flags=False) - {"flags"}
        for form in MEASURE_FORMS:
            if form in impossible:
                raise ValueError(f"@forms: {form} cannot be written for this measure")

    @property
    def definition(self) -> Instrument:
        """The instrument's definition."""
        return instrument(self.instrument)

    @property
    def complete(self) -> bool:
        """Whether every required item is answered."""
        return self.definition.complete(self.answers)

    def _computed_total(self) -> int | None:
        if not self.answers:
            return None
        return _complete_total(self.instrument, tuple(self.answers.items()))

    @property
    def score(self) -> int | None:
        """The total derived things use: computed from complete answers, else the given
        total (a stated total that disagrees with complete answers is kept, not used)."""
        computed = self._computed_total()
        return computed if computed is not None else self.total

    @property
    def stated_disagrees(self) -> bool:
        """Whether a stated total disagrees with the total of complete answers."""
        computed = self._computed_total()
        return computed is not None and self.total is not None and computed != self.total

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

    def _possible(self, score: int | None, sex: str | None, *, flags: bool) -> set[str]:
        inst = self.definition
        out = {"questionnaire-response"}
        if self.answers:
            out.add("items")
        if score is not None:
            out.add("total")
            if inst.band(score) is not None:
                out.add("interpretation")
            if inst.scoring == "risk-level":
                out.add("risk-assessment")
        if inst.panel_code and (self.answers or score is not None):
            out.add("panel")
        if flags and inst.flags(self.answers, score, sex=sex):
            out.add("flags")
        return out

    def written_forms(self, sex: str | None) -> tuple[MeasureForm, ...]:
        """The forms the FHIR builder writes for this measure, for a patient of
        administrative gender ``sex`` (the flags of some instruments depend on it): the
        recorded ``forms`` (every form when ``None``) that this measure can have; the
        panel, the interpretation, the Flags and the RiskAssessment only with an
        Observation to point to (a Flag needs an Observation of an item or total that
        raised it)."""
        return self.written_forms_as(self.forms, sex)

    def written_forms_as(
        self, forms: Sequence[MeasureForm] | None, sex: str | None
    ) -> tuple[MeasureForm, ...]:
        """:meth:`written_forms` of a copy of this measure whose ``forms`` are ``forms`` (as
        ``model_copy`` would set them, unsorted), without making the copy: the reader asks
        it of every measure it reads, for its forms with the safety forms and for none."""
        key_forms = None if forms is None else tuple(forms)
        return _written(
            self, (self.instrument, tuple(self.answers.items()), self.total, key_forms, sex)
        )

    def _written_forms(
        self, forms: tuple[MeasureForm, ...] | None, sex: str | None
    ) -> tuple[MeasureForm, ...]:
        chosen = self._possible(self.score, sex, flags=True)
        if forms is not None:
            chosen &= set(forms)
        if not chosen & {"items", "total"}:
            chosen.discard("panel")
        if "total" not in chosen:
            chosen -= {"interpretation", "risk-assessment"}
        if "flags" in chosen and not self._flag_evidence(chosen, sex):
            chosen.discard("flags")
        return tuple(f for f in MEASURE_FORMS if f in chosen)

    def _flag_evidence(self, chosen: set[str], sex: str | None) -> bool:
        """Whether some raised flag has a written Observation to cite."""
        inst = self.definition
        score = self.score
        raised = inst.flags(self.answers, score, sex=sex)
        for rule in inst.flag_rules:
            if rule.flag not in raised:
                continue
            if rule.item is None and "total" in chosen:
                return True
            if rule.item is not None and "items" in chosen:
                value = self.answers.get(rule.item)
                if value is not None and value >= rule.minimum:
                    return True
        return False


_WRITTEN: dict[tuple[object, ...], tuple[MeasureForm, ...]] = {}


def _written(measure: Measure, key: tuple[object, ...]) -> tuple[MeasureForm, ...]:
    # asked for by every builder of every measure: the same few answer sets and forms
    # repeat across a cohort, so each combination is worked out once
    found = _WRITTEN.get(key)
    if found is None:
        if len(_WRITTEN) > 8192:
            _WRITTEN.clear()
        found = _WRITTEN[key] = measure._written_forms(key[3], key[4])  # type: ignore[arg-type]
    return found
