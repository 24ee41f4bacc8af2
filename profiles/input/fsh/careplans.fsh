// The three care plans of an episode. Each fixes its kind in a category slice.

RuleSet: IopCarePlan(kind)
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* text MS
* status MS
* intent MS
* intent = #plan
* category 1..* MS
* category from http://hl7.org/fhir/ValueSet/care-plan-category (preferred)
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "Slice on the project's care-plan-kind code"
* category contains iopKind 1..1 MS
* category[iopKind] = $care-plan-kind#{kind}
* category[iopKind] ^short = "Which IOP care plan this is"
* title MS
* subject MS
* subject only Reference(IopPatient)
* period MS
* created MS
* author MS
* careTeam MS
* careTeam only Reference(IopCareTeam)
* addresses MS
* addresses only Reference(IopCondition)
* goal MS
* goal only Reference(IopGoal)
* activity MS
* note MS
* note.author[x] MS
* note.time MS

Profile: IopCarePlanTreatment
Parent: CarePlan
Id: iop-careplan-treatment
Title: "IOP treatment plan"
Description: "The program's treatment plan: goals, the conditions treated, the team, and the scheduled activities (group, individual and family therapy...) with their weekly schedule, modality and setting. Weekly team reviews are notes."
* insert IopCarePlan(treatment)
* activity.outcomeReference MS
* activity.outcomeReference only Reference(IopSessionAppointment)
* activity.detail MS
* activity.detail.extension contains
    DeliverySetting named deliverySetting 0..1 MS and
    TherapyModality named therapyModality 0..1 MS
* activity.detail.kind MS
* activity.detail.code MS
* activity.detail.code from SessionKindVS (extensible)
* activity.detail.goal MS
* activity.detail.goal only Reference(IopGoal)
* activity.detail.status MS
* activity.detail.scheduled[x] MS
* activity.detail.performer MS
* activity.detail.description MS

Profile: IopCarePlanRelapsePrevention
Parent: CarePlan
Id: iop-careplan-relapse-prevention
Title: "IOP relapse-prevention plan"
Description: "The relapse-prevention (safety) plan as structured activities: triggers, warning signs, coping strategies, daily routines, support people and crisis contacts, each an activity detail coded with its element kind."
* insert IopCarePlan(relapse-prevention)
* contained MS
* activity.reference 0..0
* activity.detail 1..1 MS
* activity.detail.code 1..1 MS
* activity.detail.code from RelapseElementVS (required)
* activity.detail.status MS
* activity.detail.description MS
* activity.detail.performer MS

Profile: IopCarePlanAftercare
Parent: CarePlan
Id: iop-careplan-aftercare
Title: "IOP aftercare plan"
Description: "The plan for the months after discharge: referrals out and booked appointments (activity references) and planned check-ins (activity details coded with the check-in method)."
* insert IopCarePlan(aftercare)
* activity.reference MS
* activity.reference only Reference(IopReferral or Appointment)
* activity.detail MS
* activity.detail.code 1..1 MS
* activity.detail.code from CheckInVS (required)
* activity.detail.status MS
* activity.detail.scheduled[x] MS
* activity.detail.performer MS
