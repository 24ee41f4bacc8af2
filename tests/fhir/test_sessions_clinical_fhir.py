"""What the FHIR of a session says clinically: a meeting without the patient has no
patient participant (the Appointment lists them as information-only and declined, the
Encounter never), and reading it back changes no patient hours; the modality is on the
Encounter and the Appointment; the CPT / HCPCS codes are a second ``Encounter.type`` and
are not read back as input; the program's maxima are on the EpisodeOfCare."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml

from iopfhir.domain import Episode, parse_episodes
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import EXT
from iopfhir.fhir.ndjson import to_ndjson
from iopfhir.fhir.read import read_fhir
from iopfhir.validation import Validator

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ID = "https://iopfhir.org/fhir/id/"


def _strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _example(name: str = "mental-health-iop") -> dict[str, Any]:
    ref = resources.files("iopfhir").joinpath(f"examples/{name}.yaml")
    data: dict[str, Any] = _strings(yaml.safe_load(ref.read_text("utf-8")))
    return data


def _episode(data: dict[str, Any]) -> Episode:
    (episode,) = parse_episodes(data, source="episode.yaml")
    return episode


def _with_team_reviews(data: dict[str, Any]) -> dict[str, Any]:
    """Three attended team reviews in week 1 (Tuesday, Thursday, Friday afternoon)."""
    reviews = [
        {
            "key": f"w1-review-{i}",
            "kind": "team-review",
            "status": "attended",
            "start": f"{day}T14:00:00-05:00",
            "end": f"{day}T15:00:00-05:00",
            "facilitator": "th-nguyen",
            "attendees": ["dr-patel", "co-brooks", "cm-hughes"],
        }
        for i, day in enumerate(["2026-03-03", "2026-03-05", "2026-03-06"])
    ]
    return {**data, "sessions": data["sessions"] + reviews}


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def _by_identifier(bundle: dict[str, Any], rtype: str, kind: str, value: str) -> dict[str, Any]:
    for res in _resources(bundle):
        if res["resourceType"] != rtype:
            continue
        for ident in res.get("identifier", []):
            if ident == {"system": ID + kind, "value": value}:
                return res
    raise AssertionError(f"no {rtype} {kind} {value}")


def _full_url(bundle: dict[str, Any], res: dict[str, Any]) -> str:
    return next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is res)


@pytest.fixture(scope="module")
def reviewed() -> tuple[Episode, dict[str, Any]]:
    episode = _episode(_with_team_reviews(_example()))
    return episode, transaction_bundle([episode])


def test_three_team_reviews_change_no_patient_hours_through_fhir(
    reviewed: tuple[Episode, dict[str, Any]],
) -> None:
    episode, bundle = reviewed
    plain = _episode(_example())
    result = read_fhir(bundle)
    assert result.episodes == [episode]
    (read,) = result.episodes
    assert read.weekly_hours() == plain.weekly_hours()
    assert read.weekly_hours()[0].hours == 9.0
    # the reviews did come back, as team reviews
    keys = {s.key for s in read.sessions if s.kind == "team-review"}
    assert {"w1-review-0", "w1-review-1", "w1-review-2"} <= keys


def test_a_team_review_has_no_patient_participant(
    reviewed: tuple[Episode, dict[str, Any]],
) -> None:
    episode, bundle = reviewed
    patient_url = _full_url(
        bundle, next(r for r in _resources(bundle) if r["resourceType"] == "Patient")
    )
    appt = _by_identifier(bundle, "Appointment", "session", f"{episode.key}/w1-review-0")
    enc = _by_identifier(bundle, "Encounter", "encounter", f"{episode.key}/w1-review-0")
    patient_parts = [p for p in appt["participant"] if p["actor"]["reference"] == patient_url]
    # in the patient's compartment, but not attending
    assert patient_parts == [
        {"actor": {"reference": patient_url}, "required": "information-only", "status": "declined"}
    ]
    assert all(p["status"] == "accepted" for p in appt["participant"] if p not in patient_parts)
    assert len(appt["participant"]) == 5  # the patient, the facilitator, three attendees
    assert all(p["individual"]["reference"] != patient_url for p in enc["participant"])
    assert enc["subject"] == {"reference": patient_url}  # the record is about the patient
    assert [c["code"] for t in enc["type"] for c in t["coding"]] == ["team-review"]


def test_a_patient_session_lists_the_patient_as_accepted(
    reviewed: tuple[Episode, dict[str, Any]],
) -> None:
    episode, bundle = reviewed
    appt = _by_identifier(bundle, "Appointment", "session", f"{episode.key}/w1-mon")
    patient = next(r for r in _resources(bundle) if r["resourceType"] == "Patient")
    first = appt["participant"][0]
    assert first["actor"]["reference"] == _full_url(bundle, patient)
    assert first["status"] == "accepted" and "required" not in first


def test_family_education_without_the_patient_end_to_end() -> None:
    episode = _episode(_example("co-occurring-sud-iop"))
    bundle = transaction_bundle([episode])
    appt = _by_identifier(bundle, "Appointment", "session", f"{episode.key}/w3-family-education")
    assert appt["serviceType"][0]["coding"][0]["code"] == "family-education"
    statuses = [p["status"] for p in appt["participant"]]
    assert statuses == ["declined", "accepted", "accepted"]
    enc = _by_identifier(bundle, "Encounter", "encounter", f"{episode.key}/w3-family-education")
    assert enc["class"]["code"] == "VR"
    assert len(enc["type"]) == 1  # no procedure code for family education
    (read,) = read_fhir(bundle).episodes
    session = next(s for s in read.sessions if s.key == "w3-family-education")
    assert session.kind == "family-education" and not session.patient_present
    assert session.attendees == ["spouse"] and session.modality == "twelve-step"
    assert read == episode


def _modality(res: dict[str, Any]) -> list[str]:
    return [
        c["code"]
        for e in res.get("extension", [])
        if e["url"] == EXT.THERAPY_MODALITY
        for c in e["valueCodeableConcept"]["coding"]
    ]


def test_modality_comes_out_on_encounter_and_appointment_and_reads_back() -> None:
    data = _example()
    for s in data["sessions"]:
        if s["key"] == "w1-wed":
            s["modality"] = "mi"
    episode = _episode(data)
    bundle = transaction_bundle([episode])
    key = episode.key
    inherited = _by_identifier(bundle, "Encounter", "encounter", f"{key}/w1-mon")
    own = _by_identifier(bundle, "Encounter", "encounter", f"{key}/w1-wed")
    none = _by_identifier(bundle, "Encounter", "encounter", f"{key}/w1-fri")
    assert _modality(inherited) == ["cbt"]
    assert _modality(own) == ["mi"]
    assert _modality(none) == []
    assert _modality(_by_identifier(bundle, "Appointment", "session", f"{key}/w1-wed")) == ["mi"]
    # a no-show has no Encounter: its modality is on the Appointment
    noshow = _by_identifier(bundle, "Appointment", "session", f"{key}/w4-wed")
    assert _modality(noshow) == ["dbt"]
    for source in (bundle, to_ndjson([episode])):
        (read,) = read_fhir(source).episodes
        assert {s.key: s.modality for s in read.sessions} == {
            s.key: s.modality for s in episode.sessions
        }
        assert read == episode


def test_modality_is_read_from_foreign_encounters_too() -> None:
    episode = _episode(_example())
    # the builder shares coded values between resources: edit a copy
    bundle = copy.deepcopy(transaction_bundle([episode]))
    key = episode.key
    appt = _by_identifier(bundle, "Appointment", "session", f"{key}/w1-mon")
    enc = _by_identifier(bundle, "Encounter", "encounter", f"{key}/w1-mon")
    # only the Encounter says so, and it says DBT: the Encounter wins
    appt["extension"] = [e for e in appt.get("extension", []) if e["url"] != EXT.THERAPY_MODALITY]
    enc["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "dbt"
    (read,) = read_fhir(bundle).episodes
    assert next(s for s in read.sessions if s.key == "w1-mon").modality == "dbt"


def _procedure_codes(enc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for t in enc["type"][1:] for c in t["coding"]]


def test_cpt_and_hcpcs_codes_come_out_on_encounter_type() -> None:
    episode = _episode(_example())
    bundle = transaction_bundle([episode])
    key = episode.key

    def codes_of(session: str) -> list[tuple[str, str]]:
        enc = _by_identifier(bundle, "Encounter", "encounter", f"{key}/{session}")
        assert enc["type"][0]["coding"][0]["system"].endswith("/session-kind")
        assert enc["serviceType"] == enc["type"][0]
        return _procedure_codes(enc)

    assert codes_of("w1-mon") == [(CPT, "90853"), (HCPCS, "G0410")]
    assert codes_of("w3-fri") == [(CPT, "90847")]
    assert codes_of("w5-thu-individual") == [(CPT, "90834")]  # 50 minutes
    assert codes_of("w1-fri") == [(HCPCS, "S9480")]  # psychoeducation, per diem
    assert codes_of("w2-team-review") == []
    appts = [r for r in _resources(bundle) if r["resourceType"] == "Appointment"]
    for appt in appts:  # the Appointment's serviceType stays the session kind only
        for concept in appt.get("serviceType", []):
            assert all(c["system"] not in (CPT, HCPCS) for c in concept["coding"])


def test_substance_use_program_days_carry_the_h0015_per_diem() -> None:
    data = _example("co-occurring-sud-iop")
    data["program"] = {**data["program"], "type": "substance-use"}
    data["sessions"] = data["sessions"] + [
        {
            "key": "extra-psychoed",
            "kind": "psychoeducation",
            "status": "attended",
            "start": "2026-05-05T18:00:00-07:00",
            "end": "2026-05-05T21:00:00-07:00",
            "facilitator": "co-adams",
        }
    ]
    episode = _episode(data)
    bundle = transaction_bundle([episode])
    enc = _by_identifier(bundle, "Encounter", "encounter", f"{episode.key}/extra-psychoed")
    assert _procedure_codes(enc) == [(HCPCS, "H0015")]
    assert read_fhir(bundle).episodes == [episode]


def test_derived_codes_are_not_read_as_input() -> None:
    episode = _episode(_example())
    bundle = transaction_bundle([episode])
    result = read_fhir(bundle)
    assert result.episodes == [episode]
    assert not result.unmapped
    assert all(s.kind_code is None for s in result.episodes[0].sessions)


def test_a_foreign_encounter_with_only_a_cpt_code_gets_its_kind() -> None:
    episode = _episode(_example())
    bundle = copy.deepcopy(transaction_bundle([episode]))
    key = episode.key
    appt = _by_identifier(bundle, "Appointment", "session", f"{key}/w1-mon")
    enc = _by_identifier(bundle, "Encounter", "encounter", f"{key}/w1-mon")
    del appt["serviceType"]
    del enc["serviceType"]
    enc["type"] = [{"coding": [{"system": CPT, "code": "90853"}]}]
    (read,) = read_fhir(bundle).episodes
    session = next(s for s in read.sessions if s.key == "w1-mon")
    assert session.kind == "group-therapy" and session.kind_code is None


def test_program_maxima_are_on_the_episode_of_care_and_read_back() -> None:
    data = _example()
    data["program"] = {**data["program"], "max_hours_per_week": 19, "max_days_per_week": 4}
    episode = _episode(data)
    bundle = transaction_bundle([episode])
    eoc = next(r for r in _resources(bundle) if r["resourceType"] == "EpisodeOfCare")
    program = next(e for e in eoc["extension"] if e["url"] == EXT.PROGRAM)
    values = {
        e["url"]: next(v for k, v in e.items() if k.startswith("value"))
        for e in program["extension"]
    }
    assert values["maximumHoursPerWeek"] == 19 and values["maximumDaysPerWeek"] == 4
    (read,) = read_fhir(bundle).episodes
    assert read.program == episode.program


@pytest.mark.parametrize("name", ["mental-health-iop", "co-occurring-sud-iop"])
def test_sessions_conform_to_the_iop_profiles(name: str) -> None:
    data = _with_team_reviews(_example()) if name == "mental-health-iop" else _example(name)
    bundle = transaction_bundle([_episode(data)])
    report = Validator.with_iop_profiles().validate(bundle)
    assert [i for i in report.errors] == []
