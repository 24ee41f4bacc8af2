// The project's extensions (conventions.EXT).

Extension: IopProgram
Id: iop-program
Title: "IOP program"
Description: "The intensive outpatient program an episode belongs to: its name and the intensity it requires per week (minimum and maximum hours and days)."
Context: EpisodeOfCare
* ^status = #active
* ^experimental = false
* extension contains
    name 1..1 MS and
    minimumHoursPerWeek 0..1 MS and
    minimumDaysPerWeek 0..1 MS and
    maximumHoursPerWeek 0..1 MS and
    maximumDaysPerWeek 0..1 MS
* extension[name] ^short = "Program name"
* extension[name].value[x] only string
* extension[name].value[x] 1..1
* extension[minimumHoursPerWeek] ^short = "Minimum treatment hours a week the program requires"
* extension[minimumHoursPerWeek].value[x] only decimal
* extension[minimumHoursPerWeek].value[x] 1..1
* extension[minimumHoursPerWeek] obeys iop-prog-hours
* extension[minimumDaysPerWeek] ^short = "Minimum treatment days a week the program requires"
* extension[minimumDaysPerWeek].value[x] only integer
* extension[minimumDaysPerWeek].value[x] 1..1
* extension[minimumDaysPerWeek] obeys iop-prog-days
* extension[maximumHoursPerWeek] ^short = "Maximum treatment hours a week the program delivers"
* extension[maximumHoursPerWeek].value[x] only decimal
* extension[maximumHoursPerWeek].value[x] 1..1
* extension[maximumHoursPerWeek] obeys iop-prog-hours
* extension[maximumDaysPerWeek] ^short = "Maximum treatment days a week the program delivers"
* extension[maximumDaysPerWeek].value[x] only integer
* extension[maximumDaysPerWeek].value[x] 1..1
* extension[maximumDaysPerWeek] obeys iop-prog-days

Invariant: iop-prog-hours
Description: "Hours a week lie between 0 and 168."
Expression: "value.empty() or (value >= 0 and value <= 168)"
Severity: #error

Invariant: iop-prog-days
Description: "Days a week lie between 0 and 7."
Expression: "value.empty() or (value >= 0 and value <= 7)"
Severity: #error

Extension: DischargeDisposition
Id: discharge-disposition
Title: "IOP discharge disposition"
Description: "How the patient left the program (completed, stepped down, left against advice...)."
Context: EpisodeOfCare
* ^status = #active
* ^experimental = false
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from DischargeDispositionVS (required)

Extension: DeliverySetting
Id: delivery-setting
Title: "Delivery setting"
Description: "Whether a program activity or session takes place in person or by telehealth."
Context: CarePlan.activity.detail, Appointment
* ^status = #active
* ^experimental = false
* value[x] 1..1
* value[x] only code
* valueCode from DeliverySettingVS (required)

Extension: TherapyModality
Id: therapy-modality
Title: "Therapy modality"
Description: "The therapeutic approach of a planned program activity or of a session (CBT, DBT, motivational interviewing...)."
Context: CarePlan.activity.detail, Appointment, Encounter
* ^status = #active
* ^experimental = false
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from ModalityVS (extensible)
