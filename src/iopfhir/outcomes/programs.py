"""An EHR's own codes for its IOP programs, read as iopfhir's program types.

An EpisodeOfCare is an IOP episode to the measures when a type names one of iopfhir's
program types or an IOP billing code (:func:`~iopfhir.outcomes.facts.iop_episode`). An EHR
that types its episodes with a code of its own (``urn:oid:1.2.3|IOP-MH``) has its IOP
episodes left out as of other programs. Given that code's meaning::

    compute(source, engine, program_codes={("urn:oid:1.2.3", "IOP-MH"): "mental-health"})

(``iopfhir outcomes --program-code 'urn:oid:1.2.3|IOP-MH=mental-health'``), the episode view
reads it: :func:`episode_view` is the shipped ``iop-episode-of-care`` view whose
``program_type`` column gives iopfhir's program type, else the type of a local code given
that the episode has (the first given, when it has several: FHIRPath ``iif()``, so every
engine computes it in its own SQL), and the facts SQL, unchanged, falls back to an IOP
billing code after that. The codes are matched by system and code together, as FHIR
compares codings (:mod:`iopfhir.terminology.programs`: the codes, parsed and checked).
"""

from __future__ import annotations

from iopfhir.outcomes.spelling import fhirpath_string
from iopfhir.terminology.programs import ProgramCodes, check_program_codes
from iopfhir.views import View, iop_view_json
from iopfhir.views.model import parse_view

__all__ = ["episode_view"]

_EPISODE_VIEW = "iop-episode-of-care"
_COLUMN = "program_type"


def episode_view(program_codes: ProgramCodes) -> View:
    """The shipped ``iop-episode-of-care`` view, its ``program_type`` column reading
    ``program_codes`` too (after iopfhir's own program type, in the order given)."""
    raw = iop_view_json(_EPISODE_VIEW)
    codes = check_program_codes(program_codes)
    if not codes:
        return parse_view(raw)
    column = next(c for c in raw["select"][0]["column"] if c["name"] == _COLUMN)
    # one iif() per code, in the order given: the first code given that the episode has
    local = [
        f"iif(type.coding.where(system = {fhirpath_string(system)} and "
        f"code = {fhirpath_string(code)}).exists(), {fhirpath_string(program_type)})"
        for (system, code), program_type in codes.items()
    ]
    column["path"] = f"({' | '.join([column['path'], *local])}).first()"
    column["description"] = "iopfhir's program type, else the one a local program code given names"
    return parse_view(raw)
