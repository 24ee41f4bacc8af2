"""A session's and a measure's own rules are checked once, when it is made: an Episode
that receives them made does not check them again (pydantic re-runs a nested model's
``model_validator(mode="after")``; these rules are ``model_post_init``), input given as
fields is checked as before, with the same errors, and copies are checked where they are
made (``check``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from domain_support import error_of, example_data
from pydantic import ValidationError

from iopfhir.domain import Episode, Measure, Session, parse_episodes
from iopfhir.terminology import instrument, instruments

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times ``Session.check`` and ``Measure.check`` ran."""
    counts = {"Session": 0, "Measure": 0}
    for cls in (Session, Measure):
        inner = cls.check

        def counted(self: Any, _inner: Any = inner, _name: str = cls.__name__) -> None:
            counts[_name] += 1
            _inner(self)

        monkeypatch.setattr(cls, "check", counted)
    return counts


def _episode_of(data: dict[str, Any]) -> Episode:
    return parse_episodes(data, source="episode.yaml")[0]


def test_episode_from_fields_checks_each_session_and_measure_once(
    checks: dict[str, int],
) -> None:
    data = example_data()
    episode = _episode_of(data)
    assert checks == {"Session": len(data["sessions"]), "Measure": len(data["measures"])}
    assert len(episode.sessions) == len(data["sessions"]) > 0


def test_episode_of_made_sessions_and_measures_checks_none_again(
    checks: dict[str, int],
) -> None:
    episode = _episode_of(example_data())
    before = dict(checks)
    fields = {name: getattr(episode, name) for name in type(episode).model_fields}
    again = Episode(**fields)
    assert checks == before  # the episode's own rules ran; its sessions' and measures' not
    assert again == episode


def test_made_session_is_checked_once(checks: dict[str, int]) -> None:
    Session(key="s", status="scheduled", start=T0, end=T0 + timedelta(hours=1))
    assert checks["Session"] == 1


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"end": "2026-03-01T09:00:00+00:00"}, "$.sessions[0].end"),
        ({"cancel_reason": "x"}, "$.sessions[0].cancel_reason"),
        ({"kind_code": {"system": "http://snomed.info/sct", "code": "1"}}, "$.sessions[0]"),
    ],
)
def test_bad_nested_session_is_still_refused(change: dict[str, Any], path: str) -> None:
    data = example_data()
    data["sessions"][0] = {**data["sessions"][0], **change}
    assert error_of(data).path.startswith(path)


def test_bad_nested_measure_is_still_refused() -> None:
    data = example_data()
    data["measures"][0] = {**data["measures"][0], "total": 27, "answers": {"q1": 0}}
    data["measures"][0].pop("forms", None)
    # answers incomplete, a total in range: fine; out of range: refused
    _episode_of(data)
    data["measures"][0]["total"] = 99
    assert error_of(data).path.startswith("$.measures[0].total")
    data["measures"][0] = {**data["measures"][0], "total": None, "answers": {"q1": 7}}
    assert error_of(data).path.startswith("$.measures[0].answers")


def test_nested_session_error_is_the_same_as_before() -> None:
    """The error a broken nested session gives: where and what (pydantic's own shape)."""
    good = Session(key="s", status="scheduled", start=T0, end=T0 + timedelta(hours=1))
    fields = {**good.__dict__, "end": T0 - timedelta(hours=1)}
    episode = _episode_of(example_data())
    with pytest.raises(ValidationError) as info:
        Episode(**{**episode.__dict__, "sessions": [fields]})
    (error,) = info.value.errors()
    assert error["loc"] == ("sessions", 0)
    assert error["msg"] == "Value error, @end: is before start"


def test_copy_is_checked_where_it_is_made() -> None:
    good = Session(key="s", status="scheduled", start=T0, end=T0 + timedelta(hours=1))
    bad = good.model_copy(update={"end": T0 - timedelta(hours=1)})  # pydantic: no check
    with pytest.raises(ValueError, match="@end: is before start"):
        bad.check()
    measure = _episode_of(example_data()).measures[0]
    broken = measure.model_copy(update={"answers": {"q1": 99}})
    with pytest.raises(ValueError, match=r"@answers\.q1: score out of range"):
        broken.check()
    measure.check()  # a good one passes


def test_measure_errors_name_the_item_as_before() -> None:
    """The instrument's fast check finds the bad answer; the message is the measure's."""
    base = {"key": "m", "instrument": "phq-9", "date": T0}
    with pytest.raises(ValidationError, match=r"@answers.<key 1>: phq-9 has no such item"):
        Measure(**base, answers={"q1": 0, "zz": 1})
    with pytest.raises(ValidationError, match=r"@answers.q2: score out of range; allowed \[0, 1"):
        Measure(**base, answers={"q1": 0, "q2": 9})
    assert Measure(**base, answers={"q1": 3}).answers == {"q1": 3}  # incomplete is fine


def test_modality_filled_in_on_a_made_session_is_checked(checks: dict[str, int]) -> None:
    """A made session whose activity gives its modality is handed over as fields: the
    episode validates that session once (the copy is checked)."""
    episode = _episode_of(example_data())
    plan = episode.treatment_plan
    assert plan is not None
    act = next(a for a in plan.activities if a.modality is not None)
    target = next(s for s in episode.sessions if s.activity == act.key)
    bare = target.model_copy(update={"modality": None})
    sessions = [bare if s is target else s for s in episode.sessions]
    before = checks["Session"]
    filled = Episode(**{**episode.__dict__, "sessions": sessions})
    assert checks["Session"] == before + 1
    assert filled.sessions[sessions.index(bare)].modality == act.modality
    # and a broken one among them is refused, where it is
    broken = bare.model_copy(update={"end": bare.start - timedelta(hours=1)})
    sessions = [broken if s is target else s for s in episode.sessions]
    with pytest.raises(ValidationError) as info:
        Episode(**{**episode.__dict__, "sessions": sessions})
    assert info.value.errors()[0]["loc"] == ("sessions", sessions.index(broken))


def _old_check(measure: Measure) -> None:
    """The measure's rules as written before they ran once (the reference)."""
    inst = measure.definition
    known = {it.id: it for it in inst.all_items}
    for position, (item_id, points) in enumerate(measure.answers.items()):
        item = known.get(item_id)
        if item is None:
            raise ValueError(
                f"@answers.<key {position}>: {inst.id} has no such item; expected {sorted(known)}"
            )
        if not any(a.score == points for a in item.answers):
            allowed = sorted(a.score for a in item.answers)
            raise ValueError(f"@answers.{item_id}: score out of range; allowed {allowed}")
    if measure.total is not None and not inst.min_total <= measure.total <= inst.max_total:
        raise ValueError(f"@total: score out of range {inst.min_total}..{inst.max_total}")
    if measure.total is None and not measure.answers:
        raise ValueError("@answers: a measure needs answers or a total")
    complete = all(it.id in measure.answers for it in inst.items if it.required)
    computed = inst.total(measure.answers) if measure.answers and complete else None
    if (
        measure.forms is None
        and None not in (computed, measure.total)
        and computed != measure.total
    ):
        raise ValueError(f"@total: does not match the sum of the answers ({computed})")
    if measure.forms is not None:
        measure._check_forms(computed)


def _outcome(check: Any, measure: Measure) -> str:
    try:
        check(measure)
    except ValueError as exc:
        return str(exc)
    return "ok"


def _answer_sets(inst_id: str) -> Iterator[dict[str, int]]:
    inst = instrument(inst_id)
    items = inst.all_items
    yield {}
    yield {items[0].id: items[0].answers[0].score}
    yield {it.id: it.answers[0].score for it in inst.items if it.required}
    yield {it.id: it.answers[-1].score for it in items}
    yield {it.id: it.answers[-1].score for it in items if not it.required}
    yield {items[0].id: max(a.score for a in items[0].answers) + 1}
    yield {items[0].id: items[0].answers[0].score, "nope": 0}


@pytest.mark.parametrize("inst_id", sorted(instruments()))
def test_measure_check_answers_as_the_rules_did(inst_id: str) -> None:
    """Every instrument, answer sets complete, partial, empty, out of range, unknown; a
    total absent, agreeing, disagreeing or out of range; with and without recorded forms:
    the same outcome (message) as the rules written before (``_old_check``)."""
    inst = instrument(inst_id)
    base = Measure(key="m", instrument=inst_id, date=T0, total=inst.min_total)
    seen = set()
    for answers in _answer_sets(inst_id):
        for total in (None, inst.min_total, inst.max_total, inst.max_total + 1):
            for forms in (None, ["questionnaire-response"], ["total"], ["items", "panel"]):
                update = {"answers": answers, "total": total, "forms": forms}
                measure = base.model_copy(update=update)  # made unchecked
                outcome = _outcome(Measure.check, measure)
                assert outcome == _outcome(_old_check, measure)
                seen.add(outcome == "ok")
    assert seen == {True, False}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"activity": "no-such-activity"}, "$.sessions[1].activity"),
        ({"participants": [{"member": "nobody"}]}, "$.sessions[1].participants[0].member"),
        ({"locations": ["nowhere"]}, "$.sessions[1].locations[0]"),
        ({"provider": "no-org"}, "$.sessions[1].provider"),
        ({"facilitator": "no-one"}, "$.sessions[1].facilitator"),
        ({"attendees": ["no-one"]}, "$.sessions[1].attendees[0]"),
    ],
)
def test_session_references_are_still_checked(change: dict[str, Any], path: str) -> None:
    """The episode's check of what a session names (a shortcut skips the sessions that
    name only what exists): each kind of reference still reported, where it is."""
    data = example_data()
    assert data["sessions"][1]["status"] in ("attended", "scheduled")
    data["sessions"][1] = {**data["sessions"][1], **change}
    assert error_of(data).path == path
