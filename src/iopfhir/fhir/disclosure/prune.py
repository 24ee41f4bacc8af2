"""Removing every reference to withheld resources, without leaving an element broken.

:func:`prune` walks one resource (a copy the caller owns) and drops each Reference that
names a withheld resource:

* an item of a list of References (``Goal.addresses``, ``Observation.hasMember``...) is
  taken out of the list; a list left empty is removed;
* a single Reference is removed; when it was what its element is about, the whole element
  goes (``EpisodeOfCare.diagnosis`` without its ``condition``, a Provenance ``agent``
  without ``who``, a consent ``actor`` without ``reference``, an extension without its
  ``valueReference``, an element holding nothing but codes);
* when the resource itself needs what was removed (its ``subject`` / ``patient``, every
  ``target`` of a Provenance, every ``basis`` of a RiskAssessment, the ``flag-detail`` of
  a Flag) the resource cannot be sent without it: :func:`prune` says so and the caller
  withholds it too (and prunes again).

A document's Composition sections are handled by the caller (:mod:`.disclose`): a
section left without entries says why (``emptyReason`` withheld).

Imports nothing of iopfhir.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["prune"]

#: Keys that are what their element is about: the element goes with the reference.
_ESSENTIAL: Final = frozenset(
    {
        "condition",
        "who",
        "what",
        "reference",
        "valueReference",
        "member",
        "individual",
        "actor",
        "party",
        "item",
        "itemReference",
        "content",
    }
)
#: Keys that only qualify an element: an element holding nothing else is empty.
_QUALIFIERS: Final = frozenset(
    {
        "id",
        "extension",
        "modifierExtension",
        "type",
        "role",
        "rank",
        "use",
        "period",
        "status",
        "requestor",
        "required",
        "url",
    }
)
#: Elements a resource cannot do without (R4 or the IOP profiles): one left empty
#: withholds the resource.
_REQUIRED: Final = {
    "*": ("subject", "patient", "beneficiary"),
    "Provenance": ("target",),
    "RiskAssessment": ("basis",),
    "Flag": ("extension",),
    "Composition": ("author",),
}

#: Whether a Reference element names a withheld resource.
IsWithheld = Callable[[Any], bool]


def prune(resource: dict[str, Any], withheld: IsWithheld) -> tuple[int, bool]:
    """Drop the references to withheld resources from ``resource`` (in place).

    Returns ``(references removed, whether the resource can still be sent)``.
    """
    removed = [0]
    present = set(resource)
    for key in list(resource):
        if key in ("resourceType", "id", "meta", "text", "contained"):
            continue
        value = resource[key]
        kept = _walk(value, withheld, removed)
        if kept is None:
            del resource[key]
        else:
            resource[key] = kept
    rtype = resource.get("resourceType", "")
    for key in (*_REQUIRED["*"], *_REQUIRED.get(rtype, ())):
        if key in present and key not in resource:
            return removed[0], False
    return removed[0], True


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("reference"), str)


def _walk(value: Any, withheld: IsWithheld, removed: list[int]) -> Any:
    """``value`` without references to withheld resources; ``None``: remove it."""
    if _is_reference(value):
        if withheld(value):
            removed[0] += 1
            return None
        return value
    if isinstance(value, list):
        out = []
        for item in value:
            kept = _walk(item, withheld, removed)
            if kept is not None:
                out.append(kept)
        return out if out else (None if value else value)
    if isinstance(value, dict):
        dropped_essential = False
        had_content = any(k not in _QUALIFIERS for k in value)
        for key in list(value):
            kept = _walk(value[key], withheld, removed)
            if kept is None:
                del value[key]
                if key in _ESSENTIAL:
                    dropped_essential = True
            else:
                value[key] = kept
        if dropped_essential:
            return None
        if had_content and not any(k not in _QUALIFIERS for k in value):
            return None
        return value
    return value
