"""Reference resolution: fullUrl (urn:uuid, absolute), Type/id, absolute URLs, #contained,
conditional and logical references; grouping by patient and by EpisodeOfCare."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.fhir.read import read_fhir

P_URL = "urn:uuid:8d1b7a2e-0000-4000-8000-000000000001"
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-7"}],
}
PRACTITIONER: dict[str, Any] = {
    "resourceType": "Practitioner",
    "id": "doc",
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
    "name": [{"family": "Okafor", "given": ["Sam"]}],
}


def team(member_ref: dict[str, Any], subject: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": "team",
        "subject": subject or {"reference": "Patient/pat"},
        "participant": [
            {
                "role": [{"coding": [{"system": "http://snomed.info/sct", "code": "80584001"}]}],
                "member": member_ref,
            }
        ],
    }


def entries(*pairs: tuple[str | None, dict[str, Any]]) -> dict[str, Any]:
    out = []
    for url, res in pairs:
        entry: dict[str, Any] = {"resource": res}
        if url:
            entry["fullUrl"] = url
        out.append(entry)
    return {"resourceType": "Bundle", "type": "collection", "entry": out}


@pytest.mark.parametrize(
    ("doc_url", "ref"),
    [
        (
            "urn:uuid:8d1b7a2e-0000-4000-8000-0000000000d0",
            "urn:uuid:8d1b7a2e-0000-4000-8000-0000000000d0",
        ),
        (
            "http://ehr.example.org/fhir/Practitioner/doc",
            "http://ehr.example.org/fhir/Practitioner/doc",
        ),
        ("http://ehr.example.org/fhir/Practitioner/doc", "Practitioner/doc"),
        (None, "Practitioner/doc"),
        (None, "http://other.example.org/fhir/Practitioner/doc/_history/3"),
        (None, "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893"),
    ],
)
def test_reference_forms(doc_url: str | None, ref: str) -> None:
    data = entries((P_URL, PATIENT), (doc_url, PRACTITIONER), (None, team({"reference": ref})))
    (episode,) = read_fhir(data).episodes
    (doc,) = episode.practitioners
    assert doc.name.family == "Okafor"
    assert episode.teams[0].members[0].member == doc.key
    assert episode.teams[0].members[0].role == "psychiatrist"


def test_logical_reference_by_identifier() -> None:
    ref = {
        "type": "Practitioner",
        "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
    }
    (episode,) = read_fhir(
        entries((P_URL, PATIENT), (None, PRACTITIONER), (None, team(ref)))
    ).episodes
    assert [p.name.family for p in episode.practitioners] == ["Okafor"]


def test_contained_reference() -> None:
    care_team = team({"reference": "#d1"})
    care_team["contained"] = [PRACTITIONER | {"id": "d1"}]
    (episode,) = read_fhir(entries((P_URL, PATIENT), (None, care_team))).episodes
    assert episode.practitioners[0].name.family == "Okafor"


def test_patient_by_urn_subject_and_practitioner_role() -> None:
    role = {
        "resourceType": "PractitionerRole",
        "id": "role",
        "practitioner": {"reference": "Practitioner/doc"},
        "organization": {"reference": "Organization/org"},
        "code": [{"coding": [{"system": "http://snomed.info/sct", "code": "224588003"}]}],
    }
    org = {"resourceType": "Organization", "id": "org", "name": "Lakeside IOP"}
    data = entries(
        (P_URL, PATIENT),
        (None, PRACTITIONER),
        (None, role),
        (None, org),
        (None, team({"reference": "PractitionerRole/role"}, {"reference": P_URL})),
    )
    (episode,) = read_fhir(data).episodes
    (doc,) = episode.practitioners
    assert doc.role == "therapist"
    assert doc.organization == episode.organizations[0].key
    assert episode.organizations[0].name == "Lakeside IOP"


def test_unresolvable_member_is_counted_not_fatal() -> None:
    result = read_fhir(entries((P_URL, PATIENT), (None, team({"reference": "Practitioner/gone"}))))
    assert result.episodes[0].teams[0].members == []
    assert (
        result.unmapped["CareTeam.participant.member: names no resource of the input (dropped)"]
        == 1
    )


def test_foreign_role_codes_go_to_role_code() -> None:
    care_team = team({"reference": "Practitioner/doc"})
    care_team["participant"][0]["role"] = [
        {"coding": [{"system": "http://snomed.info/sct", "code": "223366009"}]}
    ]
    (episode,) = read_fhir(
        entries((None, PATIENT), (None, PRACTITIONER), (None, care_team))
    ).episodes
    member = episode.teams[0].members[0]
    assert member.role is None
    assert member.role_code is not None
    assert (member.role_code.system, member.role_code.code) == (
        "http://snomed.info/sct",
        "223366009",
    )


def _eoc(eid: str) -> dict[str, Any]:
    return {
        "resourceType": "EpisodeOfCare",
        "id": eid,
        "status": "finished",
        "patient": {"reference": "Patient/pat"},
        "period": {"start": "2024-01-02"},
    }


def _condition(cid: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/pat"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
    }


def _encounter(eid: str, eoc: str | None) -> dict[str, Any]:
    enc: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
        "subject": {"reference": "Patient/pat"},
        "period": {"start": "2024-01-03T10:00:00-05:00", "end": "2024-01-03T12:00:00-05:00"},
    }
    if eoc:
        enc["episodeOfCare"] = [{"reference": f"EpisodeOfCare/{eoc}"}]
    return enc


def test_several_episodes_of_care_split_the_patients_data() -> None:
    eoc2 = _eoc("second") | {"diagnosis": [{"condition": {"reference": "Condition/c2"}}]}
    data = [
        PATIENT,
        _eoc("first"),
        eoc2,
        _condition("c1"),
        _condition("c2"),
        _encounter("e1", "second"),
        _encounter("e2", None),
    ]
    result = read_fhir(data)
    assert result.patients == 1
    first, second = result.episodes
    assert (first.key, second.key) == ("first", "second")
    assert [d.key for d in first.diagnoses] == ["c1"]
    assert [d.key for d in second.diagnoses] == ["c2"]
    assert [s.key for s in second.sessions] == ["e1"]
    assert [s.key for s in first.sessions] == ["e2"]
    assert second.sessions[0].telehealth
    assert first.patient == second.patient


def test_patient_without_episode_of_care() -> None:
    (episode,) = read_fhir([PATIENT, _condition("c1")]).episodes
    assert episode.status is None
    assert episode.program is None


def test_keys_are_sanitised_unique_and_deterministic() -> None:
    long_id = "a" * 64
    data = [PATIENT, _condition("c_1") | {"id": "c_1"}, _condition(long_id), _condition("c1")]
    data[1]["id"] = "c_1"  # not a FHIR id, but be tolerant
    one = read_fhir(data).episodes[0]
    two = read_fhir(data).episodes[0]
    keys = [d.key for d in one.diagnoses]
    assert keys == [d.key for d in two.diagnoses]
    assert len(set(keys)) == 3
    assert all(len(k) <= 48 for k in keys)
    assert "c1" in keys


def test_two_patients_in_one_bundle() -> None:
    other = PATIENT | {"id": "pat2", "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-8"}]}
    cond = _condition("c9") | {"subject": {"reference": "Patient/pat2"}}
    result = read_fhir([PATIENT, other, _condition("c1"), cond])
    assert result.patients == 2
    assert [[d.key for d in e.diagnoses] for e in result.episodes] == [["c1"], ["c9"]]
    assert result.episodes[0].key != result.episodes[1].key
