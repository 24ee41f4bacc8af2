Profile: IopCareTeam
Parent: CareTeam
Id: iop-careteam
Title: "IOP care team"
Description: "The multidisciplinary team of an episode (therapists, psychiatric prescribers, case managers, peer specialists, family). Restates US Core CareTeam on base R4: a patient, and participants each with one role and one member."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* status MS
* name MS
* subject 1..1 MS
* subject only Reference(IopPatient)
* period MS
* participant 1..* MS
* participant.role 1..1 MS
* participant.role from $vsac-care-team-member-function (extensible)
* participant.member 1..1 MS
* participant.member only Reference(Practitioner or PractitionerRole or RelatedPerson or IopPatient or Organization or IopCareTeam)
* participant.onBehalfOf MS
* participant.period MS
* managingOrganization MS
