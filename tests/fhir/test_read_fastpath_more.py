"""This round's shortcuts of the import (issue 11, speed), each against the code it stands
for (``tests/fhir/slow_paths.py``), so that a shortcut cannot drift:

- a reference string that is nothing but ``Type/id`` is its own ``Type/id`` (one
  anchored match instead of the search of ``TYPE_ID``): the same answer, and the same store
  keys, for every shape of reference;
- a measure's safety forms are worked out without copying it (``written_forms_as``), and
  the copy without forms is not checked again: the same measure comes back;
- the total of complete answers is worked out once per instrument and answers: what asking
  the instrument for completeness each time answers;
- the Episode writes the path of a duplicate key only for a duplicate: the same problems,
  at the same paths, in the same order;
- the participation types of a session's participant are read inline for the common
  shape: the codes ``codings`` finds in each;
- a QuestionnaireResponse's items are walked into only where something is nested: the
  same items in the same order;
- the store keeps a group's resources as runs of consecutive ones, not a row each: the
  same resources read back, each once, in input order, however they were batched.

The whole import with every shortcut off equals the import with them on in
``tests/fhir/test_read_fastpath.py``.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.fhir.slow_paths import (
    computed_total_by_steps,
    duplicate_keys_with_paths,
    walk_items_everywhere,
    with_forms_by_copies,
)

from iopfhir.domain import Episode, Measure, load_episodes
from iopfhir.domain.episode import _duplicate_keys
from iopfhir.domain.measures import MEASURE_FORMS
from iopfhir.fhir.read import index as index_module
from iopfhir.fhir.read import store as store_module
from iopfhir.fhir.read.index import TYPE_ID, reference_keys
from iopfhir.fhir.read.instruments import walk_items
from iopfhir.fhir.read.safety import _with_forms
from iopfhir.fhir.read.sessions import _type_codes
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.store import ResourceStore
from iopfhir.fhir.read.values import as_list, codings
from iopfhir.synth import synth_episodes

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
if not EXAMPLES.is_dir():  # the examples are package data
    import iopfhir

    EXAMPLES = Path(iopfhir.__file__).parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
REFERENCES = [
    "Patient/1",
    "Observation/a083036d-f5d5-5a97-87a0-1b77c5c4aa31",
    "Practitioner/1.2-3",
    "http://example.org/fhir/Patient/1",
    "https://example.org/fhir/Patient/1/_history/2",
    "Patient/1/_history/2",
    "urn:uuid:a083036d-f5d5-5a97-87a0-1b77c5c4aa31",
    "patient/1",
    "A/1",
    "Ab/1",
    "Patient/" + "a" * 64,
    "Patient/" + "a" * 65,
    "Patient/a_b",
    "Patient/é",
    "Patient/1/",
    "Patient//1",
    "Patient/1\n",
    "Patient/1?x",
    "Patient?identifier=s|1",
    "x/Patient/1",
    "#p1",
    "",
    "Patient",
]


def _searched(ref: str) -> str | None:
    match = TYPE_ID.search(ref)
    return f"{match.group(1)}/{match.group(2)}" if match else None


@pytest.mark.parametrize("ref", REFERENCES)
def test_plain_type_id_is_what_the_search_finds(ref: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert index_module._type_id(ref) == _searched(ref)
    fast = [reference_keys(ref), reference_keys({"reference": ref, "display": "x"})]
    monkeypatch.setattr(index_module, "PLAIN_TYPE_ID", re.compile(r"(?!)"))
    assert index_module._type_id(ref) == _searched(ref)
    assert fast == [reference_keys(ref), reference_keys({"reference": ref, "display": "x"})]


def _measures() -> list[Measure]:
    """Measures of synthetic episodes, with every set of forms they can be made with, and
    with answers left out (incomplete) or a total that disagrees with them."""
    out: list[Measure] = []
    for episode in synth_episodes(6, seed=11):
        for measure in episode.measures:
            data = measure.model_dump()
            answers = data["answers"]
            variants: list[dict[str, Any]] = [
                {"answers": answers, "total": None},
                {"answers": dict(list(answers.items())[:-1]), "total": None},
                {"answers": answers, "total": (measure.score or 0) + 1},
                {"answers": {}, "total": measure.score},
            ]
            for variant in variants:
                for n in range(1, 4):
                    for forms in itertools.combinations(MEASURE_FORMS, n):
                        try:
                            out.append(Measure(**{**data, **variant, "forms": list(forms)}))
                        except ValueError:
                            continue
    return out


@pytest.fixture(scope="module")
def measures() -> list[Measure]:
    made = _measures()
    assert len(made) > 100
    return made


def test_safety_forms_without_copies_equal_the_copies(measures: list[Measure]) -> None:
    kinds = set()
    for measure in measures:
        for safety in (set(), {"flags"}, {"risk-assessment"}, {"flags", "risk-assessment"}):
            for sex in (None, "male", "female"):
                fast = _with_forms(measure, safety, sex)  # type: ignore[arg-type]
                slow = with_forms_by_copies(measure, safety, sex)  # type: ignore[arg-type]
                assert type(fast) is type(slow)
                assert fast.model_dump() == slow.model_dump()
                assert fast.model_fields_set == slow.model_fields_set
                assert (fast is measure) == (slow is measure)
                kinds.add("same" if fast is measure else str(fast.forms))
    assert {"same", "None"} < kinds  # each way out was taken


def test_total_of_complete_answers_equals_asking_each_time(measures: list[Measure]) -> None:
    totals = set()
    for measure in measures:
        assert measure._computed_total() == computed_total_by_steps(measure)
        totals.add(measure._computed_total() is None)
    assert totals == {True, False}


def _with_duplicates(episode: Episode) -> list[Episode]:
    """Copies of ``episode`` with one key repeated in each list of keyed items, at the
    top and in each care plan, and the patient's key given to a practitioner."""
    out = []
    for name, value in episode:
        if isinstance(value, list) and value and hasattr(value[0], "key"):
            out.append(episode.model_copy(update={name: [*value, value[0]]}))
    for p, plan in enumerate(episode.care_plans):
        for name, value in plan:
            if isinstance(value, list) and value and hasattr(value[0], "key"):
                changed = plan.model_copy(update={name: [*value, value[0]]})
                plans = [*episode.care_plans[:p], changed, *episode.care_plans[p + 1 :]]
                out.append(episode.model_copy(update={"care_plans": plans}))
    if episode.practitioners:
        twin = episode.practitioners[0].model_copy(update={"key": episode.patient.key})
        out.append(episode.model_copy(update={"practitioners": [*episode.practitioners, twin]}))
    return out


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_duplicate_keys_equal_with_every_path_written(path: Path) -> None:
    (episode,) = load_episodes(path)
    assert list(_duplicate_keys(episode)) == list(duplicate_keys_with_paths(episode)) == []
    kinds = set()
    for broken in _with_duplicates(episode):
        found = list(_duplicate_keys(broken))
        assert found == list(duplicate_keys_with_paths(broken))
        kinds.update(message for _path, message in found)
    assert len(kinds) >= 10  # most kinds of keys were repeated


def _stored(n: int) -> list[Entry]:
    entries = []
    for i in range(n):
        entry = Entry(
            {"resourceType": "Basic", "id": f"b{i}", "i": i}, None, f"/d/B.ndjson:{i + 1}"
        )
        entry.raw = orjson.dumps(entry.resource)
        entries.append(entry)
    return entries


@pytest.mark.parametrize("run", [1, 2, 3, 512])
def test_members_as_runs_are_each_resource_once_in_order(
    run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store keeps a group's resources as runs of consecutive ones: whatever the
    batches (a pair given twice, in one batch or two, runs of two batches overlapping or
    meeting), a group reads back as the distinct resources given, in input order, as the
    table of one row per resource gave them."""
    monkeypatch.setattr(store_module, "_RUN", run)
    rng = random.Random(run)
    entries = _stored(40)
    given: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    batches: list[list[tuple[int, int]]] = [[], [], []]
    for seq in range(40):
        group = rng.choice([0, 0, 0, 1, 1, 2])
        given[group].add(seq)
        for _ in range(rng.choice([1, 1, 2])):  # some given twice, maybe in another batch
            rng.choice(batches).append((group, seq))
    batches[1] += [(0, 5), (0, 6), (0, 7), (0, 8), (0, 9)]  # overlapping another batch's
    given[0].update(range(5, 10))
    for pairs in batches:
        rng.shuffle(pairs)
    with ResourceStore() as store:
        for seq, entry in enumerate(entries):
            store.add(entry, seq, [])
        store.seal()
        for pairs in batches:
            store.add_members(pairs)
        store.commit()
        for group, seqs in given.items():
            back = list(store.members(group))
            assert [seq for seq, _e in back] == sorted(seqs)
            assert [e.resource for _s, e in back] == [entries[s].resource for s in sorted(seqs)]
        assert list(store.members(3)) == []


def _item(link: str, nested: Any = None, answers: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": link}
    if nested is not None:
        item["item"] = nested
    if answers is not None:
        item["answer"] = answers
    return item


ITEM_TREES: list[Any] = [
    None,
    [],
    "x",
    [_item("a"), _item("b")],
    _item("one"),  # a single item, not a list
    [_item("a", [_item("a1"), _item("a2", [_item("a21")])]), _item("b")],
    [_item("a", answers=[{"valueInteger": 1, "item": [_item("a-1")]}, "x", {"item": None}])],
    [_item("a", nested=_item("lone"), answers={"item": [_item("a-2", [_item("deep")])]})],
    [_item("a", nested=[], answers=[]), 3, None, _item("b", nested="x")],
]


@pytest.mark.parametrize("items", ITEM_TREES)
def test_walk_items_equals_the_walk_into_everything(items: Any) -> None:
    fast = list(walk_items(items))
    assert [id(i) for i in fast] == [id(i) for i in walk_items_everywhere(items)]


_PPRF = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF"}
PARTICIPATION_TYPES: list[Any] = [
    None,
    [],
    [{"coding": [_PPRF]}],
    [{"coding": [_PPRF, {"code": "PART"}, {"code": 7}, "x", {"system": "s"}]}, {"text": "t"}],
    {"coding": [_PPRF]},  # one concept, not a list
    [{"coding": _PPRF}],  # one coding, not a list
    [{"coding": None}, {"code": "ATND"}, "PPRF", 3, None],  # a concept read as a coding
    [OrderedDict(coding=[OrderedDict(code="PART")]), {"coding": [OrderedDict(code="ATND")]}],
    "PPRF",
]


@pytest.mark.parametrize("types", PARTICIPATION_TYPES)
def test_participation_types_equal_what_codings_finds(types: Any) -> None:
    assert _type_codes(types) == {c for concept in as_list(types) for _s, c in codings(concept)}
