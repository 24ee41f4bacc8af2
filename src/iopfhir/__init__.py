"""iopfhir: intensive outpatient program (IOP) care as FHIR R4 4.0.1.

``import iopfhir`` loads nothing but this module: the version, and the root exceptions
(:mod:`iopfhir.errors`) on first use (PEP 562), so the command line starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iopfhir.client import AsyncFhirClient
    from iopfhir.errors import InputError, IopFhirError
    from iopfhir.sync import apull, apush

__version__ = "0.1.0"

__all__ = ["AsyncFhirClient", "InputError", "IopFhirError", "__version__", "apull", "apush"]

_LAZY = {
    "InputError": "iopfhir.errors",
    "IopFhirError": "iopfhir.errors",
    "AsyncFhirClient": "iopfhir.client",
    "apull": "iopfhir.sync",
    "apush": "iopfhir.sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iopfhir' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
