// Weekly reviews: one Provenance per review (build/reviews.py, read/reviews.py).

Alias: $v3-DataOperation = http://terminology.hl7.org/CodeSystem/v3-DataOperation
Alias: $provenance-participant-type = http://terminology.hl7.org/CodeSystem/provenance-participant-type

Extension: RecordIdentifier
Id: record-identifier
Title: "Record identifier"
Description: "iopfhir's business identifier of a resource whose type has no identifier element in R4 (Provenance): the same system and value as the identifiers of the other resources (https://iopfhir.org/fhir/id/<kind>, <episode>/<key>)."
Context: Provenance
* ^status = #active
* ^experimental = false
* value[x] 1..1
* value[x] only Identifier
* valueIdentifier.system 1..1
* valueIdentifier.value 1..1

Extension: GoalStatusChange
Id: goal-status-change
Title: "Goal status set by a review"
Description: "The statuses a (weekly team) review set on one goal: the goal, its lifecycle status, its achievement status and a note on why."
Context: Provenance
* ^status = #active
* ^experimental = false
* extension contains
    goal 1..1 MS and
    lifecycleStatus 1..1 MS and
    achievementStatus 0..1 MS and
    note 0..1 MS
* extension[goal] ^short = "The goal the review set a status on"
* extension[goal].value[x] 1..1
* extension[goal].value[x] only Reference(IopGoal)
* extension[lifecycleStatus] ^short = "The lifecycle status set"
* extension[lifecycleStatus].value[x] 1..1
* extension[lifecycleStatus].value[x] only code
* extension[lifecycleStatus].valueCode from http://hl7.org/fhir/ValueSet/goal-status (required)
* extension[achievementStatus] ^short = "The achievement status set"
* extension[achievementStatus].value[x] 1..1
* extension[achievementStatus].value[x] only CodeableConcept
* extension[achievementStatus].valueCodeableConcept from http://hl7.org/fhir/ValueSet/goal-achievement (preferred)
* extension[note] ^short = "Why (a note of the review)"
* extension[note].value[x] 1..1
* extension[note].value[x] only string

Extension: PlanChange
Id: plan-change
Title: "Plan change made by a review"
Description: "A change a (weekly team) review made to the treatment plan: the plan, the activity (its CarePlan.activity.id), whether it was added, stopped or changed, and a note."
Context: Provenance
* ^status = #active
* ^experimental = false
* extension contains
    plan 1..1 MS and
    activity 1..1 MS and
    change 1..1 MS and
    note 0..1 MS
* extension[plan] ^short = "The care plan changed"
* extension[plan].value[x] 1..1
* extension[plan].value[x] only Reference(CarePlan)
* extension[activity] ^short = "The id of the CarePlan.activity changed"
* extension[activity].value[x] 1..1
* extension[activity].value[x] only string
* extension[change] ^short = "added | stopped | changed"
* extension[change].value[x] 1..1
* extension[change].value[x] only code
* extension[change].valueCode from PlanChangeKindVS (required)
* extension[note] ^short = "Why (a note of the review)"
* extension[note].value[x] 1..1
* extension[note].value[x] only string

Profile: IopProvenanceReview
Parent: Provenance
Id: iop-provenance-review
Title: "IOP weekly review"
Description: "One (weekly team) review of the treatment plan: the goals whose status it set and the care plans it changed (target), when (occurredDateTime; recorded the same moment), who (the author, through their PractitionerRole), the team-review session it happened in (entity, role source: its Appointment, or its Encounter when the session was read without one), and exactly what it set, in extensions. The Goals themselves carry the current statuses; the history is these Provenances (and, on a server, the Goal's versions)."
* ^status = #active
* ^experimental = false
* obeys iop-review-change
* extension contains
    RecordIdentifier named recordIdentifier 1..1 MS and
    GoalStatusChange named goalStatusChange 0..* MS and
    PlanChange named planChange 0..* MS
* target MS
* target only Reference(IopGoal or CarePlan)
* occurred[x] 1..1 MS
* occurred[x] only dateTime
* recorded MS
* activity 1..1 MS
* activity = $v3-DataOperation#UPDATE
* agent MS
* agent.type 1..1 MS
* agent.type = $provenance-participant-type#author
* agent.who MS
* agent.who only Reference(PractitionerRole or Practitioner)
* entity MS
* entity.role MS
* entity.what MS
* entity.what only Reference(IopSessionAppointment or IopSessionEncounter)

Invariant: iop-review-change
Description: "A review records at least one goal status or plan change."
Expression: "extension.where(url = 'https://iopfhir.org/fhir/StructureDefinition/goal-status-change' or url = 'https://iopfhir.org/fhir/StructureDefinition/plan-change').exists()"
Severity: #error
