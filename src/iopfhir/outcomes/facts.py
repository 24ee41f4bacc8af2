"""The facts tables the measures read: one row per IOP episode, one row per inpatient stay.

Both are SQL over the shipped IOP views (:mod:`iopfhir.views`), registered on the engine
under the names of :data:`VIEWS`. One
definition gives the text for every engine: the few spellings that differ (days between two
dates) come from :class:`Spelling`, chosen by the engine's name. Dates are the calendar dates
as written (the first ten characters of a FHIR date or dateTime), so no time zone is guessed.

Episode facts (``episode_facts_sql``), per EpisodeOfCare:

* keys and strata: ``episode_key``, ``patient_key``, ``program_type``, ``referral_source``,
  ``sex``, ``age`` / ``age_band`` (at admission), ``telehealth_band``, ``index_date`` (the
  discharge date, else the admission date) and ``period`` (its year and quarter);
* symptoms, per instrument (``phq9``, ``gad7``, ``auditc``, ``dast10``): ``<i>_n`` scores from
  14 days before admission to discharge, ``<i>_base`` / ``<i>_base_key`` (the first),
  ``<i>_last`` / ``<i>_last_key`` (the latest);
* attendance (session Appointments the patient takes part in): ``sessions_settled``
  (fulfilled, no-show, cancelled), ``sessions_attended``, ``sessions_noshow``,
  ``sessions_cancelled``, ``sessions_telehealth`` (attended by video);
* intensity (attended session Encounters of the episode): ``weeks_full`` (whole weeks from
  admission to discharge), ``weeks_met`` (of those, weeks reaching the program's minimum hours
  and days), ``session_minutes``, ``min_hours_per_week``, ``min_days_per_week``;
* after discharge: ``disposition``, ``days_to_readmission`` (first inpatient admission after
  the discharge date), ``days_to_followup`` (first kept aftercare Appointment or finished
  ambulatory Encounter outside the episode after the discharge date);
* continuity (clinicians: a PractitionerRole counts as its Practitioner, so one person in two
  settings matches): ``stay_clinicians`` of inpatient stays discharged 0-30 days before
  admission, ``stay_clinicians_in_iop`` of them taking part in the episode's sessions;
  ``aftercare_clinicians`` of aftercare Appointments after discharge (not cancelled),
  ``aftercare_clinicians_from_iop`` of them who took part in the episode's sessions.

Stay facts (``stay_facts_sql``), per inpatient Encounter with a discharge date:
``days_to_readmission`` to the next inpatient admission of the patient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from iopfhir.terminology.codes import code_system_url, codes
from iopfhir.terminology.instruments import instrument

__all__ = ["INSTRUMENTS", "VIEWS", "Spelling", "episode_facts_sql", "spelling", "stay_facts_sql"]

#: table name -> shipped view
VIEWS = {
    "patient": "iop-patient",
    "encounter": "iop-encounter",
    "score": "iop-observation-score",
    "episode": "iop-episode-of-care",
    "referral": "iop-referral",
    "appointment": "iop-appointment",
    "encounter_participant": "iop-encounter-participant",
    "appointment_participant": "iop-appointment-participant",
    "practitioner_role": "iop-practitioner-role",
}

#: column prefix -> instrument id (the total-score code comes from the terminology data)
INSTRUMENTS = {"phq9": "phq-9", "gad7": "gad-7", "auditc": "audit-c", "dast10": "dast-10"}

_SCORE_STATUSES = ("final", "amended", "corrected")
_BASELINE_DAYS_BEFORE = 14
_CONTINUITY_DAYS = 30


@dataclass(frozen=True, slots=True)
class Spelling:
    """What differs between engines: identifier quotes, days between dates, string type."""

    quote_char: str
    days_template: str  # {a} start date, {b} end date
    string_type: str
    materialized: str = ""  # how a CTE read several times is computed once

    def q(self, name: str) -> str:
        """A quoted identifier."""
        return f"{self.quote_char}{name}{self.quote_char}"

    def days(self, a: str, b: str) -> str:
        """Whole days from date ``a`` to date ``b`` (negative when ``b`` is earlier)."""
        return self.days_template.format(a=a, b=b)


_SPELLINGS = {
    "duckdb": Spelling('"', "date_diff('day', {a}, {b})", "VARCHAR", "MATERIALIZED "),
    "spark": Spelling("`", "datediff({b}, {a})", "STRING"),
}


def spelling(engine_name: str) -> Spelling:
    """The spelling for an engine (DuckDB's for an engine not known here)."""
    return _SPELLINGS.get(engine_name, _SPELLINGS["duckdb"])


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _date(expr: str) -> str:
    return f"TRY_CAST(substr({expr}, 1, 10) AS DATE)"


def _minute_of_day(expr: str) -> str:
    return f"(TRY_CAST(substr({expr}, 12, 2) AS INT) * 60 + TRY_CAST(substr({expr}, 15, 2) AS INT))"


def _age(birth: str, at: str) -> str:
    return (
        f"(year({at}) - year({birth}) - CASE WHEN month({at}) * 100 + day({at}) "
        f"< month({birth}) * 100 + day({birth}) THEN 1 ELSE 0 END)"
    )


def _age_band(age: str) -> str:
    return (
        f"CASE WHEN {age} IS NULL THEN NULL WHEN {age} < 18 THEN '0-17' "
        f"WHEN {age} < 26 THEN '18-25' WHEN {age} < 45 THEN '26-44' "
        f"WHEN {age} < 65 THEN '45-64' ELSE '65+' END"
    )


def _period_filter(column: str, period: tuple[str, str] | None) -> str:
    if period is None:
        return ""
    start, end = (dt.date.fromisoformat(d).isoformat() for d in period)
    return f" AND {column} >= DATE {_lit(start)} AND {column} <= DATE {_lit(end)}"


def _symptom_columns() -> tuple[str, str]:
    """(the CASE pivots of the symptom CTE, the columns the final select takes)."""
    pivots, outs = [], []
    for prefix, inst_id in INSTRUMENTS.items():
        code = _lit(instrument(inst_id).total_code)
        pivots += [
            f"SUM(CASE WHEN loinc = {code} THEN 1 ELSE 0 END) AS {prefix}_n",
            f"MAX(CASE WHEN loinc = {code} AND rf = 1 THEN score END) AS {prefix}_base",
            f"MAX(CASE WHEN loinc = {code} AND rf = 1 THEN observation_key END) "
            f"AS {prefix}_base_key",
            f"MAX(CASE WHEN loinc = {code} AND rl = 1 THEN score END) AS {prefix}_last",
            f"MAX(CASE WHEN loinc = {code} AND rl = 1 THEN observation_key END) "
            f"AS {prefix}_last_key",
        ]
        outs += [
            f"COALESCE(sx.{prefix}_n, 0) AS {prefix}_n",
            f"sx.{prefix}_base",
            f"sx.{prefix}_base_key",
            f"sx.{prefix}_last",
            f"sx.{prefix}_last_key",
        ]
    return ",\n    ".join(pivots), ",\n  ".join(outs)


def episode_facts_sql(engine_name: str, period: tuple[str, str] | None = None) -> str:
    """One row per episode (see the module docstring); ``period``: index dates kept."""
    s = spelling(engine_name)
    start, end = s.q("start"), s.q("end")
    loincs = _in([instrument(i).total_code for i in INSTRUMENTS.values()])
    session_kind = _lit(code_system_url("session-kind"))
    aftercare = _lit(code_system_url("aftercare-service"))
    without_patient = _in(codes()["session_kinds_without_patient"])
    pivots, symptom_out = _symptom_columns()
    in_episode = f"{s.days('ep.start_d', 'x.d')} >= 0 AND (ep.end_d IS NULL OR x.d <= ep.end_d)"
    m = s.materialized
    return f"""WITH enc AS {m}(SELECT * FROM encounter),
apt AS {m}(SELECT * FROM appointment),
ep AS {m}(
  SELECT e.episode_key, e.patient_key, e.program_type, e.discharge_disposition AS disposition,
    e.referral_key, e.min_hours_per_week, e.min_days_per_week,
    {_date("e." + start)} AS start_d, {_date("e." + end)} AS end_d
  FROM episode e
  WHERE e.episode_key IS NOT NULL AND e.patient_key IS NOT NULL
    AND (e.status IS NULL OR e.status <> 'entered-in-error')
),
epi AS (
  SELECT ep.*, COALESCE(ep.end_d, ep.start_d) AS index_d FROM ep
),
sc AS (
  SELECT ep.episode_key, x.observation_key, x.loinc, x.score,
    ROW_NUMBER() OVER (PARTITION BY ep.episode_key, x.loinc
                       ORDER BY x.d, x.effective, x.observation_key) AS rf,
    ROW_NUMBER() OVER (PARTITION BY ep.episode_key, x.loinc
                       ORDER BY x.d DESC, x.effective DESC, x.observation_key DESC) AS rl
  FROM (SELECT observation_key, patient_key, loinc, score, effective, {_date("effective")} AS d
        FROM score WHERE loinc IN {loincs} AND status IN {_in(_SCORE_STATUSES)}) x
  JOIN ep ON x.patient_key = ep.patient_key
  WHERE {s.days("ep.start_d", "x.d")} >= -{_BASELINE_DAYS_BEFORE}
    AND (ep.end_d IS NULL OR x.d <= ep.end_d)
),
sx AS (
  SELECT episode_key,
    {pivots}
  FROM sc GROUP BY episode_key
),
att AS (
  SELECT ep.episode_key,
    SUM(CASE WHEN x.status IN ('fulfilled', 'noshow', 'cancelled') THEN 1 ELSE 0 END) AS settled,
    SUM(CASE WHEN x.status = 'fulfilled' THEN 1 ELSE 0 END) AS attended,
    SUM(CASE WHEN x.status = 'noshow' THEN 1 ELSE 0 END) AS noshow,
    SUM(CASE WHEN x.status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
    SUM(CASE WHEN x.status = 'fulfilled' AND x.telehealth THEN 1 ELSE 0 END) AS telehealth
  FROM (SELECT patient_key, status, COALESCE(telehealth, FALSE) AS telehealth,
               {_date(start)} AS d
        FROM apt
        WHERE service_system = {session_kind}
          AND COALESCE(patient_status, 'accepted') <> 'declined') x
  JOIN ep ON x.patient_key = ep.patient_key
  WHERE {in_episode}
  GROUP BY ep.episode_key
),
wk AS (
  SELECT ep.episode_key, ep.min_hours_per_week, ep.min_days_per_week,
    CAST(FLOOR({s.days("ep.start_d", "x.d")} / 7.0) AS BIGINT) AS week,
    SUM(x.minutes) AS minutes, COUNT(DISTINCT x.d) AS days
  FROM (SELECT episode_key, {_date(start)} AS d,
               {_minute_of_day(end)} - {_minute_of_day(start)} AS minutes
        FROM enc
        WHERE status = 'finished' AND COALESCE(inpatient, FALSE) = FALSE
          AND COALESCE(session_kind, '') NOT IN {without_patient}) x
  JOIN ep ON x.episode_key = ep.episode_key
  WHERE {in_episode}
  GROUP BY ep.episode_key, ep.min_hours_per_week, ep.min_days_per_week,
    CAST(FLOOR({s.days("ep.start_d", "x.d")} / 7.0) AS BIGINT)
),
ep_weeks AS (
  SELECT ep.episode_key,
    CAST(FLOOR(({s.days("ep.start_d", "ep.end_d")} + 1) / 7.0) AS BIGINT) AS weeks_full
  FROM ep WHERE ep.end_d IS NOT NULL
),
inten AS (
  SELECT wk.episode_key, SUM(COALESCE(wk.minutes, 0)) AS minutes,
    SUM(CASE WHEN wk.week < w.weeks_full AND wk.minutes >= wk.min_hours_per_week * 60
             AND wk.days >= wk.min_days_per_week THEN 1 ELSE 0 END) AS weeks_met
  FROM wk JOIN ep_weeks w ON wk.episode_key = w.episode_key
  GROUP BY wk.episode_key
),
ip AS (
  SELECT patient_key, {_date(start)} AS d FROM enc
  WHERE inpatient AND COALESCE(status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
),
readm AS (
  SELECT ep.episode_key, MIN({s.days("ep.end_d", "ip.d")}) AS days
  FROM ep JOIN ip ON ip.patient_key = ep.patient_key
  WHERE ep.end_d IS NOT NULL AND ip.d > ep.end_d
  GROUP BY ep.episode_key
),
visit AS (
  SELECT patient_key, {_date(start)} AS d, CAST(NULL AS {s.string_type}) AS episode_key
  FROM apt WHERE status = 'fulfilled' AND service_system = {aftercare}
  UNION ALL
  SELECT patient_key, {_date(start)} AS d, episode_key FROM enc
  WHERE status = 'finished' AND class_code IN ('AMB', 'VR')
),
fu AS (
  SELECT ep.episode_key, MIN({s.days("ep.end_d", "visit.d")}) AS days
  FROM ep JOIN visit ON visit.patient_key = ep.patient_key
  WHERE ep.end_d IS NOT NULL AND visit.d > ep.end_d
    AND (visit.episode_key IS NULL OR visit.episode_key <> ep.episode_key)
  GROUP BY ep.episode_key
),
who_enc AS (
  SELECT DISTINCT x.encounter_key, COALESCE(r.practitioner_key, x.individual_key) AS who
  FROM encounter_participant x
  LEFT JOIN practitioner_role r ON r.practitionerrole_key = x.individual_key
  WHERE x.individual_key LIKE 'Practitioner%'
),
stay_who AS (
  SELECT DISTINCT ep.episode_key, w.who
  FROM ep JOIN enc x ON x.patient_key = ep.patient_key AND x.inpatient
    AND COALESCE(x.status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
  JOIN who_enc w ON w.encounter_key = x.encounter_key
  WHERE {s.days(_date("x." + end), "ep.start_d")} BETWEEN 0 AND {_CONTINUITY_DAYS}
),
iop_who AS (
  SELECT DISTINCT x.episode_key, w.who
  FROM enc x JOIN who_enc w ON w.encounter_key = x.encounter_key
  WHERE x.episode_key IS NOT NULL AND COALESCE(x.inpatient, FALSE) = FALSE
),
after_who AS (
  SELECT DISTINCT ep.episode_key, COALESCE(r.practitioner_key, x.actor_key) AS who
  FROM ep JOIN apt a ON a.patient_key = ep.patient_key
  JOIN appointment_participant x ON x.appointment_key = a.appointment_key
  LEFT JOIN practitioner_role r ON r.practitionerrole_key = x.actor_key
  WHERE a.service_system = {aftercare} AND x.actor_key LIKE 'Practitioner%'
    AND COALESCE(a.status, '') NOT IN ('cancelled', 'entered-in-error')
    AND ep.end_d IS NOT NULL AND {_date("a." + start)} > ep.end_d
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
),
base AS (
  SELECT epi.*, p.gender AS sex, r.referral_source,
    {_age(_date("p.birth_date"), "epi.start_d")} AS age
  FROM epi
  LEFT JOIN patient p ON p.patient_key = epi.patient_key
  LEFT JOIN referral r ON r.servicerequest_key = epi.referral_key
)
SELECT base.episode_key, base.patient_key,
  base.program_type, base.referral_source, base.sex, base.age,
  {_age_band("base.age")} AS age_band,
  CASE WHEN COALESCE(att.attended, 0) = 0 THEN NULL
       WHEN att.telehealth = 0 THEN 'none'
       WHEN att.telehealth * 2 < att.attended THEN 'under-half'
       ELSE 'half-or-more' END AS telehealth_band,
  base.start_d AS admission_date, base.end_d AS discharge_date, base.index_d AS index_date,
  year(base.index_d) * 10 + quarter(base.index_d) AS period,
  base.disposition,
  {symptom_out},
  COALESCE(att.settled, 0) AS sessions_settled, COALESCE(att.attended, 0) AS sessions_attended,
  COALESCE(att.noshow, 0) AS sessions_noshow, COALESCE(att.cancelled, 0) AS sessions_cancelled,
  COALESCE(att.telehealth, 0) AS sessions_telehealth,
  ep_weeks.weeks_full, COALESCE(inten.weeks_met, 0) AS weeks_met,
  COALESCE(inten.minutes, 0) AS session_minutes,
  base.min_hours_per_week, base.min_days_per_week,
  readm.days AS days_to_readmission, fu.days AS days_to_followup,
  COALESCE(cont_in.n, 0) AS stay_clinicians, COALESCE(cont_in.shared, 0) AS stay_clinicians_in_iop,
  COALESCE(cont_after.n, 0) AS aftercare_clinicians,
  COALESCE(cont_after.shared, 0) AS aftercare_clinicians_from_iop
FROM base
LEFT JOIN sx ON sx.episode_key = base.episode_key
LEFT JOIN att ON att.episode_key = base.episode_key
LEFT JOIN inten ON inten.episode_key = base.episode_key
LEFT JOIN ep_weeks ON ep_weeks.episode_key = base.episode_key
LEFT JOIN readm ON readm.episode_key = base.episode_key
LEFT JOIN fu ON fu.episode_key = base.episode_key
LEFT JOIN cont_in ON cont_in.episode_key = base.episode_key
LEFT JOIN cont_after ON cont_after.episode_key = base.episode_key
WHERE base.index_d IS NOT NULL{_period_filter("base.index_d", period)}"""  # noqa: S608


def stay_facts_sql(engine_name: str, period: tuple[str, str] | None = None) -> str:
    """One row per inpatient stay with a discharge date: days to the next admission."""
    s = spelling(engine_name)
    start, end = s.q("start"), s.q("end")
    return f"""WITH st AS {s.materialized}(
  SELECT encounter_key, patient_key, {_date(start)} AS adm, {_date(end)} AS dis
  FROM encounter
  WHERE inpatient AND patient_key IS NOT NULL
    AND COALESCE(status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
),
nxt AS (
  SELECT a.encounter_key, MIN({s.days("a.dis", "b.adm")}) AS days
  FROM st a JOIN st b ON a.patient_key = b.patient_key AND b.encounter_key <> a.encounter_key
  WHERE a.dis IS NOT NULL AND b.adm > a.dis
  GROUP BY a.encounter_key
)
SELECT st.encounter_key AS stay_key, st.patient_key, p.gender AS sex,
  {_age(_date("p.birth_date"), "st.adm")} AS age,
  {_age_band(_age(_date("p.birth_date"), "st.adm"))} AS age_band,
  st.adm AS admission_date, st.dis AS discharge_date, st.dis AS index_date,
  year(st.dis) * 10 + quarter(st.dis) AS period,
  nxt.days AS days_to_readmission
FROM st
LEFT JOIN nxt ON nxt.encounter_key = st.encounter_key
LEFT JOIN patient p ON p.patient_key = st.patient_key
WHERE st.dis IS NOT NULL{_period_filter("st.dis", period)}"""  # noqa: S608
