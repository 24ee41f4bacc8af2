"""Validation of FHIR R4 (4.0.1) resources against StructureDefinitions.

What lives where:

* ``validator``   - :class:`Validator`, the façade: load profiles once, validate many resources.
* ``resources``   - which trees a resource is walked against; conformance to one profile.
* ``walk``        - the walk of objects and values along element nodes (the hot path), over
  focused checks: ``cardinality`` (JSON shape, choice types, min/max), ``primitives``
  (primitive types, formats, ranges), ``bindings`` (required bindings, known codes),
  ``references`` (references, contained resources, Bundle entries), ``bundles`` (the Bundle
  index and Bundle rules), ``slicing`` and ``discriminators``, ``extensions``, ``constraints``
  (invariants of each node), ``trees`` (type trees, content references); ``context`` holds
  the state of one run, ``values`` small helpers on JSON values, ``memo`` the values already
  found clean (not walked again).
* ``vital_signs`` - R4's rule that an Observation with a vital-sign code conforms to that
  vital-signs profile (the code table is package data, ``data/vital-signs-by-code.json``).
* ``model``       - compiled StructureDefinitions (:class:`~.model.ElementNode` trees);
  ``snapshot`` and ``differential`` build them from snapshots and differentials.
* ``definitions`` - the base R4 definitions shipped as package data (``data/``, built by
  ``tools/build_validation_data.py``) plus profiles/ValueSets/CodeSystems loaded at runtime.
* ``terminology`` - value set expansion and code membership, offline.
* ``invariants``  - FHIRPath constraints: fhirpathpy, after the native fast paths
  (``native_invariants``) and the simple exists/empty shape (``simple_invariants``).
* ``report``      - :class:`ValidationReport` (issues, errors, ok, OperationOutcome).
* ``outcomes``    - another validator's issues (a server's ``$validate``) made fit for a
  report: severity, code and a FHIRPath location kept, the server's text never.
* ``files``       - reading JSON / Bundle / NDJSON files, :func:`validate_file`.
* ``data/``        - package data: base R4 definitions and terminology, and the project's own
  profiles (``data/iop-profiles/``, a copy of ``profiles/package/`` made by
  ``tools/build_profiles.py``) - loaded with ``Validator.with_iop_profiles()``,
  ``Validator("iop")`` or on demand when a resource claims one of them.

Messages say where, never what: no value, key, id, reference, code or url of the input
(a url or a system only when it is a loaded definition, a type only when it is an R4 type);
the location is FHIRPath made of the definitions' element names (an unknown property is
reported at its parent, by position).

This package imports only :mod:`iopfhir.errors`, :mod:`iopfhir.loading` and
:mod:`iopfhir.fhir.ndjson` (``files``) from the rest of iopfhir.
"""

from __future__ import annotations

from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from pathlib import Path as _Path
from typing import Any as _Any

from iopfhir.fhir.models import FhirModel as _FhirModel
from iopfhir.fhir.models import as_json as _as_json

from .definitions import IOP_PROFILES, Definitions, ProfileSource, iop_package
from .files import read_resources, validate_file
from .report import ValidationReport
from .validator import Validator

__all__ = [
    "IOP_PROFILES",
    "Definitions",
    "ProfileSource",
    "ValidationReport",
    "Validator",
    "iop_package",
    "read_resources",
    "validate",
    "validate_file",
]


def validate(
    resource: _Mapping[str, _Any] | _FhirModel,
    profiles: _Iterable[ProfileSource] | None = None,
    *,
    profile: str | list[str] | None = None,
) -> ValidationReport:
    """Validate one resource (a Bundle's entries too) against base R4 and profiles.

    ``profiles`` are loaded (StructureDefinitions as dicts, files, folders or package
    tarballs). The resource is checked against the profiles it claims in ``meta.profile``,
    against ``profile`` (canonical urls), and against every StructureDefinition given
    directly in ``profiles`` (a dict or a single JSON file, not a folder) whose type is the
    resource's type.

    For many resources build one :class:`Validator` and reuse it: profiles are compiled once.
    """
    resource = _as_json(resource)  # a fhir.resources model: its JSON
    sources = list(profiles or ())
    v = Validator(sources)
    wanted: list[str] = [profile] if isinstance(profile, str) else list(profile or ())
    rt = resource.get("resourceType") if isinstance(resource, _Mapping) else None
    for src in sources:
        url: _Any = None
        if isinstance(src, _Mapping):
            url = src.get("url") if src.get("resourceType") == "StructureDefinition" else None
        elif _Path(src).is_file() and str(src).endswith(".json"):
            url = next((u for u in v.definitions.add(src)), None)
        if isinstance(url, str) and v.definitions.sd_type(url) == rt:
            sd = v.definitions.structure_definition(url) or {}
            if sd.get("kind") == "resource" and url not in wanted:
                wanted.append(url)
    return v.validate(resource, profile=wanted or None)
