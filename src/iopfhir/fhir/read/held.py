"""What the IOP model holds of a resource, element by element: the rest is counted.

Lives here: :data:`HELD` (for each reading - a resource type, or ``Type:role`` where one
type is read in more than one role, a referral ``ServiceRequest:referral`` beside any other
request - the top-level elements its reader takes into the model) and :func:`note_unheld`
(counts each other element present, as ``Patient.address: no place in the IOP model
(dropped)``, under ``unmapped``; :data:`OTHERS` lists those R4 elements, and a key that is no
R4 element is counted without its name). A resource read in each episode that holds it (a
practitioner of two episodes) is counted in each, as it is dropped from each.
A Patient's address, a Condition's encounter, a MedicationStatement's ``effectiveDateTime``
were dropped without a word before; a reader now says so for every element it does not
take, so ``--summary`` and ``--strict`` see them.

Not counted: what is no content of its own (``resourceType``, ``id``, ``meta`` - whose
security labels are read - , the narrative ``text``, which is written anew from the data,
``language``, ``contained`` resources, read where they are referenced, and
``modifierExtension``, which :mod:`~iopfhir.fhir.read.modifiers` counts), the extensions of a
primitive (``_birthDate``), ``identifier`` when every identifier is iopfhir's own (the
keys of the model), and on iopfhir's own resources what its writer derives
(:data:`DERIVED`). Within a held element, what a reader cannot take is counted by the
reader itself (a ``Condition.category`` other than the three it holds...).

Imports :mod:`iopfhir.fhir.conventions` and the reader's ``values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from iopfhir.fhir.conventions import ID_BASE
from iopfhir.fhir.read.values import note

__all__ = ["DERIVED", "HELD", "NOT_R4", "NO_PLACE", "OTHERS", "note_unheld"]

#: the reason counted for an element the model has no place for
NO_PLACE: Final = "no place in the IOP model (dropped)"

#: top-level elements that are no content of their own (see the module's docstring)
_NOT_CONTENT: Final = frozenset(
    {"resourceType", "id", "meta", "text", "language", "contained", "modifierExtension"}
)


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
            "identifier",
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
        {"identifier", "subject", "status", "title", "description", "created", "author"}
    ),
    # the episode's referral (status, intent, code and performer: see DERIVED)
    "ServiceRequest:referral": frozenset(
        {
            "identifier",
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
    "Encounter:stay": frozenset(
        {"identifier", "subject", "class", "participant", "period", "serviceProvider"}
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
            "implicitRules", "extension", "instantiatesCanonical", "instantiatesUri",
            "basedOn", "replaces", "partOf", "description", "encounter", "contributor",
            "supportingInfo",
        }
    ),
    "CarePlan:discharge": frozenset(
        {
            "implicitRules", "extension", "instantiatesCanonical", "instantiatesUri",
            "basedOn", "replaces", "partOf", "intent", "category", "encounter", "period",
            "contributor", "careTeam", "addresses", "supportingInfo", "goal", "activity",
            "note",
        }
    ),
    "ServiceRequest:referral": frozenset(
        {
            "implicitRules", "extension", "instantiatesCanonical", "instantiatesUri",
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
            "implicitRules", "extension", "status", "statusHistory", "classHistory", "type",
            "serviceType", "priority", "episodeOfCare", "basedOn", "appointment", "length",
            "reasonCode", "reasonReference", "diagnosis", "account", "hospitalization",
            "location", "partOf",
        }
    ),
}  # fmt: skip

#: elements iopfhir's writer derives from other parts of the model (a Goal's
#: ``statusReason``: its latest review's note, read back from the review's Provenance; a
#: treatment plan's ``basedOn``: the referral's discharge plan; a referral's ``status``,
#: ``intent``, ``code`` and ``performer``: the IOP level of care and program), not counted
#: on iopfhir's own resources (those with one of its identifiers)
DERIVED: Final[Mapping[str, frozenset[str]]] = {
    "Goal": frozenset({"statusReason"}),
    "CarePlan": frozenset({"basedOn"}),
    "CarePlan:discharge": frozenset({"intent", "category", "encounter"}),
    "ServiceRequest:referral": frozenset({"status", "intent", "code", "performer"}),
    "Encounter:stay": frozenset({"status"}),
}

#: the reason counted, without a name, for a key that is no R4 element of its type
NOT_R4: Final = "an element R4 does not define for this type (dropped)"


def note_unheld(resource: dict[str, Any], reading: str) -> None:
    """Count each top-level element of ``resource`` (read as ``reading``, a key of
    :data:`HELD`) that the model has no place for."""
    held = HELD[reading]
    extra = resource.keys() - held
    if not extra:
        return
    others = OTHERS[reading]
    rtype = reading.partition(":")[0]
    for key in sorted(extra - _NOT_CONTENT):
        if key in others:
            if key == "identifier" and _own_only(resource[key]):
                continue
            if key in DERIVED.get(reading, ()) and _own(resource.get("identifier")):
                continue
            note(f"{rtype}.{key}", NO_PLACE)
        elif not (key[0] == "_" and key[1:] in held | others):
            note(rtype, NOT_R4)  # an unknown key may be data: never named


def _own(identifiers: Any) -> bool:
    """Whether one of the identifiers is iopfhir's own (the resource is iopfhir's)."""
    items = identifiers if isinstance(identifiers, list) else [identifiers]
    return any(
        isinstance(i, dict) and isinstance(i.get("system"), str) and i["system"].startswith(ID_BASE)
        for i in items
    )


def _own_only(identifiers: Any) -> bool:
    """Whether every identifier is iopfhir's own (the model's keys, not data)."""
    items = identifiers if isinstance(identifiers, list) else [identifiers]
    return all(
        isinstance(i, dict) and isinstance(i.get("system"), str) and i["system"].startswith(ID_BASE)
        for i in items
    )
