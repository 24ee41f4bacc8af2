"""Partial dates (R4 ``date``/``dateTime`` known to the year or month) read, kept and
written back as given: by both readers, in episode files, and in the FHIR written from
them, which validates."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from both_readers import FORMS, read_both

from iopfhir.domain import Episode, PartialDate, date_text, dump_episode, parse_episodes
from iopfhir.errors import InputError
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.validation import Validator

SUBJECT = {"reference": "Patient/p1"}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _resources() -> list[dict[str, Any]]:
    """A patient with the partial dates an international patient summary carries."""
    return [
        {
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [{"system": "urn:example:mrn", "value": "M-1"}],
            "name": [{"family": "Doe", "given": ["Ann"]}],
            "birthDate": "1957",
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "resolved"}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
            "subject": SUBJECT,
            "onsetDateTime": "2015",
            "abatementDateTime": "2019-03",
            "recordedDate": "2016-10",
        },
        {
            "resourceType": "MedicationStatement",
            "id": "m1",
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312938"}
                ]
            },
            "subject": SUBJECT,
            "effectivePeriod": {"start": "2015-03"},
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005"}]},
            "patient": SUBJECT,
            "recordedDate": "2016",
        },
    ]


#: each partial date of the input, as (resource type, element) -> the text R4 had
WRITTEN = {
    ("Patient", "birthDate"): "1957",
    ("Condition", "onsetDateTime"): "2015",
    ("Condition", "abatementDateTime"): "2019-03",
    ("Condition", "recordedDate"): "2016-10",
    ("AllergyIntolerance", "recordedDate"): "2016",
}


@FORMS
def test_partial_dates_are_read_as_given_by_both_readers(tmp_path: Path, form: str) -> None:
    result = read_both(_resources(), tmp_path, form)
    ep = result.episodes[0]
    assert not [k for k in result.unmapped if "partial" in k or "birthDate" in k]
    dx, med, allergy = ep.diagnoses[0], ep.medications[0], ep.allergies[0]
    assert ep.patient.birth_date is not None and dx.recorded is not None
    assert isinstance(dx.onset, date) and isinstance(dx.abatement, date)
    assert med.period is not None and allergy.recorded is not None
    got = {
        "birth": date_text(ep.patient.birth_date),
        "onset": date_text(dx.onset),
        "abatement": date_text(dx.abatement),
        "recorded": date_text(dx.recorded),
        "medication": date_text(med.period.start),
        "allergy": date_text(allergy.recorded),
    }
    assert got == {
        "birth": "1957",
        "onset": "2015",
        "abatement": "2019-03",
        "recorded": "2016-10",
        "medication": "2015-03",
        "allergy": "2016",
    }
    assert type(ep.patient.birth_date) is PartialDate


def test_the_fhir_written_back_has_each_partial_date_as_given_and_is_valid(
    tmp_path: Path,
) -> None:
    episodes = read_both(_resources(), tmp_path, "bundle").episodes
    bundle = collection_bundle(episodes)
    written = {
        (e["resource"]["resourceType"], element): e["resource"][element]
        for e in bundle["entry"]
        for element in ("birthDate", "onsetDateTime", "abatementDateTime", "recordedDate")
        if element in e["resource"]
    }
    assert written == WRITTEN
    statement = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationStatement"
    )
    assert statement["effectivePeriod"] == {"start": "2015-03"}
    report = Validator([]).validate(bundle)
    assert not report.errors, [(i.path, i.message) for i in report.errors]
    # and read again, the same episode: nothing gained or lost in precision
    again = read_fhir(bundle).episodes[0]
    assert dump_episode(again)["patient"] == dump_episode(episodes[0])["patient"]
    assert dump_episode(again)["diagnoses"] == dump_episode(episodes[0])["diagnoses"]
    assert dump_episode(again)["medications"] == dump_episode(episodes[0])["medications"]


def test_an_episode_file_keeps_partial_dates(tmp_path: Path) -> None:
    episode = read_both(_resources(), tmp_path, "ndjson").episodes[0]
    data = dump_episode(episode)
    assert data["patient"]["birth_date"] == "1957"
    assert data["diagnoses"][0]["onset"] == "2015"
    assert data["medications"][0]["period"] == {"start": "2015-03"}
    back = parse_episodes(json.loads(json.dumps(data)), source="episode.json")[0]
    assert isinstance(back, Episode)
    assert dump_episode(back) == data
    assert type(back.patient.birth_date) is PartialDate


@pytest.mark.parametrize(
    ("value", "where"),
    [("1965-13", "$.patient.birth_date"), ("196", "$.patient.birth_date")],
)
def test_an_episode_file_with_a_date_that_is_none_is_refused_at_its_path(
    tmp_path: Path, value: str, where: str
) -> None:
    data = dump_episode(read_both(_resources(), tmp_path, "ndjson").episodes[0])
    data["patient"]["birth_date"] = value
    with pytest.raises(InputError) as info:
        parse_episodes(data, source="episode.json")
    assert where in str(info.value)


def test_a_partial_date_is_its_first_day_wherever_days_are_compared() -> None:
    year, month = PartialDate.parse("1965"), PartialDate.parse("2015-03")
    assert isinstance(year, PartialDate) and isinstance(month, PartialDate)
    assert year == date(1965, 1, 1) and month == date(2015, 3, 1)
    assert (year.precision, month.precision) == ("year", "month")
    assert date_text(year) == "1965" and date_text(month) == "2015-03"
    # arithmetic and replace() leave the partial date: a plain day
    assert type(month + timedelta(days=1)) is date and type(month.replace(day=9)) is date
    assert month.isoformat() == "2015-03-01"  # an instant made from it stays valid
    assert repr(pickle.loads(pickle.dumps(month))) == "PartialDate('2015-03')"
    assert date_text(copy.deepcopy(year)) == "1965"
    assert PartialDate.parse("2015-02-30") is None and PartialDate.parse("2015-3") is None
    assert type(PartialDate.parse("2015-03-04")) is date
    with pytest.raises(ValueError, match="not a partial date"):
        PartialDate(2015, 3, 4, "month")


def test_no_python_function_serializes_the_model() -> None:
    """pydantic turns an exception raised in a serializer function (a SIGTERM's: the CLI
    raises it from the signal handler) into a warning or an error of its own, so the
    command ran on as if never signalled; the partial dates are written by dump_episode."""
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            ser = node.get("serialization")
            if isinstance(ser, dict) and str(ser.get("type", "")).startswith("function"):
                found.append(where)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(Episode.__pydantic_core_schema__, "Episode")
    assert found == []
