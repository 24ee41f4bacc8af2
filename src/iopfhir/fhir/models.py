"""``fhir.resources`` models in and out: :func:`as_json` and :func:`to_model`.

iopfhir works on plain JSON dicts. Wherever its API takes a resource or a Bundle
(``read_fhir``, ``Validator.validate``, ``push``, ``push_document``, ``disclose``,
``bundle_resources``) it also takes a ``fhir.resources`` model: :func:`as_json` turns the
model into the JSON dict it stands for and leaves anything else alone. The builders
(``episode_to_resources``, ``transaction_bundle``, ``collection_bundle``) give models on
request (``as_models=``), through :func:`to_model`.

``fhir.resources`` has no FHIR R4 4.0.1 models: ``fhir.resources.R4B`` is FHIR 4.3 and the
top-level package is R5. iopfhir emits and checks 4.0.1. 4.3 kept nearly all of R4, but
a model validates against its own release: an R4B or R5 model may refuse valid 4.0.1
content (an element or code renamed or removed after R4) and an R5 model has other
elements altogether; a model's JSON is its release's serialisation (a ``+00:00`` offset
written ``Z``, fractions of a second to microseconds). See ``docs/mapping.md``.

``fhir.resources`` is optional and imported only inside :func:`to_model`: iopfhir works
without it, and importing this module costs nothing. :func:`as_json` is duck-typed (a
pydantic model with ``get_resource_type`` and ``model_dump``, or the pydantic 1 era's
``json()``), so it needs no import at all.

Imports: :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeVar, overload

from iopfhir.errors import FhirInputError, InputError

__all__ = ["FhirModel", "Release", "as_json", "is_model", "refusal_reasons", "to_model"]

#: The ``fhir.resources`` releases :func:`to_model` makes models of.
Release = Literal["R4B", "R5"]

_PACKAGES: dict[str, str] = {"R4B": "fhir.resources.R4B", "R5": "fhir.resources"}

_T = TypeVar("_T")


class FhirModel(Protocol):
    """A ``fhir.resources`` resource model (any release): what :func:`as_json` takes."""

    @classmethod
    def get_resource_type(cls) -> str:
        """The model's FHIR resource type."""
        ...


def is_model(value: object) -> bool:
    """True when ``value`` is a ``fhir.resources`` resource model (duck-typed)."""
    return (
        not isinstance(value, Mapping | str | bytes | bytearray)
        and callable(getattr(value, "get_resource_type", None))
        and (callable(getattr(value, "model_dump", None)) or callable(getattr(value, "json", None)))
    )


@overload
def as_json(value: FhirModel) -> dict[str, Any]: ...
@overload
def as_json(value: _T) -> _T: ...
def as_json(value: Any) -> Any:
    """The JSON dict of ``value`` when it is a ``fhir.resources`` model, else ``value``.

    The dict is the model's own serialisation (by alias, without ``None``, JSON types:
    ``model_dump(by_alias=True, exclude_none=True, mode="json")``), so it holds what the
    model holds, written as its release writes it."""
    if not is_model(value):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        out = dump(by_alias=True, exclude_none=True, mode="json")
    else:  # fhir.resources < 7 (pydantic 1): json() is the only JSON-typed dump
        out = json.loads(value.json())
    if not isinstance(out, dict):
        raise InputError("a fhir.resources model did not serialise to a JSON object")
    return out


def to_model(resource: Mapping[str, Any], release: Release = "R4B") -> Any:
    """The ``fhir.resources`` model of ``resource`` (a JSON dict) in ``release``:
    ``"R4B"`` (FHIR 4.3, ``fhir.resources.R4B``) or ``"R5"`` (``fhir.resources``).

    iopfhir itself emits and checks FHIR R4 4.0.1; these models are of later releases.
    An R4B or R5 model may refuse valid 4.0.1 content or drop or rename elements changed
    after R4 (R5 most of all: ``Encounter.class`` is a list there), so a model is a view
    of the resource in that release, not a 4.0.1 resource. Raises
    :class:`~iopfhir.errors.InputError` when ``fhir.resources`` is not installed or the
    release is unknown, :class:`~iopfhir.errors.FhirInputError` when the release refuses
    the resource (the message names the element paths and error kinds, never values)."""
    package = _PACKAGES.get(release)
    if package is None:
        raise InputError("a fhir.resources release is R4B or R5", path="release")
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise InputError(
            "fhir.resources is not installed (pip install 'fhir.resources>=8')"
        ) from None
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(rtype, str) or not rtype:
        raise FhirInputError("$: no resourceType")
    try:
        cls = module.get_fhir_model_class(rtype)
    except (KeyError, ValueError, AttributeError):
        raise FhirInputError(f"$: not a {release} resource type", path="resourceType") from None
    try:
        return cls.model_validate(dict(resource))
    except ValueError as exc:  # pydantic's ValidationError; its text echoes values
        raise FhirInputError(
            f"{release} refuses the {rtype}: {refusal_reasons(exc)}", path="$"
        ) from None


def refusal_reasons(exc: BaseException) -> str:
    """Where and why a ``fhir.resources`` model refused a resource, without the values:
    ``path (error kind)``, ``; ``-separated (from a pydantic ``ValidationError``)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return type(exc).__name__
    parts = []
    for error in errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in error.get("loc", ()) if str(p) != "__root__")
        parts.append(f"{loc or '$'} ({error.get('type', 'invalid')})")
    return "; ".join(dict.fromkeys(parts)) or type(exc).__name__
