"""The 42 CFR Part 2 consent in the domain: what a consent may say, the JSON path of what
it names wrongly, and the decision for one disclosure (issue 12, point 6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iopfhir.domain import Consent, Episode, load_episodes
from iopfhir.domain.files import episode_json_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
GIVEN = date(2026, 5, 4)
DAY = date(2026, 7, 1)


def consent(**changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "key": "roi",
        "date": GIVEN,
        "period": {"start": "2026-05-04", "end": "2027-05-03"},
        "provisions": [{"type": "permit", "recipients": ["valley"], "purposes": ["TREAT"]}],
    }
    fields.update(changes)
    return Consent.model_validate(fields)


@pytest.mark.parametrize(
    ("case", "changes", "recipient", "purpose", "day"),
    [
        ("expired", {}, "valley", "TREAT", date(2027, 5, 4)),
        ("not yet given", {}, "valley", "TREAT", date(2026, 5, 3)),
        ("revoked", {"status": "inactive", "revoked": date(2026, 6, 1)}, "valley", "TREAT", DAY),
        ("other recipient", {}, "harbor", "TREAT", DAY),
        ("other purpose", {}, "valley", "HPAYMT", DAY),
        ("draft", {"status": "draft"}, "valley", "TREAT", DAY),
        ("no provisions", {"provisions": []}, "valley", "TREAT", DAY),
    ],
)
def test_what_a_consent_does_not_permit(
    case: str, changes: dict[str, Any], recipient: str, purpose: str, day: date
) -> None:
    assert consent().decision("valley", "TREAT", DAY) is True  # the baseline permits
    assert consent(**changes).decision(recipient, purpose, day) is False, case


def test_the_period_bounds_are_whole_days_and_timestamps_compare_as_moments() -> None:
    c = consent()
    assert c.decision("valley", "TREAT", date(2027, 5, 3))
    assert c.decision("valley", "TREAT", datetime(2027, 5, 3, 23, 0, tzinfo=UTC))
    timed = consent(period={"start": "2026-05-04T12:00:00+00:00"})
    assert not timed.decision("valley", "TREAT", datetime(2026, 5, 4, 11, 0, tzinfo=UTC))
    assert timed.decision("valley", "TREAT", datetime(2026, 5, 4, 13, 0, tzinfo=UTC))


def test_deny_wins_over_permit() -> None:
    deny = {"type": "deny", "purposes": ["TREAT"]}
    permit = {"type": "permit", "recipients": ["valley"]}
    assert consent(provisions=[permit]).decision("valley", "TREAT", DAY)
    assert not consent(provisions=[permit, deny]).decision("valley", "TREAT", DAY)
    assert consent(provisions=[permit, deny]).decision("valley", "COC", DAY)


def test_a_permit_covers_data_only_when_it_covers_every_sensitivity() -> None:
    sud_only = consent(provisions=[{"type": "permit", "data": ["substance-use"]}])
    assert sud_only.decision("x", "TREAT", DAY, ["substance-use"])
    assert not sud_only.decision("x", "TREAT", DAY, ["substance-use", "mental-health"])
    both = consent(provisions=[{"type": "permit", "data": ["substance-use", "mental-health"]}])
    assert both.decision("x", "TREAT", DAY, ["substance-use", "mental-health"])
    # a deny for mental-health data applies to data that is also substance-use data
    deny_psy = consent(provisions=[{"type": "permit"}, {"type": "deny", "data": ["mental-health"]}])
    assert deny_psy.decision("x", "TREAT", DAY, ["substance-use"])
    assert not deny_psy.decision("x", "TREAT", DAY, ["substance-use", "mental-health"])


def test_provision_period_limits_the_provision() -> None:
    c = consent(
        provisions=[
            {"type": "permit", "period": {"start": "2026-06-01", "end": "2026-06-30"}},
        ]
    )
    assert c.decision("x", "TREAT", date(2026, 6, 15))
    assert not c.decision("x", "TREAT", DAY)


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"revoked": date(2026, 6, 1)}, "revoked"),
        ({"status": "inactive", "revoked": date(2026, 5, 1)}, "revoked"),
        ({"provisions": [{"type": "permit", "purposes": ["NOT-A-PURPOSE"]}]}, "purposes"),
        ({"provisions": [{"type": "maybe"}]}, "type"),
        ({"policy": "HIPAA"}, "policy"),
    ],
)
def test_bad_consents_are_refused_where_they_are_wrong(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        consent(**changes)
    error = info.value.errors()[0]
    assert where in [str(p) for p in error["loc"]] or where in error["msg"]
    assert "NOT-A-PURPOSE" not in error["msg"]  # says where, not what


def _example() -> Episode:
    return load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")[0]


def test_the_example_has_a_consent_naming_an_organization_of_the_episode() -> None:
    episode = _example()
    assert episode.part2 and len(episode.consents) == 1
    c = episode.consents[0]
    assert c.decision("valley-withdrawal", "TREAT", DAY)
    assert not c.decision("valley-withdrawal", "HPAYMT", DAY)
    assert not c.decision("harbor-recovery", "TREAT", DAY)


def test_a_recipient_must_be_an_organization_of_the_episode() -> None:
    data = _example().model_dump(mode="json")
    data["consents"][0]["provisions"][0]["recipients"] = ["valley-withdrawal", "nobody-here"]
    with pytest.raises(ValidationError) as info:
        Episode.model_validate(data)
    assert "$.consents[0].provisions[0].recipients[1]" in str(info.value)
    assert "nobody-here" not in str(info.value)
    data["consents"][0]["provisions"][0]["recipients"] = ["valley-withdrawal"]
    data["consents"].append(dict(data["consents"][0]))
    with pytest.raises(ValidationError) as info:
        Episode.model_validate(data)
    assert "$.consents[1].key" in str(info.value)


def test_the_episode_schema_knows_consents() -> None:
    schema = episode_json_schema()
    assert "consents" in schema["$defs"]["Episode"]["properties"]
    text = str(schema["$defs"])
    assert "revoked" in text and "provisions" in text
