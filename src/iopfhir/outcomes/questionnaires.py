"""Instrument scores recorded only as QuestionnaireResponses: the SQL that scores them.

Many forms apps send an instrument as a QuestionnaireResponse and nothing else (no total
Observation). Its answered items (``qanswer``: the ``iop-questionnaire-answer`` view, one
row per item at any depth) give a score for an instrument of
:data:`~iopfhir.outcomes.facts.INSTRUMENTS` when an item names one of its codes: the code
its Questionnaire gives the item (``qitem``: the ``iop-questionnaire-item`` view of the
Questionnaires in the source, found by the response's ``questionnaire``: the version it
names (``url|version``) when the source has it, else its canonical url, or a
``Questionnaire/id`` key; the item's first code in LOINC or an
instrument's code system, or with no system; a form's linkIds need not be codes), else its
``linkId`` (the code itself, or the last segment of a path such as ``/44249-1/44261-6``):

* a **stated total**: an item named by the instrument's total code, answered with a number;
* else the **sum of the answers** when every required item is answered: an answer Coding
  of the item's answer list gives its points, a number is the item's value (recoded where
  the instrument recodes it), as :meth:`~iopfhir.terminology.Instrument.total` scores.

A response counts only when ``completed`` or ``amended``. A total Observation already
records the same administration when it is ``derivedFrom`` the response, or has the same
patient, instrument and date-time: then the response adds nothing (no administration is
counted twice). Items, answers and points come from the terminology data.
"""

from __future__ import annotations

from iopfhir.outcomes.spelling import sql_list, sql_string
from iopfhir.terminology.instruments import LOINC, instrument, instruments

__all__ = [
    "RESPONSE_STATUSES",
    "answered_items",
    "item_code",
    "questionnaire_map_sql",
    "questionnaire_scores_sql",
]

#: the responses that count (their answers final)
RESPONSE_STATUSES = ("completed", "amended")


def item_code(link_id: str) -> str:
    """SQL: the code an item's ``linkId`` names (its last ``/`` segment: ``/44261-6``)."""
    return f"split_part({link_id}, '/', -1)"


def questionnaire_map_sql() -> str:
    """CTE ``qmap``: ``(canon, link_id, code)``, the code each Questionnaire of ``qitem``
    gives an item, under its canonical url, its ``url|version`` and its ``Questionnaire/id``
    key: the item's first code in the instruments' systems (as the import reads it; under
    a bare url that several versions share, the least of their codes)."""
    systems = sorted({LOINC, *(i.code_system for i in instruments().values())})
    return f"""qmap AS (
  SELECT canon, link_id, code FROM (
    SELECT canon, link_id, code,
      ROW_NUMBER() OVER (PARTITION BY canon, link_id ORDER BY code_index, code) AS nth
    FROM (
      SELECT url AS canon, link_id, code_system, code, code_index FROM qitem
      WHERE url IS NOT NULL
      UNION ALL
      SELECT url || '|' || version AS canon, link_id, code_system, code, code_index
      FROM qitem WHERE url IS NOT NULL AND version IS NOT NULL
      UNION ALL
      SELECT questionnaire_key AS canon, link_id, code_system, code, code_index FROM qitem
    ) q
    WHERE link_id IS NOT NULL AND code IS NOT NULL
      AND (code_system IS NULL OR code_system IN {sql_list(systems)})
  ) ranked
  WHERE nth = 1
)"""  # noqa: S608


def answered_items(x: str = "x") -> tuple[str, str]:
    """(``FROM`` clause, code): the answered items ``qanswer`` as ``x`` beside the code
    each names (its Questionnaire's for it: the version the response names when the source
    has it, else the url's; else its ``linkId``'s); reads CTE ``qmap``."""
    joined = (
        f"qanswer {x} LEFT JOIN qmap {x}_v ON {x}_v.canon = {x}.questionnaire"
        f" AND {x}_v.link_id = {x}.link_id"
        f" LEFT JOIN qmap {x}_m ON {x}_m.canon = split_part({x}.questionnaire, '|', 1)"
        f" AND {x}_m.link_id = {x}.link_id"
    )
    return joined, f"COALESCE({x}_v.code, {x}_m.code, {item_code(f'{x}.link_id')})"


def _values(rows: list[tuple[object, ...]], columns: str, alias: str = "r") -> str:
    """An inline table ``alias(columns)`` (the same spelling on every engine)."""
    body = ", ".join(
        "(" + ", ".join(sql_string(v) if isinstance(v, str) else str(v) for v in row) + ")"
        for row in rows
    )
    return f"(VALUES {body}) AS {alias}({columns})"


def _item_rows(
    instruments: dict[str, str],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]], str]:
    """(items, answers, recodes, required) of the instruments, from the terminology data.

    items: ``(inst, code, kind, required, scored)``, kind ``total`` or ``item``;
    answers: ``(inst, code, answer system, answer code, points)``;
    recodes: ``(inst, code, value, points)`` for an item whose value is not its points;
    required: a CASE giving each instrument's number of required items."""
    items: list[tuple[object, ...]] = []
    answers: list[tuple[object, ...]] = []
    recodes: list[tuple[object, ...]] = []
    whens = []
    for prefix, inst_id in instruments.items():
        inst = instrument(inst_id)
        items.append((prefix, inst.total_code, "total", 0, 0))
        for item in inst.items:
            items.append((prefix, item.code, "item", int(item.required), int(item.scored)))
            for option in item.answers:
                points = item.points(option.score)
                answers.append((prefix, item.code, option.system, option.code, points))
            for raw, points in item.recode:
                recodes.append((prefix, item.code, raw, points))
        needed = sum(1 for item in inst.items if item.required)
        whens.append(f"WHEN {sql_string(prefix)} THEN {needed}")
    return items, answers, recodes, f"CASE inst {' '.join(whens)} END"


def questionnaire_scores_sql(instruments: dict[str, str], obs: str) -> str:
    """CTEs ending in ``qsc``: ``(observation_key, patient_key, inst, score, effective)`` of
    the responses' scores that no Observation of CTE ``obs`` (the total Observations, with
    ``derived_from``) records; ``observation_key`` is the response's key. Reads CTE
    ``qmap`` (:func:`questionnaire_map_sql`)."""
    items, answers, recodes, needed = _item_rows(instruments)
    # an item whose value is not its points (PROMIS-10 pain): its numbers recoded
    recode_join = (
        f"LEFT JOIN {_values(recodes, 'inst, code, val, pts')} ON r.inst = a.inst "
        "AND r.code = a.code AND r.val = a.number"
        if recodes
        else ""
    )
    recoded = "r.pts, " if recodes else ""
    answered, code = answered_items("x")
    return f"""qa AS (
  SELECT x.response_key, x.patient_key, x.authored AS effective, i.inst, i.code, i.kind,
    i.required, i.scored, x.number, x.answer_system, x.answer_code
  FROM {answered}
  JOIN {_values(items, "inst, code, kind, required, scored", "i")}
    ON i.code = {code}
  WHERE x.status IN {sql_list(RESPONSE_STATUSES)} AND x.patient_key IS NOT NULL
    AND x.authored IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM {obs} o
                    WHERE o.derived_from = x.response_key AND o.inst = i.inst)
    AND NOT EXISTS (SELECT 1 FROM {obs} o
                    WHERE o.patient_key = x.patient_key AND o.effective = x.authored
                      AND o.inst = i.inst)
),
qp AS (
  SELECT a.response_key, a.patient_key, a.effective, a.inst, a.code, a.kind,
    MAX(a.required) AS required, MAX(a.scored) AS scored,
    MAX(CASE WHEN a.kind = 'total' THEN a.number
             ELSE COALESCE({recoded}a.number, o.pts) END) AS pts
  FROM qa a
  LEFT JOIN {_values(answers, "inst, code, sys, answer, pts", "o")}
    ON o.inst = a.inst AND o.code = a.code AND o.answer = a.answer_code
   AND (a.answer_system IS NULL OR a.answer_system = o.sys)
  {recode_join}
  GROUP BY a.response_key, a.patient_key, a.effective, a.inst, a.code, a.kind
),
qsc AS (
  SELECT response_key AS observation_key, patient_key, inst, effective,
    COALESCE(MAX(CASE WHEN kind = 'total' THEN pts END),
      CASE WHEN SUM(CASE WHEN kind = 'item' AND required = 1 AND pts IS NOT NULL THEN 1
                         ELSE 0 END) = {needed}
           THEN SUM(CASE WHEN kind = 'item' AND scored = 1 THEN pts END) END) AS score
  FROM qp GROUP BY response_key, patient_key, effective, inst
)"""  # noqa: S608
