"""Tests of the HTTP client layer (``iopfhir.client``)."""
