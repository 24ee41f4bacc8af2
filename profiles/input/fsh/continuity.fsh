// Continuity of care: the discharge plan of the inpatient stay the patient came from. The
// IOP treatment plan and the referral into the program are based on it (basedOn).

Profile: IopCarePlanDischarge
Parent: CarePlan
Id: iop-careplan-discharge
Title: "IOP inpatient discharge plan"
Description: "The hospital's discharge plan for the inpatient stay before the IOP: written by the inpatient clinician, tied to the stay Encounter, and continued by the IOP treatment plan (CarePlan.basedOn) and the referral (ServiceRequest.basedOn)."
* insert IopCarePlan(inpatient-discharge)
* description MS
* encounter MS
