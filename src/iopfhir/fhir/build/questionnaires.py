"""The instruments as FHIR R4 Questionnaires: the forms our QuestionnaireResponses answer.

One Questionnaire per instrument of the terminology data, built from that data alone:

* ``url`` = the canonical the QuestionnaireResponses claim (``Instrument.questionnaire``),
  ``id`` = its last segment (so ``<base>/Questionnaire/<id>`` is the canonical),
  ``identifier`` = project ``questionnaire`` → the instrument id, ``version`` = the profiles
  package version, ``status`` active, ``subjectType`` Patient, ``code`` = the panel code
  (when the instrument has one);
* one ``choice`` item per question, in instrument order: ``linkId`` ``/<item code>`` (as
  the QuestionnaireResponse builder writes it), ``code`` = the item coding, ``required``
  from the data, ``repeats`` false, and one ``answerOption`` per answer whose
  ``valueCoding`` carries the answer's value (its points) in the core ``ordinalValue``
  extension;
* one read-only, optional total item (``/<total code>``): ``integer``, or for the C-SSRS
  screener a ``choice`` of the risk levels. The QuestionnaireResponse holds it only when
  the record gave a total.

Item texts are our short labels, not the instruments' published wording (which belongs to
their owners: see ``copyright``). The output is deterministic and shared by
``tools/build_profiles.py`` (``profiles/package/Questionnaire-<id>.json``) and the
``iopfhir questionnaires`` command.

Imports: :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, Final

from iopfhir.errors import TerminologyError
from iopfhir.fhir.build.narrative import narrate
from iopfhir.fhir.conventions import identifier_system
from iopfhir.terminology import Instrument, Item, instrument, instruments

__all__ = ["ORDINAL_VALUE", "VERSION", "questionnaire_to_fhir", "questionnaires"]

#: The version of the Questionnaires: that of the profiles package they are shipped in.
VERSION: Final = "0.1.0"

#: The core extension holding an answer's score (R4 context: Coding, answerOption).
ORDINAL_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def _name(inst: Instrument) -> str:
    """A computable name (que-0: starts upper-case, letters / digits / ``_`` only)."""
    name = re.sub(r"[^A-Za-z0-9]", "", inst.title)
    return name[:1].upper() + name[1:]


def _label(text: str) -> str:
    return text[:1].upper() + text[1:]


def _choice_item(item: Item) -> dict[str, Any]:
    options = []
    for answer in item.answers:
        coding: dict[str, Any] = {
            "extension": [{"url": ORDINAL_VALUE, "valueDecimal": answer.score}],
            "system": answer.system,
            "code": answer.code,
            "display": answer.display,
        }
        options.append({"valueCoding": coding})
    return {
        "linkId": f"/{item.code}",
        "code": [{"system": item.system, "code": item.code, "display": _label(item.label)}],
        "text": _label(item.label),
        "type": "choice",
        "required": item.required,
        "repeats": False,
        "answerOption": options,
    }


def _total_item(inst: Instrument) -> dict[str, Any]:
    out: dict[str, Any] = {
        "linkId": f"/{inst.total_code}",
        "code": [{"system": inst.code_system, "code": inst.total_code}],
        "text": inst.total_title,
        "type": "integer",
        "required": False,
        "repeats": False,
        "readOnly": True,
    }
    if inst.scoring == "risk-level":
        out["type"] = "choice"
        options = []
        for level in sorted(inst.risk_levels, key=lambda lv: int(lv["score"])):
            coding = {
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": int(level["score"])}],
                "system": str(level["system"]),
                "code": str(level["answer"]),
            }
            options.append({"valueCoding": coding})
        out["answerOption"] = options
    return out


@cache
def _questionnaire(inst_id: str) -> dict[str, Any]:
    inst = instrument(inst_id)
    out: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": inst.questionnaire.rstrip("/").rsplit("/", 1)[-1],
        "url": inst.questionnaire,
        "identifier": [{"system": identifier_system("questionnaire"), "value": inst.id}],
        "version": VERSION,
        "name": _name(inst),
        "title": inst.title,
        "status": "active",
        "subjectType": ["Patient"],
    }
    if inst.copyright:
        out["copyright"] = inst.copyright
    if inst.panel_code:
        out["code"] = [{"system": inst.code_system, "code": inst.panel_code}]
    out["item"] = [_choice_item(it) for it in inst.all_items] + [_total_item(inst)]
    return narrate(out)


def questionnaire_to_fhir(inst_id: str) -> dict[str, Any]:
    """The Questionnaire of one instrument (a fresh dict each call).

    Raises :class:`~iopfhir.errors.TerminologyError` for an unknown instrument id.
    """
    return copy.deepcopy(_questionnaire(inst_id))


def questionnaires(ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The Questionnaires of ``ids`` (default: every instrument, by id), in the order given.

    Each id appears once; an unknown id raises :class:`~iopfhir.errors.TerminologyError`
    naming the ids that exist.
    """
    wanted = sorted(instruments()) if ids is None else list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in instruments()]
    if unknown:
        raise TerminologyError(
            f"{len(unknown)} unknown instrument id(s); expected some of {sorted(instruments())}"
        )
    return [questionnaire_to_fhir(i) for i in wanted]
