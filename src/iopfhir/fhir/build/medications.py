"""Medications, prescriptions and allergies → FHIR R4 MedicationStatement, MedicationRequest
and AllergyIntolerance.

* MedicationStatement (``iop-medicationstatement``): identifier ``medicationstatement`` →
  ``<episode>/<key>``, status, medicationCodeableConcept (RxNorm), subject, effectivePeriod,
  dateAsserted, informationSource (Patient / PractitionerRole / RelatedPerson),
  reasonReference → Conditions, dosage[0].text.
* MedicationRequest (``iop-medicationrequest``): identifier ``medicationrequest``, status,
  intent ``order``, medicationCodeableConcept, subject, authoredOn, requester
  (PractitionerRole), reasonReference, dosageInstruction[0].text,
  dispenseRequest.numberOfRepeatsAllowed (refills).
* AllergyIntolerance (``iop-allergyintolerance``): identifier ``allergyintolerance``,
  clinicalStatus / verificationStatus (R4 ait-1 / ait-2: none when entered-in-error),
  category, criticality, code, patient, recordedDate, recorder (PractitionerRole),
  reaction[] {manifestation, severity}.

The counterpart is :mod:`iopfhir.fhir.read.medications`. Imports: :mod:`iopfhir.domain`,
:mod:`iopfhir.fhir.conventions` and the builders' ``_context``.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.domain import Allergy, MedicationUse, Prescription, date_text
from iopfhir.fhir.build._context import Context, Entry, code_concept, fhir_moment, fhir_period
from iopfhir.fhir.conventions import PROFILE

__all__ = [
    "ALLERGY_CLINICAL",
    "ALLERGY_VERIFICATION",
    "allergy_to_fhir",
    "medications_to_fhir",
    "prescription_to_fhir",
    "statement_to_fhir",
]

ALLERGY_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION: Final = (
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
)


def medications_to_fhir(ctx: Context) -> list[Entry]:
    """Every allergy, medication and prescription of the episode, in that order."""
    ep = ctx.episode
    out = [allergy_to_fhir(ctx, a) for a in ep.allergies]
    out += [statement_to_fhir(ctx, m) for m in ep.medications]
    out += [prescription_to_fhir(ctx, p) for p in ep.prescriptions]
    return out


def statement_to_fhir(ctx: Context, med: MedicationUse) -> Entry:
    """A MedicationStatement: what the patient takes or took."""
    url = ctx.local_url("MedicationStatement", "medicationstatement", med.key)
    res = ctx.head("MedicationStatement", url, PROFILE.MEDICATION_STATEMENT, linked=True)
    res["identifier"] = [ctx.identifier("medicationstatement", med.key)]
    res["status"] = med.status
    res["medicationCodeableConcept"] = code_concept(med.code)
    res["subject"] = ctx.patient_ref
    if med.period is not None:
        res["effectivePeriod"] = fhir_period(med.period)
    if med.asserted is not None:
        res["dateAsserted"] = fhir_moment(med.asserted)
    if med.source is not None:
        res["informationSource"] = ctx.person_ref[med.source]
    if med.reasons:
        res["reasonReference"] = [ctx.condition_ref[k] for k in med.reasons]
    if med.dosage:
        res["dosage"] = [{"text": med.dosage}]
    return url, res


def prescription_to_fhir(ctx: Context, rx: Prescription) -> Entry:
    """A MedicationRequest (intent ``order``): a prescription by a clinician."""
    url = ctx.local_url("MedicationRequest", "medicationrequest", rx.key)
    res = ctx.head("MedicationRequest", url, PROFILE.MEDICATION_REQUEST, linked=True)
    res["identifier"] = [ctx.identifier("medicationrequest", rx.key)]
    res["status"] = rx.status
    res["intent"] = "order"
    res["medicationCodeableConcept"] = code_concept(rx.code)
    res["subject"] = ctx.patient_ref
    if rx.authored is not None:
        res["authoredOn"] = fhir_moment(rx.authored)
    if rx.prescriber is not None:
        res["requester"] = ctx.person_ref[rx.prescriber]
    if rx.reasons:
        res["reasonReference"] = [ctx.condition_ref[k] for k in rx.reasons]
    if rx.dosage:
        res["dosageInstruction"] = [{"text": rx.dosage}]
    if rx.refills is not None:
        res["dispenseRequest"] = {"numberOfRepeatsAllowed": rx.refills}
    return url, res


def allergy_to_fhir(ctx: Context, allergy: Allergy) -> Entry:
    """An AllergyIntolerance with its reactions."""
    url = ctx.local_url("AllergyIntolerance", "allergyintolerance", allergy.key)
    res = ctx.head("AllergyIntolerance", url, PROFILE.ALLERGY, linked=True)
    res["identifier"] = [ctx.identifier("allergyintolerance", allergy.key)]
    if allergy.clinical_status is not None:
        res["clinicalStatus"] = {
            "coding": [{"system": ALLERGY_CLINICAL, "code": allergy.clinical_status}]
        }
    if allergy.verification_status is not None:
        res["verificationStatus"] = {
            "coding": [{"system": ALLERGY_VERIFICATION, "code": allergy.verification_status}]
        }
    if allergy.category is not None:
        res["category"] = [allergy.category]
    if allergy.criticality is not None:
        res["criticality"] = allergy.criticality
    res["code"] = code_concept(allergy.code)
    res["patient"] = ctx.patient_ref
    if allergy.recorded is not None:
        res["recordedDate"] = date_text(allergy.recorded)
    if allergy.recorder is not None:
        res["recorder"] = ctx.person_ref[allergy.recorder]
    reactions: list[dict[str, Any]] = []
    for reaction in allergy.reactions:
        item: dict[str, Any] = {"manifestation": [code_concept(reaction.manifestation)]}
        if reaction.severity is not None:
            item["severity"] = reaction.severity
        reactions.append(item)
    if reactions:
        res["reaction"] = reactions
    return url, res
