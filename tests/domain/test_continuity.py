"""Continuity of care in the domain: who spans inpatient -> IOP -> aftercare
(``Episode.continuity()``), the stay's clinicians and discharge plan, practitioners with
several roles, and the medication / allergy rules. Broken rules name their JSON path."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml
from domain_support import error_of

from iopfhir.domain import (
    Allergy,
    Code,
    Continuity,
    Episode,
    Practitioner,
    Reaction,
    dump_episode,
    parse_episodes,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FOREIGN = Code(system="http://example.org/roles", code="R7")


@pytest.fixture
def mh() -> dict[str, Any]:
    return _load_raw("mental-health-iop.yaml")


@pytest.fixture
def sud() -> dict[str, Any]:
    return _load_raw("co-occurring-sud-iop.yaml")


def _load_raw(name: str) -> dict[str, Any]:
    # the loaded episode dumped back is a canonical copy of the file's data
    (episode,) = parse_episodes(_safe(name), source=name)
    return dump_episode(episode)


def _safe(name: str) -> Any:
    text = resources.files("iopfhir").joinpath(f"examples/{name}").read_text("utf-8")
    return yaml.safe_load(text)


def _episode(data: dict[str, Any]) -> Episode:
    (episode,) = parse_episodes(copy.deepcopy(data), source="episode.yaml")
    return episode


# -- continuity() -------------------------------------------------------------------------


def test_mental_health_therapist_spans_inpatient_iop_and_aftercare(mh: dict[str, Any]) -> None:
    result = _episode(mh).continuity()
    assert isinstance(result, Continuity)
    assert result.spanning() == ["th-nguyen"]
    assert result.phases_of("th-nguyen") == ["inpatient", "iop", "aftercare"]
    # the inpatient psychiatrist stays in the hospital; the IOP psychiatrist follows up
    assert result.phases_of("dr-okafor") == ["inpatient"]
    assert result.phases_of("dr-patel") == ["iop", "aftercare"]
    assert result.phases_of("co-brooks") == ["iop"]
    assert result.spanning("inpatient", "iop") == ["th-nguyen"]


def test_co_occurring_withdrawal_physician_continues_into_the_iop(sud: dict[str, Any]) -> None:
    result = _episode(sud).continuity()
    assert result.phases_of("dr-santos") == ["inpatient", "iop"]
    assert result.spanning() == []
    assert "inpatient" not in result.phases_of("np-kim")


def test_continuity_follows_the_data(mh: dict[str, Any]) -> None:
    # without the stay's consultant, the therapist no longer spans the inpatient phase
    mh["referral"]["stay_participants"] = [
        p for p in mh["referral"]["stay_participants"] if p["practitioner"] != "th-nguyen"
    ]
    result = _episode(mh).continuity()
    assert result.spanning() == []
    assert result.phases_of("th-nguyen") == ["iop", "aftercare"]


def test_practitioners_in_no_phase_are_left_out(mh: dict[str, Any]) -> None:
    mh["practitioners"].append({"key": "idle", "name": {"family": "Idle"}})
    result = _episode(mh).continuity()
    assert "idle" not in [c.practitioner for c in result.clinicians]
    assert result.phases_of("idle") == []


def test_an_episode_without_referral_has_no_inpatient_phase(mh: dict[str, Any]) -> None:
    del mh["referral"]
    result = _episode(mh).continuity()
    assert all("inpatient" not in c.phases for c in result.clinicians)
    assert result.clinicians  # the IOP team is still there


# -- referral rules ------------------------------------------------------------------------


def test_stay_participant_must_be_a_practitioner(mh: dict[str, Any]) -> None:
    mh["referral"]["stay_participants"][1]["practitioner"] = "mother"
    assert error_of(mh).path == "$.referral.stay_participants[1].practitioner"


def test_stay_participants_need_a_stay(mh: dict[str, Any]) -> None:
    del mh["referral"]["stay"]
    mh["referral"]["organization"] = None
    assert error_of(mh).path == "$.referral.stay_participants"


def test_requesting_practitioner_and_organization_need_a_stay(mh: dict[str, Any]) -> None:
    del mh["referral"]["stay"]
    mh["referral"]["stay_participants"] = []
    assert error_of(mh).path == "$.referral.organization"
    mh["referral"]["organization"] = None
    assert _episode(mh).referral is not None


def test_unknown_participation_is_a_schema_error(mh: dict[str, Any]) -> None:
    mh["referral"]["stay_participants"][0]["role"] = "surgeon"
    assert error_of(mh).path == "$.referral.stay_participants[0].role"


def test_discharge_plan_author_must_be_a_practitioner(mh: dict[str, Any]) -> None:
    mh["referral"]["discharge_plan"]["author"] = "patient"
    assert error_of(mh).path == "$.referral.discharge_plan.author"


# -- several roles -------------------------------------------------------------------------


def test_practitioner_holds_several_roles(mh: dict[str, Any]) -> None:
    ep = _episode(mh)
    hughes = next(p for p in ep.practitioners if p.key == "cm-hughes")
    assert hughes.roles == ["case-manager", "social-worker"]
    assert hughes.role == "case-manager"  # the first, as files with one role read


def test_legacy_role_reads_as_the_first_role() -> None:
    old = Practitioner.model_validate({"key": "p", "name": {"family": "X"}, "role": "therapist"})
    assert old.roles == ["therapist"] and old.role == "therapist" and old.role_code is None
    both = Practitioner.model_validate(
        {"key": "p", "name": {"family": "X"}, "role": "therapist", "roles": ["psychologist"]}
    )
    assert both.roles == ["therapist", "psychologist"]
    foreign = Practitioner.model_validate(
        {"key": "p", "name": {"family": "X"}, "role_code": FOREIGN.model_dump()}
    )
    assert foreign.role_codes == [FOREIGN] and foreign.role_code == FOREIGN
    # written back, an old file's role is the list form
    assert "role" not in old.model_dump(exclude_defaults=True)


def test_legacy_role_and_role_code_still_exclude_each_other(mh: dict[str, Any]) -> None:
    mh["practitioners"][0]["role"] = "therapist"
    mh["practitioners"][0]["role_code"] = {"system": "http://snomed.info/sct", "code": "1"}
    assert error_of(mh).path == "$.practitioners[0].role_code"


def test_unknown_role_in_the_list_is_a_schema_error(mh: dict[str, Any]) -> None:
    mh["practitioners"][4]["roles"].append("astronaut")
    assert error_of(mh).path == "$.practitioners[4].roles[2]"


# -- medications and allergies --------------------------------------------------------------


def test_examples_hold_sertraline_and_naltrexone(mh: dict[str, Any], sud: dict[str, Any]) -> None:
    mh_ep, sud_ep = _episode(mh), _episode(sud)
    assert [(m.code.system, m.code.code) for m in mh_ep.medications] == [(RXNORM, "312941")]
    assert [p.prescriber for p in mh_ep.prescriptions] == ["dr-patel"]
    assert [(m.code.system, m.code.code) for m in sud_ep.medications] == [(RXNORM, "1483744")]
    assert mh_ep.allergies[0].criticality == "low"
    assert mh_ep.allergies[0].reactions[0].severity == "mild"


@pytest.mark.parametrize(
    ("section", "field", "value", "path"),
    [
        ("medications", "reasons", ["nope"], "$.medications[0].reasons[0]"),
        ("medications", "source", "nobody", "$.medications[0].source"),
        ("prescriptions", "prescriber", "mother", "$.prescriptions[0].prescriber"),
        ("prescriptions", "key", "sertraline-use", "$.prescriptions[0].key"),
        ("allergies", "recorder", "patient", "$.allergies[0].recorder"),
    ],
)
def test_medication_references_are_checked(
    mh: dict[str, Any], section: str, field: str, value: Any, path: str
) -> None:
    mh[section][0][field] = value
    assert error_of(mh).path == path


def test_allergy_status_rules() -> None:
    sulfa = Code(system="http://snomed.info/sct", code="763875007")
    in_error = Allergy(key="a", code=sulfa, verification_status="entered-in-error")
    assert in_error.clinical_status is None  # the default active does not apply
    with pytest.raises(ValueError, match="no clinical status"):
        Allergy(
            key="a", code=sulfa, verification_status="entered-in-error", clinical_status="active"
        )
    with pytest.raises(ValueError, match="required unless"):
        Allergy(key="a", code=sulfa, clinical_status=None)
    rash = Reaction(manifestation=Code(system="http://snomed.info/sct", code="271807003"))
    assert Allergy(key="a", code=sulfa, reactions=[rash]).clinical_status == "active"
