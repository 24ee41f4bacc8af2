"""The IOP domain model, in the program's own vocabulary and free of FHIR.

Import direction: this package uses :mod:`iopfhir.terminology` and :mod:`iopfhir.errors`
only; the FHIR mapping builds on it.
"""

from iopfhir.domain.common import Code, HumanName, Identifier, Period
from iopfhir.domain.episode import Diagnosis, Discharge, Episode, Program, Referral, WeekHours
from iopfhir.domain.files import (
    dump_episode,
    dump_episodes,
    episode_json_schema,
    load_episodes,
    parse_episodes,
)
from iopfhir.domain.measures import Measure
from iopfhir.domain.people import Organization, Patient, Practitioner, Support, Team, TeamMember
from iopfhir.domain.plans import (
    Activity,
    AftercareAppointment,
    AftercarePlan,
    AftercareReferral,
    CarePlan,
    CheckIn,
    CrisisContact,
    Goal,
    GoalTarget,
    RelapsePreventionPlan,
    Revision,
    Schedule,
    TreatmentPlan,
)
from iopfhir.domain.sessions import Session

__all__ = [
    "Activity",
    "AftercareAppointment",
    "AftercarePlan",
    "AftercareReferral",
    "CarePlan",
    "CheckIn",
    "Code",
    "CrisisContact",
    "Diagnosis",
    "Discharge",
    "Episode",
    "Goal",
    "GoalTarget",
    "HumanName",
    "Identifier",
    "Measure",
    "Organization",
    "Patient",
    "Period",
    "Practitioner",
    "Program",
    "Referral",
    "RelapsePreventionPlan",
    "Revision",
    "Schedule",
    "Session",
    "Support",
    "Team",
    "TeamMember",
    "TreatmentPlan",
    "WeekHours",
    "dump_episode",
    "dump_episodes",
    "episode_json_schema",
    "load_episodes",
    "parse_episodes",
]
