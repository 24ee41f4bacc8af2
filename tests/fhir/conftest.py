"""Fixtures for the FHIR mapping tests: rich episodes built in code, the example files,
and the shared corpus folder.

``rich_episode`` covers every domain field the builder maps: all three plan kinds,
attended (with and without actual times) / scheduled / no-show / cancelled sessions,
telehealth, family attendees, every instrument (PHQ-9 with difficulty, PHQ-2, GAD-7,
AUDIT-C, C-SSRS; answers only, total only, both, partial), a referral with an inpatient
stay, a discharge, teams with roles and without. ``part2_episode`` is a second episode
of another patient with Part 2 on that shares a practitioner (same NPI) and an
organization with the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from iopfhir.domain import (
    Activity,
    AftercareAppointment,
    AftercarePlan,
    AftercareReferral,
    Allergy,
    CheckIn,
    Code,
    CrisisContact,
    Diagnosis,
    Discharge,
    DischargePlan,
    Episode,
    Goal,
    GoalTarget,
    HumanName,
    Identifier,
    Measure,
    MedicationUse,
    Organization,
    Patient,
    Period,
    Practitioner,
    Prescription,
    Program,
    Reaction,
    Referral,
    RelapsePreventionPlan,
    Revision,
    Schedule,
    Session,
    StayParticipant,
    Support,
    Team,
    TeamMember,
    TreatmentPlan,
    load_episodes,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
NPI = "http://hl7.org/fhir/sid/us-npi"
EST = timezone(timedelta(hours=-5))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A timestamp in March 2026, US Eastern (standard) time."""
    return datetime(2026, 3, day, hour, minute, tzinfo=EST)


def _organizations() -> list[Organization]:
    return [
        Organization(
            key="site",
            name="Lakeside IOP",
            identifiers=[Identifier(system=NPI, value="1467582093")],
            phone="+1-555-0100",
            kind="provider",
        ),
        Organization(key="hospital", name="Mercy General", kind="provider"),
        Organization(key="aa", name="Tuesday AA group", kind="community"),
    ]


def _practitioners() -> list[Practitioner]:
    return [
        Practitioner(
            key="th",
            name=HumanName(family="Nguyen", given=["Lena"]),
            identifiers=[Identifier(system=NPI, value="1811029384")],
            role="therapist",
            organization="site",
            phone="+1-555-0101",
            email="lnguyen@example.org",
        ),
        Practitioner(
            key="md",
            name=HumanName(family="Patel", given=["Anika"]),
            identifiers=[Identifier(system=NPI, value="1245893017")],
            role="psychiatrist",
            organization="site",
        ),
        Practitioner(
            key="ref-md",
            name=HumanName(family="Okafor"),
            role_code=Code(system="http://example.org/roles", code="R7", display="Attending"),
            organization="hospital",
        ),
        Practitioner(
            key="cm", name=HumanName(family="Hughes", given=["Maria"]), role="case-manager"
        ),
        Practitioner(key="peer", name=HumanName(family="Lee"), role="peer-support"),
        Practitioner(key="locum", name=HumanName(family="Ortiz")),
    ]


SERTRALINE = Code(system="http://www.nlm.nih.gov/research/umls/rxnorm", code="312941")


def _rich(key: str, patient: Patient, *, part2: bool) -> Episode:
    period = Period(start=date(2026, 3, 2), end=date(2026, 4, 26))
    goals = [
        Goal(
            key="g-dep",
            description="PHQ-9 below 5",
            lifecycle_status="active",
            achievement_status="improving",
            start=date(2026, 3, 2),
            targets=[
                GoalTarget(instrument="phq-9", comparator="<", value=5, due=date(2026, 4, 26))
            ],
            addresses=["mdd"],
        ),
        Goal(
            key="g-alc",
            description="AUDIT-C below 3",
            targets=[GoalTarget(instrument="audit-c", comparator="<=", value=2)],
            addresses=["aud"],
        ),
    ]
    activities = [
        Activity(
            key="a-group",
            kind="group-therapy",
            title="CBT group",
            modality="cbt",
            status="in-progress",
            lead="th",
            setting="in-person",
            schedule=Schedule(
                days=["mon", "wed", "fri"],
                start_time=time(9, 0),
                duration_minutes=180,
                period=period,
            ),
            goals=["g-dep"],
        ),
        Activity(
            key="a-family",
            kind="family-therapy",
            modality="supportive",
            lead="th",
            setting="telehealth",
            schedule=Schedule(duration_minutes=60),
        ),
        Activity(
            key="a-foreign",
            kind_code=Code(system="http://example.org/acts", code="X1"),
            status="not-started",
            lead="site",
        ),
    ]
    treatment = TreatmentPlan(
        key="tp",
        title="IOP treatment plan",
        status="active",
        period=period,
        created=date(2026, 3, 2),
        author="th",
        addresses=["mdd", "aud"],
        goals=goals,
        revisions=[
            Revision(date=date(2026, 3, 13), author="th", summary="Added family sessions."),
            Revision(date=at(27, 15), summary="Medication increased."),
        ],
        activities=activities,
    )
    relapse = RelapsePreventionPlan(
        key="rp",
        title="Safety plan",
        author="th",
        addresses=["mdd"],
        goals=[Goal(key="g-cope", description="Use the coping plan")],
        triggers=["Conflict at work", "Poor sleep"],
        warning_signs=["Withdrawing from friends"],
        coping_strategies=["Paced breathing"],
        daily_routines=["Walk 20 minutes"],
        supports=["mother", "peer"],
        crisis_contacts=[
            CrisisContact(key="line", name="988 Lifeline", phone="988", note="24/7"),
            CrisisContact(key="on-call", name="Clinician on call", phone="+1-555-0109"),
        ],
    )
    aftercare = AftercarePlan(
        key="ac",
        status="draft",
        period=Period(start=date(2026, 4, 27)),
        author="cm",
        referrals=[
            AftercareReferral(
                key="r-ther",
                service="outpatient-therapy",
                authored=date(2026, 4, 20),
                requester="cm",
                practitioner="th",
                reason="Weekly CBT",
            ),
            AftercareReferral(
                key="r-peer", service="peer-support-group", organization="aa", status="draft"
            ),
        ],
        appointments=[
            AftercareAppointment(
                key="ap-1",
                service="outpatient-therapy",
                start=datetime(2026, 4, 30, 16, tzinfo=EST),
                end=datetime(2026, 4, 30, 17, tzinfo=EST),
                practitioner="th",
                organization="site",
                referral="r-ther",
            ),
            AftercareAppointment(
                key="ap-2", service="psychiatry", start=datetime(2026, 5, 14, 10, tzinfo=EST)
            ),
        ],
        check_ins=[
            CheckIn.model_validate({"key": "ci-1", "due": date(2026, 5, 26), "with": "cm"}),
            CheckIn(key="ci-2", due=date(2026, 7, 26), method="video", status="not-started"),
        ],
    )
    sessions = [
        Session(
            key="s1",
            kind="group-therapy",
            status="attended",
            start=at(2, 9),
            end=at(2, 12),
            actual_start=at(2, 9, 5),
            actual_end=at(2, 11, 55),
            facilitator="th",
            attendees=["peer"],
            activity="a-group",
        ),
        Session(
            key="s2",
            kind="group-therapy",
            status="attended",
            start=at(4, 9),
            end=at(4, 12),
            telehealth=True,
            facilitator="th",
            activity="a-group",
        ),
        Session(
            key="s3",
            kind="family-therapy",
            status="attended",
            start=at(6, 14),
            end=at(6, 15),
            facilitator="th",
            attendees=["mother"],
            activity="a-family",
        ),
        Session(
            key="s4",
            kind="group-therapy",
            status="no-show",
            start=at(9, 9),
            end=at(9, 12),
            telehealth=True,
            activity="a-group",
        ),
        Session(
            key="s5",
            kind="individual-therapy",
            status="cancelled",
            start=at(11, 9),
            end=at(11, 10),
            cancel_reason="Holiday",
            facilitator="md",
        ),
        Session(
            key="s6",
            kind_code=Code(system="http://example.org/sessions", code="S9", display="Other"),
            status="scheduled",
            start=at(30, 9),
            end=at(30, 10),
            facilitator="cm",
        ),
    ]
    phq9 = {f"q{i}": p for i, p in enumerate([1, 2, 1, 2, 1, 1, 0, 1, 1], start=1)}
    measures = [
        Measure(
            key="m-phq9",
            instrument="phq-9",
            date=at(2, 9),
            answers={**phq9, "difficulty": 1},
            session="s1",
            performer="th",
        ),
        Measure(
            key="m-phq9-total", instrument="phq-9", date=at(16, 9), total=6, performer=patient.key
        ),
        Measure(
            key="m-gad7",
            instrument="gad-7",
            date=at(2, 9),
            answers={f"q{i}": 1 for i in range(1, 8)},
            total=7,
            session="s1",
        ),
        Measure(key="m-phq2", instrument="phq-2", date=at(4, 9), answers={"q1": 2}, session="s2"),
        Measure(
            key="m-audit",
            instrument="audit-c",
            date=at(2, 10),
            answers={"q1": 2, "q2": 1, "q3": 0},
            performer="mother",
        ),
        Measure(
            key="m-cssrs",
            instrument="c-ssrs",
            date=at(2, 10),
            answers={"q1": 1, "q2": 0, "q6": 0},
            session="s1",
            performer="md",
        ),
        Measure(key="m-cssrs-total", instrument="c-ssrs", date=at(30, 9), total=0, session="s6"),
    ]
    return Episode(
        key=key,
        patient=patient,
        program=Program(name="Adult IOP", type="co-occurring", organization="site"),
        status="finished",
        admission=date(2026, 3, 2),
        referral=Referral(
            source="inpatient",
            date=date(2026, 2, 27),
            requester="ref-md",
            organization="hospital",
            reason="Step-down after inpatient stay",
            stay=Period(start=date(2026, 2, 18), end=date(2026, 2, 27)),
            stay_participants=[
                StayParticipant(practitioner="ref-md", role="attender"),
                StayParticipant(practitioner="th", role="consultant"),
                StayParticipant(practitioner="locum"),
            ],
            discharge_plan=DischargePlan(
                title="Inpatient discharge plan",
                created=date(2026, 2, 27),
                author="ref-md",
                description="Step down to IOP; continue sertraline",
            ),
        ),
        discharge=Discharge(date=date(2026, 4, 26), disposition="step-down"),
        part2=part2,
        care_manager="cm",
        organizations=_organizations(),
        practitioners=_practitioners(),
        supports=[
            Support(
                key="mother",
                name=HumanName(family="Rivera", given=["Carmen"]),
                relationship="mother",
                phone="+1-555-0177",
            )
        ],
        teams=[
            Team(
                key="team",
                name="IOP team A",
                organization="site",
                period=period,
                members=[
                    TeamMember(member="th", role="therapist"),
                    TeamMember(member="md", role="psychiatrist"),
                    TeamMember(member="cm", role="case-manager"),
                    TeamMember(member="peer", role="peer-support"),
                    TeamMember(member="mother", role="caregiver"),
                    TeamMember(member=patient.key),
                    TeamMember(
                        member="site",
                        role_code=Code(system="http://example.org/roles", code="host"),
                        period=Period(start=date(2026, 3, 2)),
                    ),
                ],
            ),
            Team(key="team-2", status=None, members=[TeamMember(member="locum")]),
        ],
        diagnoses=[
            Diagnosis(
                key="mdd",
                code=Code(
                    system="http://hl7.org/fhir/sid/icd-10-cm",
                    code="F33.1",
                    display="Major depressive disorder, recurrent, moderate",
                ),
                onset=date(2019, 5, 1),
                recorded=date(2026, 2, 18),
            ),
            Diagnosis(
                key="aud",
                code=Code(system="http://hl7.org/fhir/sid/icd-10-cm", code="F10.20"),
                category="encounter-diagnosis",
                clinical_status="active",
                verification_status="provisional",
            ),
            Diagnosis(
                key="hc",
                code=Code(system="http://snomed.info/sct", code="35489007"),
                category="health-concern",
                clinical_status=None,
                verification_status=None,
            ),
        ],
        care_plans=[treatment, relapse, aftercare],
        sessions=sessions,
        measures=measures,
        medications=[
            MedicationUse(
                key="sertraline",
                code=SERTRALINE,
                period=Period(start=date(2026, 2, 20)),
                dosage="50 mg daily",
                reasons=["mdd"],
                source=patient.key,
            )
        ],
        prescriptions=[
            Prescription(
                key="sertraline-rx",
                code=SERTRALINE,
                authored=date(2026, 3, 2),
                prescriber="md",
                reasons=["mdd"],
                refills=1,
            )
        ],
        allergies=[
            Allergy(
                key="sulfa",
                code=Code(system="http://snomed.info/sct", code="763875007"),
                category="medication",
                criticality="low",
                recorder="md",
                reactions=[
                    Reaction(
                        manifestation=Code(system="http://snomed.info/sct", code="271807003"),
                        severity="mild",
                    )
                ],
            )
        ],
    )


def make_rich_episode(part2: bool = False) -> Episode:
    """The rich episode (patient MRN-1); with ``part2`` a second patient (MRN-2)."""
    if part2:
        patient = Patient(
            key="pt",
            identifiers=[Identifier(system="urn:oid:2.16.840.1.113883.3.1", value="MRN-2")],
            name=HumanName(family="Doe", given=["Sam"]),
            gender="male",
        )
        return _rich("ep-2", patient, part2=True)
    patient = Patient(
        identifiers=[
            Identifier(system="urn:oid:2.16.840.1.113883.3.1", value="MRN-1"),
            Identifier(system="urn:oid:2.16.840.1.113883.3.9", value="X-1"),
        ],
        name=HumanName(family="Rivera", given=["Dana", "M."]),
        birth_date=date(1991, 7, 14),
        gender="female",
        phone="+1-555-0142",
    )
    return _rich("ep-1", patient, part2=False)


@pytest.fixture(scope="session")
def make_rich() -> Callable[..., Episode]:
    """The factory of the rich episodes (a fresh, equal object on every call)."""
    return make_rich_episode


@pytest.fixture(scope="session")
def rich_episode() -> Episode:
    """The rich episode, Part 2 off."""
    return make_rich_episode()


@pytest.fixture(scope="session")
def part2_episode() -> Episode:
    """Another patient's rich episode, Part 2 on, sharing practitioners and organizations."""
    return make_rich_episode(part2=True)


@pytest.fixture(scope="session")
def minimal_episode() -> Episode:
    """An episode with a patient and nothing else (no EpisodeOfCare)."""
    return Episode(
        key="ep-min",
        patient=Patient(identifiers=[Identifier(system="urn:x", value="min")]),
    )


@pytest.fixture(scope="session")
def example_episodes() -> list[Episode]:
    """Every episode of ``examples/*.yaml`` (none until the examples land)."""
    return [ep for path in EXAMPLES for ep in load_episodes(path)]


@pytest.fixture(scope="session")
def all_episodes(
    rich_episode: Episode,
    part2_episode: Episode,
    minimal_episode: Episode,
    example_episodes: list[Episode],
) -> list[Episode]:
    """Every test episode: the rich ones, the minimal one and the examples."""
    return [rich_episode, part2_episode, minimal_episode, *example_episodes]


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus folder (``IOPFHIR_CORPUS``); fails, never skips, without it."""
    value = os.environ.get("IOPFHIR_CORPUS")
    if not value:
        pytest.fail("IOPFHIR_CORPUS is not set: it must name the shared corpus folder")
    root = Path(value)
    if not (root / "spec").is_dir():
        pytest.fail(f"IOPFHIR_CORPUS={value!r} is not the corpus folder (no spec/ inside)")
    return root
