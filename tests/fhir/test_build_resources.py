"""The shape of each resource the builder writes: identifiers, profiles, Part 2 labels,
US Core must-haves, sessions (no-show → Appointment only, telehealth → VR), plans, goals."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.domain import Episode
from iopfhir.errors import MappingError
from iopfhir.fhir.build import episode_entries, episode_to_resources
from iopfhir.fhir.conventions import EXT, PROFILE, identifier_system

PART2_CODES = {
    ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "ETH"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "42CFRPart2"),
}
PSY = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "PSY")


def is_mental_health(res: dict[str, Any], measures: dict[str, str]) -> bool:
    """Worked out apart from the builder: an F-chapter diagnosis outside F10-F19, or what
    a PHQ, GAD-7 or C-SSRS administration writes (found by its measure key)."""
    if res["resourceType"] == "Condition":
        code = str(res["code"]["coding"][0]["code"])
        return code.startswith("F") and not code.startswith("F1")
    idents = res.get("identifier", [])
    ident = idents if isinstance(idents, dict) else (idents[0] if idents else {})
    key = str(ident.get("value", "")).split("/")[1] if "/" in str(ident.get("value")) else ""
    return measures.get(key, "").startswith(("phq", "gad", "c-ssrs"))


NOT_PATIENT_LINKED = {"Practitioner", "PractitionerRole", "Organization"}
NO_PROJECT_PROFILE = {"Practitioner", "PractitionerRole", "Organization", "RelatedPerson"}


def by_identifier(resources: list[dict[str, Any]], kind: str, value: str) -> dict[str, Any]:
    system = identifier_system(kind)
    for res in resources:
        idents = res.get("identifier", [])
        for ident in [idents] if isinstance(idents, dict) else idents:
            if ident == {"system": system, "value": value}:
                return res
    raise AssertionError(f"no resource with {kind} {value}")


def of_type(resources: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == rtype]


@pytest.fixture(scope="module")
def rich(rich_episode: Episode) -> list[dict[str, Any]]:
    return episode_to_resources(rich_episode)


@pytest.fixture(scope="module")
def part2(part2_episode: Episode) -> list[dict[str, Any]]:
    return episode_to_resources(part2_episode)


def test_every_resource_has_an_identifier(rich: list[dict[str, Any]]) -> None:
    assert all(r.get("identifier") for r in rich)


def test_profiles(rich: list[dict[str, Any]]) -> None:
    for res in rich:
        rtype = res["resourceType"]
        profiles = res.get("meta", {}).get("profile")
        if rtype in NO_PROJECT_PROFILE:
            assert profiles is None
    assert by_identifier(rich, "careplan", "ep-1/tp")["meta"]["profile"] == [
        PROFILE.CAREPLAN_TREATMENT
    ]
    assert by_identifier(rich, "careplan", "ep-1/rp")["meta"]["profile"] == [
        PROFILE.CAREPLAN_RELAPSE
    ]
    assert by_identifier(rich, "observation", "ep-1/m-phq9")["meta"]["profile"] == [
        PROFILE.observation_total("phq-9")
    ]
    assert of_type(rich, "Patient")[0]["meta"]["profile"] == [PROFILE.PATIENT]


def test_part2_labels_exactly_on_patient_linked_resources(
    rich: list[dict[str, Any]], part2: list[dict[str, Any]], part2_episode: Episode
) -> None:
    measures = {m.key: m.instrument for m in part2_episode.measures}
    measure_types = {"Observation", "QuestionnaireResponse", "Flag", "RiskAssessment"}
    assert all("security" not in r.get("meta", {}) for r in rich)
    for res in part2:
        labels = {(c["system"], c["code"]) for c in res.get("meta", {}).get("security", [])}
        if res["resourceType"] in NOT_PATIENT_LINKED:
            assert labels == set(), res["resourceType"]
        else:
            # mental-health data of a Part 2 program also carries PSY (docs/part2.md)
            assert labels - {PSY} == PART2_CODES, res["resourceType"]
            psy = PSY in labels
            if res["resourceType"] in measure_types | {"Condition"}:
                assert psy == is_mental_health(res, measures), res["resourceType"]
            else:
                assert not psy, res["resourceType"]
        for contained in res.get("contained", []):
            assert "meta" not in contained


def test_patient(rich: list[dict[str, Any]]) -> None:
    (patient,) = of_type(rich, "Patient")
    assert patient["identifier"] == [
        {"system": "urn:oid:2.16.840.1.113883.3.1", "value": "MRN-1"},
        {"system": "urn:oid:2.16.840.1.113883.3.9", "value": "X-1"},
        {"system": identifier_system("patient"), "value": "ep-1/patient"},
    ]
    assert patient["name"] == [{"family": "Rivera", "given": ["Dana", "M."]}]
    assert patient["birthDate"] == "1991-07-14"
    assert patient["telecom"] == [{"system": "phone", "value": "+1-555-0142"}]


def test_every_practitioner_has_a_role_in_the_episode(rich: list[dict[str, Any]]) -> None:
    roles = of_type(rich, "PractitionerRole")
    assert len(roles) == len(of_type(rich, "Practitioner")) == 6
    therapist = by_identifier(rich, "practitionerrole", "ep-1/th")
    assert therapist["code"][0]["coding"][0]["code"] == "224588003"
    assert "organization" in therapist
    locum = by_identifier(rich, "practitionerrole", "ep-1/locum")
    assert "code" not in locum
    assert "organization" not in locum
    # no own identifier: identified per episode
    assert by_identifier(rich, "practitioner", "ep-1/locum")["name"] == [{"family": "Ortiz"}]


def test_organizations_carry_the_episode_key(rich: list[dict[str, Any]]) -> None:
    site = by_identifier(rich, "organization", "ep-1/site")
    assert site["identifier"][0]["value"] == "1467582093"
    assert site["type"][0]["coding"][0]["code"] == "provider"


def test_care_team_us_core_shape(rich: list[dict[str, Any]]) -> None:
    team = by_identifier(rich, "careteam", "ep-1/team")
    assert "reference" in team["subject"]
    for part in team["participant"]:
        assert len(part["role"]) == 1
        assert "reference" in part["member"]
    patient_part = team["participant"][5]
    assert patient_part["role"][0]["extension"][0]["valueCode"] == "unknown"
    assert "coding" not in patient_part["role"][0]
    assert team["participant"][6]["period"] == {"start": "2026-03-02"}


def test_episode_of_care(rich_episode: Episode) -> None:
    entries = dict(episode_entries(rich_episode))
    resources = list(entries.values())
    eoc = by_identifier(resources, "episode", "ep-1/ep-1")
    assert eoc["status"] == "finished"
    assert eoc["period"] == {"start": "2026-03-02", "end": "2026-04-26"}
    assert [d["rank"] for d in eoc["diagnosis"]] == [1, 2, 3]
    program = next(e for e in eoc["extension"] if e["url"] == EXT.PROGRAM)
    assert {e["url"] for e in program["extension"]} == {
        "name",
        "minimumHoursPerWeek",
        "minimumDaysPerWeek",
        "maximumHoursPerWeek",
        "maximumDaysPerWeek",
    }
    referral = entries[eoc["referralRequest"][0]["reference"]]
    assert referral["resourceType"] == "ServiceRequest"
    stay = entries[referral["encounter"]["reference"]]
    assert stay["class"]["code"] == "IMP"
    assert stay["status"] == "finished"
    assert stay["period"] == {"start": "2026-02-18", "end": "2026-02-27"}
    assert entries[referral["requester"]["reference"]]["resourceType"] == "PractitionerRole"
    assert entries[referral["performer"][0]["reference"]]["resourceType"] == "Organization"


def test_no_episode_of_care_without_episode_data(minimal_episode: Episode) -> None:
    assert [r["resourceType"] for r in episode_to_resources(minimal_episode)] == ["Patient"]


def test_conditions(rich: list[dict[str, Any]]) -> None:
    mdd = by_identifier(rich, "condition", "ep-1/mdd")
    assert mdd["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert mdd["clinicalStatus"]["coding"][0]["code"] == "active"
    assert mdd["onsetDateTime"] == "2019-05-01"
    hc = by_identifier(rich, "condition", "ep-1/hc")
    assert hc["category"][0]["coding"][0] == {
        "system": "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
        "code": "health-concern",
    }
    assert "clinicalStatus" not in hc
    assert "verificationStatus" not in hc


@pytest.mark.parametrize(
    ("session", "appointment_status", "encounter_status"),
    [
        ("s1", "fulfilled", "finished"),
        ("s4", "noshow", None),
        ("s5", "cancelled", None),
        ("s6", "booked", "planned"),
    ],
)
def test_session_statuses(
    rich: list[dict[str, Any]],
    session: str,
    appointment_status: str,
    encounter_status: str | None,
) -> None:
    appt = by_identifier(rich, "session", f"ep-1/{session}")
    assert appt["status"] == appointment_status
    if encounter_status is None:
        with pytest.raises(AssertionError):
            by_identifier(rich, "encounter", f"ep-1/{session}")
    else:
        assert by_identifier(rich, "encounter", f"ep-1/{session}")["status"] == encounter_status


def test_encounter_statuses_are_r4(rich: list[dict[str, Any]]) -> None:
    statuses = {e["status"] for e in of_type(rich, "Encounter")}
    assert statuses <= {"planned", "finished"}
    assert "no-show" not in statuses


def test_telehealth_is_class_vr(rich: list[dict[str, Any]]) -> None:
    assert by_identifier(rich, "encounter", "ep-1/s2")["class"]["code"] == "VR"
    assert by_identifier(rich, "encounter", "ep-1/s1")["class"]["code"] == "AMB"
    noshow = by_identifier(rich, "session", "ep-1/s4")
    assert {"url": EXT.DELIVERY_SETTING, "valueCode": "telehealth"} in noshow["extension"]


def test_session_participants(rich_episode: Episode) -> None:
    entries = dict(episode_entries(rich_episode))
    resources = list(entries.values())
    family = by_identifier(resources, "session", "ep-1/s3")
    actors = [entries[p["actor"]["reference"]]["resourceType"] for p in family["participant"]]
    assert actors == ["Patient", "PractitionerRole", "RelatedPerson"]
    assert [
        p.get("type", [{}])[0].get("coding", [{}])[0].get("code") for p in family["participant"]
    ] == [
        None,
        "PPRF",
        "PART",
    ]
    assert all(p["status"] == "accepted" for p in family["participant"])
    enc = by_identifier(resources, "encounter", "ep-1/s3")
    individuals = [
        entries[p["individual"]["reference"]]["resourceType"] for p in enc["participant"]
    ]
    assert individuals == ["PractitionerRole", "RelatedPerson"]
    assert entries[enc["episodeOfCare"][0]["reference"]]["resourceType"] == "EpisodeOfCare"
    assert entries[enc["appointment"][0]["reference"]] is family


def test_encounter_period_is_actual_time(rich: list[dict[str, Any]]) -> None:
    s1 = by_identifier(rich, "encounter", "ep-1/s1")
    assert s1["period"] == {
        "start": "2026-03-02T09:05:00-05:00",
        "end": "2026-03-02T11:55:00-05:00",
    }
    appt = by_identifier(rich, "session", "ep-1/s1")
    assert (appt["start"], appt["end"]) == (
        "2026-03-02T09:00:00-05:00",
        "2026-03-02T12:00:00-05:00",
    )


def test_cancel_reason(rich: list[dict[str, Any]]) -> None:
    assert by_identifier(rich, "session", "ep-1/s5")["cancelationReason"] == {"text": "Holiday"}


def test_treatment_plan(rich_episode: Episode) -> None:
    entries = dict(episode_entries(rich_episode))
    resources = list(entries.values())
    plan = by_identifier(resources, "careplan", "ep-1/tp")
    assert plan["intent"] == "plan"
    codes = [c["coding"][0]["code"] for c in plan["category"]]
    assert codes == ["treatment", "assess-plan"]
    group = plan["activity"][0]
    assert group["id"] == "a-group"
    sessions = [entries[r["reference"]] for r in group["outcomeReference"]]
    assert [s["identifier"][0]["value"] for s in sessions] == ["ep-1/s1", "ep-1/s2", "ep-1/s4"]
    repeat = group["detail"]["scheduledTiming"]["repeat"]
    assert repeat["dayOfWeek"] == ["mon", "wed", "fri"]
    assert repeat["timeOfDay"] == ["09:00:00"]
    assert (repeat["duration"], repeat["durationUnit"]) == (180, "min")
    assert (repeat["frequency"], repeat["period"], repeat["periodUnit"]) == (1, 1, "d")
    urls = {e["url"] for e in group["detail"]["extension"]}
    assert urls == {EXT.DELIVERY_SETTING, EXT.THERAPY_MODALITY}
    assert entries[plan["activity"][2]["detail"]["performer"][0]["reference"]]["resourceType"] == (
        "Organization"
    )
    assert [n.get("authorReference") is not None for n in plan["note"]] == [True, False]
    author = entries[plan["note"][0]["authorReference"]["reference"]]
    assert author["resourceType"] == "Practitioner"  # Annotation cannot point to a role
    assert len(plan["goal"]) == 2
    assert len(plan["careTeam"]) == 2


def test_relapse_prevention_plan(rich: list[dict[str, Any]]) -> None:
    plan = by_identifier(rich, "careplan", "ep-1/rp")
    codes = [a["detail"]["code"]["coding"][0]["code"] for a in plan["activity"]]
    assert codes == [
        "trigger",
        "trigger",
        "warning-sign",
        "coping-strategy",
        "daily-routine",
        "support",
        "support",
        "crisis-contact",
        "crisis-contact",
    ]
    assert [c["id"] for c in plan["contained"]] == ["line", "on-call"]
    assert plan["contained"][0]["type"] == [{"text": "24/7"}]
    assert plan["activity"][-2]["detail"]["performer"] == [{"reference": "#line"}]


def test_aftercare_plan(rich_episode: Episode) -> None:
    entries = dict(episode_entries(rich_episode))
    resources = list(entries.values())
    plan = by_identifier(resources, "careplan", "ep-1/ac")
    targets = [entries[a["reference"]["reference"]]["resourceType"] for a in plan["activity"][:4]]
    assert targets == ["ServiceRequest", "ServiceRequest", "Appointment", "Appointment"]
    assert [a["id"] for a in plan["activity"][4:]] == ["ci-1", "ci-2"]
    peer = by_identifier(resources, "servicerequest", "ep-1/r-peer")
    assert {c["code"] for c in peer["code"]["coding"]} == {"peer-support-group", "461481000124109"}
    ap1 = by_identifier(resources, "appointment", "ep-1/ap-1")
    assert entries[ap1["supportingInformation"][0]["reference"]]["resourceType"] == "Organization"
    assert all(
        entries[p["actor"]["reference"]]["resourceType"] != "Organization"
        for p in ap1["participant"]
    )
    ap2 = by_identifier(resources, "appointment", "ep-1/ap-2")
    assert ap2["end"] == ap2["start"]  # R4 app-2: no end in the domain


def test_goal(rich: list[dict[str, Any]]) -> None:
    goal = by_identifier(rich, "goal", "ep-1/g-dep")
    assert goal["lifecycleStatus"] == "active"
    assert goal["description"] == {"text": "PHQ-9 below 5"}
    (target,) = goal["target"]
    assert target["measure"]["coding"][0]["code"] == "44261-6"
    assert target["detailQuantity"] == {
        "value": 5,
        "comparator": "<",
        "unit": "{score}",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }
    assert target["dueDate"] == "2026-04-26"


def test_unknown_key_is_a_mapping_error(rich_episode: Episode) -> None:
    broken = rich_episode.model_copy(update={"care_manager": "nobody"})
    with pytest.raises(MappingError):
        episode_to_resources(broken)
