"""Naming conventions shared by both mapping directions.

Business identifiers, deterministic ``urn:uuid`` full URLs, and the canonical URLs of the
project's profiles and extensions. Writers and readers both use these, so what one
writes the other recognises.

Every resource iopfhir writes carries a business identifier::

    system = https://iopfhir.org/fhir/id/<kind>       (kind: "careplan", "session"...)
    value  = <episode key>/<local key>

except where the domain already has real identifiers (the patient's MRN, a
practitioner's NPI, an organization's identifiers), which are used instead so the same
person or organization is recognised across episodes and systems. Conditional creates
(``ifNoneExist``) search on that identifier, so resending an episode creates nothing twice.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Final

from iopfhir.terminology import BASE_URL

__all__ = [
    "CARE_PLAN_CATEGORY_ASSESS_PLAN",
    "CORE_EXT",
    "EXT",
    "ID_NAMESPACE",
    "OBSERVATION_CATEGORY_SURVEY",
    "PLAIN_TYPE_ID",
    "PROFILE",
    "REFERENCE_KIND",
    "SOURCE_RECORD_SYSTEM",
    "identifier",
    "identifier_system",
    "name_uuid",
    "parse_identifier",
    "profile_url",
    "urn_uuid",
]

#: ``(system, code)`` of the US Core category every CarePlan iopfhir writes carries beside
#: its kind's code
CARE_PLAN_CATEGORY_ASSESS_PLAN: Final = (
    "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
    "assess-plan",
)
#: ``Observation.category`` of every instrument Observation iopfhir writes
OBSERVATION_CATEGORY_SURVEY: Final = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
            }
        ]
    }
]

#: a reference that is nothing but ``Type/id`` (a relative reference, R4's id syntax)
PLAIN_TYPE_ID: Final = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")

#: Namespace for deterministic UUIDs (uuid5 of "<resourceType>|<system>|<value>").
ID_NAMESPACE: Final = uuid.UUID("6f1c1f8e-3f7a-5b8e-9d2a-0c4e7a1b9f30")

ID_BASE: Final = f"{BASE_URL}/id/"
#: The identifier system a push gives a resource that has no business identifier (so a
#: second push finds it): no data of the source, read back as nothing to keep
SOURCE_RECORD_SYSTEM: Final = f"{BASE_URL}/sid/source-record"

#: the identifier kind a reader gives a patient known only by its FHIR reference: its
#: value is that reference (``Patient/x``, a full URL), not ``<episode>/<key>``
REFERENCE_KIND: Final = "fhir-reference"


def identifier_system(kind: str) -> str:
    """The identifier system for resources of one kind (``careplan``, ``session``...)."""
    return ID_BASE + kind


def identifier(kind: str, episode_key: str, local_key: str) -> dict[str, str]:
    """The business identifier of a part of an episode."""
    return {"system": identifier_system(kind), "value": f"{episode_key}/{local_key}"}


def parse_identifier(system: str | None, value: str | None) -> tuple[str, str, str] | None:
    """``(kind, episode key, local key)`` for an identifier iopfhir wrote, else ``None``."""
    if not system or not value or not system.startswith(ID_BASE):
        return None
    kind = system[len(ID_BASE) :]
    episode_key, sep, local_key = value.partition("/")
    if not sep or kind == REFERENCE_KIND:  # a reference's slashes name no episode
        return None
    return kind, episode_key, local_key


def name_uuid(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, without building a ``UUID`` object.

    Every resource built or pushed needs one or two of these; this is the same RFC 4122
    name-based (SHA-1) UUID at about half the cost.
    """
    # SHA-1 is what RFC 4122 prescribes for version 5; it names, it does not protect.
    sha = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False)
    digest = bytearray(sha.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def urn_uuid(resource_type: str, system: str, value: str) -> str:
    """The deterministic ``urn:uuid`` full URL of a resource, from its business identifier."""
    return f"urn:uuid:{name_uuid(ID_NAMESPACE, f'{resource_type}|{system}|{value}')}"


def profile_url(name: str) -> str:
    """The canonical URL of one of the project's profiles."""
    return f"{BASE_URL}/StructureDefinition/{name}"


class PROFILE:
    """Canonical URLs of the profiles every emitted resource claims in ``meta.profile``."""

    PATIENT: Final = profile_url("iop-patient")
    EPISODE: Final = profile_url("iop-episode")
    CAREPLAN_TREATMENT: Final = profile_url("iop-careplan-treatment")
    CAREPLAN_RELAPSE: Final = profile_url("iop-careplan-relapse-prevention")
    CAREPLAN_AFTERCARE: Final = profile_url("iop-careplan-aftercare")
    CARETEAM: Final = profile_url("iop-careteam")
    GOAL: Final = profile_url("iop-goal")
    SESSION_APPOINTMENT: Final = profile_url("iop-session-appointment")
    SESSION_ENCOUNTER: Final = profile_url("iop-session-encounter")
    QUESTIONNAIRE_RESPONSE: Final = profile_url("iop-questionnaireresponse")
    OBSERVATION_ITEM: Final = profile_url("iop-observation-item")
    OBSERVATION_PANEL: Final = profile_url("iop-observation-panel")
    CONDITION: Final = profile_url("iop-condition")
    REFERRAL: Final = profile_url("iop-referral")
    PROVENANCE_REVIEW: Final = profile_url("iop-provenance-review")
    FLAG: Final = profile_url("iop-flag")
    RISK_ASSESSMENT: Final = profile_url("iop-riskassessment")
    TOC_COMPOSITION: Final = profile_url("iop-toc-composition")
    TOC_DOCUMENT: Final = profile_url("iop-toc-document")
    TOC_DOCUMENT_REFERENCE: Final = profile_url("iop-toc-documentreference")
    CAREPLAN_DISCHARGE: Final = profile_url("iop-careplan-discharge")
    MEDICATION_STATEMENT: Final = profile_url("iop-medicationstatement")
    MEDICATION_REQUEST: Final = profile_url("iop-medicationrequest")
    ALLERGY: Final = profile_url("iop-allergyintolerance")
    CONSENT: Final = profile_url("iop-consent")
    AUDIT_DISCLOSURE: Final = profile_url("iop-audit-disclosure")

    @staticmethod
    def observation_total(instrument_id: str) -> str:
        """The profile of an instrument's total-score Observation (``iop-observation-phq-9``)."""
        return profile_url(f"iop-observation-{instrument_id}")


class EXT:
    """Canonical URLs of the project's extensions."""

    #: complex, on EpisodeOfCare: name (string), minimumHoursPerWeek (decimal),
    #: minimumDaysPerWeek (integer)
    PROGRAM: Final = profile_url("iop-program")
    #: valueCodeableConcept (discharge-disposition code system), on EpisodeOfCare
    DISCHARGE_DISPOSITION: Final = profile_url("discharge-disposition")
    #: valueCode in-person | telehealth, on CarePlan.activity.detail
    DELIVERY_SETTING: Final = profile_url("delivery-setting")
    #: valueCodeableConcept (modality code system), on CarePlan.activity.detail
    THERAPY_MODALITY: Final = profile_url("therapy-modality")
    #: valueIdentifier, on Provenance (R4 Provenance has no ``identifier``): iopfhir's
    #: business identifier of the record
    RECORD_IDENTIFIER: Final = profile_url("record-identifier")
    #: complex, on Provenance (one per goal a review set): goal (valueReference),
    #: lifecycleStatus (valueCode), achievementStatus (valueCodeableConcept), note (valueString)
    GOAL_STATUS_CHANGE: Final = profile_url("goal-status-change")
    #: complex, on Provenance (one per plan change): plan (valueReference), activity
    #: (valueString: the CarePlan.activity.id), change (valueCode), note (valueString)
    PLAN_CHANGE: Final = profile_url("plan-change")
    #: valueDate, on Consent: the day a 42 CFR Part 2 consent was revoked
    CONSENT_REVOKED: Final = profile_url("consent-revoked")


class CORE_EXT:
    """Canonical URLs of R4 core extensions iopfhir writes (defined by HL7, not here)."""

    #: valueReference, on Flag: the record the flag is based on (an Observation)
    FLAG_DETAIL: Final = "http://hl7.org/fhir/StructureDefinition/flag-detail"
    #: valueCode, on an element with nothing to say: why its value is absent
    DATA_ABSENT_REASON: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
