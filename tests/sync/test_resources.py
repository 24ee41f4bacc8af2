"""The sync resource helpers: reference sites, rewriting with structural sharing, the
comparison a second push rests on, and the collector pause around a push."""

from __future__ import annotations

import copy
import gc
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopfhir.client import FhirClient, MemoryTransport
from iopfhir.errors import SyncError
from iopfhir.fhir.conventions import name_uuid
from iopfhir.sync import _gc, push
from iopfhir.sync.resources import (
    derived_id,
    reference_sites,
    references,
    rewrite_references,
    same_content,
    unchanged_on_server,
)

from .conftest import unique_episode
from .fake import BASE, FakeServer

URN_A = "urn:uuid:0b1c2d3e-0000-5000-8000-000000000001"
URN_B = "urn:uuid:0b1c2d3e-0000-5000-8000-000000000002"


def careplan() -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "local",
        "identifier": [{"system": "https://example.org/cp", "value": "cp-1"}],
        "status": "active",
        "intent": "plan",
        "subject": {"reference": URN_A, "display": "the patient"},
        "careTeam": [{"reference": URN_B}],
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "736353004"}]}],
        "activity": [
            {"detail": {"status": "scheduled", "performer": [{"reference": URN_B}]}},
            {"outcomeReference": [{"reference": "Observation/kept"}]},
        ],
        "contained": [
            {"resourceType": "Goal", "id": "g", "subject": {"reference": URN_A}},
        ],
    }


def oracle_rewrite(resource: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(resource)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref in mapping:
                node["reference"] = mapping[ref]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def test_reference_sites_name_the_path_to_each_reference_contained_included():
    sites = reference_sites(careplan())
    assert sites == [
        (("subject",), URN_A),
        (("careTeam", 0), URN_B),
        (("activity", 0, "detail", "performer", 0), URN_B),
        (("activity", 1, "outcomeReference", 0), "Observation/kept"),
        (("contained", 0, "subject"), URN_A),
    ]
    assert list(references(careplan())) == [ref for _, ref in sites]


def test_reference_sites_of_a_bare_reference_and_of_values_orjson_cannot_write():
    assert reference_sites({"reference": "Patient/1"}) == [((), "Patient/1")]
    odd = {
        "resourceType": "Observation",
        "valueQuantity": {"value": Decimal("1.50")},
        "component": [
            {"valueQuantity": {"value": Decimal("2")}},
            {"subject": {"reference": URN_A}},
        ],
    }
    assert reference_sites(odd) == [(("component", 1, "subject"), URN_A)]


def test_a_string_value_that_looks_like_the_key_is_not_a_reference():
    resource = {"resourceType": "Basic", "code": {"text": '"reference":"Patient/1"'}}
    assert reference_sites(resource) == []


def test_rewrite_copies_only_the_paths_to_rewritten_references():
    original = careplan()
    before = copy.deepcopy(original)
    mapping = {URN_A: "Patient/p1", URN_B: "CareTeam/t1"}
    out = rewrite_references(original, mapping)
    assert out == oracle_rewrite(original, mapping)
    assert original == before  # the input is never changed
    assert out is not original
    assert out["category"] is original["category"]  # untouched subtrees are shared
    assert out["identifier"] is original["identifier"]
    assert out["activity"][1] is original["activity"][1]
    assert out["activity"][0] is not original["activity"][0]
    assert out["contained"][0]["subject"] == {"reference": "Patient/p1"}
    assert out["subject"]["display"] == "the patient"
    assert rewrite_references(original, {}) == original


# FHIR JSON has no nulls (outside primitive-extension arrays) and no integers past 2**53
json_leaf = st.one_of(st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=5))
refs = st.sampled_from([URN_A, URN_B, "Patient/1", "#c"])
reference = st.builds(lambda r: {"reference": r}, refs)
json_tree = st.recursive(
    st.one_of(json_leaf, reference),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b", "reference", "item"]), children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["subject", "x", "y", "contained"]), json_tree, max_size=4))
def test_rewrite_agrees_with_a_deep_copy_and_leaves_the_input_alone(resource):
    mapping = {URN_A: "Patient/p", URN_B: "Practitioner/q"}
    before = copy.deepcopy(resource)
    assert rewrite_references(resource, mapping) == oracle_rewrite(resource, mapping)
    assert resource == before


def server_copy(ours: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    out = oracle_rewrite(ours, mapping)
    out["id"] = "s1"
    out["meta"] = {"versionId": "3", "lastUpdated": "2026-01-01T00:00:00Z"}
    return out


def test_unchanged_on_server_ignores_server_meta_and_id_and_resolves_references():
    ours = careplan()
    mapping = {URN_A: "Patient/p1", URN_B: "CareTeam/t1"}
    theirs = server_copy(ours, mapping)
    assert unchanged_on_server(ours, theirs, mapping)
    assert same_content(oracle_rewrite(ours, mapping), theirs)


def test_unchanged_on_server_sees_every_kind_of_change():
    ours = careplan()
    mapping = {URN_A: "Patient/p1", URN_B: "CareTeam/t1"}
    theirs = server_copy(ours, mapping)
    # a reference we cannot resolve yet must be written
    assert not unchanged_on_server(ours, theirs, {URN_A: "Patient/p1"})
    # a reference the server holds to another target
    moved = server_copy(ours, {**mapping, URN_B: "CareTeam/other"})
    assert not unchanged_on_server(ours, moved, mapping)
    # a changed value deep inside
    changed = copy.deepcopy(theirs)
    changed["activity"][0]["detail"]["status"] = "completed"
    assert not unchanged_on_server(ours, changed, mapping)
    # our identifier missing from theirs; theirs having an extra one is fine
    extra = copy.deepcopy(theirs)
    extra["identifier"].append({"system": "urn:other", "value": "9"})
    assert unchanged_on_server(ours, extra, mapping)
    missing = copy.deepcopy(theirs)
    missing["identifier"] = [{"system": "urn:other", "value": "9"}]
    assert not unchanged_on_server(ours, missing, mapping)
    # an identifier whose assigner is a resource of the same push
    assigned = copy.deepcopy(ours)
    assigned["identifier"][0]["assigner"] = {"reference": URN_B}
    assert unchanged_on_server(assigned, server_copy(assigned, mapping), mapping)
    assert not unchanged_on_server(assigned, server_copy(assigned, mapping), {URN_A: "x/1"})
    # a narrative the server generated is ignored only when we send none
    narrated = copy.deepcopy(theirs)
    narrated["text"] = {"status": "generated", "div": "<div>x</div>"}
    assert unchanged_on_server(ours, narrated, mapping)
    assert not unchanged_on_server({**ours, "text": {"status": "empty"}}, narrated, mapping)


def test_name_uuid_is_uuid5():
    namespace = uuid.UUID("6f1c3b2e-5d7a-5c43-9b0e-1f0f4a1c7e21")
    for name in ["", "Patient|http://x|1", "é" * 40, "a|b,c$d"]:
        assert name_uuid(namespace, name) == str(uuid.uuid5(namespace, name))
    assert derived_id("CareTeam", "s", "v") == str(uuid.uuid5(namespace, "CareTeam|s|v"))


@given(st.text(max_size=60))
def test_name_uuid_is_uuid5_for_any_name(name):
    namespace = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert name_uuid(namespace, name) == str(uuid.uuid5(namespace, name))


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_nested_pauses_and_back_on_after(collector_on):
    with _gc.paused():
        assert not gc.isenabled()
        with _gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _gc.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_by_the_application_stays_disabled(collector_on):
    gc.disable()
    with _gc.paused():
        pass
    assert not gc.isenabled()


def test_push_pauses_the_collector_and_restores_it_even_when_it_fails(collector_on):
    seen: list[bool] = []
    server = FakeServer()

    def handle(request):
        seen.append(gc.isenabled())
        return server.handle(request)

    client = FhirClient(BASE, transport=MemoryTransport(handle))
    push(client, unique_episode())
    assert seen and not any(seen)
    assert gc.isenabled()

    failing = FakeServer(fail_on_write_call=1, fail_status=500)
    client = FhirClient(BASE, transport=MemoryTransport(failing.handle))
    with pytest.raises(SyncError):
        push(client, unique_episode())
    assert gc.isenabled()


def oracle_unchanged(ours: dict[str, Any], theirs: dict[str, Any], mapping: dict[str, str]):
    """Rewrite a deep copy, merge identifiers as a push would, compare with same_content."""
    if any(mapping.get(r, r).startswith("urn:") for r in references(ours)):
        return False
    desired = oracle_rewrite(ours, mapping)
    mine, current = desired.get("identifier"), theirs.get("identifier")
    if isinstance(mine, list) and isinstance(current, list):
        desired["identifier"] = list(current) + [i for i in mine if i not in current]
    return same_content(desired, theirs)


top_level = st.builds(
    lambda elements, meta: {**elements, **({"meta": meta} if meta is not None else {})},
    st.dictionaries(
        st.sampled_from(["subject", "x", "contained", "identifier", "text"]),
        json_tree,
        max_size=4,
    ),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["tag", "security"]), json_tree)),
)
mappings = st.fixed_dictionaries(
    {}, optional={URN_A: st.sampled_from(["Patient/p", "Patient/z"]), URN_B: st.just("Group/q")}
)


@settings(max_examples=400, deadline=None)
@given(top_level, mappings, mappings, st.one_of(st.none(), top_level))
def test_unchanged_on_server_agrees_with_rewrite_then_compare(ours, mine, server, other):
    # theirs: what the server holds after a write of ours with the server's own ids, or
    # something else altogether; with server-set id and meta either way
    theirs = oracle_rewrite(ours if other is None else other, server)
    theirs["id"] = "s1"
    theirs["meta"] = {"versionId": "2"}
    assert unchanged_on_server(ours, theirs, mine) == oracle_unchanged(ours, theirs, mine)
