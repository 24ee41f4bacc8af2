"""The tables of :mod:`~iopfhir.fhir.read.held`: per reading, the top-level elements its
reader takes into the IOP model (:data:`HELD`) and the other R4 4.0.1 elements of its type
(:data:`OTHERS`), which it has no place for.

A reading is a resource type, or ``Type:role`` where one type is read in more than one
role (``ServiceRequest:referral`` beside any other request). A test holds the two tables,
with the elements that are no content of their own, to R4's element list of each type.

Imports nothing of iopfhir.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["HELD", "OTHERS"]


def _choice(*names: str, types: tuple[str, ...]) -> frozenset[str]:
    """The JSON names of choice elements (``onset`` + ``DateTime``...)."""
    return frozenset(name + t for name in names for t in types)


#: the R4 types of ``Condition.onset[x]`` and ``abatement[x]``
_CONDITION_TIMES: Final = ("DateTime", "Age", "Period", "Range", "String")

#: per reading (``Type`` or ``Type:role``): the top-level elements its reader takes
HELD: Final[Mapping[str, frozenset[str]]] = {
    "Patient": frozenset({"identifier", "name", "birthDate", "gender", "telecom"}),
    "RelatedPerson": frozenset({"identifier", "patient", "relationship", "name", "telecom"}),
    "Condition": frozenset(
        {"subject", "code", "category", "clinicalStatus", "verificationStatus", "recordedDate"}
    )
    | _choice("onset", "abatement", types=_CONDITION_TIMES),
    "AllergyIntolerance": frozenset(
        {
            "patient",
            "code",
            "clinicalStatus",
            "verificationStatus",
            "category",
            "criticality",
            "reaction",
            "recordedDate",
            "recorder",
        }
    ),
    "MedicationStatement": frozenset(
        {
            "subject",
            "status",
            "medicationCodeableConcept",
            "medicationReference",
            "effectivePeriod",
            "dateAsserted",
            "dosage",
            "reasonReference",
            "informationSource",
        }
    ),
    "Goal": frozenset(
        {
            "subject",
            "lifecycleStatus",
            "achievementStatus",
            "description",
            "startDate",
            "target",
            "statusDate",
            "addresses",
        }
    ),
    # a ServiceRequest that is no referral (read_request; a referral's reader is another)
    "ServiceRequest": frozenset(
        {
            "subject",
            "status",
            "intent",
            "code",
            "category",
            "priority",
            "authoredOn",
            "reasonCode",
            "reasonReference",
            "occurrenceDateTime",
            "occurrencePeriod",
            "occurrenceTiming",  # counted by the reader itself
            "requester",
            "performer",
        }
    ),
    # an Appointment and an Encounter read as a session (an inpatient stay, an aftercare
    # appointment have readers of their own)
    "Appointment": frozenset(
        {
            "status",
            "cancelationReason",
            "serviceType",
            "appointmentType",
            "start",
            "end",
            "participant",
            "extension",
            "basedOn",
            "supportingInformation",
        }
    ),
    "Encounter": frozenset(
        {
            "status",
            "class",
            "type",
            "serviceType",
            "subject",
            "participant",
            "appointment",
            "period",
            "location",
            "serviceProvider",
            "episodeOfCare",
            "extension",
        }
    ),
    "CareTeam": frozenset(
        {"subject", "status", "name", "participant", "period", "managingOrganization"}
    ),
    "EpisodeOfCare": frozenset(
        {
            "patient",
            "status",
            "statusHistory",  # counted by the reader itself
            "type",
            "diagnosis",
            "managingOrganization",
            "period",
            "referralRequest",
            "careManager",
            "team",
            "account",  # counted by the reader itself
            "extension",
        }
    ),
    "MedicationRequest": frozenset(
        {
            "subject",
            "status",
            "intent",
            "medicationCodeableConcept",
            "medicationReference",
            "authoredOn",
            "dosageInstruction",
            "dispenseRequest",
            "reasonReference",
            "requester",
        }
    ),
    "Practitioner": frozenset({"identifier", "name", "telecom"}),
    # a role is read with its practitioner; its identifiers are iopfhir's own or dropped
    "PractitionerRole": frozenset({"practitioner", "code", "organization"}),
    "Organization": frozenset({"identifier", "name", "telecom", "type"}),
    "Location": frozenset({"identifier", "name", "status", "managingOrganization", "telecom"}),
    # a care plan of any kind but the hospital's discharge plan (read as the referral's)
    "CarePlan": frozenset(
        {
            "subject",
            "status",
            "intent",
            "category",
            "title",
            "period",
            "created",
            "addresses",
            "author",
            "careTeam",
            "goal",
            "note",
            "activity",
        }
    ),
    "CarePlan:discharge": frozenset(
        {"subject", "status", "title", "description", "created", "author"}
    ),
    # the episode's referral (status, intent, code and performer: see DERIVED)
    "ServiceRequest:referral": frozenset(
        {
            "subject",
            "category",
            "authoredOn",
            "requester",
            "reasonCode",
            "encounter",
            "basedOn",
        }
    ),
    # the inpatient stay a referral names (its class also names a document's referral source)
    "Encounter:stay": frozenset({"subject", "class", "participant", "period", "serviceProvider"}),
    # an aftercare plan's referral and appointment
    "ServiceRequest:aftercare": frozenset(
        {
            "subject",
            "status",
            "code",
            "authoredOn",
            "requester",
            "performer",
            "reasonCode",
        }
    ),
    "Appointment:aftercare": frozenset(
        {
            "status",
            "serviceType",
            "start",
            "end",
            "participant",
            "supportingInformation",
            "basedOn",
        }
    ),
    # the resources of an instrument's administration (the measure): a total, panel or
    # item Observation, a QuestionnaireResponse, a DiagnosticReport coded with the panel
    "Observation": frozenset(
        {
            "status",
            "code",
            "subject",
            "encounter",
            "effectiveDateTime",
            "effectiveInstant",
            "effectivePeriod",
            "performer",
            "valueQuantity",
            "valueCodeableConcept",
            "valueString",
            "valueInteger",
            "valueBoolean",
            "interpretation",  # checked against the score's band, which is computed
            "component",
            "derivedFrom",
            "hasMember",
        }
    ),
    "QuestionnaireResponse": frozenset(
        {
            "questionnaire",
            "status",
            "subject",
            "authored",
            "author",
            "encounter",
            "item",
        }
    ),
    "DiagnosticReport": frozenset(
        {
            "status",
            "code",
            "subject",
            "encounter",
            "effectiveDateTime",
            "effectivePeriod",
            "performer",
            "result",
        }
    ),
    # a 42 CFR Part 2 consent (another Consent is not read, and counted so)
    "Consent": frozenset(
        {
            "status",
            "scope",
            "patient",
            "dateTime",
            "policyRule",
            "provision",
            "extension",
        }
    ),
    # a review (another Provenance is not read, and counted so)
    "Provenance": frozenset(
        {"target", "occurredDateTime", "recorded", "agent", "entity", "extension"}
    ),
    # a safety Flag / RiskAssessment an instrument's answers raise (consumed: written anew
    # from the measure; one they do not raise is counted whole by the reader)
    "Flag": frozenset(
        {"status", "category", "code", "subject", "period", "encounter", "extension"}
    ),
    "RiskAssessment": frozenset(
        {"status", "subject", "encounter", "occurrenceDateTime", "basis", "prediction"}
    ),
}


#: per reading of :data:`HELD`: its other R4 elements (the JSON names of R4 4.0.1,
#: choice elements by type), which the model has no place for; a key that is neither
#: is no R4 element, and is counted without its name (it may be anything, data included)
OTHERS: Final[Mapping[str, frozenset[str]]] = {
    "Patient": frozenset(
        {
            "implicitRules", "extension", "active", "deceasedBoolean", "deceasedDateTime",
            "address", "maritalStatus", "multipleBirthBoolean", "multipleBirthInteger",
            "photo", "contact", "communication", "generalPractitioner",
            "managingOrganization", "link",
        }
    ),
    "RelatedPerson": frozenset(
        {
            "implicitRules", "extension", "active", "gender", "birthDate", "address",
            "photo", "period", "communication",
        }
    ),
    "Condition": frozenset(
        {
            "implicitRules", "extension", "identifier", "severity", "bodySite", "encounter",
            "recorder", "asserter", "stage", "evidence", "note",
        }
    ),
    "AllergyIntolerance": frozenset(
        {
            "implicitRules", "extension", "identifier", "type", "encounter", "lastOccurrence",
            "asserter", "note",
        }
    )
    | _choice("onset", types=_CONDITION_TIMES),
    "MedicationStatement": frozenset(
        {
            "implicitRules", "extension", "identifier", "basedOn", "partOf", "statusReason",
            "category", "context", "effectiveDateTime", "derivedFrom", "reasonCode", "note",
        }
    ),
    "Goal": frozenset(
        {
            "implicitRules", "extension", "identifier", "category", "priority",
            "startCodeableConcept", "statusReason", "expressedBy", "note", "outcomeCode",
            "outcomeReference",
        }
    ),
    "ServiceRequest": frozenset(
        {
            "implicitRules", "extension", "identifier", "instantiatesCanonical",
            "instantiatesUri", "basedOn", "replaces", "requisition", "doNotPerform",
            "orderDetail", "quantityQuantity", "quantityRatio", "quantityRange", "encounter",
            "asNeededBoolean", "asNeededCodeableConcept", "performerType", "locationCode",
            "locationReference", "insurance", "supportingInfo", "specimen", "bodySite", "note",
            "patientInstruction", "relevantHistory",
        }
    ),
    "Appointment": frozenset(
        {
            "implicitRules", "identifier", "serviceCategory", "specialty", "reasonCode",
            "reasonReference", "priority", "description", "minutesDuration", "slot",
            "created", "comment", "patientInstruction", "requestedPeriod",
        }
    ),
    "Encounter": frozenset(
        {
            "implicitRules", "identifier", "statusHistory", "classHistory", "priority",
            "basedOn", "length", "reasonCode", "reasonReference", "diagnosis", "account",
            "hospitalization", "partOf",
        }
    ),
    "CareTeam": frozenset(
        {
            "implicitRules", "extension", "identifier", "category", "encounter", "reasonCode",
            "reasonReference", "telecom", "note",
        }
    ),
    "EpisodeOfCare": frozenset({"implicitRules", "identifier"}),
    "MedicationRequest": frozenset(
        {
            "implicitRules", "extension", "identifier", "statusReason", "category",
            "priority", "doNotPerform", "reportedBoolean", "reportedReference", "encounter",
            "supportingInformation", "performer", "performerType", "recorder", "reasonCode",
            "instantiatesCanonical", "instantiatesUri", "basedOn", "groupIdentifier",
            "courseOfTherapyType", "insurance", "note", "substitution", "priorPrescription",
            "detectedIssue", "eventHistory",
        }
    ),
    "Practitioner": frozenset(
        {
            "implicitRules", "extension", "active", "address", "gender", "birthDate", "photo",
            "qualification", "communication",
        }
    ),
    "PractitionerRole": frozenset(
        {
            "implicitRules", "extension", "identifier", "active", "period", "specialty",
            "location", "healthcareService", "telecom", "availableTime", "notAvailable",
            "availabilityExceptions", "endpoint",
        }
    ),
    "Organization": frozenset(
        {"implicitRules", "extension", "active", "alias", "address", "partOf", "contact",
         "endpoint"}
    ),
    "Location": frozenset(
        {
            "implicitRules", "extension", "operationalStatus", "alias", "description", "mode",
            "type", "address", "physicalType", "position", "partOf", "hoursOfOperation",
            "availabilityExceptions", "endpoint",
        }
    ),
    "CarePlan": frozenset(
        {
            "implicitRules", "identifier", "extension", "instantiatesCanonical", "instantiatesUri",
            "basedOn", "replaces", "partOf", "description", "encounter", "contributor",
            "supportingInfo",
        }
    ),
    "CarePlan:discharge": frozenset(
        {
            "implicitRules", "identifier", "extension", "instantiatesCanonical", "instantiatesUri",
            "basedOn", "replaces", "partOf", "intent", "category", "encounter", "period",
            "contributor", "careTeam", "addresses", "supportingInfo", "goal", "activity",
            "note",
        }
    ),
    "ServiceRequest:referral": frozenset(
        {
            "implicitRules", "identifier", "extension", "instantiatesCanonical", "instantiatesUri",
            "replaces", "requisition", "status", "intent", "priority", "doNotPerform", "code",
            "orderDetail", "quantityQuantity", "quantityRatio", "quantityRange",
            "occurrenceDateTime", "occurrencePeriod", "occurrenceTiming", "asNeededBoolean",
            "asNeededCodeableConcept", "performerType", "performer", "locationCode",
            "locationReference", "reasonReference", "insurance", "supportingInfo", "specimen",
            "bodySite", "note", "patientInstruction", "relevantHistory",
        }
    ),
    "Encounter:stay": frozenset(
        {
            "implicitRules", "identifier", "extension", "status", "statusHistory",
            "classHistory", "type", "serviceType", "priority", "episodeOfCare", "basedOn",
            "appointment", "length", "reasonCode", "reasonReference", "diagnosis", "account",
            "hospitalization", "location", "partOf",
        }
    ),
    "ServiceRequest:aftercare": frozenset(
        {
            "implicitRules", "identifier", "extension", "instantiatesCanonical", "instantiatesUri",
            "basedOn", "replaces", "requisition", "intent", "category", "priority",
            "doNotPerform", "orderDetail", "quantityQuantity", "quantityRatio",
            "quantityRange", "encounter", "occurrenceDateTime", "occurrencePeriod",
            "occurrenceTiming", "asNeededBoolean", "asNeededCodeableConcept",
            "performerType", "locationCode", "locationReference", "reasonReference",
            "insurance", "supportingInfo", "specimen", "bodySite", "note",
            "patientInstruction", "relevantHistory",
        }
    ),
    "Appointment:aftercare": frozenset(
        {
            "implicitRules", "identifier", "extension", "cancelationReason",
            "serviceCategory", "specialty",
            "appointmentType", "reasonCode", "reasonReference", "priority", "description",
            "minutesDuration", "slot", "created", "comment", "patientInstruction",
            "requestedPeriod",
        }
    ),
    "Observation": frozenset(
        {
            "implicitRules", "identifier", "extension", "basedOn", "partOf", "category", "focus",
            "effectiveTiming", "issued", "valueRange", "valueRatio", "valueSampledData",
            "valueTime", "valueDateTime", "valuePeriod", "dataAbsentReason", "note",
            "bodySite", "method", "specimen", "device", "referenceRange",
        }
    ),
    "QuestionnaireResponse": frozenset(
        {"implicitRules", "identifier", "extension", "basedOn", "partOf", "source"}
    ),
    "DiagnosticReport": frozenset(
        {
            "implicitRules", "identifier", "extension", "basedOn", "category", "issued",
            "resultsInterpreter", "specimen", "imagingStudy", "media", "conclusion",
            "conclusionCode", "presentedForm",
        }
    ),
    "Consent": frozenset(
        {
            "implicitRules", "identifier", "category", "performer", "organization",
            "sourceAttachment",
            "sourceReference", "policy", "verification",
        }
    ),
    "Provenance": frozenset(
        {"implicitRules", "occurredPeriod", "policy", "location", "reason", "activity",
         "signature"}
    ),
    "Flag": frozenset({"implicitRules", "identifier", "author"}),
    "RiskAssessment": frozenset(
        {"implicitRules", "extension", "identifier", "basedOn", "parent", "method", "code",
         "occurrencePeriod", "condition", "performer", "reasonCode", "reasonReference",
         "mitigation", "note"}
    ),
}  # fmt: skip
