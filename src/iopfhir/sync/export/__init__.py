"""FHIR Bulk Data ``$export`` (Bulk Data Access IG v2): kick-off, polling, manifest,
streamed downloads, resume and cancel.

:func:`export` runs one export into a folder and returns an :class:`ExportReport`; the
folder then holds ``manifest.json``, one NDJSON file per manifest entry and the error
files under ``error/``, which ``iopfhir import``, ``validate`` and ``outcomes`` read as
they are. Modules: :mod:`.kickoff`, :mod:`.poll`, :mod:`.manifest`, :mod:`.download`,
:mod:`.state`, :mod:`.report`, :mod:`.run` (see docs/export.md).
"""

from .download import DOWNLOAD_TIMEOUT
from .kickoff import cancel, kickoff_url
from .manifest import Manifest, ManifestFile, parse_manifest
from .report import ExportedFile, ExportError, ExportProgress, ExportReport, ProgressCallback
from .run import export
from .state import ERROR_DIR, MANIFEST_NAME, STATE_NAME

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "ERROR_DIR",
    "MANIFEST_NAME",
    "STATE_NAME",
    "ExportError",
    "ExportProgress",
    "ExportReport",
    "ExportedFile",
    "Manifest",
    "ManifestFile",
    "ProgressCallback",
    "cancel",
    "export",
    "kickoff_url",
    "parse_manifest",
]
