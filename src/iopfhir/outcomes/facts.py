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
  ``<i>_last`` / ``<i>_last_key`` (the latest) (:mod:`iopfhir.outcomes.symptoms`; also
  computed apart, :func:`symptom_facts_sql`, beside the rest);
* attendance (the patient's sessions, each once whether recorded as an Appointment, an
  Encounter or both: :mod:`iopfhir.outcomes.sessions`): ``sessions_settled`` (fulfilled,
  no-show, cancelled), ``sessions_attended``, ``sessions_noshow``, ``sessions_cancelled``,
  ``sessions_telehealth`` (attended by video);
* intensity (attended sessions of the episode, each once: its Encounters, sessions linked
  to no episode of the data dated within it, Appointments no Encounter records;
  :func:`~iopfhir.outcomes.sessions.episode_hours_sql`):
  ``weeks_full`` (whole weeks from admission to discharge), ``weeks_met`` (of those, weeks
  reaching the program's minimum hours and days), ``session_minutes``,
  ``min_hours_per_week``, ``min_days_per_week``;
* after discharge: ``disposition``, ``days_to_readmission`` (first inpatient admission after
  the discharge date), ``days_to_followup`` (first kept aftercare Appointment or finished
  ambulatory Encounter outside the episode after the discharge date);
* continuity (clinicians: a PractitionerRole counts as its Practitioner, so one person in two
  settings matches): ``stay_clinicians`` of inpatient stays discharged 0-30 days before
  admission, ``stay_clinicians_in_iop`` of them taking part in the episode's sessions;
  ``aftercare_clinicians`` of aftercare Appointments after discharge (not cancelled),
  ``aftercare_clinicians_from_iop`` of them who took part in the episode's sessions.

* quality of life / functioning: ``promis10_*`` (PROMIS-10 raw global mental health) and
  ``whodas12_*`` (WHODAS 2.0 12-item simple sum) like the symptom columns; reliable change:
  ``<i>_reliable_points`` from the terminology data (``instruments.json`` ``reliable_change``);
* safety: ``screens`` (screening days from 14 days before admission to discharge: PHQ-9
  item 9, C-SSRS items and risk level, suicide RiskAssessments, safety Flags),
  ``screens_positive`` and ``screens_followed`` (a finished Encounter with the patient or
  another screen 1-7 days after, or a safety plan made 0-7 days after);
* aftercare: ``checkins_due`` (check-ins of plans made during the episode, due 1-183 days
  after discharge) and ``checkins_kept`` (completed); intensity: ``weeks_over`` (whole weeks
  above the program's maximum hours or days), ``max_hours_per_week``, ``max_days_per_week``.

Stay facts (``stay_facts_sql``), per inpatient Encounter with a discharge date:
``days_to_readmission`` to the next inpatient admission of the patient.
"""

from __future__ import annotations

import datetime as dt

from iopfhir.outcomes.lookups import one_per_key
from iopfhir.outcomes.observations import answers_sql, scores_sql
from iopfhir.outcomes.questionnaires import (
    RESPONSE_STATUSES,
    answered_items,
    questionnaire_map_sql,
)
from iopfhir.outcomes.sessions import (
    attendance_ctes,
    episode_hours_sql,
    session_kind_sql,
    unlinked,
)
from iopfhir.outcomes.spelling import (
    Spelling,
    fhirpath_string,
    or_by_code,
    spelling,
    sql_list,
    sql_string,
)
from iopfhir.outcomes.spelling import sql_date as _date
from iopfhir.outcomes.symptoms import (
    BASELINE_DAYS_BEFORE,
    INSTRUMENTS,
    SCORE_STATUSES,
    reliable_change_points,
    symptom_columns,
    symptom_ctes,
)
from iopfhir.terminology.codes import code_system_url, codes
from iopfhir.terminology.instruments import LOINC, Instrument, instrument, instruments

__all__ = [
    "INSTRUMENTS",
    "VIEWS",
    "Spelling",
    "episode_facts_sql",
    "iop_episode",
    "other_program",
    "program_type_sql",
    "reliable_change_points",
    "spelling",
    "stay_facts_sql",
    "symptom_facts_sql",
    "view_rows",
]

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
    "careplan": "iop-careplan",
    "careplan_activity": "iop-careplan-activity",
    "flag": "iop-flag",
    "risk": "iop-risk-assessment",
    "answer": "iop-observation-answer",
    "qanswer": "iop-questionnaire-answer",
    "qitem": "iop-questionnaire-item",
    "component": "iop-observation-component",
}


def iop_episode(alias: str = "") -> str:
    """The SQL condition on a row of the ``episode`` view (``alias.`` before its columns)
    that makes it an IOP episode: keyed, of a patient, not entered in error, and of an IOP
    program. An EpisodeOfCare is of one when a type names an iopfhir program type or an
    IOP billing code (:func:`program_type_sql`), or it has the program's extension, or it
    has no type at all (what else it could be is not said). One typed only otherwise
    (Synthea's ``hacc`` home-and-community-care episodes, an EHR's other programs) is not
    counted (:func:`other_program`)."""
    a = f"{alias}." if alias else ""
    return f"{_episode_row(a)} AND {_of_program(a)}"


def other_program(alias: str = "") -> str:
    """The SQL condition on a row of the ``episode`` view for an episode left out as of
    another program: keyed, of a patient, not entered in error, typed, and neither of an
    iopfhir program type, an IOP billing code nor the program's extension."""
    a = f"{alias}." if alias else ""
    return f"{_episode_row(a)} AND NOT ({_of_program(a)})"


def _episode_row(a: str) -> str:
    return (
        f"{a}episode_key IS NOT NULL AND {a}patient_key IS NOT NULL "
        f"AND ({a}status IS NULL OR {a}status <> 'entered-in-error')"
    )


def _of_program(a: str) -> str:
    return (
        f"({a}program_type IS NOT NULL OR {a}billing_code IS NOT NULL "
        f"OR {a}program_name IS NOT NULL OR NOT COALESCE({a}typed, FALSE))"
    )


def program_type_sql(alias: str = "") -> str:
    """The program type of a row of the ``episode`` view: iopfhir's program type, else the
    one its IOP billing code names (HCPCS per diem, NUBC revenue code: the terminology's
    ``program_type_billing``; the view keeps only those codes, none of which two code
    systems share)."""
    a = f"{alias}." if alias else ""
    billing = codes()["program_type_billing"]
    return or_by_code(
        f"{a}program_type", f"{a}billing_code", ((c["code"], c["type"]) for c in billing)
    )


_CONTINUITY_DAYS = 30
_SAFETY_FOLLOWUP_DAYS = 7  # a positive safety screen is followed up within a week
_CHECKIN_DAYS = 183  # aftercare check-ins due in the six months after discharge
_PLAN_STATUSES = ("active", "completed")
# a Patient or referral given twice (in overlapping NDJSON exports) is one
_PATIENT = one_per_key("patient", "patient_key", ("gender", "birth_date"))
_REFERRAL = one_per_key("referral", "servicerequest_key", ("referral_source",))


def _birth_date(expr: str) -> str:
    """A birth date, a year or a year and month (R4 allows both; de-identified data keep
    only the year) as its first day, as the IOP model counts a partial date."""
    return (
        f"TRY_CAST(CASE length({expr}) WHEN 4 THEN {expr} || '-01-01' "
        f"WHEN 7 THEN {expr} || '-01' ELSE substr({expr}, 1, 10) END AS DATE)"
    )


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
    return f" AND {column} >= DATE {sql_string(start)} AND {column} <= DATE {sql_string(end)}"


def _screening_instruments() -> list[Instrument]:
    """The instruments that screen for suicide risk: those with safety rules on items
    (PHQ-9 item 9, C-SSRS) or a risk-level total (C-SSRS), from the terminology data."""
    return [i for _k, i in sorted(instruments().items()) if i.safety or i.risk_levels]


def _positive_answer(code: str = "loinc") -> str:
    """SQL over ``answer`` (item code in column ``code``, answer in ``answer_code``): the
    answer raises a safety flag (the instruments' safety rules: PHQ-9 item 9 above 0,
    C-SSRS ideation / intent / plan / behaviour) or is a suicide-risk level above none (the
    C-SSRS risk-level total)."""
    terms = []
    for inst in _screening_instruments():
        for item_id, minimum, _flag in inst.safety:
            item = inst.item(item_id)
            answers = [a.code for a in item.answers if a.score >= minimum]
            asked = sql_string(item.code)
            terms.append(f"({code} = {asked} AND answer_code IN {sql_list(answers)})")
        levels = [str(x["answer"]) for x in inst.risk_levels if int(x["score"]) > 0]
        if levels:
            total = sql_string(inst.total_code)
            terms.append(f"({code} = {total} AND answer_code IN {sql_list(levels)})")
    return "(" + " OR ".join(terms) + ")"


def _screen_codes() -> tuple[list[str], list[str]]:
    """(item codes of the safety rules, risk-level total codes): the screening answers."""
    items, totals = [], []
    for inst in _screening_instruments():
        items += [inst.item(item_id).code for item_id, _m, _f in inst.safety]
        if inst.risk_levels:
            totals.append(inst.total_code)
    return items, totals


def view_rows() -> dict[str, str]:
    """The rows of the large views the outcome SQL reads (the measures' and the report's):
    table -> a FHIRPath ``where`` keeping them (a superset: the SQL selects again).

    ``score``: the instruments' totals and the scored safety items; ``answer``: the
    screening answers (:func:`_screen_codes`): most Observations are other item answers.
    ``component``: those of panels with such a component (a total, an item, an answer).
    ``appointment_participant``: those of aftercare appointments (continuity after
    discharge): most appointments are IOP sessions. An engine need not compute the others.
    """
    items, totals = _screen_codes()
    scored = [(inst.code_system, inst.total_code) for inst in map(instrument, INSTRUMENTS.values())]
    aftercare = fhirpath_string(code_system_url("aftercare-service"))
    # a panel's totals, item scores and answers may be its components
    score, answer = (
        _coded(scored + [(LOINC, code) for code in items]),
        _coded([(LOINC, code) for code in items + totals]),
    )
    return {
        "score": f"code.{score}",
        "answer": f"code.{answer}",
        "component": f"component.code.{score} or component.code.{answer}",
        "appointment_participant": f"serviceType.coding.where(system = {aftercare}).exists()",
    }


def _coded(pairs: list[tuple[str, str]]) -> str:
    """FHIRPath on a CodeableConcept: it has a coding of one of the ``(system, code)``
    pairs."""
    by_system: dict[str, list[str]] = {}
    for system, code in pairs:
        by_system.setdefault(system, []).append(code)
    terms = [
        f"(system = {fhirpath_string(system)} and "
        f"({' or '.join(f'code = {fhirpath_string(c)}' for c in codes)}))"
        for system, codes in by_system.items()
    ]
    return f"coding.where({' or '.join(terms)}).exists()"


def _safety_ctes(s: Spelling) -> str:
    """CTEs ``scr_day`` (a patient's screening days, ``pos`` 1 when one was positive),
    ``safe`` (per episode: screening days, positive days) and ``safe_fu`` (positive days
    followed up): see :func:`episode_facts_sql`."""
    items, totals = _screen_codes()
    safety_flags = sql_list(codes()["safety_signals"]["flag_category"]["safety"])
    final = sql_list(SCORE_STATUSES)
    without_patient = sql_list(codes()["session_kinds_without_patient"])
    day = s.days("x.d", "y.d")
    answered, answer_code = answered_items("x")
    return f"""scr AS (
  SELECT patient_key, {_date("effective")} AS d,
    CASE WHEN {_positive_answer()} THEN 1 ELSE 0 END AS pos
  FROM {answers_sql("a")} WHERE status IN {final} AND loinc IN {sql_list(items + totals)}
  UNION ALL
  SELECT patient_key, {_date("effective")} AS d, CASE WHEN score > 0 THEN 1 ELSE 0 END AS pos
  FROM {scores_sql("s")} WHERE status IN {final} AND loinc IN {sql_list(items)}
    AND score IS NOT NULL
  UNION ALL
  SELECT patient_key, {_date("authored")} AS d,
    CASE WHEN answer_code IS NOT NULL THEN CASE WHEN {_positive_answer("code")} THEN 1 ELSE 0 END
         WHEN number > 0 THEN 1 ELSE 0 END AS pos
  FROM (SELECT x.patient_key, x.authored, x.answer_code, x.number, {answer_code} AS code
        FROM {answered} WHERE x.status IN {sql_list(RESPONSE_STATUSES)}) q
  WHERE (answer_code IS NOT NULL AND code IN {sql_list(items + totals)})
     OR (number IS NOT NULL AND code IN {sql_list(items)})
  UNION ALL
  SELECT patient_key, {_date("occurrence")} AS d, CASE WHEN at_risk THEN 1 ELSE 0 END AS pos
  FROM risk WHERE status IN {final} AND assessed
  UNION ALL
  SELECT patient_key, {_date(s.q("start"))} AS d, 1 AS pos
  FROM flag WHERE COALESCE(status, '') <> 'entered-in-error'
    AND code_system = {sql_string(code_system_url("safety-flag"))} AND code IN {safety_flags}
),
scr_day AS {s.materialized}(
  SELECT patient_key, d, MAX(pos) AS pos FROM scr
  WHERE patient_key IS NOT NULL AND d IS NOT NULL GROUP BY patient_key, d
),
ep_scr AS {s.materialized}(
  SELECT ep.episode_key, x.patient_key, x.d, x.pos
  FROM ep JOIN scr_day x ON x.patient_key = ep.patient_key
  WHERE {s.days("ep.start_d", "x.d")} >= -{BASELINE_DAYS_BEFORE}
    AND (ep.end_d IS NULL OR x.d <= ep.end_d)
),
safe AS (
  SELECT episode_key, COUNT(*) AS screens, SUM(pos) AS positive FROM ep_scr GROUP BY episode_key
),
fu_any AS (
  SELECT x.episode_key, x.d FROM ep_scr x
  JOIN (SELECT patient_key, {_date(s.q("start"))} AS d FROM encounter
        WHERE status = 'finished' AND COALESCE({session_kind_sql()}, '') NOT IN {without_patient}) y
    ON y.patient_key = x.patient_key
  WHERE x.pos = 1 AND {day} BETWEEN 1 AND {_SAFETY_FOLLOWUP_DAYS}
  UNION ALL
  SELECT x.episode_key, x.d FROM ep_scr x JOIN scr_day y ON y.patient_key = x.patient_key
  WHERE x.pos = 1 AND {day} BETWEEN 1 AND {_SAFETY_FOLLOWUP_DAYS}
  UNION ALL
  SELECT x.episode_key, x.d FROM ep_scr x
  JOIN (SELECT patient_key, {_date("COALESCE(created, " + s.q("start") + ")")} AS d
        FROM careplan WHERE kind = 'relapse-prevention' AND status IN {sql_list(_PLAN_STATUSES)}) y
    ON y.patient_key = x.patient_key
  WHERE x.pos = 1 AND {day} BETWEEN 0 AND {_SAFETY_FOLLOWUP_DAYS}
),
safe_fu AS (
  SELECT episode_key, COUNT(DISTINCT d) AS followed FROM fu_any GROUP BY episode_key
),
checkin AS (
  SELECT ep.episode_key, COUNT(*) AS due,
    SUM(CASE WHEN a.status = 'completed' THEN 1 ELSE 0 END) AS kept
  FROM ep JOIN careplan_activity a ON a.patient_key = ep.patient_key
  WHERE ep.end_d IS NOT NULL AND a.code_system = {sql_string(code_system_url("check-in"))}
    AND COALESCE(a.status, '') <> 'entered-in-error'
    AND COALESCE(a.plan_status, '') <> 'entered-in-error'
    AND {s.days("ep.end_d", _date("a.due"))} BETWEEN 1 AND {_CHECKIN_DAYS}
    AND {_date("COALESCE(a.created, a.plan_start)")} BETWEEN ep.start_d AND ep.end_d
  GROUP BY ep.episode_key
),"""  # noqa: S608


def _episode_ctes(s: Spelling) -> str:
    """CTEs ``ep`` (the IOP episodes: keys, program, minimums and maximums, ``start_d``
    and ``end_d``) and ``epi`` (with ``index_d``, the discharge date else the admission)."""
    start, end = s.q("start"), s.q("end")
    return f"""ep AS {s.materialized}(
  SELECT e.episode_key, e.patient_key, {program_type_sql("e")} AS program_type,
    e.discharge_disposition AS disposition,
    e.referral_key, e.min_hours_per_week, e.min_days_per_week,
    e.max_hours_per_week, e.max_days_per_week,
    {_date("e." + start)} AS start_d, {_date("e." + end)} AS end_d
  FROM episode e
  WHERE {iop_episode("e")}
),
epi AS (
  SELECT ep.*, COALESCE(ep.end_d, ep.start_d) AS index_d FROM ep
),"""  # noqa: S608


def symptom_facts_sql(engine_name: str, period: tuple[str, str] | None = None) -> str:
    """The symptom columns of :func:`episode_facts_sql` (and ``episode_key``), one row per
    episode of it: the part that reads only the scores, computed apart and beside
    ``episode_facts_sql(..., symptoms=False)`` where the engine runs statements at once."""
    s = spelling(engine_name)
    columns = ",\n  ".join(f"{sql} AS {name}" for sql, name in symptom_columns())
    return f"""WITH {_episode_ctes(s)}
{questionnaire_map_sql()},
{symptom_ctes(s).removesuffix(",")}
SELECT epi.episode_key,
  {columns}
FROM epi
LEFT JOIN sx ON sx.episode_key = epi.episode_key
WHERE epi.index_d IS NOT NULL{_period_filter("epi.index_d", period)}"""  # noqa: S608


def episode_facts_sql(
    engine_name: str, period: tuple[str, str] | None = None, *, symptoms: bool = True
) -> str:
    """One row per episode (see the module docstring); ``period``: index dates kept;
    ``symptoms``: with the symptom columns (else :func:`symptom_facts_sql` gives them)."""
    s = spelling(engine_name)
    start, end = s.q("start"), s.q("end")
    aftercare = sql_string(code_system_url("aftercare-service"))
    symptom_out = "".join(f"{sql} AS {name},\n  " for sql, name in symptom_columns())
    in_episode = f"{s.days('ep.start_d', 'x.d')} >= 0 AND (ep.end_d IS NULL OR x.d <= ep.end_d)"
    # the encounter and appointment tables are read directly: a CTE over them read several
    # times would be copied whole (DuckDB materializes such CTEs)
    return f"""WITH {_episode_ctes(s)}
{questionnaire_map_sql()},
{symptom_ctes(s) if symptoms else ""}
{attendance_ctes(s, in_episode)}
wk AS (
  SELECT ep.episode_key, ep.min_hours_per_week, ep.min_days_per_week,
    ep.max_hours_per_week, ep.max_days_per_week,
    CAST(FLOOR({s.days("ep.start_d", "x.d")} / 7.0) AS BIGINT) AS week,
    SUM(x.minutes) AS minutes, COUNT(DISTINCT x.d) AS days
  FROM ({episode_hours_sql(s, in_episode)}) x
  JOIN ep ON x.episode_key = ep.episode_key
  GROUP BY ep.episode_key, ep.min_hours_per_week, ep.min_days_per_week,
    ep.max_hours_per_week, ep.max_days_per_week,
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
             AND wk.days >= wk.min_days_per_week THEN 1 ELSE 0 END) AS weeks_met,
    SUM(CASE WHEN wk.week < w.weeks_full
             AND (wk.minutes > wk.max_hours_per_week * 60 OR wk.days > wk.max_days_per_week)
             THEN 1 ELSE 0 END) AS weeks_over
  FROM wk JOIN ep_weeks w ON wk.episode_key = w.episode_key
  GROUP BY wk.episode_key
),
stay AS (
  SELECT encounter_key, patient_key, {_date(start)} AS start_d, {_date(end)} AS end_d
  FROM encounter
  WHERE inpatient AND COALESCE(status, '') NOT IN ('planned', 'cancelled', 'entered-in-error')
),
readm AS (
  SELECT ep.episode_key, MIN({s.days("ep.end_d", "stay.start_d")}) AS days
  FROM ep JOIN stay ON stay.patient_key = ep.patient_key
  WHERE ep.end_d IS NOT NULL AND stay.start_d > ep.end_d
  GROUP BY ep.episode_key
),
visit AS (
  SELECT patient_key, {_date(start)} AS d, CAST(NULL AS {s.string_type}) AS episode_key
  FROM appointment WHERE status = 'fulfilled' AND service_system = {aftercare}
  UNION ALL
  SELECT patient_key, {_date(start)} AS d, episode_key FROM encounter
  WHERE status = 'finished' AND class_code IN ('AMB', 'VR')
),
fu AS (
  SELECT ep.episode_key, MIN({s.days("ep.end_d", "visit.d")}) AS days
  FROM ep JOIN visit ON visit.patient_key = ep.patient_key
  WHERE ep.end_d IS NOT NULL AND visit.d > ep.end_d
    AND (visit.episode_key IS NULL OR visit.episode_key <> ep.episode_key)
  GROUP BY ep.episode_key
),
stay_who AS (
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
    UNION ALL
    SELECT ep.episode_key, p.individual_key
    FROM encounter_participant p
    JOIN (SELECT encounter_key, {_date(start)} AS d FROM encounter
          WHERE {session_kind_sql()} IS NOT NULL) x
      ON x.encounter_key = p.encounter_key
    JOIN ep ON ep.patient_key = p.patient_key
    WHERE p.individual_key LIKE 'Practitioner%' AND {unlinked("p")}
      AND COALESCE(p.inpatient, FALSE) = FALSE AND {in_episode}
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
{_safety_ctes(s)}
base AS (
  SELECT epi.*, p.gender AS sex, r.referral_source,
    {_age(_birth_date("p.birth_date"), "epi.start_d")} AS age
  FROM epi
  LEFT JOIN {_PATIENT} p ON p.patient_key = epi.patient_key
  LEFT JOIN {_REFERRAL} r ON r.servicerequest_key = epi.referral_key
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
  {symptom_out if symptoms else ""}COALESCE(att.settled, 0) AS sessions_settled,
  COALESCE(att.attended, 0) AS sessions_attended,
  COALESCE(att.noshow, 0) AS sessions_noshow, COALESCE(att.cancelled, 0) AS sessions_cancelled,
  COALESCE(att.telehealth, 0) AS sessions_telehealth,
  ep_weeks.weeks_full, COALESCE(inten.weeks_met, 0) AS weeks_met,
  COALESCE(inten.minutes, 0) AS session_minutes,
  base.min_hours_per_week, base.min_days_per_week,
  base.max_hours_per_week, base.max_days_per_week, COALESCE(inten.weeks_over, 0) AS weeks_over,
  COALESCE(safe.screens, 0) AS screens, COALESCE(safe.positive, 0) AS screens_positive,
  COALESCE(safe_fu.followed, 0) AS screens_followed,
  COALESCE(checkin.due, 0) AS checkins_due, COALESCE(checkin.kept, 0) AS checkins_kept,
  readm.days AS days_to_readmission, fu.days AS days_to_followup,
  COALESCE(cont_in.n, 0) AS stay_clinicians, COALESCE(cont_in.shared, 0) AS stay_clinicians_in_iop,
  COALESCE(cont_after.n, 0) AS aftercare_clinicians,
  COALESCE(cont_after.shared, 0) AS aftercare_clinicians_from_iop
FROM base
{"LEFT JOIN sx ON sx.episode_key = base.episode_key" if symptoms else ""}
LEFT JOIN att ON att.episode_key = base.episode_key
LEFT JOIN inten ON inten.episode_key = base.episode_key
LEFT JOIN ep_weeks ON ep_weeks.episode_key = base.episode_key
LEFT JOIN readm ON readm.episode_key = base.episode_key
LEFT JOIN fu ON fu.episode_key = base.episode_key
LEFT JOIN cont_in ON cont_in.episode_key = base.episode_key
LEFT JOIN cont_after ON cont_after.episode_key = base.episode_key
LEFT JOIN safe ON safe.episode_key = base.episode_key
LEFT JOIN safe_fu ON safe_fu.episode_key = base.episode_key
LEFT JOIN checkin ON checkin.episode_key = base.episode_key
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
  {_age(_birth_date("p.birth_date"), "st.adm")} AS age,
  {_age_band(_age(_birth_date("p.birth_date"), "st.adm"))} AS age_band,
  st.adm AS admission_date, st.dis AS discharge_date, st.dis AS index_date,
  year(st.dis) * 10 + quarter(st.dis) AS period,
  nxt.days AS days_to_readmission
FROM st
LEFT JOIN nxt ON nxt.encounter_key = st.encounter_key
LEFT JOIN {_PATIENT} p ON p.patient_key = st.patient_key
WHERE st.dis IS NOT NULL{_period_filter("st.dis", period)}"""  # noqa: S608
