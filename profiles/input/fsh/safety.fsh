// Safety signals of scored instruments: a Flag per safety flag the answers raise (PHQ-9
// item 9, C-SSRS items, AUDIT-C / DAST-10 over threshold) and, for the C-SSRS screener, a
// RiskAssessment of suicide risk. Both point at the Observations they come from.

Alias: $flag-detail = http://hl7.org/fhir/StructureDefinition/flag-detail
Alias: $flag-category-vs = http://hl7.org/fhir/ValueSet/flag-category
Alias: $risk-probability-vs = http://hl7.org/fhir/ValueSet/risk-probability

Profile: IopFlag
Parent: Flag
Id: iop-flag
Title: "IOP safety flag"
Description: "A safety or clinical alert raised by the answers of a scored instrument (thoughts of self-harm on PHQ-9 item 9, suicidal ideation or behaviour on the C-SSRS screener, a positive AUDIT-C or DAST-10). The alert starts on the day the instrument was answered and names, through the R4 flag-detail extension, the item or total-score Observations it was derived from."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* extension contains $flag-detail named detail 1..* MS
* extension[detail] ^short = "The item or total-score Observation the flag comes from"
* extension[detail].value[x] only Reference(Observation)
* status MS
* category 1..* MS
* category from $flag-category-vs (required)
* code MS
* code from SafetyFlagVS (required)
* subject MS
* subject only Reference(IopPatient)
* period 1..1 MS
* period.start 1..1 MS
* encounter MS
* encounter only Reference(IopSessionEncounter)

Profile: IopRiskAssessment
Parent: RiskAssessment
Id: iop-riskassessment
Title: "IOP suicide risk assessment"
Description: "The suicide risk level a C-SSRS screener gives, as a qualitative prediction (risk-probability) of the outcome suicide, based on the screener's result Observation and QuestionnaireResponse."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* status MS
* status = #final
* subject MS
* subject only Reference(IopPatient)
* encounter MS
* encounter only Reference(IopSessionEncounter)
* occurrence[x] 1..1 MS
* occurrence[x] only dateTime
* basis 1..* MS
* basis only Reference(Observation or IopQuestionnaireResponse)
* prediction 1..* MS
* prediction.outcome 1..1 MS
* prediction.qualitativeRisk 1..1 MS
* prediction.qualitativeRisk from $risk-probability-vs (required)
