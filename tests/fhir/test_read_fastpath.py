"""The import's fast paths (issue 11, speed) against the paths they stand for, so that a
fast path cannot drift:

- the shortcut of the NDJSON line check (a compact line that orjson writes back as the same
  bytes, with fewer containers than the depth limit, is clean) accepts exactly what the
  full checks accept, with the same value (the standard library's, integers exact), and
  refuses what they refuse, with their message, under the default and tight limits;
- the store's files give back every resource with its origin (file and line, or a name
  that is not one), ``fullUrl`` and type; names other than ``Type/id`` are found (the
  first resource of a name wins, aliases too) although they are indexed only on demand;
  what is deferred comes back in input order;
- the value helpers' shortcuts (``own_key`` skipping identifiers that are not iopfhir's,
  ``first_code`` without ``text()``, ``concept_key`` with its code system looked up once)
  answer as the plain code does;
- the streaming import with every fast path equals the import with the fast paths turned
  off (the full line checks, instrument roles found again wherever asked, code systems
  looked up at each call, identifier names worked out as each resource is stored, origins
  read back from their text, every patient reference resolved for each resource) and the
  in-memory reader ``read_fhir``: episodes, ignored and unmapped counts, on a synthetic
  cohort, on both examples (as NDJSON files and as a transaction Bundle) and on NDJSON
  written to trip pass 1 (references escaped, absolute, ``urn:``, conditional, logical or
  to a contained resource, subjects that are no patient, duplicates, blank lines, CRLF);
- pass 1 keeps a resource's ``identifier`` element as it is and works its names out only
  when one is looked up: the same answers as names worked out at once; a deferred
  reference comes back as the same bytes for the same value; an NDJSON line's number is
  taken from the entry and not read back from its origin, which comes back the same;
- NDJSON lines are split at ``\\n`` alone in a block without ``\\r``, as ``splitlines``
  splits them otherwise; a patient's resources go into its index in one loop
  (``GroupIndex.add_members``) as ``add_at`` files them one at a time; an entry's own
  identifiers are parsed once (``Entry.own_key``) and answer as ``own_key``; the store
  remembers each practitioner's first role and the shared resources already marked used
  (the slow paths ask the database every time);
- a session whose facilitator is off the care team, handed to the Episode as its fields
  (which the Episode validates), reads as round 4's checked copy of it did.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.fhir.slow_paths import duplicate_keys_with_paths, with_forms_by_copies

from iopfhir.domain import Identifier, load_episodes
from iopfhir.domain import episode as episode_module
from iopfhir.errors import LoadError
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import identifier_system, parse_identifier
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS, write_ndjson
from iopfhir.fhir.read import administrations as administrations_module
from iopfhir.fhir.read import assemble as assemble_module
from iopfhir.fhir.read import index as index_module
from iopfhir.fhir.read import people as people_module
from iopfhir.fhir.read import read_fhir, read_fhir_streamed
from iopfhir.fhir.read import safety as safety_module
from iopfhir.fhir.read import sessions as sessions_module
from iopfhir.fhir.read import spill as spill_module
from iopfhir.fhir.read import store as store_module
from iopfhir.fhir.read import stream as stream_module
from iopfhir.fhir.read import values as values_module
from iopfhir.fhir.read.group_index import GroupIndex
from iopfhir.fhir.read.index import Index, entry_keys, identifier_keys, type_id_key
from iopfhir.fhir.read.instruments import is_instrument_code, obs_role
from iopfhir.fhir.read.source import Entry, iter_entries
from iopfhir.fhir.read.store import ResourceStore
from iopfhir.fhir.read.values import as_list, codings, concept_key, first_code, own_key
from iopfhir.loading import Limits, json_values
from iopfhir.synth import synth_episodes
from iopfhir.terminology import code_system, code_system_url

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
if not EXAMPLES.is_dir():  # the examples are package data
    import iopfhir

    EXAMPLES = Path(iopfhir.__file__).parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve synthetic patients as NDJSON, one file per type."""
    root = tmp_path_factory.mktemp("fastpath") / "ndjson"
    write_ndjson(list(synth_episodes(12, seed=5)), root)
    return root


# -- the line check ------------------------------------------------------------------------


def _outcome(raw: bytes, limits: Limits) -> tuple[str, Any]:
    try:
        value, plain = json_values._load_plain(raw, "<t>", 1, limits, FHIR_PATH_KEYS)
    except LoadError as exc:
        return "error", str(exc)
    return ("plain" if plain else "exact"), value


def _without_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut needs ``max_number_digits >= _DUMPED_DIGITS``: never true here."""
    monkeypatch.setattr(json_values, "_DUMPED_DIGITS", 10**9)


def _exact(value: Any) -> str:
    """``value`` as the standard library writes it: an integer and a float differ."""
    return json.dumps(value, sort_keys=True)


def _compare(lines: list[bytes], limits: Limits, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    fast = [_outcome(line, limits) for line in lines]
    with monkeypatch.context() as patch:
        _without_shortcut(patch)
        full = [_outcome(line, limits) for line in lines]
    for line, (kind, value), (full_kind, full_value) in zip(lines, fast, full, strict=True):
        if full_kind == "error":
            assert (kind, value) == (full_kind, full_value)  # the same message
            continue
        assert kind != "error"
        # the standard library's value (integers beyond 64 bits exact) on both paths
        assert _exact(value) == _exact(full_value) == _exact(json.loads(line))
        if kind == "plain":  # kept as bytes, read again by orjson: the same value
            assert _exact(orjson.loads(line)) == _exact(value)
    return Counter(kind for kind, _v in fast)


def _tricky_lines() -> list[bytes]:
    """Compact lines at the edges of what the shortcut may accept."""
    out = []
    for depth in (97, 98, 99, 100, 101, 150):  # containers: the object plus the arrays
        out.append(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    for number in (
        b"18446744073709551615",  # the largest 64-bit unsigned integer: orjson keeps it
        b"18446744073709551616",  # one more: orjson would make it a float
        b"-9223372036854775808",
        b"123456789012345678901234567890",
        b"1.7976931348623157e+308",
        b"1e300",
        b"1.50",
        b"0.1",
        b"5e-324",
        b"1" * 101,
    ):
        out.append(b'{"resourceType":"Basic","n":' + number + b"}")
    out += [
        b'{"resourceType":"Basic","id":"a","id":"b"}',  # a duplicate member
        b'{"resourceType":"Basic","s":"' + b"9" * 120 + b'"}',  # a digit run in a string
        b'{"resourceType":"Basic","s":"' + b"x" * 40 + b'"}',
        b'{"resourceType":"Basic","s":"\\u00e9t\\u00e9"}',  # escapes orjson writes otherwise
        b'{"resourceType":"Basic","s":"\xc3\xa9t\xc3\xa9","k":[1,2,{"x":null}]}',
        b'{ "resourceType": "Basic" }',
    ]
    return out


def test_line_shortcut_equals_the_full_checks_on_a_cohort(
    cohort: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [line for p in sorted(cohort.glob("*.ndjson")) for line in p.read_bytes().splitlines()]
    kinds = _compare(lines, Limits(), monkeypatch)
    assert kinds == Counter(plain=len(lines))  # every line clean, and taken by the shortcut


@pytest.mark.parametrize(
    "limits",
    [
        Limits(),
        Limits(max_depth=20),
        Limits(max_number_digits=19),
        Limits(max_number_digits=20),
        Limits(max_string_chars=30),
        Limits(max_string_chars=60, max_data_chars=60),
    ],
    ids=["default", "depth20", "digits19", "digits20", "string30", "string60"],
)
def test_line_shortcut_equals_the_full_checks_at_the_edges(
    limits: Limits, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds = _compare(_tricky_lines(), limits, monkeypatch)
    assert kinds["error"] > 0 and kinds["plain"] > 0  # both sides of the edges are tried


def test_line_shortcut_refuses_what_it_must() -> None:
    """Without comparing: the shortcut alone never lets these through."""
    limits = Limits()
    deep = b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"  # 101 levels
    assert _outcome(deep, limits)[0] == "error"
    assert _outcome(b'{"resourceType":"Basic","id":"a","id":"b"}', limits)[0] == "error"
    big = _outcome(b'{"resourceType":"Basic","n":18446744073709551616}', limits)
    assert big == ("exact", {"resourceType": "Basic", "n": 2**64})
    tight = Limits(max_number_digits=19)
    assert _outcome(b'{"resourceType":"Basic","n":18446744073709551615}', tight)[0] == "error"


# -- the store -------------------------------------------------------------------------------


def _entry(resource: dict[str, Any], origin: str, full_url: str | None = None) -> Entry:
    entry = Entry(resource, full_url, origin)
    entry.raw = orjson.dumps(resource) if "n" not in resource else None
    return entry


ORIGINS = [
    "/d/Patient.ndjson:1",
    "/d/Patient.ndjson:2",
    "/d/Patient.ndjson:007",  # not a plain number: kept as written
    "/d/Patient.ndjson:x",
    "/d/Patient.ndjson:",
    "/d/Patient.ndjson:12345678901234",  # too many digits for a record
    "<dict>",
    "C:\\data\\bundle.json",
    "/d/b.json",
    "/d/Patient.ndjson:3",
    "/d/Obs:ervation.ndjson:4",
    "/d/Patient.ndjson:\u0663",  # a digit, not an ASCII one
]


def test_store_gives_back_resources_origins_and_urls() -> None:
    entries = []
    for i, origin in enumerate(ORIGINS):
        rtype = ("Patient", "Observation", "Basic")[i % 3]
        resource: dict[str, Any] = {"resourceType": rtype, "id": f"r{i}"}
        if i == 5:
            resource["n"] = 10**30  # only the standard library keeps it
        url = f"urn:uuid:{i}" if i % 4 == 0 else None
        entries.append(_entry(resource, origin, url))
    with ResourceStore() as store:
        for seq, entry in enumerate(entries):
            store.add(entry, seq, [])
        with pytest.raises(ValueError):
            store.add(entries[0], 99, [])  # seqs have no gaps
        store.seal()
        store.commit()
        for seq, entry in enumerate(entries):
            back = store.entry(seq)
            assert back is not None
            assert (back.resource, back.origin, back.full_url, back.type) == (
                entry.resource,
                entry.origin,
                entry.full_url,
                entry.type,
            )
            assert store.type_of(seq) == entry.type
        assert store.entry(len(entries)) is None and store.type_of(-1) == ""
        back = store.entry(5)
        assert back is not None and back.resource["n"] == 10**30


@pytest.mark.parametrize("run", [1, 2, 512])
def test_store_members_in_runs(run: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's resources read back run by run (consecutive ones at once) are those added,
    whatever their kind: a line, a Bundle entry with its fullUrl, an exact integer."""
    monkeypatch.setattr(store_module, "_RUN", run)
    entries = []
    for i, origin in enumerate(ORIGINS):
        resource: dict[str, Any] = {"resourceType": "Basic", "id": f"m{i}", "i": i}
        if i in (2, 3):
            resource["n"] = 10**25 + i
        entries.append(_entry(resource, origin, "urn:uuid:m" if i in (3, 8) else None))
    groups = {0: [0, 1, 2, 3, 5, 6, 7, 10, 11], 1: [4, 8, 9]}
    with ResourceStore() as store:
        for seq, entry in enumerate(entries):
            store.add(entry, seq, [])
        store.seal()
        store.add_members([(g, seq) for g, seqs in groups.items() for seq in seqs])
        store.commit()
        for group, seqs in groups.items():
            back = list(store.members(group))
            assert [seq for seq, _e in back] == seqs
            for seq, entry in back:
                want = entries[seq]
                assert (entry.resource, entry.origin, entry.full_url, entry.type) == (
                    want.resource,
                    want.origin,
                    want.full_url,
                    want.type,
                )


def test_store_keeps_little_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are written in small batches, and only a few resource types are numbered (the
    others are found again from the resource): memory does not follow the input."""
    monkeypatch.setattr(store_module, "_BATCH", 3)
    monkeypatch.setattr(store_module, "_TYPES_KEPT", 2)
    entries = [
        _entry({"resourceType": f"Type{i % 5}", "id": f"x{i}"}, f"/b/{i}.json", f"urn:uuid:{i}")
        for i in range(11)
    ]
    with ResourceStore() as store:
        for seq, entry in enumerate(entries):
            store.add(entry, seq, [])
            store.tag(f"ep{seq}", seq)
            store.share(seq, entry.type)
            assert max(len(store._extra), len(store._tags), len(store._shared)) < 3
        store.seal()
        store.commit()
        assert len(store._types) == 2
        for seq, entry in enumerate(entries):
            back = store.entry(seq)
            assert back is not None
            assert (back.full_url, back.origin, back.resource) == (
                entry.full_url,
                entry.origin,
                entry.resource,
            )
            assert store.type_of(seq) == entry.type
            assert store.tagged(f"ep{seq}") == [seq]
        assert list(store.unused_shared()) == [e.type for e in entries]


def test_store_remembers_first_roles_and_marks_within_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A practitioner's first role is asked once and a shared resource marked used is
    written once while remembered (each cache stays small); the answers do not change."""
    monkeypatch.setattr(store_module, "_FOUND_CACHE", 2)
    with ResourceStore() as store:
        for seq in range(8):
            rtype = "Practitioner" if seq < 3 else "PractitionerRole"
            store.add(_entry({"resourceType": rtype, "id": f"x{seq}"}, f"f:{seq + 1}"), seq, [])
            if seq < 3:
                store.share(seq, rtype)
            else:
                store.tag("ep" if seq % 2 else "other", seq)
        store.seal()
        store.add_roles([(0, 5), (0, 3), (0, 4), (1, 6)])
        store.commit()
        asks = ((0, {"ep"}), (0, set()), (1, {"other"}), (2, {"ep"}), (0, {"x"}))
        expected = [_uncached_roles(store, prac, tags) for prac, tags in asks]
        assert expected == [[3, 5], [3], [6], [], [3]]
        asked: list[Any] = []
        db = store._db
        store._db = _Counting(db, asked)  # type: ignore[assignment]
        try:
            for _round in range(3):
                assert [store.roles(prac, tags) for prac, tags in asks] == expected
                store.mark_used([0, 1])
                store.mark_used([1, 0])
        finally:
            store._db = db
        assert len(store._first_role) <= 2 and len(store._marked) <= 2
        mins = [q for q in asked if "min(role)" in q]
        assert 3 <= len(mins) < 3 * len(asks)  # remembered between asks, forgotten when full
        assert sum(1 for q in asked if "INTO used" in q) <= 3
        assert list(store.unused_shared()) == ["Practitioner"]  # x2 was never marked


class _Counting:
    """A database connection that notes each statement (then runs it)."""

    def __init__(self, db: Any, asked: list[Any]) -> None:
        self._db, self._asked = db, asked

    def execute(self, sql: str, *args: Any) -> Any:
        self._asked.append(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._asked.append(sql)
        return self._db.executemany(sql, *args)


def test_store_names_first_wins_and_indexed_on_demand() -> None:
    sep = "\x1f"
    names = [
        [f"i{sep}Patient{sep}s{sep}1", f"a{sep}s{sep}1"],
        [f"i{sep}Patient{sep}s{sep}1", f"a{sep}s{sep}1", f"u{sep}urn:x"],  # taken: first wins
        [f"c{sep}http://q", f"a{sep}s{sep}2"],
    ]
    with ResourceStore() as store:
        for seq, keys in enumerate(names):
            store.add(
                _entry({"resourceType": "Patient", "id": f"p{seq}"}, f"f:{seq + 1}"), seq, keys
            )
            assert store.claim(f"t{sep}Patient/p{seq}", seq) is None
        assert store.claim(f"t{sep}Patient/p1", 3) == 1  # a duplicate
        store.alias(f"u{sep}urn:x", 0)  # later: the first name stays
        store.alias(f"u{sep}urn:y", 2)
        store.seal()
        assert store.find(f"u{sep}urn:x") == 1  # during the grouping (in the transaction)
        store.commit()
        assert store.find(f"i{sep}Patient{sep}s{sep}1") == 0
        assert store.find(f"a{sep}s{sep}1") == 0
        assert store.find(f"a{sep}s{sep}2") == 2
        assert store.find(f"c{sep}http://q") == 2
        assert store.find(f"u{sep}urn:y") == 2
        assert store.find(f"i{sep}Practitioner{sep}s{sep}1") is None
        assert store.find(f"t{sep}Patient/p2") == 2
        assert store.find(f"t{sep}Patient/none") is None


def test_store_without_other_names_looks_nothing_up() -> None:
    with ResourceStore() as store:
        store.add(_entry({"resourceType": "Patient", "id": "p"}, "f:1"), 0, [])
        store.seal()
        store.commit()
        assert store.find("u\x1fPatient/p") is None
        assert store.find("i\x1fPatient\x1fs\x1f1") is None
        assert store._names.indexed == set()  # no table built for a kind of name nobody has


def test_store_gives_back_what_was_deferred_in_order() -> None:
    deferred = [(0, "p", None), (1, "gCondition", {"reference": "Patient/x"})]
    deferred += [(1, "r", "Practitioner/y"), (2, "v", [{"reference": "Goal/1"}, "é"])]
    with ResourceStore() as store:
        for seq in range(3):
            store.add(_entry({"resourceType": "Basic"}, f"f:{seq + 1}"), seq, [])
        for seq, kind, value in deferred:
            store.defer(seq, kind, value)
        store.seal()
        assert list(store.pending()) == deferred


def test_store_remembers_lookups_and_resources_within_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After pass 1 a name is looked up once and a resource read once while remembered;
    the answers are those of the database and the files, and each cache stays small."""
    monkeypatch.setattr(store_module, "_FOUND_CACHE", 4)
    monkeypatch.setattr(store_module, "_ENTRY_CACHE", 3)
    sep = "\x1f"
    with ResourceStore() as store:
        for seq in range(10):
            resource = {"resourceType": "Practitioner", "id": f"d{seq}", "k": seq}
            store.add(_entry(resource, f"f:{seq + 1}"), seq, [f"a{sep}s{sep}{seq % 5}"])
            assert store.claim(f"t{sep}Practitioner/d{seq}", seq) is None
        assert store.claim(f"t{sep}Practitioner/d2", 10) == 2  # a duplicate: looked up
        assert store._found == {}  # nothing remembered while pass 1 may still change it
        store.seal()
        store.commit()
        asked: list[str] = []
        find = store._find

        def counted(key: str) -> int | None:
            asked.append(key)
            return find(key)

        monkeypatch.setattr(store, "_find", counted)
        for _round in range(2):
            for seq in range(10):
                assert store.find(f"t{sep}Practitioner/d{seq}") == seq
                assert store.find(f"a{sep}s{sep}{seq % 5}") == seq % 5  # the first one wins
            assert store.find(f"t{sep}Practitioner/none") is None
            assert len(store._found) <= 4
        assert len(asked) > len(set(asked))  # the caches were emptied when full...
        asked.clear()
        for _twice in range(2):
            assert store.find(f"t{sep}Practitioner/d3") == 3
        assert len(asked) <= 1  # ...and answer again
        first = store.entry(7)
        assert first is not None and first.resource["k"] == 7
        assert store.entry(7) is first  # remembered
        for seq in range(10):
            back = store.entry(seq)
            assert back is not None and back.resource["k"] == seq and back.origin == f"f:{seq + 1}"
            assert len(store._entries) <= 3
        assert store.entry(10) is None
        store._entries.clear()
        once = store.entry(4, keep=False)
        assert once is not None and once.resource["k"] == 4 and 4 not in store._entries
        assert store.entry(4, keep=False) is not once  # read again: nothing was kept


def _with_identifier(rtype: str, rid: str, value: str) -> Entry:
    resource = {"resourceType": rtype, "id": rid, "identifier": [{"system": "s", "value": value}]}
    return Entry(resource, None, "f")


def test_index_files_identifiers_on_demand_first_wins() -> None:
    """Identifiers are filed when first looked up: a resource added after a lookup is found
    by its own identifier, and the first resource of an identifier keeps it."""
    first, second = _with_identifier("Goal", "g1", "1"), _with_identifier("Goal", "g2", "1")
    index = Index([first])
    logical = {"identifier": {"system": "s", "value": "1"}}
    assert index.resolve(logical) is first
    index.add(second)
    third = _with_identifier("Goal", "g3", "3")
    index.add(third)
    assert index.resolve(logical) is first
    assert index.resolve({"type": "Goal", "identifier": {"system": "s", "value": "3"}}) is third
    assert index.resolve({"identifier": {"system": "s", "value": "3"}}) is third
    assert index.resolve("Goal?identifier=s|1") is first
    assert index.resolve({"type": "Condition", "identifier": {"system": "s", "value": "3"}}) is None
    fresh = Index([second, first, third])  # nothing looked up yet: the first added wins
    assert fresh.resolve("Goal?identifier=s|1") is second


def _members() -> list[tuple[int, Entry]]:
    """Entries of every kind ``GroupIndex.add_members`` files itself or hands on."""
    own = {"system": identifier_system("organization"), "value": "ep-1/org-1"}
    resources: list[tuple[dict[str, Any], str | None]] = [
        ({"resourceType": "Goal", "id": "g1", "identifier": [{"system": "s", "value": "1"}]}, None),
        ({"resourceType": "Goal", "id": "g2"}, None),
        ({"resourceType": "Goal"}, None),  # no id
        ({"resourceType": "Goal", "id": "g1"}, "urn:uuid:1"),  # a second Goal/g1
        ({"resourceType": "Goal", "id": "g1"}, None),  # and a third, without fullUrl
        ({"resourceType": "Encounter", "id": "e1"}, "http://x.org/fhir/Encounter/e9"),
        ({"resourceType": "Encounter", "id": "e9"}, None),  # named by the url above first
        ({"resourceType": "Questionnaire", "id": "q", "url": "http://q"}, None),
        (
            {"resourceType": "Goal", "id": "g3", "contained": [{"resourceType": "X", "id": "c"}]},
            None,
        ),
        ({"resourceType": "Organization", "id": "o1", "identifier": [own]}, None),
        ({"resourceType": "Organization", "id": "o2"}, None),
        (
            {"resourceType": "Condition", "id": "c1", "identifier": {"system": "s", "value": "2"}},
            None,
        ),
    ]
    return [(10 + 3 * i, Entry(res, url, f"f:{i}")) for i, (res, url) in enumerate(resources)]


def _index_state(index: GroupIndex) -> tuple[Any, ...]:
    contained = sorted(
        (index.position[id(holder)], local, inner.resource["id"], index.position[id(inner)])
        for (holder_id, local), inner in index._contained.items()
        for holder in index.entries
        if id(holder) == holder_id
    )
    return (
        [id(e) for e in index.entries],
        {k: v for k, v in index.position.items() if k in {id(e) for e in index.entries}},
        contained,
        dict(index._by_url),
        dict(index._by_type_id),
        dict(index._by_canonical),
        list(index._unfiled),
        {k: list(v) for k, v in index._tagged.items()},
        index.duplicates,
        dict(index._seq_of),
        dict(index._at),
    )


def test_group_index_members_in_one_loop_equal_one_at_a_time() -> None:
    """``add_members`` files the common entry itself and hands any other to ``add_at``:
    the index is the one ``add_at`` of each entry builds, and answers the same."""
    members = _members()
    with ResourceStore() as store:
        fast, slow = GroupIndex(store), GroupIndex(store)
        slow._found["stale"] = members[0][1]  # a remembered answer is forgotten by both
        fast._found["stale"] = members[0][1]
        assert fast.add_members(iter(members)) == members
        for seq, entry in members:
            slow.add_at(entry, seq)
        assert _index_state(fast) == _index_state(slow)
        assert fast.duplicates == 3 and len(fast._contained) == 1 and fast._tagged  # g1 x2, e9
        for ref in ("Goal/g1", "Encounter/e9", "urn:uuid:1", "Goal?identifier=s|1", "#c"):
            found, expected = fast.resolve(ref, members[8][1]), slow.resolve(ref, members[8][1])
            assert found is not None and expected is not None
            assert found.resource is expected.resource  # a contained one: its own Entry
        assert fast.resolve("Goal/g1") is members[0][1]
        assert fast.find_canonical("http://q") is members[7][1]


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
@pytest.mark.parametrize("ends", [("\n",), ("\r\n",), ("\n", "\r\n", "\r"), ("\r",)])
def test_stream_lines_end_where_they_end(block: int, ends: tuple[str, ...]) -> None:
    """Lines split at ``\\n`` alone (a block without ``\\r``) or as ``splitlines`` does:
    the same numbers, values and line bytes, whatever the block size."""
    lines = ['{"a":1}', "", "  ", '{"b":[1,2]}', '{"s":"x\u2028y"}', '{"c":"\\r"}', '{"z":0}']
    text = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines[:-1])) + lines[-1]
    got = list(json_values.iter_json_stream_raw(io.BytesIO(text.encode()), "f", block=block))
    expected = [
        (n, json.loads(line), line.encode()) for n, line in enumerate(lines, 1) if line.strip()
    ]
    assert got == expected


# -- value helpers: the shortcuts answer as the plain code does ---------------------------


def _plain_own_key(resource: dict[str, Any], *kinds: str) -> tuple[str, str] | None:
    for ident in as_list(resource.get("identifier")):
        if isinstance(ident, dict):
            parsed = parse_identifier(ident.get("system"), ident.get("value"))
            if parsed and parsed[0] in kinds:
                return parsed[1], parsed[2]
    return None


_OURS = identifier_system("session")
_IDENTIFIERS: list[Any] = [
    None,
    [],
    {"system": _OURS, "value": "ep/s1"},
    [{"system": "urn:other", "value": "ep/s1"}, {"system": _OURS, "value": "ep/s2"}],
    [{"system": _OURS, "value": "no-slash"}, {"system": _OURS + "x", "value": "e/k"}],
    [{"system": "", "value": "e/k"}, "text", 3, {"value": "e/k"}],
    [{"system": identifier_system("stay"), "value": "e/k"}],
]


@pytest.mark.parametrize("idents", _IDENTIFIERS)
def test_own_key_equals_the_plain_reading(idents: Any) -> None:
    resource = {} if idents is None else {"identifier": idents}
    for kinds in (("session",), ("stay", "session"), ("careplan",)):
        assert own_key(resource, *kinds) == _plain_own_key(resource, *kinds)


def test_own_key_of_a_system_that_is_no_string_fails_as_before() -> None:
    # a truthy non-string system: the plain reading raised (a mapping step counts it)
    with pytest.raises(AttributeError):
        own_key({"identifier": [{"system": 5, "value": "e/k"}]}, "session")


@pytest.mark.parametrize(
    "idents",
    [
        *_IDENTIFIERS,
        [{"system": _OURS, "value": "e/k"}, {"system": 5, "value": "e/k"}],  # found first
        [{"system": 5, "value": "e/k"}, {"system": _OURS, "value": "e/k"}],  # raises first
        [{"system": identifier_system("stay"), "value": "e/s"}, {"system": _OURS, "value": 7}],
    ],
)
def test_entry_own_key_parses_once_and_answers_as_own_key(idents: Any) -> None:
    """``Entry.own_key`` answers (or raises) as ``own_key`` of its resource, each time;
    the identifiers are parsed once, unless parsing them all would raise (then each ask
    goes to ``own_key``, which may answer before the identifier that raises)."""
    resource = {} if idents is None else {"identifier": idents}
    entry = Entry(resource, None, "f")
    for _twice in range(2):
        for kinds in (("session",), ("stay", "session"), ("careplan",), ("stay",)):
            try:
                expected: Any = own_key(resource, *kinds)
            except AttributeError:
                expected = AttributeError
            if expected is AttributeError:
                with pytest.raises(AttributeError):
                    entry.own_key(*kinds)
            else:
                assert entry.own_key(*kinds) == expected
    try:
        values_module.own_identifiers(resource)
    except AttributeError:
        assert entry.owned is None  # not cached: asked of own_key each time
    else:
        assert entry.owned is not None


def test_identifiers_shared_equal_the_plain_ones() -> None:
    """Identifiers read are frozen instances shared among equal ones: equal to those made
    at each read."""
    resource = {
        "identifier": [
            {"system": "s", "value": "1"},
            {"system": " ", "value": "2"},
            "x",
            {"system": "s", "value": "1"},
        ]
    }
    first = values_module.identifiers(resource)
    assert first == [Identifier(system="s", value="1")] * 2
    assert values_module.identifiers(resource) == first
    assert first[0] is first[1]


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"coding": [{"system": " ", "code": "x"}, {"system": "s", "code": "c"}]}, ("s", "c")),
        ({"coding": [{"system": "s", "code": " "}]}, None),
        ({"coding": {"system": "s", "code": "c", "display": "d"}}, ("s", "c")),
        ({"system": "s", "code": "c"}, ("s", "c")),
        ({"coding": [{"system": 1, "code": "c"}, "x"]}, None),
        ([{"text": "t"}, {"coding": [{"system": "s", "code": "c"}]}], ("s", "c")),
    ],
)
def test_first_code(concept: Any, expected: tuple[str, str] | None) -> None:
    found = first_code(concept)
    assert (None if found is None else (found.system, found.code)) == expected


def test_concept_key_follows_the_terminology() -> None:
    url = code_system_url("session-kind")
    known = sorted(code_system("session-kind")["concepts"])
    assert concept_key({"coding": [{"system": url, "code": known[0]}]}, "session-kind") == known[0]
    assert concept_key({"coding": [{"system": url, "code": "not-a-kind"}]}, "session-kind") is None
    other = [{"coding": [{"system": "urn:x", "code": known[0]}]}, {"system": url, "code": known[1]}]
    assert concept_key(other, "session-kind") == known[1]


# -- the whole import ------------------------------------------------------------------------


def _result(source: Any) -> tuple[Any, ...]:
    result = read_fhir_streamed(source)
    return result.episodes, dict(result.ignored), dict(result.unmapped), result.patients


def _whole(source: Any) -> tuple[Any, ...]:
    result = read_fhir(source)
    return result.episodes, dict(result.ignored), dict(result.unmapped), result.patients


class _NoItems(administrations_module.Administration):
    """An administration that remembers no QuestionnaireResponse items nor Observation
    codes: each is read again."""

    @property  # type: ignore[override]
    def qr_items(self) -> dict[int, Any]:
        return {}

    @qr_items.setter
    def qr_items(self, _value: Any) -> None:
        pass

    @property  # type: ignore[override]
    def codes(self) -> dict[int, Any]:
        return {}

    @codes.setter
    def codes(self, _value: Any) -> None:
        pass


def _uncached_entry(self: ResourceStore, seq: int, *, keep: bool = True) -> Entry | None:
    record = self._record(seq)
    return self._entry(seq, record) if record is not None else None


def _uncached_roles(self: ResourceStore, practitioner: int, tags: set[str]) -> list[int]:
    db = self._db
    first = db.execute("SELECT min(role) FROM roles WHERE prac = ?", (practitioner,)).fetchone()
    if first[0] is None:
        return []
    found = {int(first[0])}
    for tag in tags:
        cur = db.execute(
            "SELECT t.seq FROM tags t CROSS JOIN roles r "
            "WHERE t.tag = ? AND r.prac = ? AND r.role = t.seq",
            (tag, practitioner),
        )
        found.update(int(r[0]) for r in cur)
    return sorted(found)


def _mark_every_time(self: ResourceStore, seqs: list[int]) -> None:
    self._db.executemany("INSERT OR IGNORE INTO used VALUES (?)", [(s,) for s in seqs])


def _slow_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_shortcut(monkeypatch)
    # code systems looked up at each call
    monkeypatch.setattr(
        values_module,
        "_project_system",
        lambda name: (code_system_url(name), code_system(name)["concepts"]),
    )
    monkeypatch.setattr(
        administrations_module.Administration, "role_of", lambda _self, e: obs_role(e.resource)
    )
    monkeypatch.setattr(administrations_module, "Administration", _NoItems)
    # every reference string searched for its ``Type/id`` (no anchored match first)
    monkeypatch.setattr(index_module, "PLAIN_TYPE_ID", re.compile(r"(?!)"))
    # a measure's safety forms worked out on copies of it, the copy checked again
    monkeypatch.setattr(safety_module, "_with_forms", with_forms_by_copies)
    # the Episode's duplicate keys looked for with every path written
    monkeypatch.setattr(episode_module, "_duplicate_keys", duplicate_keys_with_paths)
    # the store looks every name up and reads every resource again
    monkeypatch.setattr(ResourceStore, "find", ResourceStore._find)
    monkeypatch.setattr(ResourceStore, "entry", _uncached_entry)
    monkeypatch.setattr(ResourceStore, "roles", _uncached_roles)
    monkeypatch.setattr(ResourceStore, "mark_used", _mark_every_time)
    # an entry's own identifiers parsed at each ask
    monkeypatch.setattr(Entry, "own_key", lambda self, *kinds: own_key(self.resource, *kinds))
    # a person's key found again at each reference
    for module in (people_module, sessions_module):
        monkeypatch.setattr(module, "entry_person_key", people_module._entry_person_key)
    # identifiers filed as each resource is added
    add = Index.add

    def add_and_file(self: Index, entry: Entry, position: int | None = None) -> None:
        add(self, entry, position)
        self._file_identifiers()

    monkeypatch.setattr(Index, "add", add_and_file)
    # a patient's resources added one at a time
    monkeypatch.setattr(
        GroupIndex,
        "add_members",
        lambda self, members: [(s, e) for s, e in members if self.add_at(e, s) is None],
    )
    # pass 1: every name worked out as the resource is stored, each origin read back from
    # its text, each patient reference resolved again for every resource
    store_add = ResourceStore.add

    def add_eagerly(
        self: ResourceStore, entry: Entry, seq: int, keys: list[str], *, identified: bool = False
    ) -> None:
        entry.line = 0  # (and so the line is copied to the store, not read again from its file)
        identifiers = entry.resource.get("identifier") if identified else None
        store_add(self, entry, seq, [*keys, *identifier_keys(entry.type, identifiers)])

    monkeypatch.setattr(ResourceStore, "add", add_eagerly)
    monkeypatch.setattr(stream_module, "_ANSWERS", 0)
    monkeypatch.setattr(
        stream_module,
        "_instrument_coded",
        lambda concept, _known: any(is_instrument_code(c) for _s, c in codings(concept)),
    )


def _fast_equals_slow(source: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    fast = _result(source)
    with monkeypatch.context() as patch:
        _slow_paths(patch)
        slow = _result(source)
    assert fast == slow
    assert fast == _whole(source)
    return fast


def test_fast_paths_equal_slow_paths_on_a_cohort(
    cohort: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episodes, _ignored, _unmapped, patients = _fast_equals_slow(cohort, monkeypatch)
    assert patients == 12 and len(episodes) == 12
    assert sum(len(e.measures) for e in episodes) > 0  # instrument roles were used
    assert sum(len(e.sessions) for e in episodes) > 0


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_fast_paths_equal_slow_paths_on_the_examples(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (episode,) = load_episodes(path)
    write_ndjson([episode], tmp_path / "ndjson")
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(orjson.dumps(transaction_bundle([episode])))
    for source in (tmp_path / "ndjson", bundle):
        episodes, _ignored, unmapped, _n = _fast_equals_slow(source, monkeypatch)
        assert episodes == [episode]  # and both read the example back exactly
        assert not unmapped


def test_there_are_two_examples() -> None:
    assert [p.name for p in EXAMPLE_FILES] == [
        "co-occurring-sud-iop.yaml",
        "mental-health-iop.yaml",
    ]


# -- pass 1: names on demand, deferred references as bytes, line numbers -----------------------


def _named(rtype: str, rid: str, identifiers: Any, origin: str = "f:1") -> Entry:
    resource: dict[str, Any] = {"resourceType": rtype, "id": rid}
    if identifiers is not None:
        resource["identifier"] = identifiers
    entry = Entry(resource, None, origin)
    try:
        entry.raw = orjson.dumps(resource)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the exact JSON reader's
        entry.raw = None
    return entry


NAMED = [
    _named("Patient", "p0", [{"system": "s", "value": "1"}, {"system": "t", "value": "2"}]),
    _named("Patient", "p1", {"system": "s", "value": "1"}),  # one identifier, not a list
    _named("Goal", "g0", [{"system": "s", "value": "1"}, "x", {"value": "3"}, {"system": 4}]),
    _named("Goal", "g1", [{"system": "u", "value": "9", "n": 10**30}]),  # only exact JSON
    _named("Goal", "g2", "not identifiers"),
    _named("Goal", "g3", None),
    _named("Condition", "c0", [{"system": "t", "value": "2"}, {"system": "\u00e9", "value": "é"}]),
]
LOOKUPS = [
    "i\x1fPatient\x1fs\x1f1",
    "a\x1fs\x1f1",
    "a\x1ft\x1f2",
    "i\x1fCondition\x1ft\x1f2",
    "i\x1fGoal\x1fs\x1f1",
    "i\x1fGoal\x1fu\x1f9",
    "a\x1fu\x1f9",
    "a\x1f\u00e9\x1fé",
    "i\x1fGoal\x1f\x1f3",
    "a\x1fs\x1f2",
    "u\x1furn:x",
]


def test_identifier_names_on_demand_equal_names_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store given each ``identifier`` element as it is answers every lookup as a store
    given the names :func:`entry_keys` works out at once (the first resource wins; the
    names go to the database a few at a time)."""
    monkeypatch.setattr(spill_module, "_BATCH", 2)
    answers = []
    for deferred in (False, True):
        with ResourceStore(identifier_names=identifier_keys) as store:
            for seq, entry in enumerate(NAMED):
                type_ids, others = entry_keys(entry)
                assert type_ids[0] == type_id_key(entry.type, str(entry.id))
                if deferred:
                    identified = entry.resource.get("identifier") is not None
                    store.add(entry, seq, [], identified=identified)
                else:
                    store.add(entry, seq, others)
            store.alias("u\x1furn:x", 3)
            store.seal()
            store.commit()
            answers.append([store.find(key) for key in LOOKUPS])
    assert answers[0] == answers[1]
    assert answers[1] == [0, 0, 0, 6, 2, 3, 3, 6, None, None, 3]  # no system: no name


def test_identifiers_need_a_way_to_name_them() -> None:
    with ResourceStore() as store, pytest.raises(ValueError):
        store.add(NAMED[0], 0, [], identified=True)


def test_deferred_references_come_back_as_bytes() -> None:
    """The same value comes back as the same bytes (a reader may remember answers by
    them), whatever the key order or escapes of the line it came from."""
    first = orjson.loads(b'{"reference":"\\u0050atient/\xc3\xa9"}')
    second = orjson.loads(b'{ "reference" : "Patient/\\u00e9" }')
    deferred: list[tuple[int, str, Any]] = [(0, "gCondition", first), (1, "gGoal", second)]
    deferred += [(2, "p", None), (3, "v", [{"reference": "Goal/1", "display": "a b"}, 5])]
    with ResourceStore() as store:
        for seq, kind, value in deferred:
            store.defer(seq, kind, value)
        for bad in ("", "two words", "line\nbreak"):
            with pytest.raises(ValueError):
                store.defer(4, bad, None)
        store.seal()
        raw = list(store.pending_raw())
        assert list(store.pending()) == deferred
    assert [(seq, kind) for seq, kind, _b in raw] == [(s, k) for s, k, _v in deferred]
    assert raw[0][2] == raw[1][2] == orjson.dumps({"reference": "Patient/é"})
    assert [orjson.loads(b) for _s, _k, b in raw] == [v for _s, _k, v in deferred]


def test_line_numbers_are_taken_not_read_back(tmp_path: Path) -> None:
    """NDJSON files whose names hold colons and digits (a file name may look like the end
    of another's origin): every origin comes back as the reader gave it."""
    names = ["a:1.ndjson", "a:1.ndjson:2.ndjson", "a:12.ndjson", "a.ndjson", "b:007.ndjson"]
    for i, name in enumerate(names):
        lines = [b'{"resourceType":"Basic","id":"%d-%d"}' % (i, n) for n in range(12)]
        lines.insert(3, b"")  # a blank line: numbers count it
        (tmp_path / name).write_bytes(b"\r\n".join(lines) + b"\n")
    entries = list(iter_entries(tmp_path, Counter()))
    assert all(e.line and e.origin.endswith(f":{e.line}") for e in entries)
    assert {e.line for e in entries} == {*range(1, 4), *range(5, 14)}
    with ResourceStore() as store:
        for seq, entry in enumerate(entries):
            store.add(entry, seq, [])
        store.seal()
        store.commit()
        back = [store.entry(seq, keep=False) for seq in range(len(entries))]
    assert [(b.origin, b.resource) if b else None for b in back] == [
        (e.origin, e.resource) for e in entries
    ]


def _tricky_folder(root: Path) -> Path:
    """NDJSON that trips pass 1: escaped, absolute, ``urn:``, conditional and logical
    references, one to a contained resource, subjects that are no patient, a duplicate,
    blank lines and CRLF line ends."""
    root.mkdir()
    own = identifier_system("patient")
    patients = [
        {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "mrn", "value": "1"}]},
        {"resourceType": "Patient", "id": "p2", "identifier": {"system": "mrn", "value": "2"}},
        {"resourceType": "Patient", "id": "p3", "identifier": [{"system": own, "value": "e/p"}]},
        {"resourceType": "Patient", "id": "p1"},  # a second copy: read once
    ]
    subjects: list[Any] = [
        "\\u0050atient/p1",  # escaped in the line: Patient/p1
        "Patient/p1",
        "http://example.org/fhir/Patient/p2",
        "urn:uuid:5b1f0c8e-0000-4000-8000-000000000001",  # names nobody: a group of its own
        "Patient?identifier=mrn|2",
        {"identifier": {"system": "mrn", "value": "1"}},  # logical
        {"type": "Patient", "identifier": {"system": "mrn", "value": "2"}},
        "Group/g1",  # not a patient (twice, by two types)
        "#pat",  # a Patient each of the two resources contains: two patients
        "Patient/p9",  # no such patient
        None,
    ]
    lines = [orjson.dumps(p) for p in patients]
    for i, subject in enumerate(subjects):
        for rtype in ("Condition", "Goal"):
            resource: dict[str, Any] = {"resourceType": rtype, "id": f"{rtype[0]}{i}"}
            if rtype == "Goal":
                resource["lifecycleStatus"] = "active"
                resource["description"] = {"text": "goal"}
            if i == 8:
                resource["contained"] = [{"resourceType": "Patient", "id": "pat"}]
            if isinstance(subject, str):
                resource["subject"] = {"reference": "SUBJECT"}
            elif subject is not None:
                resource["subject"] = subject
            line = orjson.dumps(resource)
            if isinstance(subject, str):
                line = line.replace(b"SUBJECT", subject.encode())
            lines.append(line)
    lines.insert(2, b"   ")
    lines.insert(5, b"")
    (root / "mixed.ndjson").write_bytes(b"\r\n".join(lines) + b"\r\n")
    return root


def test_pass1_fast_paths_on_tricky_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _tricky_folder(tmp_path / "tricky")
    fast = _result(source)
    with monkeypatch.context() as patch:
        _slow_paths(patch)
        slow = _result(source)
    assert fast == slow
    assert fast == _whole(source)  # read_fhir: the same episodes and counts
    episodes, _ignored, unmapped, patients = fast
    assert unmapped["duplicate resource (same type and id): read once"] == 1
    assert unmapped["Condition: subject is not a patient"] == 1
    assert unmapped["Goal: subject is not a patient"] == 1
    assert unmapped["Condition: no patient"] == unmapped["Goal: no patient"] == 1
    # p1 (escaped, plain, logical), p2 (absolute, conditional, typed logical), p3, groups
    # named by reference text only (the urn, Patient/p9), and the Patient "#pat" each of
    # Condition C8 and Goal G8 contains: read_fhir makes each container's its own patient
    assert patients == len(episodes) == 7
    assert sorted(len(e.other_goals) for e in episodes) == [0, 0, 1, 1, 1, 3, 3]
    assert [len(e.other_goals) for e in episodes if e.patient.key == "pat"] == [0, 1]
    assert unmapped["Condition: no coded code"] == 9  # every grouped one was read


@pytest.mark.parametrize("mask", [0, 7, (1 << 25) - 1])
def test_claims_the_filter_cannot_prove_new(mask: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the filter answers (``mask`` 0: every claim a "maybe"), a name's first
    claim wins, a second one gets the first seq (from the batch or from the database), and
    a "maybe" does not write the batch."""
    monkeypatch.setattr(store_module, "_BLOOM_MASK", mask)
    monkeypatch.setattr(store_module, "_CLAIMS", 4)
    names = [f"t\x1fPatient/p{i}" for i in range(10)]
    with ResourceStore() as store:
        for seq, name in enumerate(names[:3]):
            assert store.claim(name, seq) is None
        assert len(store._claims) == 3  # nothing written yet, "maybe" or not
        assert store.claim(names[1], 50) == 1  # in the batch
        for seq, name in enumerate(names[3:], 3):
            assert store.claim(name, seq) is None
        assert store.claim(names[0], 51) == 0  # written by now: the database answers
        assert store.claim(names[9], 52) == 9
        store.seal()
        store.commit()
        assert [store.find(name) for name in names] == list(range(10))
        assert store.find("t\x1fPatient/none") is None


def _copied_off_team(ctx: Any, session: Any) -> Any:
    """Round 4's ``_off_team_facilitator``: a checked copy of the session."""
    forms = session.written_forms()
    if "appointment" in forms:
        ctx.unmapped[
            "Appointment.participant.actor: facilitator not on the care team (dropped)"
        ] += 1
    update: dict[str, Any] = {"facilitator": None}
    if "encounter" in forms and not session.participants:
        update["participants"] = sessions_module.derived_participants(
            ctx, session.facilitator, session.attendees
        )
        if "appointment" not in forms:
            update["attendees"] = []
    copy = session.model_copy(update=update)
    copy.check()
    return copy


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_facilitators_off_the_team_read_as_before(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A care team that lists only the patient: every session's facilitator is off the
    team and dropped; the changed sessions, handed to the Episode as fields, read as the
    checked copies of round 4 did (both readers)."""
    (episode,) = load_episodes(path)
    root = tmp_path / "ndjson"
    write_ndjson([episode], root)
    teams = [orjson.loads(line) for line in (root / "CareTeam.ndjson").read_bytes().splitlines()]
    for team in teams:
        team["participant"] = [
            p for p in team.get("participant", []) if "Patient/" in str(p.get("member"))
        ]
    (root / "CareTeam.ndjson").write_bytes(b"\n".join(orjson.dumps(t) for t in teams) + b"\n")
    fast = _result(root)
    episodes, _ignored, unmapped, _n = fast
    assert unmapped["Appointment.participant.actor: facilitator not on the care team (dropped)"] > 0
    assert all(s.facilitator is None for e in episodes for s in e.sessions)
    assert any(s.participants for e in episodes for s in e.sessions)
    assert fast[0] == _whole(root)[0]
    with monkeypatch.context() as patch:
        patch.setattr(assemble_module, "_off_team_facilitator", _copied_off_team)
        assert _result(root) == fast
