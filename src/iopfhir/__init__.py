"""iopfhir: intensive outpatient program (IOP) care as FHIR R4 4.0.1."""

from iopfhir.errors import InputError, IopFhirError

__version__ = "0.1.0"

__all__ = ["InputError", "IopFhirError", "__version__"]
