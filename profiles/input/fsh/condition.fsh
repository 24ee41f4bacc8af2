Profile: IopCondition
Parent: Condition
Id: iop-condition
Title: "IOP condition"
Description: "A diagnosis of the patient (often co-occurring mental-health and substance-use disorders), coded in ICD-10-CM or SNOMED CT. Restates US Core's problems/health-concerns and encounter-diagnosis Condition profiles on base R4: a category saying which, and a code."
* ^status = #active
* ^experimental = false
* obeys iop-cond-category
* insert IopIdentifiers
* clinicalStatus MS
* verificationStatus MS
* category 1..* MS
* category from IopConditionCategory (extensible)
* code 1..1 MS
* code from $uscore-condition-code (extensible)
* subject MS
* subject only Reference(IopPatient)
* encounter MS
* onset[x] MS
* abatement[x] MS
* recordedDate MS
* recorder MS

Invariant: iop-cond-category
Description: "At least one category is problem-list-item, encounter-diagnosis or health-concern."
Expression: "category.coding.where((system = 'http://terminology.hl7.org/CodeSystem/condition-category' and (code = 'problem-list-item' or code = 'encounter-diagnosis')) or (system = 'http://hl7.org/fhir/us/core/CodeSystem/condition-category' and code = 'health-concern')).exists()"
Severity: #error
