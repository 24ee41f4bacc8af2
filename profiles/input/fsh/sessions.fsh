Profile: IopSessionAppointment
Parent: Appointment
Id: iop-session-appointment
Title: "IOP session appointment"
Description: "One scheduled program session (or a booked aftercare appointment): its kind, times, status (booked, fulfilled, noshow, cancelled) and participants, the patient among them."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* extension contains DeliverySetting named deliverySetting 0..1 MS
* extension[deliverySetting] ^short = "telehealth for a session by video or phone"
* status MS
* cancelationReason MS
* serviceType MS
* serviceType from SessionKindVS (extensible)
* start MS
* end MS
* basedOn MS
* participant MS
* participant.actor MS
* participant.status MS
* supportingInformation MS

Profile: IopSessionEncounter
Parent: Encounter
Id: iop-session-encounter
Title: "IOP session encounter"
Description: "A program session that took place (or is planned): ambulatory or virtual, its kind, actual times, facilitator and attendees, within the IOP episode. Restates US Core Encounter on base R4."
* ^status = #active
* ^experimental = false
* insert IopIdentifiers
* status MS
* class MS
* class from IopSessionEncounterClass (required)
* type 1..* MS
* type from $vsac-encounter-type (extensible)
* serviceType MS
* subject 1..1 MS
* subject only Reference(IopPatient)
* episodeOfCare MS
* episodeOfCare only Reference(IopEpisode)
* basedOn MS
* participant MS
* participant.type MS
* participant.period MS
* participant.individual MS
* appointment MS
* appointment only Reference(IopSessionAppointment)
* period MS
* reasonCode MS
* reasonReference MS
* hospitalization MS
* hospitalization.dischargeDisposition MS
* location MS
* location.location MS
* serviceProvider MS
