// 42 CFR Part 2: the patient's consent to disclose substance-use treatment records
// (iopfhir.fhir.build.consent, docs/part2.md). Codes: security.json.

Alias: $consentscope = http://terminology.hl7.org/CodeSystem/consentscope
Alias: $consentaction = http://terminology.hl7.org/CodeSystem/consentaction
Alias: $v3-ParticipationType = http://terminology.hl7.org/CodeSystem/v3-ParticipationType
Alias: $v3-PurposeOfUse-vs = http://terminology.hl7.org/ValueSet/v3-PurposeOfUse

Extension: ConsentRevoked
Id: consent-revoked
Title: "Consent revoked"
Description: "The day the patient revoked a consent (the Consent's status is then inactive). R4 Consent has no element for the revocation date; the accounting of disclosures needs it."
Context: Consent
* ^status = #active
* ^experimental = false
* value[x] 1..1
* value[x] only date

Invariant: iop-consent-revoked
Description: "A revoked consent is inactive."
Expression: "extension('https://iopfhir.org/fhir/StructureDefinition/consent-revoked').exists() implies status = 'inactive'"
Severity: #error

Profile: IopConsent
Parent: Consent
Id: iop-consent
Title: "IOP 42 CFR Part 2 consent"
Description: "A patient's consent to disclose records of a 42 CFR Part 2 program: a privacy consent (scope patient-privacy) under the 42 CFR Part 2 policy rule, given on a day, whose root provision denies disclosure (the Part 2 default) over the consent's period and whose nested provisions permit or deny disclosure to recipient organizations (actor role information recipient), for purposes of use (v3 PurposeOfUse), within periods, of data with given sensitivity labels (ETH substance use, PSY mental health). Revocation: status inactive and the consent-revoked extension."
* ^status = #active
* ^experimental = false
* obeys iop-consent-revoked
* insert IopIdentifiers
* extension contains ConsentRevoked named revoked 0..1 MS
* status MS
* scope MS
* scope = $consentscope#patient-privacy
* category 1..* MS
* patient 1..1 MS
* patient only Reference(IopPatient)
* dateTime 1..1 MS
* policyRule 1..1 MS
* policyRule = $v3-ActCode#42CFRPart2
* provision 1..1 MS
* provision.type 1..1 MS
* provision.type = #deny
* provision.period MS
* provision.provision MS
* provision.provision.type 1..1 MS
* provision.provision.actor MS
* provision.provision.actor.role = $v3-ParticipationType#IRCP
* provision.provision.actor.reference only Reference(Organization)
* provision.provision.action 1..* MS
* provision.provision.action = $consentaction#disclose
* provision.provision.purpose MS
* provision.provision.purpose from $v3-PurposeOfUse-vs (required)
* provision.provision.period MS
* provision.provision.securityLabel MS

Alias: $dcm = http://dicom.nema.org/resources/ontology/DCM
Alias: $object-role = http://terminology.hl7.org/CodeSystem/object-role

Profile: IopDisclosureAuditEvent
Parent: AuditEvent
Id: iop-audit-disclosure
Title: "IOP record of a disclosure"
Description: "The accounting of one disclosure of a patient's 42 CFR Part 2 records (iopfhir.fhir.disclosure): an export event (DICOM 110106) read from the program's record, for one purpose of use, by the disclosing program (source role) to the recipient (destination role); its entities name the patient, each disclosed resource (with its security labels) and the consent the disclosure was made under, by business identifier."
* ^status = #active
* ^experimental = false
* type = $dcm#110106
* action 1..1 MS
* action = #R
* recorded MS
* outcome 1..1 MS
* purposeOfEvent 1..1 MS
* purposeOfEvent from $v3-PurposeOfUse-vs (required)
* agent 2..* MS
* agent.type 1..1 MS
* agent.who 1..1 MS
* source.observer MS
* entity 1..* MS
* entity.what 1..1 MS
* entity.type 1..1 MS
* entity.role 1..1 MS
* entity.role from http://hl7.org/fhir/ValueSet/object-role (required)
