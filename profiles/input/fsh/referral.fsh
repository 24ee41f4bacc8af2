Profile: IopReferral
Parent: ServiceRequest
Id: iop-referral
Title: "IOP referral"
Description: "A referral order: into the program (code: the level of care asked for, category: the referral source, encounter: the inpatient stay it came from) or out of it to an aftercare service."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* status MS
* intent MS
* intent = #order
* category MS
* category from ReferralSourceVS (extensible)
* code 1..1 MS
* code from IopReferralCode (extensible)
* subject MS
* subject only Reference(IopPatient)
* encounter MS
* occurrence[x] MS
* authoredOn MS
* requester MS
* performer MS
* reasonCode MS
* reasonReference MS
