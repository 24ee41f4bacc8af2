"""FHIR R4 4.0.1 mapping: domain → FHIR (``build``), FHIR → domain (``read``), bundles, NDJSON.

Import direction: uses :mod:`iopfhir.domain`, :mod:`iopfhir.terminology` and
:mod:`iopfhir.errors`; never the validation, client, sync or CLI layers.
"""
