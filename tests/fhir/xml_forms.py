"""What the FHIR XML tests compare: JSON with the narrative in canonical XML, the one place
where two spellings of one content (``&quot;`` or ``"`` in text) are equally R4."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import canonicalize


def canonical_narratives(value: Any) -> Any:
    """``value`` with every narrative ``div`` in canonical XML."""
    if isinstance(value, dict):
        return {
            k: canonicalize(v) if k == "div" and isinstance(v, str) else canonical_narratives(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [canonical_narratives(v) for v in value]
    return value
