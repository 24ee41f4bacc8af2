// The transition-of-care (ToC) document an IOP writes at discharge (to aftercare) or that
// stands for the inpatient unit's referral: a document Bundle, its Composition, and a
// DocumentReference wrapping it for EHRs that take documents but not CarePlan writes.
// Section codes come from src/iopfhir/terminology/data/documents.json (tests/fhir/
// test_toc_document.py checks that this file and the data agree).

ValueSet: IopTocDocumentType
Id: iop-toc-document-type
Title: "IOP ToC document types"
Description: "LOINC document types of the IOP transition-of-care document: a discharge summary (written at discharge from the program) or a referral note (written when the patient is referred into it)."
* ^status = #active
* ^experimental = false
* $loinc#18842-5 "Discharge summary"
* $loinc#57133-1 "Referral note"

Invariant: iop-toc-1
Description: "Every section lists entries or says why it is empty (emptyReason)."
Expression: "section.all(entry.exists() or emptyReason.exists())"
Severity: #error

Invariant: iop-toc-2
Description: "The document carries the document itself as FHIR JSON."
Expression: "content.where(attachment.contentType = 'application/fhir+json').exists()"
Severity: #error

RuleSet: IopTocSection(name, code, display)
* section[{name}].title 1..1 MS
* section[{name}].code 1..1 MS
* section[{name}].code = $loinc#{code} "{display}"
* section[{name}].text 1..1 MS

Profile: IopTocComposition
Parent: Composition
Id: iop-toc-composition
Title: "IOP transition-of-care Composition"
Description: "The Composition of an IOP transition-of-care document, modelled on the PACIO Transitions of Care Composition (http://hl7.org/fhir/us/pacio-toc/StructureDefinition/TOC-Composition): language, identifier, LOINC document type, category Transfer summary note (18761-7), patient subject, author, custodian, no confidentiality (Part 2 labels go in meta.security), and LOINC-coded sections each with a title and a narrative. What differs from PACIO and why: (1) the parent is base R4 Composition, not US Core / C-CDA on FHIR clinicaldocument, because iopfhir restates US Core on base R4 and depends on no IG package; (2) the sections are the IOP's: reason for referral, problems, medications, allergies and assessments (scored instruments), plan of care, goals, relapse-prevention and safety plan (LOINC 101901-7), care team, encounters and aftercare (18776-5); PACIO's lab results, vital signs, functional status, immunizations and advance directives are not part of IOP care and are left out (its results section is required there, not here); (3) every section is present (1..1): an empty one carries emptyReason (list-empty-reason) instead of being left out, so a reader can tell 'none' from 'not sent'; (4) medications are MedicationStatement and MedicationRequest entries directly, where PACIO requires a List; (5) the type is a discharge summary or a referral note from the IOP ToC document type value set; (6) the author is the care manager's (or referring clinician's) PractitionerRole, or the custodian Organization when no clinician is named (PACIO allows no Organization author); (7) at least one attester (legal) is required."
* ^status = #active
* ^experimental = false
* obeys iop-toc-1
* language 1..1 MS
* text 1..1 MS
* identifier 1..1 MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS
* status MS
* type MS
* type from IopTocDocumentType (extensible)
* category 1..1 MS
* category = $loinc#18761-7
* subject 1..1 MS
* subject only Reference(IopPatient)
* encounter MS
* date MS
* author MS
* author only Reference(PractitionerRole or Practitioner or Organization)
* title MS
* confidentiality 0..0
* attester 1..* MS
* attester.party 1..1 MS
* custodian 1..1 MS
* custodian only Reference(Organization)
* event MS
* section 11..* MS
* section.text 1..1 MS
* section ^slicing.discriminator.type = #pattern
* section ^slicing.discriminator.path = "code"
* section ^slicing.rules = #open
* section ^slicing.description = "Slice on the section's LOINC code"
* section contains
    reasonForReferral 1..1 MS and
    problems 1..1 MS and
    medications 1..1 MS and
    allergies 1..1 MS and
    assessments 1..1 MS and
    planOfCare 1..1 MS and
    goals 1..1 MS and
    relapsePrevention 1..1 MS and
    careTeam 1..1 MS and
    encounters 1..1 MS and
    aftercare 1..1 MS
* insert IopTocSection(reasonForReferral, 42349-1, Reason for referral (narrative\))
* insert IopTocSection(problems, 46019-6, Diseases or conditions Set)
* section[problems].entry only Reference(IopCondition)
* insert IopTocSection(medications, 52471-0, Medications)
* section[medications].entry only Reference(IopMedicationStatement or IopMedicationRequest)
* insert IopTocSection(allergies, 48765-2, Allergies and adverse reactions Document)
* section[allergies].entry only Reference(IopAllergyIntolerance)
* insert IopTocSection(assessments, 10190-7, Mental status Narrative)
* section[assessments].entry only Reference(Observation or QuestionnaireResponse or IopFlag or IopRiskAssessment)
* insert IopTocSection(planOfCare, 74449-0, Patient plan of care - recommended IHE set)
* section[planOfCare].entry only Reference(CarePlan)
* insert IopTocSection(goals, 61146-7, Goals)
* section[goals].entry only Reference(IopGoal)
* insert IopTocSection(relapsePrevention, 101901-7, Mental health Action plan)
* section[relapsePrevention].entry only Reference(IopCarePlanRelapsePrevention)
* insert IopTocSection(careTeam, 85847-2, Patient Care team information)
* section[careTeam].entry only Reference(CareTeam or PractitionerRole)
* insert IopTocSection(encounters, 46240-8, History of Hospitalizations+Outpatient visits Narrative)
* section[encounters].entry only Reference(Encounter or Appointment or EpisodeOfCare)
* insert IopTocSection(aftercare, 18776-5, Plan of care note)
* section[aftercare].entry only Reference(IopCarePlanAftercare or IopReferral or Appointment)

Profile: IopTocDocument
Parent: Bundle
Id: iop-toc-document
Title: "IOP transition-of-care document"
Description: "A FHIR document Bundle holding an IOP transition-of-care Composition (first) and every resource it references, directly or indirectly, each once with a urn:uuid fullUrl. The identifier names the document; the timestamp is the discharge or referral day (or the time the caller gave), never the time it was generated, so the same episode always gives the same document."
* ^status = #active
* ^experimental = false
* identifier 1..1 MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS
* type = #document
* timestamp 1..1 MS
* entry 1..* MS
* entry.fullUrl 1..1 MS
* entry.resource 1..1 MS

Profile: IopTocDocumentReference
Parent: DocumentReference
Id: iop-toc-documentreference
Title: "IOP transition-of-care DocumentReference"
Description: "An IOP transition-of-care document for EHRs that accept documents but not CarePlan writes: the document Bundle as an attachment (application/fhir+json, base64 data, size, SHA-1 hash), optionally its HTML rendering as a second content; masterIdentifier = the document Bundle's identifier. References are logical (type + identifier), so the resource stands on its own outside the document."
* ^status = #active
* ^experimental = false
* obeys iop-toc-2
* insert IopIdentifiers
* masterIdentifier 1..1 MS
* status = #current
* docStatus MS
* type 1..1 MS
* type from IopTocDocumentType (extensible)
* category 1..* MS
* subject 1..1 MS
* date 1..1 MS
* author 1..* MS
* custodian 1..1 MS
* content 1..2 MS
* content.attachment.contentType 1..1 MS
* content.attachment.data 1..1 MS
* content.attachment.size 1..1 MS
* content.attachment.hash 1..1 MS
* context MS
* context.encounter MS
* context.period MS
