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
* extension contains TherapyModality named therapyModality 0..1 MS
* extension[therapyModality] ^short = "The modality the session is delivered in (CBT, DBT, MI...)"
* status MS
* cancelationReason MS
* serviceType MS
* serviceType from SessionKindVS (extensible)
* start MS
* end MS
* basedOn MS
* participant MS
* participant.actor MS
* participant.required MS
* participant.required ^comment = "A session without the patient (team review, family therapy without the patient, family education) lists the patient as information-only with status declined, never accepted."
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
* extension contains TherapyModality named therapyModality 0..1 MS
* extension[therapyModality] ^short = "The modality the session is delivered in (CBT, DBT, MI...)"
* status MS
* class MS
* class from IopSessionEncounterClass (required)
* type 1..* MS
* type from $vsac-encounter-type (extensible)
* type ^comment = "The session kind, then (where one applies) the session's CPT / HCPCS procedure codes as a second CodeableConcept (US Core encounter types include CPT)."
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
