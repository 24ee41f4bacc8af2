// Code systems and value sets defined here rather than generated from codes.json.

ValueSet: IopSessionEncounterClass
Id: iop-session-encounter-class
Title: "IOP session encounter class"
Description: "Encounter classes of a program session: ambulatory (in person) or virtual (telehealth)."
* ^status = #active
* ^experimental = false
* $v3-ActCode#AMB
* $v3-ActCode#VR

ValueSet: IopConditionCategory
Id: iop-condition-category
Title: "IOP condition category"
Description: "How a diagnosis is held: problem-list item, encounter diagnosis or health concern (the categories US Core profiles)."
* ^status = #active
* ^experimental = false
* $condition-category#problem-list-item
* $condition-category#encounter-diagnosis
* $uscore-condition-category#health-concern

ValueSet: IopReferralCode
Id: iop-referral-code
Title: "IOP referral codes"
Description: "What a referral asks for: a level of care (referral into the program) or an aftercare service (referral out)."
* ^status = #active
* ^experimental = false
* include codes from system https://iopfhir.org/fhir/CodeSystem/level-of-care
* include codes from system https://iopfhir.org/fhir/CodeSystem/aftercare-service
* $sct#461481000124109
