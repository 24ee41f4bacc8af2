"""The code the import's fast paths of this round stand for, as it was written before
them (``tests/fhir/test_read_fastpath.py`` turns each fast path off with these and
compares; ``tests/fhir/test_read_fastpath_more.py`` compares them one by one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iopfhir.domain import Episode, Measure
from iopfhir.domain.measures import MeasureForm, _total
from iopfhir.domain.plans import AftercarePlan, RelapsePreventionPlan, TreatmentPlan
from iopfhir.fhir.read.values import as_list

__all__ = [
    "computed_total_by_steps",
    "duplicate_keys_with_paths",
    "walk_items_everywhere",
    "with_forms_by_copies",
]


def with_forms_by_copies(measure: Measure, safety: set[MeasureForm], sex: str | None) -> Measure:
    """``read/safety.py:_with_forms`` as it was: the written forms asked of copies, and the
    copy without forms checked again."""
    if measure.forms is None:
        return measure
    recorded = measure.model_copy(update={"forms": [*measure.forms, *safety]})
    written = recorded.written_forms(sex)
    every = measure.model_copy(update={"forms": None})
    if written == every.written_forms(sex) and not measure.stated_disagrees:
        every.check()  # a copy is not checked when made, nor by the episode that takes it
        return every
    if list(written) == measure.forms:
        return measure
    return Measure.model_validate({**measure.model_dump(), "forms": list(written)})


def computed_total_by_steps(measure: Measure) -> int | None:
    """``Measure._computed_total`` as it was: completeness asked of the instrument each time."""
    if not measure.answers or not measure.complete:
        return None
    return _total(measure.instrument, tuple(measure.answers.items()))


def duplicate_keys_with_paths(episode: Episode) -> Iterator[tuple[str, str]]:
    """``domain/episode.py:_duplicate_keys`` as it was: every path written."""
    groups: dict[str, list[tuple[str, str]]] = {
        "organizations": [
            (f"$.organizations[{i}].key", o.key) for i, o in enumerate(episode.organizations)
        ],
        "people": [
            (f"$.practitioners[{i}].key", p.key) for i, p in enumerate(episode.practitioners)
        ]
        + [(f"$.supports[{i}].key", s.key) for i, s in enumerate(episode.supports)]
        + [("$.patient.key", episode.patient.key)],
        "teams": [(f"$.teams[{i}].key", t.key) for i, t in enumerate(episode.teams)],
        "diagnoses": [(f"$.diagnoses[{i}].key", d.key) for i, d in enumerate(episode.diagnoses)],
        "care_plans": [(f"$.care_plans[{i}].key", p.key) for i, p in enumerate(episode.care_plans)],
        "goals": [
            (f"$.care_plans[{i}].goals[{j}].key", g.key)
            for i, p in enumerate(episode.care_plans)
            for j, g in enumerate(p.goals)
        ]
        + [(f"$.other_goals[{i}].key", g.key) for i, g in enumerate(episode.other_goals)],
        "locations": [(f"$.locations[{i}].key", p.key) for i, p in enumerate(episode.locations)],
        "requests": [(f"$.requests[{i}].key", r.key) for i, r in enumerate(episode.requests)],
        "sessions": [(f"$.sessions[{i}].key", s.key) for i, s in enumerate(episode.sessions)],
        "activities": [
            (f"$.care_plans[{i}].activities[{j}].key", a.key)
            for i, p in enumerate(episode.care_plans)
            if isinstance(p, TreatmentPlan)
            for j, a in enumerate(p.activities)
        ],
        "crisis contacts": [
            (f"$.care_plans[{i}].crisis_contacts[{j}].key", c.key)
            for i, p in enumerate(episode.care_plans)
            if isinstance(p, RelapsePreventionPlan)
            for j, c in enumerate(p.crisis_contacts)
        ],
        "measures": [(f"$.measures[{i}].key", m.key) for i, m in enumerate(episode.measures)],
        "reviews": [(f"$.reviews[{i}].key", r.key) for i, r in enumerate(episode.reviews)],
    }
    aftercare: list[tuple[str, str]] = []
    for i, plan in enumerate(episode.care_plans):
        if isinstance(plan, AftercarePlan):
            aftercare += [
                (f"$.care_plans[{i}].referrals[{j}].key", r.key)
                for j, r in enumerate(plan.referrals)
            ]
            aftercare += [
                (f"$.care_plans[{i}].appointments[{j}].key", a.key)
                for j, a in enumerate(plan.appointments)
            ]
            aftercare += [
                (f"$.care_plans[{i}].check_ins[{j}].key", c.key)
                for j, c in enumerate(plan.check_ins)
            ]
    groups["aftercare items"] = aftercare
    for what, entries in groups.items():
        seen: set[str] = set()
        for path, key in entries:
            if key in seen:
                yield path, f"duplicate key among {what}"  # the key itself is input
            seen.add(key)


def walk_items_everywhere(items: Any) -> Iterator[dict[str, Any]]:
    """``read/instruments.py:walk_items`` as it was: a nested walk of every item and
    answer, whether anything is nested or not."""
    for item in as_list(items):
        if isinstance(item, dict):
            yield item
            yield from walk_items_everywhere(item.get("item"))
            for answer in as_list(item.get("answer")):
                if isinstance(answer, dict):
                    yield from walk_items_everywhere(answer.get("item"))
