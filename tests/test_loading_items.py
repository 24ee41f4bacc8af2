"""iopfhir.loading.items: a list document read one item at a time gives exactly what the
whole-document readers give, with the same rule, places in the whole file, and memory
that follows the largest item rather than the file."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from iopfhir.domain.files import iter_episodes, parse_episodes, read_structured
from iopfhir.errors import EpisodeInputError, LoadError
from iopfhir.loading import load_json, load_yaml
from iopfhir.loading.items import iter_json_items, iter_yaml_items

_text = st.text(alphabet=st.sampled_from([*list('ab "\\[]{},:\n\té€😀'), "\u2028"]), max_size=12)
_scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | _text
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


def _json_items(data: bytes, **kwargs: Any) -> list[tuple[tuple[Any, ...], Any]]:
    return list(iter_json_items(io.BytesIO(data), "f.json", **kwargs))


def _yaml_items(data: bytes) -> list[tuple[tuple[Any, ...], Any]]:
    return list(iter_yaml_items(io.BytesIO(data), "f.yaml"))


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(_values, max_size=6),
    wrapped=st.booleans(),
    indent=st.sampled_from([None, 1, 2]),
    block=st.integers(1, 64),
)
def test_json_items_equal_the_whole_document(
    items: list[Any], wrapped: bool, indent: int | None, block: int
) -> None:
    # small blocks put every item bound, string and escape across a refill somewhere
    document: Any = {"episodes": items} if wrapped else items
    data = json.dumps(document, indent=indent, ensure_ascii=False).encode()
    got = _json_items(data, block=block)
    whole = load_json(data, "f")
    expected = whole["episodes"] if wrapped else whole
    prefix: tuple[Any, ...] = ("episodes",) if wrapped else ()
    assert got == [((*prefix, i), item) for i, item in enumerate(expected)]
    assert expected == items


@settings(max_examples=100, deadline=None)
@given(items=st.lists(_values, max_size=5), wrapped=st.booleans(), flow=st.booleans())
def test_yaml_items_equal_the_whole_document(items: list[Any], wrapped: bool, flow: bool) -> None:
    document: Any = {"episodes": items} if wrapped else items
    data = yaml.safe_dump(document, allow_unicode=True, default_flow_style=flow).encode()
    whole = load_yaml(data, "f")
    expected = whole["episodes"] if wrapped else whole
    got = _yaml_items(data)
    assert [value for _path, value in got] == expected == items
    assert [path for path, _value in got] == [
        (*(("episodes",) if wrapped else ()), i) for i in range(len(items))
    ]


@pytest.mark.parametrize(
    "data",
    [b'{"patient": {"a": 1}}', b'"text"', b"3", b'{"episodes": 3}', b'{"b": 1, "episodes": []}'],
)
def test_json_other_shapes_come_whole(data: bytes) -> None:
    assert _json_items(data) == [((), load_json(data, "f"))]


@pytest.mark.parametrize(
    "data", [b"patient: {a: 1}\n", b"3\n", b"episodes: 3\n", b"b: 1\nepisodes: []\n", b""]
)
def test_yaml_other_shapes_come_whole(data: bytes) -> None:
    assert _yaml_items(data) == [((), load_yaml(data, "f"))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1 2]", "line 1: not valid JSON (expected ',' or ']')"),
        (b"[1,\n]", "line 2: not valid JSON (a value is missing)"),
        (b'{"episodes": [1],\n "x": 2}', "line 2: a key beside 'episodes'"),
        (b'{"episodes": [1]\n "x": 2}', "line 2: a key beside 'episodes'"),
        (b"[1]\nx", "line 2: not valid JSON (data after the document)"),
        (b'[\n  {"a": 1, "a": 2}\n]', "line 2: $[0]: an object repeats a key"),
        (b'[{"a": 1},\n {"b":\n "\xff"}]', "line 3, column 3: is not valid UTF-8"),
        (b"\xff\xfe[\x001\x00]\x00", "is UTF-16; iopfhir reads UTF-8"),
        (b'[1, {"b": x}]', "line 1, column 11: not valid JSON"),
        (b"[" * 200 + b"]" * 200, "nested deeper than 100 levels"),
        (b"[1, ", "not valid JSON (a value is missing)"),
    ],
)
def test_json_errors_name_the_place_in_the_file(data: bytes, message: str) -> None:
    with pytest.raises(LoadError) as caught:
        _json_items(data)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"episodes: [1]\nx: 2\n", "line 2: a key beside 'episodes'"),
        (b"- 1\n- {a: 1, a: 2}\n", "line 2: a mapping repeats a key"),
        (b"- 1\n---\n- 2\n", "line 2: not valid YAML (more than one document)"),
        (b"- 1\n- \xff\n", "line 2, column 3: is not valid UTF-8"),
        (b"- " + b"[" * 500 + b"]" * 500, "nested deeper than 100 levels"),
        (b"- !!python/object:os.system 1\n", "line 1: a YAML type that JSON cannot hold"),
    ],
)
def test_yaml_errors_name_the_place_in_the_file(data: bytes, message: str) -> None:
    with pytest.raises(LoadError) as caught:
        _yaml_items(data)
    assert message in str(caught.value)


def test_no_error_repeats_the_input() -> None:
    for data in (b'[{"ZZMARKER": 1, "ZZMARKER": 2}]', b'{"episodes": [], "ZZMARKER": 1}'):
        with pytest.raises(LoadError) as caught:
            _json_items(data)
        assert "ZZMARKER" not in str(caught.value)


def _cohort(n: int) -> list[dict[str, Any]]:
    example = Path(__file__).parents[1] / "src/iopfhir/examples/mental-health-iop.yaml"
    first = read_structured(example)
    one = first[0] if isinstance(first, list) else first
    out = []
    for i in range(n):
        episode = json.loads(json.dumps(one))
        episode["key"] = f"episode-{i}"
        out.append(episode)
    return out


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_file_of_many_episodes_reads_like_the_whole(tmp_path: Path, suffix: str) -> None:
    cohort = _cohort(5)
    path = tmp_path / f"many{suffix}"
    text = (
        json.dumps({"episodes": cohort}, indent=1)
        if suffix == ".json"
        else yaml.safe_dump({"episodes": cohort}, sort_keys=False)
    )
    path.write_text(text, encoding="utf-8")
    streamed = list(iter_episodes(path))
    assert streamed == parse_episodes(read_structured(path), source=str(path))
    assert [e.key for e in streamed] == [f"episode-{i}" for i in range(5)]


def test_a_bad_episode_in_a_file_is_named_by_its_path(tmp_path: Path) -> None:
    cohort = _cohort(3)
    cohort[2]["patient"]["gender"] = "ZZMARKER"
    path = tmp_path / "many.json"
    path.write_text(json.dumps(cohort), encoding="utf-8")
    with pytest.raises(EpisodeInputError) as caught:
        list(iter_episodes(path))
    assert "$[2].patient.gender" in str(caught.value)
    assert "ZZMARKER" not in str(caught.value)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_memory_follows_the_episode_not_the_file(tmp_path: Path, suffix: str) -> None:
    """Peak traced memory of reading a file of 40 episodes item by item stays well under
    that of reading the same file whole (the whole read holds every episode at once)."""
    cohort = _cohort(40)
    path = tmp_path / f"many{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(cohort), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(cohort, sort_keys=False), encoding="utf-8")

    def peak(job: Any) -> int:
        tracemalloc.start()
        try:
            job()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def streamed() -> None:
        for _episode in iter_episodes(path):
            pass

    def whole() -> None:
        parse_episodes(read_structured(path), source=str(path))

    streamed_peak, whole_peak = peak(streamed), peak(whole)
    assert streamed_peak * 4 < whole_peak, (streamed_peak, whole_peak)
