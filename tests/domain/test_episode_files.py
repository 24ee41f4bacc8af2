"""Episode-file errors: every problem is an :class:`EpisodeInputError` whose ``path`` is the
JSON path of the offending value and whose message holds no patient data."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from domain_support import EXAMPLE
from domain_support import error_of as _error

from iopfhir.domain import load_episodes
from iopfhir.errors import EpisodeInputError


def test_the_example_loads() -> None:
    (episode,) = load_episodes(EXAMPLE)
    assert episode.key == "mh-iop-0001"


def test_missing_field(data: dict[str, Any]) -> None:
    del data["sessions"][3]["end"]
    error = _error(data)
    assert error.path == "$.sessions[3]"
    assert "end" in str(error)


def test_missing_patient_identifiers(data: dict[str, Any]) -> None:
    del data["patient"]["identifiers"]
    assert _error(data).path == "$.patient"


def test_wrong_type(data: dict[str, Any]) -> None:
    data["program"]["min_days_per_week"] = "three"
    error = _error(data)
    assert error.path == "$.program.min_days_per_week"
    assert "type" in str(error)


def test_wrong_type_of_a_name(data: dict[str, Any]) -> None:
    data["patient"]["name"] = "Dana Rivera"
    error = _error(data)
    assert error.path == "$.patient.name"


def test_unknown_code(data: dict[str, Any]) -> None:
    data["sessions"][5]["kind"] = "karaoke"
    error = _error(data)
    assert error.path == "$.sessions[5].kind"
    assert "unknown code" in str(error)


def test_unknown_instrument(data: dict[str, Any]) -> None:
    data["measures"][0]["instrument"] = "phq-99"
    assert _error(data).path == "$.measures[0].instrument"


def test_score_out_of_range(data: dict[str, Any]) -> None:
    data["measures"][2]["answers"]["q4"] = 7
    error = _error(data)
    assert error.path == "$.measures[2].answers.q4"
    assert "out of range" in str(error)


def test_total_out_of_range(data: dict[str, Any]) -> None:
    del data["measures"][1]["answers"]
    data["measures"][1]["total"] = 40
    error = _error(data)
    assert error.path == "$.measures[1].total"
    assert "out of range" in str(error)


def test_total_that_does_not_add_up(data: dict[str, Any]) -> None:
    data["measures"][0]["total"] = 3
    assert _error(data).path == "$.measures[0].total"


def test_end_before_start(data: dict[str, Any]) -> None:
    data["sessions"][3]["end"] = "2026-03-09T08:00:00-05:00"
    error = _error(data)
    assert error.path == "$.sessions[3].end"
    assert "before start" in str(error)


def test_period_end_before_start(data: dict[str, Any]) -> None:
    data["teams"][0]["period"] = {"start": "2026-04-26", "end": "2026-03-02"}
    assert _error(data).path == "$.teams[0].period.end"


def test_discharge_before_admission(data: dict[str, Any]) -> None:
    data["discharge"]["date"] = "2026-01-01"
    assert _error(data).path == "$.discharge.date"


def test_member_not_on_the_team(data: dict[str, Any]) -> None:
    # dr-okafor is a practitioner of the episode but not on the IOP team
    data["sessions"][3]["facilitator"] = "dr-okafor"
    error = _error(data)
    assert error.path == "$.sessions[3].facilitator"
    assert "care team" in str(error)


def test_activity_lead_not_on_the_team(data: dict[str, Any]) -> None:
    data["care_plans"][0]["activities"][1]["lead"] = "dr-okafor"
    assert _error(data).path == "$.care_plans[0].activities[1].lead"


def test_unknown_key(data: dict[str, Any]) -> None:
    data["measures"][4]["performer"] = "nobody"
    assert _error(data).path == "$.measures[4].performer"


def test_duplicate_key(data: dict[str, Any]) -> None:
    data["sessions"][7]["key"] = data["sessions"][6]["key"]
    assert _error(data).path == "$.sessions[7].key"


def test_unknown_field(data: dict[str, Any]) -> None:
    data["patient"]["ssn"] = "123-45-6789"
    error = _error(data)
    assert error.path == "$.patient"
    assert "123-45-6789" not in str(error)


def test_patient_phone_never_in_messages(data: dict[str, Any]) -> None:
    data["patient"]["phone"] = 5550142
    error = _error(data)
    assert error.path == "$.patient.phone"
    assert "5550142" not in str(error)


def test_several_episodes_name_their_index(data: dict[str, Any]) -> None:
    second = copy.deepcopy(data)
    second["key"] = "mh-iop-0002"
    second["sessions"][3]["end"] = "2026-03-09T08:00:00-05:00"
    error = _error({"episodes": [data, second]})
    assert error.path == "$.episodes[1].sessions[3].end"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("key: [unclosed\n", encoding="utf-8")
    with pytest.raises(EpisodeInputError) as info:
        load_episodes(path)
    assert info.value.file == str(path)
