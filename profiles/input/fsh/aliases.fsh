// Code systems and canonicals used across the profiles.
Alias: $loinc = http://loinc.org
Alias: $sct = http://snomed.info/sct
Alias: $ucum = http://unitsofmeasure.org
Alias: $obs-category = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $condition-category = http://terminology.hl7.org/CodeSystem/condition-category
Alias: $uscore-condition-category = http://hl7.org/fhir/us/core/CodeSystem/condition-category
Alias: $v3-ActCode = http://terminology.hl7.org/CodeSystem/v3-ActCode
Alias: $icd10cm = http://hl7.org/fhir/sid/icd-10-cm
Alias: $care-plan-kind = https://iopfhir.org/fhir/CodeSystem/care-plan-kind

// US Core value sets that R4 core does not carry (bound by canonical, see README.md)
Alias: $vsac-care-team-member-function = http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1099.30
Alias: $vsac-encounter-type = http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1267.23
Alias: $vsac-screening-assessment-code = http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1267.13
Alias: $uscore-condition-code = http://hl7.org/fhir/us/core/ValueSet/us-core-condition-code
