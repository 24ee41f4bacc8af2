"""FHIR R4 MedicationStatement, MedicationRequest and AllergyIntolerance → the episode's
medications, prescriptions and allergies.

The counterpart of :mod:`iopfhir.fhir.build.medications` (the shapes are in its docstring
and in ``MAPPING.md``). A resource without a coded medication / allergen is counted in
``unmapped``, not kept; a reason that names no diagnosis of the episode, a source,
prescriber or recorder that is not a person of the episode is dropped and counted.
A MedicationRequest whose intent is not ``order`` (a proposal, a plan) is counted too:
the domain holds prescriptions only. A medication given by reference
(``medicationReference`` → a Medication resource, in the input or contained) is read as
that Medication's ``code`` (the domain keeps the coded medication; it is written back as
``medicationCodeableConcept``, which the IOP profiles require). Of a request's
``dispenseRequest`` a prescription keeps the refills; its other parts (a quantity, a
supply duration) are counted.

The model keeps a dosage as text, an allergy's one category, a reaction's manifestation and
severity: the rest of what R4 gives there (a structured Dosage, a further Dosage, a further
category, a reaction's description or onset) is counted at its FHIRPath, never dropped
without a word.

Imports: :mod:`iopfhir.domain` and the reader's ``_context``, ``episode``, ``people``,
``source`` and ``values``.
"""

from __future__ import annotations

from typing import Any, get_args

from iopfhir.domain import Allergy, Code, MedicationUse, Prescription, Reaction
from iopfhir.domain.medications import RequestStatus, StatementStatus
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.episode import condition_keys
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.people import person_key
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_dict,
    as_list,
    codings,
    first_code,
    note,
    parse_date,
    parse_moment,
    parse_period,
    text,
)

__all__ = ["read_allergy", "read_prescription", "read_statement"]

_STATEMENT_STATUS: frozenset[str] = frozenset(get_args(StatementStatus))
#: the R4 elements of ``MedicationRequest.dispenseRequest`` a prescription does not keep
#: (only ``numberOfRepeatsAllowed``, its refills; a modifierExtension is counted elsewhere)
_DISPENSE_NOT_KEPT = frozenset(
    {
        "extension",
        "initialFill",
        "dispenseInterval",
        "validityPeriod",
        "quantity",
        "expectedSupplyDuration",
        "performer",
    }
)
_REQUEST_STATUS: frozenset[str] = frozenset(get_args(RequestStatus))
_ALLERGY_CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
_ALLERGY_CLINICAL = frozenset({"active", "inactive", "resolved"})
_NO_CLINICAL = (
    "AllergyIntolerance.clinicalStatus: none of allergyintolerance-clinical,"
    " which R4 ait-1 requires (not kept)"
)
#: R4 Dosage elements the model does not keep (it keeps ``text``; ``sequence`` orders)
_DOSAGE_NOT_KEPT = (
    "additionalInstruction",
    "patientInstruction",
    "timing",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "site",
    "route",
    "method",
    "doseAndRate",
    "maxDosePerPeriod",
    "maxDosePerAdministration",
    "maxDosePerLifetime",
)
#: R4 AllergyIntolerance.reaction elements the model does not keep
_REACTION_NOT_KEPT = ("substance", "description", "onset", "exposureRoute", "note")


def read_statement(ctx: Context, entry: Entry) -> None:
    """A MedicationStatement, added to the episode's medications."""
    res = entry.resource
    code = _medication_code(ctx, entry)
    if code is None:
        ctx.unmapped["MedicationStatement: no coded medication"] += 1
        return
    note_unheld(res, "MedicationStatement")
    status = res.get("status")
    fields: dict[str, Any] = {
        "key": ctx.new_key("medications", entry, "medicationstatement"),
        "code": code,
        "status": status if status in _STATEMENT_STATUS else "unknown",
        "period": parse_period(res.get("effectivePeriod"), "MedicationStatement.effectivePeriod"),
        "asserted": parse_moment(res.get("dateAsserted"), "MedicationStatement.dateAsserted"),
        "dosage": _dosage_text(res.get("dosage"), "MedicationStatement.dosage"),
        "reasons": condition_keys(
            ctx, res.get("reasonReference"), entry, "MedicationStatement.reasonReference"
        ),
    }
    if res.get("informationSource") is not None:
        fields["source"] = person_key(ctx, res["informationSource"], entry)
        if fields["source"] is None:
            ctx.unmapped["MedicationStatement.informationSource: not a person (dropped)"] += 1
    ctx.medications.append(MedicationUse(**fields))


def read_prescription(ctx: Context, entry: Entry) -> None:
    """A MedicationRequest of intent ``order``, added to the episode's prescriptions."""
    res = entry.resource
    code = _medication_code(ctx, entry)
    if code is None:
        ctx.unmapped["MedicationRequest: no coded medication"] += 1
        return
    if res.get("intent") != "order":
        ctx.unmapped["MedicationRequest: not an order"] += 1
        return
    note_unheld(res, "MedicationRequest")
    status = res.get("status")
    dispense = as_dict(res.get("dispenseRequest"))
    refills = dispense.get("numberOfRepeatsAllowed")
    # the model keeps the refills only: a quantity, a supply duration... are counted
    for part in sorted(dispense.keys() & _DISPENSE_NOT_KEPT):
        note(f"MedicationRequest.dispenseRequest.{part}", "not kept (dropped)")
    fields: dict[str, Any] = {
        "key": ctx.new_key("medications", entry, "medicationrequest"),
        "code": code,
        "status": status if status in _REQUEST_STATUS else "draft",
        "authored": parse_moment(res.get("authoredOn"), "MedicationRequest.authoredOn"),
        "dosage": _dosage_text(res.get("dosageInstruction"), "MedicationRequest.dosageInstruction"),
        "reasons": condition_keys(
            ctx, res.get("reasonReference"), entry, "MedicationRequest.reasonReference"
        ),
        "refills": refills if isinstance(refills, int) and 0 <= refills <= 99 else None,
    }
    if res.get("requester") is not None:
        prescriber = person_key(ctx, res["requester"], entry)
        if prescriber is not None and any(p.key == prescriber for p in ctx.practitioners):
            fields["prescriber"] = prescriber
        else:
            ctx.unmapped["MedicationRequest.requester: not a practitioner (dropped)"] += 1
    ctx.prescriptions.append(Prescription(**fields))


def read_allergy(ctx: Context, entry: Entry) -> None:
    """An AllergyIntolerance, added to the episode's allergies."""
    res = entry.resource
    code = first_code(res.get("code"), "AllergyIntolerance.code")
    if code is None:
        ctx.unmapped["AllergyIntolerance: no coded substance"] += 1
        return
    clinical = next((c for _s, c in codings(res.get("clinicalStatus"))), None)
    verification = next((c for _s, c in codings(res.get("verificationStatus"))), None)
    if clinical not in _ALLERGY_CLINICAL and verification != "entered-in-error":
        # R4 ait-1: only an entered-in-error record may go without one; said at its path,
        # not as the model's refusal ("invalid")
        ctx.unmapped[_NO_CLINICAL] += 1
        return
    note_unheld(res, "AllergyIntolerance")
    category = _allergy_category(res.get("category"))
    criticality = res.get("criticality")
    reactions = []
    for item in as_list(res.get("reaction")):
        if not isinstance(item, dict):
            continue
        manifestation = first_code(
            item.get("manifestation"), "AllergyIntolerance.reaction.manifestation"
        )
        if manifestation is None:
            ctx.unmapped[
                "AllergyIntolerance.reaction.manifestation: not coded (reaction dropped)"
            ] += 1
            continue
        for element in _REACTION_NOT_KEPT:
            if item.get(element) is not None:
                note(f"AllergyIntolerance.reaction.{element}", "not kept (dropped)")
        severity = item.get("severity")
        reactions.append(
            Reaction(
                manifestation=manifestation,
                severity=severity if severity in ("mild", "moderate", "severe") else None,
            )
        )
    fields: dict[str, Any] = {
        "key": ctx.new_key("medications", entry, "allergyintolerance"),
        "code": code,
        "category": category,
        "criticality": criticality if criticality in ("low", "high", "unable-to-assess") else None,
        "clinical_status": clinical if clinical in ("active", "inactive", "resolved") else None,
        "verification_status": verification
        if verification in ("unconfirmed", "confirmed", "refuted", "entered-in-error")
        else None,
        "recorded": parse_date(res.get("recordedDate"), "AllergyIntolerance.recordedDate"),
        "reactions": reactions,
    }
    if res.get("recorder") is not None:
        recorder = person_key(ctx, res["recorder"], entry)
        if recorder is not None and any(p.key == recorder for p in ctx.practitioners):
            fields["recorder"] = recorder
        else:
            ctx.unmapped["AllergyIntolerance.recorder: not a practitioner (dropped)"] += 1
    ctx.allergies.append(Allergy(**fields))


def _medication_code(ctx: Context, entry: Entry) -> Code | None:
    """The coded medication: ``medicationCodeableConcept``, else the ``code`` of the
    Medication that ``medicationReference`` names."""
    res = entry.resource
    code = first_code(
        res.get("medicationCodeableConcept"), f"{entry.type}.medicationCodeableConcept"
    )
    if code is None and res.get("medicationReference") is not None:
        target = ctx.resolve(res["medicationReference"], entry)
        if target is not None and target.type == "Medication":
            code = first_code(target.resource.get("code"), "Medication.code")
    return code


def _allergy_category(categories: Any) -> str | None:
    """The first R4 category; any other counted (the domain holds one)."""
    kept = None
    for category in as_list(categories):
        if category not in _ALLERGY_CATEGORIES:
            note("AllergyIntolerance.category", "not an allergy-intolerance-category (dropped)")
        elif kept is None:
            kept = category
        elif category != kept:
            note("AllergyIntolerance.category", "a further category after the first (dropped)")
    return str(kept) if kept is not None else None


def _dosage_text(dosages: Any, at: str) -> str | None:
    """The text of the first Dosage that has one (the domain keeps dosage as text); what
    else the Dosages hold is counted at ``at``."""
    kept = None
    for dosage in as_list(dosages):
        if not isinstance(dosage, dict):
            note(at, "not a Dosage (dropped)")
            continue
        for element in _DOSAGE_NOT_KEPT:
            if dosage.get(element) is not None:
                note(f"{at}.{element}", "not kept (dropped)")
        written = text(dosage.get("text"))
        if written is None and dosage.get("text") is not None:
            note(f"{at}.text", "not a string (dropped)")
        elif written is not None and kept is None:
            kept = written
        elif written is not None and written != kept:
            note(f"{at}.text", "of a further dosage (dropped)")
    return kept
