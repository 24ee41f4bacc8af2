Profile: IopGoal
Parent: Goal
Id: iop-goal
Title: "IOP goal"
Description: "A treatment goal, often measurable as an instrument total below or above a value by a date (PHQ-9 total under 5 by week 8). Restates the must-support elements of US Core Goal on base R4."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* lifecycleStatus MS
* achievementStatus MS
* description MS
* subject MS
* subject only Reference(IopPatient)
* start[x] MS
* target MS
* target.measure MS
* target.measure from IopInstrumentTotalVS (extensible)
* target.detail[x] MS
* target.detailQuantity.system MS
* target.detailQuantity.code MS
* target.due[x] MS
* statusDate MS
* statusReason MS
* expressedBy MS
* addresses MS
* addresses only Reference(IopCondition or Observation or MedicationStatement or NutritionOrder or ServiceRequest or RiskAssessment)
