Profile: IopPatient
Parent: Patient
Id: iop-patient
Title: "IOP patient"
Description: "The person in the program. Restates the required elements of US Core Patient on base R4: an identifier (the MRN), a name and an administrative gender."
* ^status = #active
* ^experimental = false
* obeys iop-pat-name
* insert IopIdentifiers
* name 1..* MS
* name.family MS
* name.given MS
* gender 1..1 MS
* birthDate MS
* telecom MS
* telecom.system 1..1 MS
* telecom.value 1..1 MS
* address MS
* communication.language MS

Invariant: iop-pat-name
Description: "Every name has a family name, a given name or a data-absent-reason extension (as US Core us-core-6)."
Expression: "name.all(family.exists() or given.exists() or extension.where(url = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason').exists())"
Severity: #error
