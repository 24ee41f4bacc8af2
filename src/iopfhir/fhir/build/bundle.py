"""Alias of :mod:`iopfhir.fhir.bundle` (the bundle builders live there)."""

from __future__ import annotations

from iopfhir.fhir.bundle import collection_bundle, dumps, transaction_bundle

__all__ = ["collection_bundle", "dumps", "transaction_bundle"]
