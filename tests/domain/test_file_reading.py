"""Episode files from bytes: one reading rule (iopfhir.loading) for YAML and JSON, and
messages that say where, never what (no values, no keys the input invented)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from domain_support import EXAMPLE, example_data
from domain_support import error_of as _error

from iopfhir.domain import load_episodes, parse_episodes
from iopfhir.errors import EpisodeInputError

MARKERS = ("ZZMARKER-PATIENT", "MRN-ZZ-0001", "tok-ZZ-secret")


def _file_error(path: Path) -> EpisodeInputError:
    with pytest.raises(EpisodeInputError) as info:
        load_episodes(path)
    error = info.value
    message = str(error)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and len(message) < 400, message
    for marker in MARKERS:
        assert marker not in message
        assert marker not in repr(error.issues)
    return error


def _marked() -> dict[str, Any]:
    data = example_data()
    data["patient"]["name"] = {"family": "ZZMARKER-PATIENT", "given": ["tok-ZZ-secret"]}
    data["patient"]["identifiers"][0]["value"] = "MRN-ZZ-0001"
    return data


def test_example_reads_the_same_as_before(tmp_path: Path) -> None:
    as_json = tmp_path / "e.json"
    as_json.write_text(json.dumps(example_data()), encoding="utf-8")
    assert load_episodes(as_json) == load_episodes(EXAMPLE)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_bom_accepted(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(example_data()).encode())
    assert len(load_episodes(path)) == 1


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("codec", ["utf-16", "utf-32-be"])
def test_other_encodings_refused_by_name(tmp_path: Path, suffix: str, codec: str) -> None:
    path = tmp_path / f"e{suffix}"
    path.write_bytes(json.dumps(_marked()).encode(codec))
    name = "UTF-16" if codec.startswith("utf-16") else "UTF-32"
    assert f"is {name}; iopfhir reads UTF-8" in str(_file_error(path))


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_invalid_utf8_names_the_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    text = json.dumps(_marked(), indent=1)
    path.write_bytes(text.replace('"ZZMARKER-PATIENT"', '"ZZMARKER-PATIENT\xe9"').encode("latin-1"))
    error = _file_error(path)
    line = text[: text.index("ZZMARKER")].count("\n") + 1
    assert f"line {line}, column" in str(error)


def test_yaml_duplicate_key_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    text = yaml.safe_dump(_marked(), sort_keys=False)
    text = text.replace("patient:\n", "patient:\n  ZZMARKER-PATIENT: 1\n  ZZMARKER-PATIENT: 2\n", 1)
    path.write_text(text, encoding="utf-8")
    error = _file_error(path)
    line = text.splitlines().index("  ZZMARKER-PATIENT: 2") + 1
    assert f"line {line}: a mapping repeats a key" in str(error)


def test_json_duplicate_key_names_the_object(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    text = json.dumps(_marked()).replace(
        '"family": "ZZMARKER-PATIENT"', '"family": "ZZMARKER-PATIENT", "family": "x"'
    )
    path.write_text(text, encoding="utf-8")
    assert "$.patient.name: an object repeats a key" in str(_file_error(path))


@pytest.mark.parametrize(
    ("suffix", "text", "reason"),
    [
        (".yaml", "[" * 5000 + "]" * 5000, "nested deeper"),
        (".yaml", "- " * 5000 + "x", "nested deeper"),
        (".json", "[" * 100_000 + "]" * 100_000, "nested deeper"),
        (".json", '{"key": ' + "9" * 5000 + "}", "number"),
        (".yaml", "key: " + "9" * 5000, "number"),
        (
            ".yaml",
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, n in zip("abcde", "bcdef", strict=True)
            ),
            "aliases",
        ),
        (".yaml", "key: .nan", "not JSON"),
        (".json", '{"key": NaN}', "NaN"),
        (".yaml", "key: !!python/object/apply:os.system [ZZMARKER-PATIENT]", "YAML type"),
        (".yaml", "key: [ZZMARKER-PATIENT\n", "not valid YAML"),
        (".json", '{"key": "ZZMARKER-PATIENT"', "not valid JSON"),
    ],
)
def test_limits_and_bad_syntax_are_input_errors(
    tmp_path: Path, suffix: str, text: str, reason: str
) -> None:
    path = tmp_path / f"e{suffix}"
    path.write_text(text, encoding="utf-8")
    assert reason in str(_file_error(path))


def test_unknown_key_says_where_not_what(data: dict[str, Any]) -> None:
    data["patient"]["ZZMARKER-PATIENT" * 1000] = "MRN-ZZ-0001"
    error = _error(data)
    assert error.path == "$.patient"
    assert str(error).endswith("$.patient: unknown key")
    assert "ZZMARKER" not in str(error)


def test_unknown_key_without_the_schema_pass(data: dict[str, Any]) -> None:
    data["sessions"][2]["ZZMARKER-PATIENT"] = 1
    with pytest.raises(EpisodeInputError) as info:
        parse_episodes(data, source="e.yaml", schema_check=False)
    assert info.value.path == "$.sessions[2]"
    assert "ZZMARKER" not in str(info.value)
    assert "unknown key" in str(info.value)


@pytest.mark.parametrize(
    ("field", "path"),
    [
        (("sessions", 3, "facilitator"), "$.sessions[3].facilitator"),
        (("care_manager",), "$.care_manager"),
        (("measures", 1, "session"), "$.measures[1].session"),
        (("care_plans", 0, "addresses", 0), "$.care_plans[0].addresses[0]"),
    ],
)
def test_dangling_reference_says_where_not_what(
    data: dict[str, Any], field: tuple[Any, ...], path: str
) -> None:
    node: Any = data
    for part in field[:-1]:
        node = node[part]
    node[field[-1]] = "MRN-ZZ-0001"
    error = _error(data)
    assert error.path == path
    assert "names no " in str(error)
    assert "MRN-ZZ-0001" not in str(error)


def test_dangling_facilitator_message(data: dict[str, Any]) -> None:
    data["sessions"][3]["facilitator"] = "ZZMARKER-PATIENT"
    assert str(_error(data)).endswith(
        "$.sessions[3].facilitator: names no person (practitioner, support or the patient)"
        " on the care team"
    )


def test_duplicate_key_value_not_echoed(data: dict[str, Any]) -> None:
    data["sessions"][0]["key"] = "MRN-ZZ-0001"
    data["sessions"][1]["key"] = "MRN-ZZ-0001"
    data["measures"] = []  # they name the sessions by key
    error = _error(data)
    assert "duplicate key among sessions" in str(error)
    assert "MRN-ZZ-0001" not in str(error)


def test_unknown_code_value_not_echoed(data: dict[str, Any]) -> None:
    data["program"]["type"] = "ZZMARKER-PATIENT"
    error = _error(data)
    assert error.path == "$.program.type"
    assert "ZZMARKER" not in str(error)
    with pytest.raises(EpisodeInputError) as info:
        parse_episodes(data, source="e.yaml", schema_check=False)
    assert "ZZMARKER" not in str(info.value)
    assert "ZZMARKER" not in repr(info.value.issues)


def test_unknown_answer_item_named_by_position(data: dict[str, Any]) -> None:
    answers = data["measures"][0]["answers"]
    answers["ZZMARKER-PATIENT"] = 1
    position = list(answers).index("ZZMARKER-PATIENT")
    for check in (True, False):
        with pytest.raises(EpisodeInputError) as info:
            parse_episodes(copy.deepcopy(data), source="e.yaml", schema_check=check)
        assert "ZZMARKER" not in str(info.value)
        assert "ZZMARKER" not in repr(info.value.issues)
    assert info.value.path == f"$.measures[0].answers.<key {position}>"


def test_answer_of_a_known_item_is_named(data: dict[str, Any]) -> None:
    answers = data["measures"][0]["answers"]
    item = next(iter(answers))
    answers[item] = "MRN-ZZ-0001"
    error = _error(data)
    assert error.path == f"$.measures[0].answers.{item}"
    assert "MRN-ZZ-0001" not in str(error)
