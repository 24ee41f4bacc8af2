// Rules shared by several profiles.

// Every resource iopfhir writes carries a business identifier (conventions.py).
RuleSet: IopIdentifiers
* identifier 1..* MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS

// For resources whose identifier is 0..1 in R4 (QuestionnaireResponse).
RuleSet: IopIdentifier
* identifier 1..1 MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS

// The survey Observations of the screening-assessment pattern (items, panels, totals):
// US Core screening-assessment restated on base R4.
RuleSet: IopSurveyObservation
* obeys iop-obs-value and iop-obs-ucum
* insert IopIdentifiers
* status MS
* category 1..* MS
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "Slice on the survey category"
* category contains survey 1..1 MS
* category[survey] = $obs-category#survey
* code MS
* subject 1..1 MS
* subject only Reference(IopPatient)
* effective[x] MS
* effective[x] only dateTime or Period or Timing or instant
* effective[x] obeys iop-obs-effective
* performer MS
* value[x] MS
* dataAbsentReason MS
* hasMember MS
* derivedFrom MS
* encounter MS
* encounter only Reference(IopSessionEncounter)

// A score as a UCUM annotation quantity: {score}
RuleSet: IopScoreQuantity
* valueQuantity.value 1..1 MS
* valueQuantity.system 1..1 MS
* valueQuantity.system = $ucum
* valueQuantity.code 1..1 MS
* valueQuantity.code = #{score}

Invariant: iop-obs-value
Description: "An Observation without components or members has a value or a reason it is absent (as US Core us-core-2)."
Expression: "(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())"
Severity: #error

Invariant: iop-obs-ucum
Description: "A Quantity value uses UCUM when it names a unit system (as US Core us-core-3)."
Expression: "value.ofType(Quantity).system.empty() or value.ofType(Quantity).system = 'http://unitsofmeasure.org'"
Severity: #error

Invariant: iop-obs-effective
Description: "An effective dateTime is at least precise to the day (as US Core us-core-1)."
Expression: "$this is dateTime implies $this.toString().length() >= 10"
Severity: #error
