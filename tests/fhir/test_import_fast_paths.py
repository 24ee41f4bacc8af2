"""The import's fast paths against the slow paths they stand for.

- the checked NDJSON line kept as bytes (``iter_json_stream_raw``) and parsed again without
  the checks (``loads_checked``) gives the value the checked reader gave, on the corpus'
  NDJSON, on a synthetic cohort and on adversarial lines (BOM, ``\\r\\n`` and ``\\r`` line
  ends, integers beyond 64 bits, escaped colons, long digit runs in strings); every error
  is the checked reader's;
- the shortcut of the string-length check still refuses a string over the limit;
- the store keeps the line (or compact JSON, or text for integers beyond 64 bits) and
  gives back equal resources; its Bloom filter of ``Type/id`` claims finds exactly the
  duplicates the database finds, even when nearly every name is a false positive;
- the streaming reader equals ``read_fhir`` on adversarial input;
- the reader's shortcuts equal what they replace (derived participants, cached ``Code``,
  cached ``Type/id`` parse), and the collector's thresholds are the caller's again.
"""

from __future__ import annotations

import gc
import io
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.domain import Code, Coding, SessionParticipant
from iopfhir.errors import FhirInputError, LoadError
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS, write_ndjson
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_stream, read_fhir_streamed
from iopfhir.fhir.read import store as store_module
from iopfhir.fhir.read.assemble import EpisodeReader
from iopfhir.fhir.read.index import TYPE_ID, _type_id
from iopfhir.fhir.read.sessions import _as_derived, derived_participants
from iopfhir.fhir.read.source import Entry, iter_entries
from iopfhir.fhir.read.store import ResourceStore
from iopfhir.fhir.read.values import first_code
from iopfhir.loading import Limits, iter_json_stream
from iopfhir.loading.json_values import iter_json_stream_raw, loads_checked
from iopfhir.synth import synth_episodes


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten synthetic patients as NDJSON, one file per type."""
    root = tmp_path_factory.mktemp("fast") / "ndjson"
    write_ndjson(list(synth_episodes(10, seed=11)), root)
    return root


def _corpus_ndjson() -> list[Path]:
    value = os.environ.get("IOPFHIR_CORPUS")
    if not value:
        return []
    return sorted(Path(value).rglob("*.ndjson"))[:40]


def _adversarial_lines(cohort: Path) -> list[bytes]:
    """Cohort lines made awkward: big integers, escaped colons, digit runs in strings."""
    lines = [line for p in sorted(cohort.glob("*.ndjson")) for line in p.read_bytes().splitlines()][
        :60
    ]
    out = list(lines)
    for i, line in enumerate(lines[:12]):
        doc = json.loads(line)
        doc["id"] = f"adv{i}"
        if i % 3 == 0:
            doc["extension"] = [{"url": "http://x.org/big", "valueInteger": 10**25 + i}]
        elif i % 3 == 1:
            doc["extension"] = [{"url": "http://x.org/c\\u003ab", "valueString": "9" * 40}]
        else:
            doc["extension"] = [{"url": "http://x.org/d", "valueDecimal": 1.5e300}]
        text = json.dumps(doc, ensure_ascii=i % 2 == 0)
        out.append(text.replace("c\\\\u003ab", "c\\u003ab").encode())
    return out


def _both(data: bytes, limits: Limits | None = None) -> tuple[list[Any], list[Any]]:
    kwargs: dict[str, Any] = {"path_keys": FHIR_PATH_KEYS}
    if limits is not None:
        kwargs["limits"] = limits
    slow = list(iter_json_stream(io.BytesIO(data), "<t>", **kwargs))
    fast = list(iter_json_stream_raw(io.BytesIO(data), "<t>", **kwargs))
    return slow, fast


def _check_raw(data: bytes) -> int:
    """Every raw line parses again to the checked value; returns how many had no raw."""
    slow, fast = _both(data)
    assert [(n, v) for n, v, _r in fast] == slow
    exact = 0
    for (_n, value, raw), (_m, checked) in zip(fast, slow, strict=True):
        if raw is None:
            exact += 1
            continue
        assert loads_checked(raw) == checked == value
        assert not raw.endswith((b"\r", b"\n")) and not raw.startswith(b"\xef\xbb\xbf")
    return exact


def test_raw_lines_parse_to_the_checked_value(cohort: Path) -> None:
    for path in [*sorted(cohort.glob("*.ndjson")), *_corpus_ndjson()]:
        assert _check_raw(path.read_bytes()) == 0


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_raw_lines_on_adversarial_input(cohort: Path, newline: bytes) -> None:
    lines = _adversarial_lines(cohort)
    data = b"\xef\xbb\xbf" + newline.join(lines) + newline + newline
    exact = _check_raw(data)
    # integers beyond 64 bits (4 lines) and 19+ digit runs in strings (4) take the exact
    # reader; their values are the standard library's
    assert exact == 8
    _slow, fast = _both(data)
    big = [v["extension"][0] for _n, v, r in fast if r is None]
    assert sorted(e.get("valueInteger", 0) > 2**64 for e in big) == [False] * 4 + [True] * 4


@pytest.mark.parametrize(
    "bad",
    [
        b'{"resourceType": "Patient", "id": "a", "id": "b"}',
        b'{"resourceType": "Patient", "x": ' + b"[" * 120 + b"]" * 120 + b"}",
        b'{"resourceType": "Patient", "n": ' + b"1" * 120 + b"}",
        b'{"resourceType": "Patient", "n": NaN}',
        b'{"resourceType": "Patient", "s": "\xff"}',
        b'{"resourceType": "Patient"',
    ],
)
def test_raw_reader_raises_what_the_checked_reader_raises(bad: bytes) -> None:
    data = b'{"resourceType": "Patient", "id": "ok"}\n' + bad + b"\n"
    errors = []
    for reader in (iter_json_stream, iter_json_stream_raw):
        with pytest.raises(LoadError) as caught:
            list(reader(io.BytesIO(data), "<t>", path_keys=FHIR_PATH_KEYS))
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert ":2" in errors[0] or "line 2" in errors[0]


@pytest.mark.parametrize("length", [19, 20, 21, 60])
def test_string_limit_with_short_output(length: int) -> None:
    """The output is shorter than the limit only when no string can exceed it; a string
    or key one character over is refused either way."""
    limits = Limits(max_string_chars=20)
    for doc in ({"s": "x" * length}, {"k" * length: 1}, {"a": ["b", "é" * length]}):
        data = json.dumps(doc).encode() + b"\n"
        if length > 20:
            with pytest.raises(LoadError):
                _both(data, limits)
        else:
            slow, fast = _both(data, limits)
            assert [(n, v) for n, v, _r in fast] == slow == [(1, doc)]


def _entries(cohort: Path) -> list[Entry]:
    return list(iter_entries(cohort, Counter()))


def test_store_gives_back_equal_resources(cohort: Path) -> None:
    entries = _entries(cohort)
    assert all(e.raw is not None for e in entries)
    big = Entry({"resourceType": "Basic", "id": "big", "n": 10**30}, None, "<t>")
    plain = [Entry(e.resource, e.full_url, e.origin) for e in entries[:50]]  # no raw: dumps
    with ResourceStore() as store:
        for seq, entry in enumerate([*entries, *plain, big]):
            store.add(entry, seq, [])
        store.seal()
        store.commit()
        for seq, entry in enumerate([*entries, *plain, big]):
            back = store.entry(seq)
            assert back is not None
            assert back.resource == entry.resource
            assert (back.full_url, back.origin, back.type) == (
                entry.full_url,
                entry.origin,
                entry.type,
            )
        back = store.entry(len(entries) + len(plain))
        assert back is not None and back.resource["n"] == 10**30


def _with_duplicates(cohort: Path, root: Path) -> Path:
    """The cohort plus copies of some of its resources (same Type/id, other content)."""
    root.mkdir()
    for path in sorted(cohort.glob("*.ndjson")):
        lines = path.read_bytes().splitlines()
        copies = []
        for line in lines[::7]:
            doc = json.loads(line)
            doc.setdefault("meta", {})["versionId"] = "2"
            copies.append(json.dumps(doc).encode())
        (root / path.name).write_bytes(b"\n".join([*copies, *lines, *copies]) + b"\n")
    return root


def _result(source: Any) -> tuple[list[Any], dict[str, int], dict[str, int], int]:
    result = read_fhir_streamed(source)
    return (result.episodes, dict(result.ignored), dict(result.unmapped), result.patients)


def test_bloom_filter_finds_exactly_the_duplicates(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _with_duplicates(cohort, tmp_path / "dups")
    normal = _result(source)
    assert normal[2]["duplicate resource (same type and id): read once"] > 0
    monkeypatch.setattr(store_module, "_BLOOM_MASK", 7)  # nearly every claim a "maybe"
    assert _result(source) == normal
    whole = read_fhir(source)
    assert normal == (whole.episodes, dict(whole.ignored), dict(whole.unmapped), whole.patients)


def test_stream_equals_read_fhir_on_adversarial_input(cohort: Path, tmp_path: Path) -> None:
    lines = _adversarial_lines(cohort)
    patients = (cohort / "Patient.ndjson").read_bytes().splitlines()
    others = [
        line
        for p in sorted(cohort.glob("*.ndjson"))
        if p.stem != "Patient"
        for line in p.read_bytes().splitlines()
    ]
    mixed = tmp_path / "mixed.ndjson"  # patients last, a BOM, \r\n, big integers, copies
    mixed.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join([*others, *lines, *patients, *lines]))
    resources = [json.loads(line) for line in others[:20]]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)],
    }
    (tmp_path / "z-bundle.ndjson").write_bytes(json.dumps(bundle).encode() + b"\n")
    for source in (mixed, tmp_path):
        whole = read_fhir(source)
        streamed = read_fhir_streamed(source)
        assert streamed.patients == whole.patients == 10
        assert streamed.episodes == whole.episodes
        assert dict(streamed.ignored) == dict(whole.ignored)
        assert dict(streamed.unmapped) == dict(whole.unmapped)


def test_errors_still_raised_before_any_episode(cohort: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    good = (cohort / "Patient.ndjson").read_bytes()
    bad.write_bytes(good + b'{"resourceType": "Patient", "id": "x", "id": "y"}\n')
    episodes = read_fhir_stream(bad)
    with pytest.raises(FhirInputError, match="repeats a key"):
        next(episodes)


def test_derived_participants_shortcut() -> None:
    class Ctx:
        patient_key = "pat"

    v3 = derived_participants(Ctx(), "f", ["a"])[0].types[0].system  # type: ignore[arg-type]
    people = ["f", "a", "b", "pat"]
    kinds = [
        [Code(system=v3, code="PPRF")],
        [Code(system=v3, code="PART")],
        [Code(system=v3, code="PART", display="participation")],
        [Code(system="http://other", code="PART")],
        [Code(system=v3, code="PART"), Code(system=v3, code="PPRF")],
        [],
    ]
    cases = 0
    for facilitator in (None, "f", "pat", "a"):
        for attendees in ([], ["a"], ["a", "b"], ["b", "pat", "f"]):
            derived = derived_participants(Ctx(), facilitator, attendees)  # type: ignore[arg-type]
            candidates = [derived, derived[:-1], derived[::-1]]
            candidates += [[SessionParticipant(member=m, types=t)] for m in people for t in kinds]
            candidates += [[*derived, SessionParticipant(member="b", types=kinds[1])]]
            for participants in candidates:
                expected = participants == derived
                assert _as_derived(Ctx(), participants, facilitator, attendees) is expected  # type: ignore[arg-type]
                cases += expected
    assert cases > 10


def _first_code_plainly(concepts: Any) -> Code | None:
    """What ``first_code`` answers, without its fast path and cache: the first coding with
    a system and a code of the first concept holding one, the concept's other such codings
    and its text (when not the display)."""
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if not isinstance(concept, dict):
            continue
        # a Coding given where a concept is (Encounter.class) is its own one coding
        items = concept.get("coding", [concept])
        valid = [
            c for c in items
            if isinstance(c, dict) and all(
                isinstance(c.get(k), str) and c[k].strip() for k in ("system", "code")
            )
        ]  # fmt: skip
        if valid:
            kept, *others = valid
            display = kept.get("display") or None
            label = (concept.get("text") or None) if "coding" in concept else None
            return Code(
                system=kept["system"],
                code=kept["code"],
                display=display,
                also=tuple(
                    Coding(system=c["system"], code=c["code"], display=c.get("display") or None)
                    for c in others
                ),
                text=label,
            )
    return None


def test_cached_codes_and_type_ids(cohort: Path) -> None:
    concepts = []
    for entry in _entries(cohort):
        for key in ("code", "type", "class", "category", "serviceType"):
            if entry.resource.get(key) is not None:
                concepts.append(entry.resource[key])
    concepts += [{"coding": [{"system": " ", "code": "x"}, {"system": "s", "code": "c"}]}]
    for concept in concepts:
        code = first_code(concept)
        again = first_code(concept)
        assert code == again
        assert code == _first_code_plainly(concept)
    refs = [
        "Patient/1",
        "http://x.org/fhir/Patient/1/_history/2",
        "Patient/1/extra",
        "patient/1",
        "urn:uuid:1",
        "Patient/" + "a" * 65,
        "Observation/a.b-c",
    ]
    for entry in _entries(cohort):
        text = orjson.dumps(entry.resource).decode()
        refs += [part.split('"')[0] for part in text.split('"reference":"')[1:]]
    for ref in refs:
        match = TYPE_ID.search(ref)
        assert _type_id(ref) == (f"{match.group(1)}/{match.group(2)}" if match else None)


def test_collector_thresholds_are_the_callers(cohort: Path) -> None:
    before = gc.get_threshold()
    seen = []
    for _episode in read_fhir_stream(cohort, ImportResult()):
        seen.append(gc.get_threshold())
    assert seen and all(t == before for t in seen)
    assert gc.get_threshold() == before
    gc.set_threshold(0)
    try:
        for _episode in read_fhir_stream(cohort):
            assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_one_episode_of_care_takes_every_resource(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one EpisodeOfCare the reader skips the assigner: it would answer that one for
    every resource and administration (checked here on each such patient)."""
    original = EpisodeReader._episodes
    checked = 0

    def spy(self: EpisodeReader, parts: Any, group: Any) -> Any:
        nonlocal checked
        eocs = [e for e in group.entries if e.type == "EpisodeOfCare"]
        if len(eocs) == 1:
            assign = self._assigner(group, eocs)
            assert all(assign(e) is eocs[0] for e in group.entries)
            assert all(assign(e) is eocs[0] for adm in parts[0][2] for e in adm.entries)
            assert [(p[0], p[1]) for p in parts] == [(eocs[0], group.entries)]
            checked += 1
        return original(self, parts, group)

    monkeypatch.setattr(EpisodeReader, "_episodes", spy)
    sources: list[Any] = [cohort, _with_duplicates(cohort, tmp_path / "dups")]
    corpus = os.environ.get("IOPFHIR_CORPUS")
    if corpus:
        sources.append(Path(corpus) / "synthea" / "synthea-v2.4-2019-smart")
    for source in sources:
        read_fhir(source)
        read_fhir_streamed(source)
    assert checked >= 40
