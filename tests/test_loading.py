"""iopfhir.loading: bytes to JSON/YAML values under one rule, or a one-line LoadError that
names the origin and where, never the content."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iopfhir.errors import InputError, LoadError
from iopfhir.loading import (
    DEFAULT_LIMITS,
    Limits,
    decode,
    iter_json_lines,
    iter_json_stream,
    load_json,
    load_yaml,
)

MARKERS = ("ZZMARKER-PATIENT", "MRN-ZZ-0001", "tok-ZZ-secret")


def refused(load: Any, data: Any, **kwargs: Any) -> LoadError:
    """The error of ``load(data, 'in.x')``, checked for the rules every error keeps."""
    with pytest.raises(LoadError) as info:
        load(data, "in.x", **kwargs)
    error = info.value
    text = str(error)
    assert isinstance(error, InputError)
    assert text.startswith("in.x: "), text
    assert "\n" not in text and len(text) < 300, text
    for marker in MARKERS:
        assert marker not in text
        assert marker not in repr(error.issues)
    return error


def test_public_surface() -> None:
    import iopfhir.loading as loading

    assert loading.__all__ == [
        "DEFAULT_LIMITS",
        "Limits",
        "data_files",
        "data_kind",
        "decode",
        "iter_json_lines",
        "iter_json_stream",
        "load_json",
        "load_yaml",
        "open_data",
        "read_data",
    ]
    assert Limits() == DEFAULT_LIMITS
    with pytest.raises(AttributeError):
        DEFAULT_LIMITS.max_depth = 5  # type: ignore[misc]


# -- encodings --------------------------------------------------------------------------


@pytest.mark.parametrize("load", [load_json, load_yaml])
def test_utf8_with_and_without_bom(load: Any) -> None:
    text = '{"name": "Zoë 名前"}'
    assert load(text.encode(), "f") == {"name": "Zoë 名前"}
    assert load(b"\xef\xbb\xbf" + text.encode(), "f") == {"name": "Zoë 名前"}
    assert load("\ufeff" + text, "f") == {"name": "Zoë 名前"}


@pytest.mark.parametrize("load", [load_json, load_yaml, decode])
@pytest.mark.parametrize(
    ("codec", "name"),
    [
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-32-le", "UTF-32"),
        ("utf-32-be", "UTF-32"),
    ],
)
def test_utf16_and_utf32_refused_by_name(load: Any, codec: str, name: str) -> None:
    data = '{"name": "ZZMARKER-PATIENT"}'.encode(codec)
    error = refused(load, data)
    assert f"is {name}; iopfhir reads UTF-8" in str(error)


@pytest.mark.parametrize("load", [load_json, load_yaml, decode])
def test_invalid_utf8_names_line_and_byte(load: Any) -> None:
    data = b'{\n  "a": "ok",\n  "b": "MRN-ZZ-0001 \xe9t\xe9"\n}'
    error = refused(load, data)
    assert error.line == 3
    assert error.column == 21  # bytes: the quote is the 8th, the bad byte the 21st
    assert "line 3, column 21: is not valid UTF-8" in str(error)


@pytest.mark.parametrize("load", [load_json, load_yaml, decode])
def test_utf8_encoded_surrogate_refused(load: Any) -> None:
    refused(load, b'{"a": "\xed\xa0\x80"}')


def test_decode() -> None:
    assert decode(b"\xef\xbb\xbfabc", "f") == "abc"
    assert decode("é".encode(), "f") == "é"


# -- JSON -------------------------------------------------------------------------------


def test_json_values_as_orjson_reads_them() -> None:
    doc = {"a": [1, 2.5, None, True, "x:y", {"b": "\u2028"}], "c": {}}
    assert load_json(json.dumps(doc), "f") == doc
    assert load_json(json.dumps(doc).encode(), "f") == doc
    assert load_json(bytearray(json.dumps(doc).encode()), "f") == doc


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"x": [{"y": {"ZZMARKER-PATIENT": 1, "ZZMARKER-PATIENT": 1}}]}',
        '{"a\\"": 1, "a\\"": 2}',
        '{"k\\\\": 1, "k\\\\": 2}',
        '{"\\u0061": 1, "a": 2}',
        '{"\\u003a": ":", "\\u003a": ":"}',
        '{"a": {"b": 1}, "a": {"b": 1}}',
    ],
)
def test_json_duplicate_keys_refused_naming_the_object(text: str) -> None:
    error = refused(load_json, text)
    assert "an object repeats a key" in str(error)


def test_json_duplicate_key_path_names_known_keys_only() -> None:
    text = '{"entry": [{}, {"resource": {"ZZMARKER-PATIENT": {"id": 1, "id": 2}}}]}'
    error = refused(load_json, text, path_keys={"entry", "resource"})
    assert "$.entry[1].resource.<key 0>: an object repeats a key" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "x:y:z", "b": "::"}',
        '{"a": "\\u003a", "b": "\\\\u003a"}',
        '{"url": "http://x:80/a", "q": "\\"k\\": 1"}',
    ],
)
def test_colons_in_strings_are_not_duplicates(text: str) -> None:
    assert load_json(text, "f") == json.loads(text)


def test_json_nesting_limit() -> None:
    assert load_json("[" * 100 + "]" * 100, "f") is not None
    assert load_json("{}", "f", limits=Limits(max_depth=1)) == {}
    error = refused(load_json, "[" * 101 + "]" * 101)
    assert "nested deeper than 100 levels" in str(error)
    error = refused(load_json, '{"a":' * 101 + "1" + "}" * 101)
    assert "nested deeper than 100 levels" in str(error)
    # brackets inside strings are not nesting
    assert load_json('["' + "[" * 500 + '"]', "f") == ["[" * 500]
    refused(load_json, '[{"a":[' * 3 + "]}]" * 3, limits=Limits(max_depth=8))


@pytest.mark.parametrize("depth", [300, 2_000, 100_000])
def test_json_deep_nesting_is_an_input_error(depth: int) -> None:
    for text in ("[" * depth + "]" * depth, "[" * depth, '{"a":' * depth):
        assert "nested deeper" in str(refused(load_json, text)) or "not valid JSON" in str(
            refused(load_json, text)
        )


def test_json_number_limits() -> None:
    refused(load_json, "1" * 5000)
    refused(load_json, "[" + "7" * 5000 + "]")
    error = refused(load_json, "[" + "7" * 150 + "]")
    assert "more than 100 digits" in str(error)
    refused(load_json, "[1e400]")
    refused(load_json, "[0." + "1" * 150 + "]")
    # within the limit an integer is read exactly, as JSON wrote it (never as a float)
    assert load_json("[" + "7" * 100 + "]", "f") == [int("7" * 100)]
    assert load_json("-9223372036854775809", "f") == -9223372036854775809
    # a long run of digits inside a string is no number
    assert load_json('["' + "7" * 500 + '"]', "f") == ["7" * 500]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_refused(token: str) -> None:
    error = refused(load_json, f'{{"a": {token}}}')
    assert "NaN and Infinity are not JSON" in str(error)
    assert f"line 1, column {8 if token.startswith('-') else 7}" in str(error)


def test_json_lone_surrogates_refused() -> None:
    refused(load_json, '["\\ud800"]')
    refused(load_json, '["\\udc00x"]')
    refused(load_json, '["ok", "\ud800"]')  # in a Python str given directly
    assert load_json('["\\ud83d\\ude00"]', "f") == ["\U0001f600"]


def test_json_string_limits() -> None:
    limits = Limits(max_string_chars=10, max_data_chars=20)
    assert load_json('{"a": "' + "x" * 10 + '"}', "f", limits=limits) == {"a": "x" * 10}
    error = refused(load_json, '{"a": ["' + "x" * 11 + '"]}', limits=limits)
    assert "a string longer than 10 characters" in str(error)
    assert load_json('{"data": "' + "x" * 20 + '"}', "f", limits=limits)
    refused(load_json, '{"data": "' + "x" * 21 + '"}', limits=limits)
    refused(load_json, '{"' + "k" * 11 + '": 1}', limits=limits)


def test_json_default_string_limit_is_one_mebibyte() -> None:
    big = "x" * (1 << 20)
    assert load_json(json.dumps({"a": big}), "f") == {"a": big}
    error = refused(load_json, json.dumps({"a": big + "x"}))
    assert "a string longer than 1048576 characters" in str(error)
    assert load_json(json.dumps({"data": big * 2}), "f") == {"data": big * 2}


def test_a_narrative_is_bounded_as_data_not_as_a_string() -> None:
    """R4 bounds ``string`` at 1 MB, not ``xhtml``: the official CodeSystem
    ``dicom-dcim`` has a narrative of 1,140,310 characters."""
    div = '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * (1 << 20) + "</div>"
    doc = {"resourceType": "CodeSystem", "text": {"status": "generated", "div": div}}
    assert load_json(json.dumps(doc), "f") == doc
    assert [v for _, v in iter_json_lines(json.dumps(doc), "f")] == [doc]
    limits = Limits(max_string_chars=10, max_data_chars=20)
    assert load_json('{"div": "' + "x" * 20 + '"}', "f", limits=limits)
    error = refused(load_json, '{"div": "' + "x" * 21 + '"}', limits=limits)
    assert "a string longer than 20 characters" in str(error)
    refused(load_json, '{"status": "' + "x" * 11 + '"}', limits=limits)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "{", '{"a": }', "[1,]", "{'a': 1}", '{"a": 1} x', "tru", '"ZZMARKER-PATIENT'],
)
def test_json_syntax_errors_name_line_and_column(text: str) -> None:
    error = refused(load_json, text)
    assert "not valid JSON" in str(error)


def test_json_syntax_error_line_counts_from_the_given_line() -> None:
    error = refused(load_json, '{"a":\n tru}', line=40)
    assert error.line == 41
    assert "line 41, column 2" in str(error)


# -- NDJSON -----------------------------------------------------------------------------


def test_json_lines_one_rule_for_bytes_and_text() -> None:
    text = '\ufeff{"a": 1}\n\n{"b": "x\u2028y"}\r\n{"c": 3}\r{"d": 4}\n'
    want = [(1, {"a": 1}), (3, {"b": "x\u2028y"}), (4, {"c": 3}), (5, {"d": 4})]
    assert list(iter_json_lines(text, "f")) == want
    assert list(iter_json_lines(text.encode(), "f")) == want


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"a": NaN}', "NaN"),
        ('{"a": 1, "a": 1}', "repeats a key"),
        ('{"n": ' + "9" * 200 + "}", "digits"),
        ("[" * 101 + "]" * 101, "nested deeper"),
        ('{"ZZMARKER-PATIENT": tok-ZZ-secret}', "not valid JSON"),
    ],
)
def test_json_lines_errors_name_the_line(bad: str, reason: str) -> None:
    data = '{"ok": 1}\n\n' + bad + "\n"
    error = refused(lambda d, o: list(iter_json_lines(d, o)), data)
    assert error.line == 3
    assert reason in str(error)


def test_json_lines_utf16_refused() -> None:
    refused(lambda d, o: list(iter_json_lines(d, o)), '{"a": 1}\n'.encode("utf-16"))


# -- YAML -------------------------------------------------------------------------------


def test_yaml_dates_stay_strings_and_types_are_json_types() -> None:
    text = "d: 2026-01-05\nt: 2026-01-05T10:00:00-05:00\nn: 3\nf: 2.5\nb: yes\nz: ~\nl: [1, a]\n"
    assert load_yaml(text, "f") == {
        "d": "2026-01-05",
        "t": "2026-01-05T10:00:00-05:00",
        "n": 3,
        "f": 2.5,
        "b": True,
        "z": None,
        "l": [1, "a"],
    }
    assert load_yaml(b"", "f") is None


def test_yaml_uses_libyaml_when_there() -> None:
    from iopfhir import loading

    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(loading.yaml_values._Loader, yaml.CSafeLoader)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",
        "p:\n  ZZMARKER-PATIENT: 1\n  ZZMARKER-PATIENT: 2\n",
        "{a: 1, a: 1}",
        "1: a\n1: b\n",
    ],
)
def test_yaml_duplicate_keys_refused(text: str) -> None:
    error = refused(load_yaml, text)
    assert "a mapping repeats a key" in str(error)
    assert error.line is not None


def test_yaml_merge_keys_still_work() -> None:
    assert load_yaml("b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "f") == {
        "b": {"x": 1, "y": 2},
        "c": {"x": 1, "y": 3},
    }


def test_yaml_nesting_limit() -> None:
    assert load_yaml("[" * 100 + "]" * 100, "f") is not None
    error = refused(load_yaml, "[" * 101 + "]" * 101)
    assert "nested deeper than 100 levels" in str(error)
    block = "".join(" " * i + "a:\n" for i in range(150)) + " " * 150 + "a: 1\n"
    assert "nested deeper" in str(refused(load_yaml, block))


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_yaml_deep_nesting_is_an_input_error(depth: int) -> None:
    refused(load_yaml, "[" * depth + "]" * depth)
    refused(load_yaml, "- " * depth + "x")


def test_yaml_billion_laughs_bounded() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        refs = ", ".join([f"*{prev}"] * 9)
        lines.append(f"{name}: &{name} [{refs}]")
    error = refused(load_yaml, "\n".join(lines))
    assert "aliases expand to more than" in str(error)
    # a few aliases are fine
    assert load_yaml("a: &a [1, 2]\nb: [*a, *a]\n", "f") == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


def test_yaml_recursive_alias_refused() -> None:
    assert "contains it" in str(refused(load_yaml, "&a [*a]"))


def test_yaml_number_and_string_limits() -> None:
    assert "more than 100 digits" in str(refused(load_yaml, "x: " + "1" * 5000))
    refused(load_yaml, "x: 1." + "1" * 150)
    for token in (".nan", ".inf", "-.Inf", "1.0e+400"):
        assert "not JSON" in str(refused(load_yaml, f"x: {token}"))
    limits = Limits(max_string_chars=10, max_data_chars=20)
    assert load_yaml("a: " + "x" * 10, "f", limits=limits) == {"a": "x" * 10}
    assert "longer than 10" in str(refused(load_yaml, "a: " + "x" * 11, limits=limits))
    assert load_yaml("data: " + "x" * 20, "f", limits=limits)
    refused(load_yaml, "data: " + "x" * 21, limits=limits)


@pytest.mark.parametrize(
    "text",
    [
        "x: !!binary aGVsbG8=",
        "x: !!set {a, b}",
        "x: !!python/object/apply:os.system [ZZMARKER-PATIENT]",
        "x: !ZZMARKER-PATIENT 1",
        "x: !!timestamp 2026-01-01",
        "? [a, b]\n: 1\n",
        "key: [unclosed\n",
        "a: 'ZZMARKER-PATIENT\n",
        "\t- MRN-ZZ-0001",
        "a: *undefined_MRN-ZZ-0001",
        "--- 1\n--- 2\n",
    ],
)
def test_yaml_refusals_are_one_line_without_content(text: str) -> None:
    refused(load_yaml, text)


# -- any bytes --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_give_a_value_or_a_load_error(data: bytes) -> None:
    for load in (load_json, load_yaml, lambda d, o: list(iter_json_lines(d, o))):
        message = ""
        try:
            load(data, "in.x")
        except LoadError as error:
            message = str(error)
        assert "\n" not in message
        assert not message or message.startswith("in.x: ")


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_valid_json_reads_as_the_standard_library_reads_it(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert load_json(text.encode(), "f") == json.loads(text)
    assert load_json(json.dumps(value), "f") == value


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "a:b", '"', "\\"]), json_scalars), max_size=6
    )
)
def test_duplicate_detection_is_exact(pairs: list[tuple[str, Any]]) -> None:
    text = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"
    duplicated = len({k for k, _v in pairs}) < len(pairs)
    if duplicated:
        refused(load_json, text)
    else:
        assert load_json(text, "f") == dict(pairs)


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet='[]{}":,a1 \\', max_size=60),
)
def test_bracket_soup_never_escapes(text: str) -> None:
    try:
        value = load_json(text, "in.x")
    except LoadError:
        return
    assert value == json.loads(text)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=2))
def test_a_long_string_is_found_wherever_it_is(before: int, extra: int) -> None:
    limits = Limits(max_string_chars=64, max_data_chars=64)
    doc = {"a": [{"k": f"v{i}"} for i in range(before)], "b": "x" * (64 + extra), "c": [1] * 50}
    if extra:
        refused(load_json, json.dumps(doc), limits=limits)
    else:
        assert load_json(json.dumps(doc), "f", limits=limits) == doc


def test_yaml_aliases_in_proportion_to_the_document_are_read() -> None:
    # PyYAML writes a repeated object once and aliases it: a real file may hold many
    shared = {f"k{i}": [{"a": i, "b": [1, 2, 3]}] * 3 for i in range(2_000)}
    text = yaml.safe_dump({"one": shared, "two": shared, "three": shared})
    assert "*id" in text
    assert load_yaml(text, "f") == {"one": shared, "two": shared, "three": shared}
    with pytest.raises(LoadError):
        load_yaml(text, "f", limits=Limits(max_alias_nodes=10, max_alias_ratio=1))


# -- NDJSON from a stream: the same rule as from bytes, whatever the block size --------------


def _outcome(read: Any) -> Any:
    try:
        return ("ok", list(read()))
    except LoadError as exc:
        return ("error", str(exc))


_LINES = st.lists(
    st.sampled_from(
        ['{"a": 1}', '{"b": [1, 2]}', "", "   ", '{"a": 1, "a": 2}', "{oops", '{"s": "x\u2028y"}']
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    lines=_LINES,
    ends=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=8, max_size=8),
    bom=st.booleans(),
    block=st.integers(1, 9),
)
def test_a_stream_reads_as_its_bytes_read(
    lines: list[str], ends: list[str], bom: bool, block: int
) -> None:
    text = "".join(line + end for line, end in zip(lines, ends, strict=False))
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    whole = _outcome(lambda: iter_json_lines(data, "f"))
    streamed = _outcome(lambda: iter_json_stream(io.BytesIO(data), "f", block=block))
    assert streamed == whole


def test_a_stream_refuses_other_encodings_by_name() -> None:
    data = '{"a": 1}\n'.encode("utf-16")
    with pytest.raises(LoadError, match="UTF-16"):
        list(iter_json_stream(io.BytesIO(data), "f"))
