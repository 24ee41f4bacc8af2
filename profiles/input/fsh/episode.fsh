Profile: IopEpisode
Parent: EpisodeOfCare
Id: iop-episode
Title: "IOP episode"
Description: "One patient's stay in an intensive outpatient program: status, program type, admission..discharge, the program and its required intensity, the team, diagnoses, the referral in and how the episode ended."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* extension contains
    IopProgram named program 0..1 MS and
    DischargeDisposition named dischargeDisposition 0..1 MS
* status MS
* type MS
* type from ProgramTypeVS (extensible)
* diagnosis MS
* diagnosis.condition MS
* diagnosis.condition only Reference(IopCondition)
* diagnosis.rank MS
* patient MS
* patient only Reference(IopPatient)
* managingOrganization MS
* period MS
* referralRequest MS
* referralRequest only Reference(IopReferral)
* careManager MS
* team MS
* team only Reference(IopCareTeam)
