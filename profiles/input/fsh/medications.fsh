// Medications and allergies of an IOP episode: what the patient takes (MedicationStatement),
// what a clinician of the episode ordered (MedicationRequest) and what the patient must not
// be given (AllergyIntolerance). Medications are coded in RxNorm.

Alias: $rxnorm = http://www.nlm.nih.gov/research/umls/rxnorm

ValueSet: IopMedicationCodes
Id: iop-medication-codes
Title: "IOP medication codes"
Description: "Medications coded in RxNorm (any RxNorm concept: clinical drugs such as sertraline 50 MG Oral Tablet, or ingredients)."
* ^status = #active
* ^experimental = false
* include codes from system $rxnorm

Profile: IopMedicationStatement
Parent: MedicationStatement
Id: iop-medicationstatement
Title: "IOP medication statement"
Description: "A medication the patient takes or took (on admission, from the inpatient stay, during the program), coded in RxNorm, with the diagnoses it treats and the dose as text."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* status MS
* medication[x] only CodeableConcept
* medication[x] MS
* medication[x] from IopMedicationCodes (preferred)
* subject MS
* subject only Reference(IopPatient)
* effective[x] MS
* dateAsserted MS
* informationSource MS
* reasonReference MS
* reasonReference only Reference(IopCondition or Observation or DiagnosticReport)
* dosage MS
* dosage.text MS

Profile: IopMedicationRequest
Parent: MedicationRequest
Id: iop-medicationrequest
Title: "IOP prescription"
Description: "A medication ordered for the patient by a clinician of the episode (intent order), coded in RxNorm, with the prescriber, the diagnoses it treats, the dose as text and the refills allowed."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* status MS
* intent MS
* intent = #order
* medication[x] only CodeableConcept
* medication[x] MS
* medication[x] from IopMedicationCodes (preferred)
* subject MS
* subject only Reference(IopPatient)
* authoredOn MS
* requester MS
* requester only Reference(PractitionerRole or Practitioner)
* reasonReference MS
* reasonReference only Reference(IopCondition or Observation)
* dosageInstruction MS
* dosageInstruction.text MS
* dispenseRequest.numberOfRepeatsAllowed MS

Profile: IopAllergyIntolerance
Parent: AllergyIntolerance
Id: iop-allergyintolerance
Title: "IOP allergy or intolerance"
Description: "An allergy or intolerance of the patient (a drug, a food, an environmental substance) with its criticality and the reactions seen, so that a transition-of-care record keeps it."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* clinicalStatus MS
* verificationStatus MS
* category MS
* criticality MS
* code 1..1 MS
* patient MS
* patient only Reference(IopPatient)
* recordedDate MS
* recorder MS
* reaction MS
* reaction.manifestation MS
* reaction.severity MS
