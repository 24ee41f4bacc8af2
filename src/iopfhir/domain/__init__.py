"""The IOP domain model, in the program's own vocabulary and free of FHIR.

Import direction: this package uses :mod:`iopfhir.terminology` and :mod:`iopfhir.errors`
only; the FHIR mapping builds on it.
"""

from iopfhir.domain.common import (
    Age,
    AgeRange,
    Code,
    Coding,
    ConditionTime,
    HumanName,
    Identifier,
    PartialDate,
    Period,
    date_text,
)
from iopfhir.domain.consent import Consent, Provision
from iopfhir.domain.continuity import ClinicianPhases, Continuity, DischargePlan, StayParticipant
from iopfhir.domain.diagnoses import Diagnosis, ListedDiagnosis
from iopfhir.domain.episode import Discharge, Episode, Program, Referral, WeekHours
from iopfhir.domain.files import (
    dump_episode,
    dump_episodes,
    episode_json_schema,
    load_episodes,
    parse_episodes,
)
from iopfhir.domain.measures import Measure
from iopfhir.domain.medications import Allergy, MedicationUse, Prescription, Reaction
from iopfhir.domain.people import (
    Location,
    Organization,
    Patient,
    Practitioner,
    Support,
    Team,
    TeamMember,
)
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
    Request,
    Revision,
    Schedule,
    TreatmentPlan,
)
from iopfhir.domain.reviews import (
    GoalStatusChange,
    PlanChange,
    Review,
    achievement_disagreements,
    derive_achievement,
    goal_history,
)
from iopfhir.domain.sessions import Session, SessionParticipant

__all__ = [
    "Activity",
    "AftercareAppointment",
    "AftercarePlan",
    "AftercareReferral",
    "Age",
    "AgeRange",
    "Allergy",
    "CarePlan",
    "CheckIn",
    "ClinicianPhases",
    "Code",
    "Coding",
    "ConditionTime",
    "Consent",
    "Continuity",
    "CrisisContact",
    "Diagnosis",
    "Discharge",
    "DischargePlan",
    "Episode",
    "Goal",
    "GoalStatusChange",
    "GoalTarget",
    "HumanName",
    "Identifier",
    "ListedDiagnosis",
    "Location",
    "Measure",
    "MedicationUse",
    "Organization",
    "PartialDate",
    "Patient",
    "Period",
    "PlanChange",
    "Practitioner",
    "Prescription",
    "Program",
    "Provision",
    "Reaction",
    "Referral",
    "RelapsePreventionPlan",
    "Request",
    "Review",
    "Revision",
    "Schedule",
    "Session",
    "SessionParticipant",
    "StayParticipant",
    "Support",
    "Team",
    "TeamMember",
    "TreatmentPlan",
    "WeekHours",
    "achievement_disagreements",
    "date_text",
    "derive_achievement",
    "dump_episode",
    "dump_episodes",
    "episode_json_schema",
    "goal_history",
    "load_episodes",
    "parse_episodes",
]
