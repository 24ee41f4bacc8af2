"""Every example in examples/ loads, is shipped in the package unchanged, and keeps its story."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from iopfhir.domain import load_episodes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(FILES) >= 2


@pytest.mark.parametrize("name", FILES)
def test_packaged_copy_is_identical(name: str) -> None:
    packaged = resources.files("iopfhir").joinpath(f"examples/{name}").read_bytes()
    assert packaged == (EXAMPLES / name).read_bytes()


def test_mental_health_example_story() -> None:
    (ep,) = load_episodes(EXAMPLES / "mental-health-iop.yaml")
    assert ep.program is not None and ep.program.type == "mental-health"
    assert ep.referral is not None and ep.referral.source == "inpatient" and ep.referral.stay
    statuses = [s.status for s in ep.sessions]
    assert statuses.count("no-show") == 1 and any(s.telehealth for s in ep.sessions)
    assert any(s.kind == "family-therapy" and s.attendees for s in ep.sessions)
    phq = [m.score for m in ep.measures if m.instrument == "phq-9"]
    assert phq == [18, 14, 11, 8, 4]  # response (>= 50 % drop) and remission (< 5)
    # the inpatient therapist's identity continues into aftercare
    aftercare = ep.aftercare
    assert aftercare is not None
    assert any(r.practitioner == "th-nguyen" for r in aftercare.referrals)
    weeks = ep.weekly_hours()
    assert len(weeks) == 8 and [w.below_minimum for w in weeks].count(True) == 4


def test_substance_use_example_story() -> None:
    (ep,) = load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")
    assert ep.part2 is True
    assert {m.instrument for m in ep.measures} >= {"audit-c", "c-ssrs", "phq-9"}
    assert ep.relapse_prevention is not None and ep.relapse_prevention.triggers
    aftercare = ep.aftercare
    assert aftercare is not None
    assert "peer-support-group" in {r.service for r in aftercare.referrals}
