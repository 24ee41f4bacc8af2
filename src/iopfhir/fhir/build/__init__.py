"""Domain → FHIR R4 (4.0.1): one IOP :class:`~iopfhir.domain.Episode` as plain resource dicts.

:func:`episode_to_resources` gives the resources of one episode in a fixed order;
:func:`episode_entries` gives them with their ``urn:uuid`` full URLs, in bundle style
(references to full URLs, no ``id``) or NDJSON style (``id`` = the uuid, references
``Type/id``). The shapes follow ``iopfhir/fhir/MAPPING.md``; bundles are built in
:mod:`iopfhir.fhir.bundle`, NDJSON files in :mod:`iopfhir.fhir.ndjson`.

Modules: ``_context`` (the per-episode context and shared constants), ``people``
(Patient, Organization, Practitioner, PractitionerRole, RelatedPerson), ``team``
(CareTeam), ``episode`` (EpisodeOfCare, referral ServiceRequest + stay Encounter +
discharge CarePlan, Condition), ``medications`` (MedicationStatement, MedicationRequest,
AllergyIntolerance), ``plans`` (CarePlan, Goal), ``aftercare`` (aftercare ServiceRequest and
Appointment, the aftercare CarePlan's activities), ``sessions`` (Appointment,
Encounter), ``measures`` (QuestionnaireResponse, Observation), ``safety`` (Flag,
RiskAssessment), ``reviews`` (a weekly review's Provenance). Each family's reader in
:mod:`iopfhir.fhir.read` has the same module name; ``MAPPING.md`` names both functions.

Output is deterministic (same episode → equal dicts in the same order; no clock, no
random ids). Resources share constant sub-objects: treat them as read-only.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`,
:mod:`iopfhir.errors`, :mod:`iopfhir.fhir.models` (``model=``: fhir.resources models).
"""

from __future__ import annotations

from typing import Any, overload

from iopfhir.domain import AftercarePlan, Episode
from iopfhir.errors import MappingError
from iopfhir.fhir.build._context import Context, Entry, Resource
from iopfhir.fhir.build.aftercare import aftercare_to_fhir, request_to_fhir
from iopfhir.fhir.build.consent import consents_to_fhir
from iopfhir.fhir.build.episode import (
    conditions_to_fhir,
    episode_of_care_to_fhir,
    referral_to_fhir,
)
from iopfhir.fhir.build.labels import label_conditions, label_measure
from iopfhir.fhir.build.measures import measure_to_fhir
from iopfhir.fhir.build.medications import medications_to_fhir
from iopfhir.fhir.build.narrative import narrate
from iopfhir.fhir.build.people import (
    location_to_fhir,
    organization_to_fhir,
    patient_to_fhir,
    practitioner_role_to_fhir,
    practitioner_to_fhir,
    support_to_fhir,
)
from iopfhir.fhir.build.plans import care_plan_to_fhir, goal_to_fhir
from iopfhir.fhir.build.questionnaires import questionnaire_to_fhir, questionnaires
from iopfhir.fhir.build.reviews import reviews_to_fhir
from iopfhir.fhir.build.sessions import session_to_fhir
from iopfhir.fhir.build.team import team_to_fhir
from iopfhir.fhir.models import Release, to_model

__all__ = [
    "Entry",
    "Resource",
    "episode_entries",
    "episode_to_resources",
    "questionnaire_to_fhir",
    "questionnaires",
    "with_derived",
]


def episode_entries(episode: Episode, *, ndjson: bool = False, derive: bool = False) -> list[Entry]:
    """``(full URL, resource)`` for every resource of ``episode``, in this order:

    Patient, Organizations, Locations, Practitioners, PractitionerRoles, RelatedPersons,
    CareTeams, Conditions, other ServiceRequests, EpisodeOfCare, referral ServiceRequest
    (+ stay Encounter, + discharge CarePlan), AllergyIntolerances, MedicationStatements,
    MedicationRequests, the Goals outside any plan, then per care
    plan its Goals, the CarePlan and (aftercare) its ServiceRequests and Appointments,
    then per session its Appointment (+ Encounter), then per measure its
    QuestionnaireResponse, Observations, Flags and RiskAssessment, then per review its
    Provenance, then per consent its Consent.

    ``ndjson``: resources carry ``id`` and reference each other as ``Type/id``.
    ``derive``: also write the derived resources a session or measure read from FHIR did
    not have (:func:`with_derived`); by default such a session or measure is written in
    the forms its source had (``Session.forms``, ``Measure.forms``), and an episode from an
    episode file (no forms recorded) in every form.
    Raises :class:`~iopfhir.errors.MappingError` if the episode names something it lacks
    (an episode that passed validation never does).
    """
    if derive:
        episode = with_derived(episode)
    try:
        return _entries(Context(episode, ndjson=ndjson))
    except KeyError as exc:
        raise MappingError(f"episode refers to unknown key {exc.args[0]!r}") from None


def _entries(ctx: Context) -> list[Entry]:
    ep = ctx.episode
    out: list[Entry] = [patient_to_fhir(ctx)]
    out += [organization_to_fhir(ctx, org) for org in ep.organizations if not org.reference_only]
    out += [location_to_fhir(ctx, place) for place in ep.locations if not place.reference_only]
    # a reference-only practitioner or organization is no resource (a conditional reference)
    written = [prac for prac in ep.practitioners if not prac.reference_only]
    out += [practitioner_to_fhir(ctx, prac) for prac in written]
    out += [practitioner_role_to_fhir(ctx, prac) for prac in written if prac.with_role]
    out += [support_to_fhir(ctx, support) for support in ep.supports]
    out += [team_to_fhir(ctx, team) for team in ep.teams]
    out += label_conditions(ctx, conditions_to_fhir(ctx))
    out += [request_to_fhir(ctx, request) for request in ep.requests]
    eoc = episode_of_care_to_fhir(ctx)
    if eoc is not None:
        out.append(eoc)
        if ep.referral is not None:
            out += referral_to_fhir(ctx, ep.referral)
    out += medications_to_fhir(ctx)
    out += [goal_to_fhir(ctx, goal) for goal in ep.other_goals]
    for plan in ep.care_plans:
        out += [goal_to_fhir(ctx, goal) for goal in plan.goals]
        out.append(care_plan_to_fhir(ctx, plan))
        if isinstance(plan, AftercarePlan):
            out += aftercare_to_fhir(ctx, plan)
    for session in ep.sessions:
        out += session_to_fhir(ctx, session)
    for measure in ep.measures:
        out += label_measure(ctx, measure, measure_to_fhir(ctx, measure))
    out += reviews_to_fhir(ctx)
    out += consents_to_fhir(ctx)
    for _, resource in out:
        narrate(resource)
    return out


def with_derived(episode: Episode) -> Episode:
    """``episode`` with every recorded form forgotten, so that it is written in full: an
    Appointment (and Encounter) per session, the QuestionnaireResponse, item and total
    Observations, panel, interpretation, Flags and RiskAssessment per measure, and each
    session's kind in every place it goes. A measure read from FHIR whose stated total
    disagrees with its answers keeps that total."""
    sessions = [s for s in episode.sessions if s.forms is not None or s.kind_in is not None]
    measures = [m for m in episode.measures if m.forms is not None]
    if not sessions and not measures:
        return episode
    # model_copy: no re-validation (a kept disagreeing total is allowed only with forms)
    return episode.model_copy(
        update={
            "sessions": [
                s
                if s.forms is None and s.kind_in is None
                else s.model_copy(update={"forms": None, "kind_in": None})
                for s in episode.sessions
            ],
            "measures": [
                m if m.forms is None else m.model_copy(update={"forms": None})
                for m in episode.measures
            ],
        }
    )


@overload
def episode_to_resources(episode: Episode, *, model: None = None) -> list[Resource]: ...
@overload
def episode_to_resources(episode: Episode, *, model: Release) -> list[Any]: ...
def episode_to_resources(episode: Episode, *, model: Release | None = None) -> list[Any]:
    """The FHIR resources of one episode, bundle style, in a deterministic order.

    ``model`` (``"R4B"`` or ``"R5"``): ``fhir.resources`` models of that release instead of
    dicts (:func:`iopfhir.fhir.models.to_model`; the dicts are FHIR R4 4.0.1)."""
    resources = [resource for _url, resource in episode_entries(episode)]
    return resources if model is None else [to_model(r, model) for r in resources]
