"""Continuity of care in SQL: the clinicians an IOP episode shares with the inpatient stays
just before it and with the aftercare after it (see :mod:`iopfhir.outcomes.facts`).

A clinician is a Practitioner; a PractitionerRole counts as its Practitioner, so one person
taking part in two settings under two roles matches. Stays count when discharged 0-30 days
before admission; aftercare is its Appointments after discharge (not cancelled).
"""

from __future__ import annotations

from iopfhir.outcomes.spelling import Spelling, sql_string
from iopfhir.outcomes.spelling import sql_date as _date
from iopfhir.terminology.codes import code_system_url

__all__ = ["continuity_ctes", "stay_cte"]

#: inpatient stays discharged at most this many days before admission count
_CONTINUITY_DAYS = 30


def stay_cte(s: Spelling) -> str:
    """CTE ``stay``: the inpatient Encounters (keys, ``start_d``, ``end_d``)."""
    start, end = s.q("start"), s.q("end")
    return f"""stay AS (
  SELECT encounter_key, patient_key, {_date(start)} AS start_d, {_date(end)} AS end_d
  FROM encounter
  WHERE inpatient AND COALESCE(status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
),"""  # noqa: S608


def continuity_ctes(s: Spelling) -> str:
    """CTEs ``cont_in`` (per episode: clinicians of the inpatient stays just before, and
    those of them in the episode's sessions) and ``cont_after`` (of aftercare, and those of
    them in the episode's sessions); read CTEs ``ep`` and ``stay``."""
    aftercare = sql_string(code_system_url("aftercare-service"))
    return f"""stay_who AS (
  SELECT DISTINCT ep.episode_key, COALESCE(r.practitioner_key, w.individual_key) AS who
  FROM ep JOIN stay x ON x.patient_key = ep.patient_key
  JOIN (
    SELECT DISTINCT encounter_key, individual_key FROM encounter_participant
    WHERE individual_key LIKE 'Practitioner%'
      AND encounter_key IN (SELECT encounter_key FROM stay)
  ) w ON w.encounter_key = x.encounter_key
  LEFT JOIN practitioner_role r ON r.practitionerrole_key = w.individual_key
  WHERE {s.days("x.end_d", "ep.start_d")} BETWEEN 0 AND {_CONTINUITY_DAYS}
),
iop_who AS (
  SELECT DISTINCT w.episode_key, COALESCE(r.practitioner_key, w.individual_key) AS who
  FROM (
    SELECT DISTINCT episode_key, individual_key FROM encounter_participant
    WHERE individual_key LIKE 'Practitioner%' AND encounter_key IS NOT NULL
      AND episode_key IS NOT NULL AND COALESCE(inpatient, FALSE) = FALSE
  ) w
  LEFT JOIN practitioner_role r ON r.practitionerrole_key = w.individual_key
),
after_who AS (
  SELECT DISTINCT ep.episode_key, COALESCE(r.practitioner_key, x.actor_key) AS who
  FROM ep JOIN appointment a ON a.patient_key = ep.patient_key
  JOIN appointment_participant x ON x.appointment_key = a.appointment_key
  LEFT JOIN practitioner_role r ON r.practitionerrole_key = x.actor_key
  WHERE a.service_system = {aftercare} AND x.actor_key LIKE 'Practitioner%'
    AND COALESCE(a.status, '') NOT IN ('cancelled', 'entered-in-error')
    AND ep.end_d IS NOT NULL AND {_date("a." + s.q("start"))} > ep.end_d
),
cont_in AS (
  SELECT s.episode_key, COUNT(*) AS n, SUM(CASE WHEN i.who IS NULL THEN 0 ELSE 1 END) AS shared
  FROM stay_who s LEFT JOIN iop_who i ON i.episode_key = s.episode_key AND i.who = s.who
  GROUP BY s.episode_key
),
cont_after AS (
  SELECT a.episode_key, COUNT(*) AS n, SUM(CASE WHEN i.who IS NULL THEN 0 ELSE 1 END) AS shared
  FROM after_who a LEFT JOIN iop_who i ON i.episode_key = a.episode_key AND i.who = a.who
  GROUP BY a.episode_key
),"""  # noqa: S608
