"""Start ``sekmet-fhir`` (a FHIR R4 server on SQLite) on 127.0.0.1 for a test session.

The tests use the library's own :func:`iopfhir.sync.localserver` (a private SQLite
database, ``base_url`` matching the chosen port so paging links work, bound to 127.0.0.1
only, the workflow simulator off), so what the tests start is what ``iopfhir demo`` starts.
"""

from __future__ import annotations

from iopfhir.sync.localserver import LocalServerError, free_port, localserver, settings_yaml

__all__ = ["SekmetStartError", "free_port", "running_sekmet", "settings_yaml"]

SekmetStartError = LocalServerError
running_sekmet = localserver
