"""The IOP sessions the attendance measures count, each once, however it was recorded.

A session may be recorded as an Appointment (iopfhir writes one for every session), as an
Encounter (finished, cancelled, planned...), or both: an Encounter that references an
Appointment of the data (``Encounter.appointment``, the first) is the same session as that
Appointment. One row per session (``ses``), of:

* every session Appointment (a service or appointment type in the ``session-kind`` code
  system, else a procedure code of one session kind, :func:`session_kind_sql`; not a kind
  without the patient) the patient takes part in (not ``declined``: team reviews, family
  education). Its status is the
  Appointment's, settled by its Encounters while the Appointment is still open (``booked``,
  ``pending``, ``arrived``, ``checked-in``): a finished Encounter makes it ``fulfilled``, a
  cancelled one (and none finished) ``cancelled``;
* every session Encounter (a type or service type in ``session-kind``, else a procedure
  code of one session kind there; not inpatient, not a kind without the patient) that
  references no Appointment of the data: ``finished`` is ``fulfilled``,
  ``cancelled`` is ``cancelled``, any other status is not settled (R4 ``Encounter.status``
  has no no-show, so such a session is never one).

A session is by video (telehealth) when its Appointment has the ``delivery-setting``
extension ``telehealth`` or one of its Encounters is of class ``VR``.

The intensity measures' hours (:func:`episode_hours_sql`) are those of the same attended
sessions, each once: an Encounter's period (else its ``length``), or an Appointment's
start to end (else its ``minutesDuration``) where no Encounter records it.
"""

from __future__ import annotations

from iopfhir.outcomes.spelling import (
    Spelling,
    or_by_code,
    sql_date,
    sql_list,
    sql_minutes,
    sql_string,
)
from iopfhir.terminology.codes import codes, session_kinds_by_procedure

__all__ = [
    "OPEN_APPOINTMENT",
    "attendance_ctes",
    "episode_hours_sql",
    "session_kind_sql",
    "session_minutes_sql",
    "sessions_ctes",
    "unlinked",
]

#: Appointment statuses an Encounter of the session settles (the session is not yet settled)
OPEN_APPOINTMENT = ("booked", "pending", "arrived", "checked-in")


def session_kind_sql(alias: str = "") -> str:
    """The session kind of a row of the ``encounter`` or ``appointment`` view: iopfhir's
    session kind, else the one its procedure code stands for (CPT / HCPCS: the
    terminology's ``session_procedures`` of exactly one kind; the views keep only those
    codes, none of which two code systems share)."""
    a = f"{alias}." if alias else ""
    by_code = sorted(session_kinds_by_procedure().items())
    return or_by_code(f"{a}session_kind", f"{a}procedure_code", ((c, k) for (_s, c), k in by_code))


def unlinked(alias: str) -> str:
    """The SQL condition on a row ``alias`` of the ``encounter`` (or
    ``encounter_participant``) view: it links to no EpisodeOfCare of the data (none, or one
    the data lack, as in a partial export). Such an Encounter that is a session (of a kind,
    :func:`session_kind_sql`) is of the patient's episode whose dates hold it, as the import
    reads it and as attendance counts it; another (a primary-care visit during the program,
    in a whole-system export) is not."""
    known = "SELECT episode_key FROM episode WHERE episode_key IS NOT NULL"
    return f"({alias}.episode_key IS NULL OR {alias}.episode_key NOT IN ({known}))"


#: a session's length (``Encounter.length``, ``Appointment.minutesDuration``) is at most
#: the terminology's ``session_max_minutes`` (a day), as the import reads it
_MAX_LENGTH_MINUTES: int = codes()["session_max_minutes"]


def session_minutes_sql(s: Spelling) -> str:
    """Whole minutes a row of the ``encounter`` view lasted: from its period's start to its
    end; without an end, its ``length`` (R4 allows a start and a length: a Duration in s,
    min or h, the terminology's ``duration_seconds``; at most a day), as the import reads
    it; NULL otherwise."""
    start, end = s.q("start"), s.q("end")
    units = codes()["duration_seconds"]
    seconds = " ".join(f"WHEN {sql_string(unit)} THEN {n}" for unit, n in units.items())
    length = f"(length_value * CASE length_unit {seconds} END / 60.0)"
    # not a CASE on the end: in one, DuckDB computes the period's minutes at twice the cost
    return (
        f"COALESCE({sql_minutes(s, start, end)}, CASE WHEN {end} IS NULL AND {length} > 0 "
        f"AND {length} <= {_MAX_LENGTH_MINUTES} THEN CAST(FLOOR({length}) AS BIGINT) END)"
    )


def episode_hours_sql(s: Spelling, in_episode: str) -> str:
    """A query of the attended sessions of each episode of ``ep`` (columns
    ``episode_key``, date ``d``, ``minutes``), dated within the episode (``in_episode``:
    the condition on ``ep`` and the session ``x``), not of a kind without the patient:
    the finished, not inpatient Encounters linked to it, or sessions (of a kind) linked to
    no episode of the data (:func:`unlinked`: then of the patient's); and the fulfilled
    session Appointments of the patient no Encounter records (an EHR that keeps only the
    schedule), lasting from start to end, else their ``minutesDuration`` (as the import
    reads them). Each session once, as attendance counts it."""
    start, end = s.q("start"), s.q("end")
    without_patient = sql_list(codes()["session_kinds_without_patient"])
    kind = session_kind_sql()

    def attended(also: str) -> str:
        # the encounter table is read directly in each part: a CTE over it read twice would
        # be copied whole (DuckDB materializes such CTEs)
        return f"""(SELECT episode_key, patient_key, {sql_date(start)} AS d,
          {session_minutes_sql(s)} AS minutes
        FROM encounter
        WHERE status = 'finished' AND COALESCE(inpatient, FALSE) = FALSE
          AND COALESCE({kind}, '') NOT IN {without_patient}{also}) x"""  # noqa: S608

    return f"""SELECT ep.episode_key, x.d, x.minutes
  FROM {attended("")} JOIN ep ON x.episode_key = ep.episode_key
  WHERE {in_episode}
  UNION ALL
  SELECT ep.episode_key, x.d, x.minutes
  FROM {attended(f" AND {kind} IS NOT NULL")} JOIN ep ON x.patient_key = ep.patient_key
  WHERE {unlinked("x")} AND {in_episode}
  UNION ALL
  SELECT ep.episode_key, x.d, x.minutes
  FROM (SELECT patient_key, {sql_date(start)} AS d,
          CASE WHEN {end} IS NOT NULL THEN {sql_minutes(s, start, end)}
               WHEN minutes_duration > 0 AND minutes_duration <= {_MAX_LENGTH_MINUTES}
               THEN minutes_duration END AS minutes
        FROM appointment
        WHERE status = 'fulfilled' AND {kind} IS NOT NULL AND {kind} NOT IN {without_patient}
          AND COALESCE(patient_status, 'accepted') <> 'declined'
          AND appointment_key NOT IN
            (SELECT appointment_key FROM encounter WHERE appointment_key IS NOT NULL)) x
  JOIN ep ON x.patient_key = ep.patient_key
  WHERE {in_episode}"""  # noqa: S608


def sessions_ctes(s: Spelling) -> str:
    """CTEs ``ses_enc`` (per Appointment referenced by Encounters: ``done`` 2 when one is
    finished, 1 when one is cancelled; ``video``) and ``ses`` (one row per session:
    ``patient_key``, date ``d``, ``status`` as an Appointment's, ``telehealth``), each
    followed by a comma; they read the tables ``appointment`` and ``encounter``."""
    start = s.q("start")
    without_patient = sql_list(codes()["session_kinds_without_patient"])
    still_open = sql_list(OPEN_APPOINTMENT)
    kind, appointment_kind = session_kind_sql("e"), session_kind_sql("a")
    return f"""ses_enc AS (
  SELECT appointment_key,
    MAX(CASE WHEN status = 'finished' THEN 2 WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS done,
    MAX(CASE WHEN telehealth THEN 1 ELSE 0 END) AS video
  FROM encounter WHERE appointment_key IS NOT NULL
  GROUP BY appointment_key
),
ses AS (
  SELECT a.patient_key, {sql_date("a." + start)} AS d,
    CASE WHEN a.status IN {still_open} AND x.done = 2 THEN 'fulfilled'
         WHEN a.status IN {still_open} AND x.done = 1 THEN 'cancelled'
         ELSE a.status END AS status,
    COALESCE(a.telehealth, FALSE) OR COALESCE(x.video, 0) = 1 AS telehealth
  FROM appointment a LEFT JOIN ses_enc x ON x.appointment_key = a.appointment_key
  WHERE {appointment_kind} IS NOT NULL AND {appointment_kind} NOT IN {without_patient}
    AND COALESCE(a.patient_status, 'accepted') <> 'declined'
  UNION ALL
  SELECT e.patient_key, {sql_date("e." + start)} AS d,
    CASE WHEN e.status = 'finished' THEN 'fulfilled'
         WHEN e.status = 'cancelled' THEN 'cancelled' END AS status,
    COALESCE(e.telehealth, FALSE) AS telehealth
  FROM encounter e LEFT JOIN appointment a ON a.appointment_key = e.appointment_key
  WHERE a.appointment_key IS NULL AND {kind} IS NOT NULL
    AND {kind} NOT IN {without_patient} AND COALESCE(e.inpatient, FALSE) = FALSE
),"""  # noqa: S608


def attendance_ctes(s: Spelling, in_episode: str) -> str:
    """The CTEs of :func:`sessions_ctes` and ``att`` (per episode of ``ep``: settled,
    attended, no-show, cancelled and attended-by-video sessions dated within it;
    ``in_episode``: the condition on ``ep`` and the session ``x``), each followed by a
    comma."""
    return f"""{sessions_ctes(s)}
att AS (
  SELECT ep.episode_key,
    SUM(CASE WHEN x.status IN ('fulfilled', 'noshow', 'cancelled') THEN 1 ELSE 0 END) AS settled,
    SUM(CASE WHEN x.status = 'fulfilled' THEN 1 ELSE 0 END) AS attended,
    SUM(CASE WHEN x.status = 'noshow' THEN 1 ELSE 0 END) AS noshow,
    SUM(CASE WHEN x.status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
    SUM(CASE WHEN x.status = 'fulfilled' AND x.telehealth THEN 1 ELSE 0 END) AS telehealth
  FROM ses x
  JOIN ep ON x.patient_key = ep.patient_key
  WHERE {in_episode}
  GROUP BY ep.episode_key
),"""  # noqa: S608
