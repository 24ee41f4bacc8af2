"""Weekly reviews in FHIR: one Provenance per review (what it targets, when, who, in which
session, what it set), the Goal's current status, the profiles, and reading back."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Episode, load_episodes
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle
from iopfhir.fhir.conventions import EXT, PROFILE, identifier_system
from iopfhir.fhir.ndjson import to_ndjson
from iopfhir.fhir.read import read_fhir
from iopfhir.validation import Validator

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"


@pytest.fixture(scope="module")
def mh() -> Episode:
    return load_episodes(PACKAGED / "mental-health-iop.yaml")[0]


def _with_session(episode: Episode) -> Episode:
    """The example with its first review held in an attended session."""
    session = next(s for s in episode.sessions if s.status == "attended")
    first = episode.reviews[0].model_copy(update={"session": session.key})
    return episode.model_copy(update={"reviews": [first, *episode.reviews[1:]]})


def _urls(episode: Episode) -> dict[tuple[str, str], str]:
    """(resource type, iopfhir key) → full URL, from the identifiers written."""
    out = {}
    for url, res in episode_entries(episode):
        idents = res.get("identifier") or []
        for ident in idents if isinstance(idents, list) else [idents]:
            out[(res["resourceType"], ident["value"].rsplit("/", 1)[-1])] = url
    return out


def _provenances(episode: Episode) -> list[dict[str, Any]]:
    return [r for _u, r in episode_entries(episode) if r["resourceType"] == "Provenance"]


def _ext(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) if e["url"] == url]


def _parts(ext: dict[str, Any]) -> dict[str, Any]:
    return {
        p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in ext["extension"]
    }


# -- what comes out ------------------------------------------------------------------------


def test_one_provenance_per_review_after_everything_it_names(mh: Episode) -> None:
    entries = episode_entries(mh)
    kinds = [r["resourceType"] for _u, r in entries]
    assert kinds.count("Provenance") == len(mh.reviews) == 3
    first = kinds.index("Provenance")
    assert set(kinds[first:]) == {"Provenance"}  # written last: they point at the rest
    idents = [_ext(r, EXT.RECORD_IDENTIFIER)[0]["valueIdentifier"] for r in _provenances(mh)]
    assert idents == [
        {"system": identifier_system("review"), "value": f"{mh.key}/{r.key}"} for r in mh.reviews
    ]


def test_the_provenance_says_what_when_who_and_where(mh: Episode) -> None:
    episode = _with_session(mh)
    urls = _urls(episode)
    first, second, last = _provenances(episode)
    assert first["meta"]["profile"] == [PROFILE.PROVENANCE_REVIEW]
    # targets: the goals set, then the plans changed (once each)
    assert [t["reference"] for t in first["target"]] == [
        urls[("Goal", "goal-depression")],
        urls[("CarePlan", "treatment-plan")],
    ]
    assert [t["reference"] for t in second["target"]] == [
        urls[("Goal", "goal-anxiety")],
        urls[("CarePlan", "treatment-plan")],
    ]
    assert [t["reference"] for t in last["target"]] == [
        urls[("Goal", k)] for k in ("goal-depression", "goal-anxiety", "goal-attendance")
    ]
    assert first["occurredDateTime"] == "2026-03-13"
    assert first["recorded"] == "2026-03-13T00:00:00Z"
    assert first["activity"] == {"coding": [{"system": DATA_OPERATION, "code": "UPDATE"}]}
    (agent,) = first["agent"]
    assert agent["type"] == {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]}
    assert agent["who"]["reference"] == urls[("PractitionerRole", "th-nguyen")]
    assert second["agent"][0]["who"]["reference"] == urls[("PractitionerRole", "dr-patel")]
    session = episode.reviews[0].session
    assert first["entity"] == [
        {"role": "source", "what": {"reference": urls[("Appointment", session)]}}
    ]
    assert "entity" not in second


def test_the_statuses_each_review_set_are_in_extensions(mh: Episode) -> None:
    urls = _urls(mh)
    first, second, last = _provenances(mh)
    (goal_change,) = _ext(first, EXT.GOAL_STATUS_CHANGE)
    assert _parts(goal_change) == {
        "goal": {"reference": urls[("Goal", "goal-depression")]},
        "lifecycleStatus": "active",
        "achievementStatus": {"coding": [{"system": ACHIEVEMENT, "code": "improving"}]},
        "note": "PHQ-9 down from baseline; continue CBT group.",
    }
    (plan_change,) = _ext(first, EXT.PLAN_CHANGE)
    assert _parts(plan_change) == {
        "plan": {"reference": urls[("CarePlan", "treatment-plan")]},
        "activity": "act-family",
        "change": "added",
        "note": "Family sessions in weeks 3 and 6.",
    }
    assert [_parts(e)["activity"] for e in _ext(second, EXT.PLAN_CHANGE)] == [
        "act-med-mgmt",
        "act-dbt-skills",
    ]
    assert [
        (_parts(e)["lifecycleStatus"], _parts(e)["achievementStatus"]["coding"][0]["code"])
        for e in _ext(last, EXT.GOAL_STATUS_CHANGE)
    ] == [("completed", "achieved"), ("completed", "achieved"), ("completed", "not-achieved")]


def test_the_goal_carries_its_latest_review(mh: Episode) -> None:
    goals = {
        r["identifier"][0]["value"].rsplit("/", 1)[-1]: r
        for _u, r in episode_entries(mh)
        if r["resourceType"] == "Goal"
    }
    attendance = goals["goal-attendance"]
    assert attendance["lifecycleStatus"] == "completed"
    assert attendance["achievementStatus"]["coding"][0]["code"] == "not-achieved"
    assert attendance["statusDate"] == "2026-04-24"
    assert attendance["statusReason"] == "Two weeks under 9 hours."
    assert "statusReason" not in goals["goal-depression"]  # its latest review gave no note
    # a goal no review touched has no status date
    assert "statusDate" not in goals["goal-coping"]


def test_a_timestamped_review_keeps_its_time(mh: Episode) -> None:
    data = mh.model_dump(by_alias=True)
    data["reviews"][2]["date"] = "2026-04-24T16:30:00-04:00"
    episode = Episode.model_validate(data)
    last = _provenances(episode)[2]
    assert last["occurredDateTime"] == last["recorded"] == "2026-04-24T16:30:00-04:00"
    assert read_fhir(collection_bundle([episode])).episodes == [episode]


def test_part2_labels_reach_the_provenance(mh: Episode) -> None:
    provenance = _provenances(mh.model_copy(update={"part2": True}))[0]
    assert {s["code"] for s in provenance["meta"]["security"]} == {"R", "ETH", "42CFRPart2"}


def test_a_transaction_puts_the_provenance_by_the_id_of_its_full_url(mh: Episode) -> None:
    bundle = transaction_bundle([mh])
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert len(entries) == 3
    for entry in entries:
        rid = entry["fullUrl"].removeprefix("urn:uuid:")
        assert entry["resource"]["id"] == rid
        assert entry["request"] == {"method": "PUT", "url": f"Provenance/{rid}"}
    assert transaction_bundle([mh]) == bundle  # deterministic


# -- conformance ---------------------------------------------------------------------------


@functools.cache
def _validator() -> Validator:
    return Validator.with_iop_profiles()


def _errors(resources: dict[str, Any]) -> list[str]:
    report = _validator().validate(resources)
    return [f"{i.path}: {i.message}" for i in report.issues if i.severity in ("error", "fatal")]


def test_reviews_conform_to_r4_and_the_iop_profiles(mh: Episode) -> None:
    assert _errors(transaction_bundle([_with_session(mh)])) == []


@pytest.mark.parametrize(
    "break_it",
    [
        # a plan change that is not added / stopped / changed
        lambda r: _ext(r, EXT.PLAN_CHANGE)[0]["extension"][2].update(valueCode="renamed"),
        # a review that records nothing
        lambda r: r.update(
            extension=[e for e in r["extension"] if e["url"] == EXT.RECORD_IDENTIFIER]
        ),
        # no record identifier
        lambda r: r.update(
            extension=[e for e in r["extension"] if e["url"] != EXT.RECORD_IDENTIFIER]
        ),
        # not an update
        lambda r: r["activity"]["coding"][0].update(code="CREATE"),
    ],
)
def test_the_review_profile_refuses(mh: Episode, break_it: Any) -> None:
    bundle = collection_bundle([mh])
    provenance = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance")
    broken = copy.deepcopy(provenance["resource"])
    break_it(broken)
    provenance["resource"] = broken
    assert _errors(bundle) != []


# -- reading back --------------------------------------------------------------------------


def test_reviews_read_back_exactly(mh: Episode) -> None:
    episode = _with_session(mh)
    for source in (
        collection_bundle([episode]),
        transaction_bundle([episode]),
        to_ndjson([episode]),
    ):
        result = read_fhir(source)
        assert result.episodes == [episode]
        assert result.unmapped == {}


def test_provenance_that_is_not_a_review_is_ignored(mh: Episode) -> None:
    bundle = collection_bundle([mh])
    goal = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal")
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:0b6f3f3e-1111-4c4c-9d9d-123456789abc",
            "resource": {
                "resourceType": "Provenance",
                "target": [{"reference": goal["fullUrl"]}],
                "recorded": "2026-03-02T10:00:00Z",
                "agent": [{"who": {"display": "EHR interface"}}],
            },
        }
    )
    result = read_fhir(bundle)
    assert result.episodes == [mh]
    assert result.ignored["Provenance"] == 1


def test_a_goal_edited_after_its_last_review_keeps_the_goal_and_counts_the_reviews(
    mh: Episode,
) -> None:
    bundle = collection_bundle([mh])
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Goal" and res["identifier"][0]["value"].endswith(
            "/goal-anxiety"
        ):
            res["lifecycleStatus"] = "on-hold"  # changed elsewhere, without a review
    result = read_fhir(bundle)
    (episode,) = result.episodes
    goal = next(g for g in episode.goals if g.key == "goal-anxiety")
    assert goal.lifecycle_status == "on-hold"
    # that goal's history goes (counted); the other goals' stays
    assert [[c.goal for c in r.goals] for r in episode.reviews] == [
        ["goal-depression"],
        [],
        ["goal-depression", "goal-attendance"],
    ]
    assert episode.reviews[1].plan_changes == mh.reviews[1].plan_changes
    assert result.unmapped == {
        "Provenance: goal history dropped (the Goal changed after its last review)": 1
    }


def test_a_review_of_a_goal_not_in_the_episode_is_counted(mh: Episode) -> None:
    bundle = collection_bundle([mh])
    last = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"][-1]
    ext = _ext(last["resource"], EXT.GOAL_STATUS_CHANGE)[2]
    ext["extension"][0]["valueReference"] = {"reference": "Goal/elsewhere"}
    result = read_fhir(bundle)
    (episode,) = result.episodes
    assert [c.goal for c in episode.reviews[2].goals] == ["goal-depression", "goal-anxiety"]
    assert result.unmapped["Provenance: goal status of a goal not in the episode"] == 1
