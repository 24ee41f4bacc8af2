"""Generated narratives (``text``, status ``generated``) for the resources iopfhir writes.

R4 says a resource that is not contained SHOULD have a narrative (``dom-6``; the HL7
validator warns on every resource without one), and an EHR shows it where it has no view
of the resource's type. :func:`narrate` writes one from the resource itself: a line per
element of :data:`SHOWN` that the resource has, in that order, each value as a person
reads it (a CodeableConcept's text or displays, a Period's two ends, a Quantity's value
and unit, a HumanName's parts), every character escaped.

What is shown is deliberately only the resource's **own** values: never a Reference (its
``display`` names another resource), an identifier, a telecom or an extension. A Part 2
disclosure removes references to withheld resources from what is sent
(:mod:`iopfhir.fhir.disclosure`), and a narrative written before that must not still name
them; an element shown here holds no Reference, so nothing it shows can be withheld
while the resource is sent. Contained resources get none (R4: they have no narrative of
their own), and a resource that has ``text`` already keeps it.

A code without a display is named from the instruments' definitions when it is one of
theirs (an item's question, an instrument's panel or total).

Imports: :mod:`iopfhir.terminology` (the instruments).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from html import escape
from typing import Any, Final

from iopfhir.terminology import instruments

__all__ = ["SHOWN", "narrate", "narrative_div"]

#: (label, element) in the order shown; ``name[x]`` is a choice element (any one type)
SHOWN: Final[tuple[tuple[str, str], ...]] = (
    ("Name", "name"),
    ("Title", "title"),
    ("Status", "status"),
    ("Intent", "intent"),
    ("Type", "type"),
    ("Lifecycle status", "lifecycleStatus"),
    ("Achievement", "achievementStatus"),
    ("Clinical status", "clinicalStatus"),
    ("Verification", "verificationStatus"),
    ("Class", "class"),
    ("Category", "category"),
    ("Code", "code"),
    ("Service type", "serviceType"),
    ("Medication", "medication[x]"),
    ("Description", "description"),
    ("Value", "value[x]"),
    ("Interpretation", "interpretation"),
    ("Relationship", "relationship"),
    ("Activity", "activity"),
    ("Criticality", "criticality"),
    ("Gender", "gender"),
    ("Birth date", "birthDate"),
    ("Effective", "effective[x]"),
    ("Occurred", "occurred[x]"),
    ("Onset", "onset[x]"),
    ("Abatement", "abatement[x]"),
    ("Start", "start[x]"),
    ("Period", "period"),
    ("Start", "start"),
    ("End", "end"),
    ("Authored", "authored"),
    ("Authored on", "authoredOn"),
    ("Created", "created"),
    ("Date", "date"),
    ("Recorded", "recordedDate"),
    ("Recorded", "recorded"),
    ("Asserted", "dateAsserted"),
    ("Issued", "issued"),
    ("Status date", "statusDate"),
    ("Reason", "reasonCode"),
    ("Cancellation reason", "cancelationReason"),
)

#: element names a shape may have besides its content (never shown)
_ANY: Final = frozenset({"id", "extension"})
_CONCEPT: Final = frozenset({"coding", "text"}) | _ANY
_CODING: Final = frozenset({"system", "version", "code", "display", "userSelected"}) | _ANY
_PERIOD: Final = frozenset({"start", "end"}) | _ANY
_QUANTITY: Final = frozenset({"value", "comparator", "unit", "system", "code"}) | _ANY
_NAME: Final = frozenset({"use", "text", "family", "given", "prefix", "suffix", "period"}) | _ANY


#: the elements a narrative follows (where R4 places ``text``)
_BEFORE_TEXT: Final = frozenset({"resourceType", "id", "meta", "implicitRules", "language"})


def narrate(resource: dict[str, Any], more: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """Give ``resource`` a generated narrative unless it has one; returns it.

    ``more``: (label, text) lines shown after the resource's own elements, for what a
    writer knows that no element of :data:`SHOWN` holds (a MeasureReport's measure title
    and populations). ``text`` goes where R4 places it, after ``id``, ``meta`` and
    ``language``."""
    if "text" in resource:
        return resource
    text = {"status": "generated", "div": narrative_div(resource, more)}
    after = [key for key in resource if key not in _BEFORE_TEXT]
    moved = [(key, resource.pop(key)) for key in after]
    resource["text"] = text
    resource.update(moved)
    return resource


def narrative_div(resource: Mapping[str, Any], more: Iterable[tuple[str, str]] = ()) -> str:
    """The XHTML ``div`` of ``resource``'s generated narrative (see the module), with the
    lines ``more`` after its own."""
    found = []
    for key, value in resource.items():
        slot = _slot(key)
        if slot is not None and (shown := _shown(value)):
            found.append((slot, shown))
    found.sort(key=lambda item: item[0][0])
    lines = "".join(f"<p><b>{label}</b>: {_esc(shown)}</p>" for (_n, label), shown in found)
    lines += "".join(f"<p><b>{_esc(label)}</b>: {_esc(shown)}</p>" for label, shown in more)
    kind = _esc(str(resource.get("resourceType", "Resource")))
    return f'<div xmlns="http://www.w3.org/1999/xhtml"><p><b>{kind}</b></p>{lines}</div>'


def _esc(text: str) -> str:
    """``text`` escaped for XHTML element content (no attribute takes a value here)."""
    if "&" in text or "<" in text or ">" in text:
        return escape(text, quote=False)
    return text


#: each shown element's place in :data:`SHOWN` and its label (escaped), by name; the
#: stems of the choice elements apart
_PLAIN: Final = {e: (n, _esc(label)) for n, (label, e) in enumerate(SHOWN) if "[" not in e}
_CHOICE: Final = {e[:-3]: (n, _esc(label)) for n, (label, e) in enumerate(SHOWN) if "[" in e}


@cache
def _slot(key: str) -> tuple[int, str] | None:
    """Where the element ``key`` is shown, if it is (a choice element: its stem, then its
    type's name, capitalised: ``valueQuantity``). Keys are element names (a resource
    iopfhir writes has a few dozen kinds), so the answers are remembered."""
    if key in _PLAIN:
        return _PLAIN[key]
    for stem, slot in _CHOICE.items():
        if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
            return slot
    return None


def _shown(value: Any) -> str:
    """``value`` as text, or ``""`` when it is nothing this module shows."""
    kind = type(value)  # JSON's own types: no subclass to allow for
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is dict:
        return _shape(value)
    if kind is list:
        return "; ".join(shown for item in value if (shown := _shown(item)))
    if kind is bool:
        return "yes" if value else "no"
    if kind is int or kind is float:
        return str(value)
    return ""


def _shape(value: dict[str, Any]) -> str:
    keys = value.keys()
    if keys <= _CONCEPT:
        text = value.get("text")
        return text if isinstance(text, str) else _shown(value.get("coding"))
    if "code" in keys and "value" not in keys and keys <= _CODING:
        display, code = value.get("display"), value.get("code")
        if isinstance(display, str):
            return display
        return _named().get((value.get("system"), code)) or _shown(code)
    if keys <= _PERIOD:
        start, end = _shown(value.get("start")), _shown(value.get("end"))
        if start and end:
            return f"{start} to {end}"
        return f"from {start}" if start else (f"until {end}" if end else "")
    if "value" in keys and keys <= _QUANTITY:
        unit = value.get("unit", value.get("code"))
        parts = (value.get("comparator"), value.get("value"), unit)
        return " ".join(_shown(part) for part in parts if part is not None)
    if keys & {"text", "family", "given"} and keys <= _NAME:
        text = value.get("text")
        if isinstance(text, str):
            return text
        given = value.get("given")
        names = [*(given if isinstance(given, list) else ()), value.get("family")]
        return " ".join(_shown(part) for part in names if part)
    # anything else (a Reference, a backbone element, an Attachment...) is not shown
    return ""


@cache
def _named() -> dict[tuple[Any, Any], str]:
    """(system, code) -> name of every instrument's panel, total and items."""
    named: dict[tuple[Any, Any], str] = {}
    for inst in instruments().values():
        for item in (*inst.items, *inst.extra_items):
            named.setdefault((item.system, item.code), item.label[:1].upper() + item.label[1:])
        if inst.panel_code:
            named[(inst.code_system, inst.panel_code)] = inst.title
        named[(inst.code_system, inst.total_code)] = inst.total_title or f"{inst.title} total"
    return named
