"""Continuity of care in the FHIR that comes out (and is read back): the inpatient stay
Encounter with its clinicians and hospital, the referral requested by the inpatient
clinician and performed by the IOP, the IOP plan based on the hospital's discharge plan,
and a practitioner with several roles on one PractitionerRole."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest

from iopfhir.domain import Episode, TeamMember, load_episodes
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import PROFILE, identifier_system
from iopfhir.fhir.read import read_fhir
from iopfhir.terminology import role_coding
from iopfhir.validation import Validator

PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
NPI = "http://hl7.org/fhir/sid/us-npi"


def _example(name: str) -> Episode:
    ref = resources.files("iopfhir").joinpath(f"examples/{name}")
    with resources.as_file(ref) as path:
        (episode,) = load_episodes(path)
    return episode


@pytest.fixture(scope="module")
def mh() -> Episode:
    return _example("mental-health-iop.yaml")


@pytest.fixture(scope="module")
def sud() -> Episode:
    return _example("co-occurring-sud-iop.yaml")


class Out:
    """One episode's resources by full URL, with lookups by our identifiers."""

    def __init__(self, episode: Episode) -> None:
        self.entries = dict(episode_entries(episode))
        self.key = episode.key

    def get(self, ref: dict[str, str]) -> dict[str, Any]:
        return self.entries[ref["reference"]]

    def ours(self, rtype: str, kind: str, local: str) -> dict[str, Any]:
        want = {"system": identifier_system(kind), "value": f"{self.key}/{local}"}
        found = [
            r
            for r in self.entries.values()
            if r["resourceType"] == rtype and want in r.get("identifier", [])
        ]
        assert len(found) == 1, (rtype, kind, local)
        return found[0]

    def role_of(self, practitioner: str) -> dict[str, Any]:
        return self.ours("PractitionerRole", "practitionerrole", practitioner)

    def npi_of_role(self, role_ref: dict[str, str]) -> str:
        role = self.get(role_ref)
        assert role["resourceType"] == "PractitionerRole"
        prac = self.get(role["practitioner"])
        return next(i["value"] for i in prac["identifier"] if i["system"] == NPI)

    def org_npi(self, ref: dict[str, str]) -> str:
        org = self.get(ref)
        assert org["resourceType"] == "Organization"
        return next(i["value"] for i in org["identifier"] if i["system"] == NPI)


def _npi(episode: Episode, *, practitioner: str = "", organization: str = "") -> str:
    items = episode.practitioners if practitioner else episode.organizations
    key = practitioner or organization
    item = next(i for i in items if i.key == key)
    return next(i.value for i in item.identifiers if i.system == NPI)


def test_stay_encounter_has_its_clinicians_and_hospital(mh: Episode) -> None:
    out = Out(mh)
    referral = out.ours("ServiceRequest", "referral", "referral")
    stay = out.get(referral["encounter"])
    assert stay["class"]["code"] == "IMP"
    parts = stay["participant"]
    assert [p["type"][0]["coding"][0]["system"] for p in parts] == [PARTICIPATION] * 3
    assert [p["type"][0]["coding"][0]["code"] for p in parts] == ["ATND", "CON", "DIS"]
    assert [out.npi_of_role(p["individual"]) for p in parts] == [
        _npi(mh, practitioner="dr-okafor"),
        _npi(mh, practitioner="th-nguyen"),
        _npi(mh, practitioner="dr-okafor"),
    ]
    assert out.org_npi(stay["serviceProvider"]) == _npi(mh, organization="mercy-general")


def test_referral_is_requested_inpatient_and_performed_by_the_iop(mh: Episode) -> None:
    out = Out(mh)
    referral = out.ours("ServiceRequest", "referral", "referral")
    assert referral["requester"] == {"reference": _url(out.role_of("dr-okafor"), out)}
    assert out.npi_of_role(referral["requester"]) == _npi(mh, practitioner="dr-okafor")
    assert len(referral["performer"]) == 1
    iop = _npi(mh, organization="lakeside-iop")
    assert out.org_npi(referral["performer"][0]) == iop
    assert mh.program is not None and mh.program.organization == "lakeside-iop"
    # the hospital is not the performer any more
    assert all(
        out.org_npi(p) != _npi(mh, organization="mercy-general") for p in referral["performer"]
    )


def _url(resource: dict[str, Any], out: Out) -> str:
    return next(url for url, res in out.entries.items() if res is resource)


def test_iop_plan_is_based_on_the_discharge_plan(mh: Episode) -> None:
    out = Out(mh)
    assert mh.treatment_plan is not None
    plan = out.ours("CarePlan", "careplan", mh.treatment_plan.key)
    discharge = out.ours("CarePlan", "dischargeplan", "discharge-plan")
    discharge_url = _url(discharge, out)
    assert plan["basedOn"] == [{"reference": discharge_url}]
    referral = out.ours("ServiceRequest", "referral", "referral")
    assert referral["basedOn"] == [{"reference": discharge_url}]
    assert discharge["meta"]["profile"] == [PROFILE.CAREPLAN_DISCHARGE]
    assert discharge["intent"] == "plan" and discharge["status"] == "completed"
    assert discharge["category"][0]["coding"][0]["code"] == "inpatient-discharge"
    assert out.npi_of_role(discharge["author"]) == _npi(mh, practitioner="dr-okafor")
    assert discharge["encounter"] == referral["encounter"]
    # only the treatment plan continues it
    for other in mh.care_plans:
        if other.key != mh.treatment_plan.key:
            assert "basedOn" not in out.ours("CarePlan", "careplan", other.key)


def test_several_roles_on_one_practitioner_role(mh: Episode, sud: Episode) -> None:
    out = Out(mh)
    role = out.role_of("cm-hughes")
    codes = [c["coding"][0]["code"] for c in role["code"]]
    assert codes == [role_coding("case-manager").code, role_coding("social-worker").code]
    assert len([r for r in out.entries.values() if r["resourceType"] == "PractitionerRole"]) == len(
        mh.practitioners
    )
    kim = Out(sud).role_of("np-kim")
    assert [c["coding"][0]["code"] for c in kim["code"]] == [
        role_coding("psychiatric-np").code,
        role_coding("addiction-specialist").code,
    ]


def test_a_member_in_two_team_roles_round_trips(sud: Episode) -> None:
    # several roles on a team are several CareTeam participants with one member
    team = sud.teams[0]
    extra = TeamMember(member="np-kim", role="addiction-specialist")
    data = sud.model_dump()
    data["teams"][0]["members"].append(extra.model_dump())
    episode = Episode.model_validate(data)
    care_team = next(r for r in episode_entries(episode) if r[1]["resourceType"] == "CareTeam")[1]
    kim_role = Out(episode).role_of("np-kim")
    kim_url = next(u for u, r in episode_entries(episode) if r == kim_role)
    kim_parts = [p for p in care_team["participant"] if p["member"] == {"reference": kim_url}]
    assert len(kim_parts) == 2 and len(team.members) + 1 == len(care_team["participant"])
    assert read_fhir(transaction_bundle([episode])).episodes == [episode]


def test_continuity_survives_the_round_trip(mh: Episode, sud: Episode) -> None:
    result = read_fhir(transaction_bundle([mh, sud]))
    assert result.episodes == [mh, sud]
    assert not result.unmapped and not result.ignored
    back = result.episodes[0]
    assert back.continuity() == mh.continuity()
    assert back.continuity().spanning() == ["th-nguyen"]
    # the discharge plan is the referral's, not one more care plan of the episode
    assert back.referral is not None and back.referral.discharge_plan is not None
    assert len(back.care_plans) == len(mh.care_plans)


def test_a_performer_is_not_read_as_the_referring_organization(mh: Episode) -> None:
    bundle = transaction_bundle([mh])
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Encounter" and res["class"]["code"] == "IMP":
            del res["serviceProvider"]
    back = read_fhir(bundle).episodes[0]
    assert back.referral is not None
    assert back.referral.organization is None  # the IOP performer is not the hospital
    assert back.referral.requester == "dr-okafor"


def test_continuity_output_conforms_to_r4_and_the_profiles(mh: Episode, sud: Episode) -> None:
    report = Validator.with_iop_profiles().validate(transaction_bundle([mh, sud]))
    errors = [f"{i.path}: {i.message}" for i in report.issues if i.severity in ("error", "fatal")]
    assert errors == []


def test_a_broken_discharge_plan_is_caught_by_the_profile(mh: Episode) -> None:
    out = Out(mh)
    discharge = dict(out.ours("CarePlan", "dischargeplan", "discharge-plan"))
    discharge["category"] = [{"text": "no kind"}]
    del discharge["identifier"]
    report = Validator.with_iop_profiles().validate(discharge)
    errors = [f"{i.path} {i.message}" for i in report.issues if i.severity in ("error", "fatal")]
    assert any("iopKind" in e for e in errors)
    assert any("CarePlan.identifier" in e for e in errors)


def test_demo_says_who_spans_the_phases(capsys: pytest.CaptureFixture[str]) -> None:
    from iopfhir.cli import main

    assert main(["demo", "--offline"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("continuity"))
    assert "th-nguyen span inpatient -> IOP -> aftercare" in line
    assert "dr-okafor: inpatient" in out
    assert "1 taken, 1 prescribed, 1 allergies" in out
