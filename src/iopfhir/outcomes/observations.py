"""The Observations the measures read scores and answers from, whole or by component.

An instrument's total, an item's score or an item's answer is an Observation of its own
(the ``score`` and ``answer`` tables: ``iop-observation-score``, ``iop-observation-answer``)
or a component of one: an EHR's PHQ-9 panel (LOINC 44249-1) may give the total 44261-6 and
item 9 44260-8 as components, as R4 allows and as the import reads them (the ``component``
table: ``iop-observation-component``, one row per component with a score or a coded
answer, with its Observation's key, patient, status and date). :func:`scores_sql` and
:func:`answers_sql` read both as one table. The components are a view apart rather than
rows of the two views (a ``unionAll`` there would make every Observation a list of rows,
≈ 25 % more for the largest read): data without such panels pay nothing for them.
"""

from __future__ import annotations

__all__ = ["ANSWER_COLUMNS", "SCORE_COLUMNS", "answers_sql", "scores_sql"]

#: the columns :func:`scores_sql` gives
SCORE_COLUMNS = (
    "observation_key",
    "patient_key",
    "status",
    "code_system",
    "code",
    "loinc",
    "score",
    "effective",
    "derived_from",
)
#: the columns :func:`answers_sql` gives
ANSWER_COLUMNS = ("observation_key", "patient_key", "status", "loinc", "answer_code", "effective")


def scores_sql(alias: str) -> str:
    """A subquery (aliased ``alias``) of the scored Observations and components: the
    ``score`` table's rows and the ``component`` table's rows with a score."""
    cols = ", ".join(SCORE_COLUMNS)
    return (
        f"(SELECT {cols} FROM score UNION ALL "  # noqa: S608 (our own names)
        f"SELECT {cols} FROM component WHERE score IS NOT NULL) {alias}"
    )


def answers_sql(alias: str) -> str:
    """A subquery (aliased ``alias``) of the Observations and components with a coded
    answer: the ``answer`` table's rows and the ``component`` table's rows with one."""
    cols = ", ".join(ANSWER_COLUMNS)
    return (
        f"(SELECT {cols} FROM answer UNION ALL "  # noqa: S608 (our own names)
        f"SELECT {cols} FROM component WHERE answer_code IS NOT NULL) {alias}"
    )
