// Outcome measures: the QuestionnaireResponse of one administration, and the Observations of
// the screening-assessment pattern (item answers, the panel, the total score per instrument
// in generated-instruments.fsh).

Profile: IopQuestionnaireResponse
Parent: QuestionnaireResponse
Id: iop-questionnaireresponse
Title: "IOP questionnaire response"
Description: "The answers of one administration of a scored instrument (PHQ-9, GAD-7, AUDIT-C, C-SSRS screener...), items linked by their LOINC codes. Restates US Core QuestionnaireResponse on base R4."
* ^status = #active
* ^experimental = false
* insert IopIdentifier
* questionnaire 1..1 MS
* status MS
* subject 1..1 MS
* subject only Reference(IopPatient)
* encounter MS
* encounter only Reference(IopSessionEncounter)
* authored 1..1 MS
* author MS
* item MS
* item.linkId MS
* item.answer MS
* item.answer.value[x] MS
* item.answer.valueCoding from IopInstrumentAnswerVS (extensible)

Profile: IopObservationItem
Parent: Observation
Id: iop-observation-item
Title: "IOP instrument item answer"
Description: "The answer to one question of a scored instrument, as a coded value."
* ^status = #active
* ^experimental = false
* insert IopSurveyObservation
* code from IopInstrumentItemVS (required)
* value[x] only CodeableConcept
* valueCodeableConcept from IopInstrumentAnswerVS (required)
* derivedFrom only Reference(IopQuestionnaireResponse)

Profile: IopObservationPanel
Parent: Observation
Id: iop-observation-panel
Title: "IOP instrument panel"
Description: "One administration of a scored instrument: groups the item answers and the total score."
* ^status = #active
* ^experimental = false
* insert IopSurveyObservation
* code from IopInstrumentPanelVS (required)
* value[x] 0..0
* hasMember 1..*
* insert IopPanelMembers
* derivedFrom only Reference(IopQuestionnaireResponse)
