"""The one place where untrusted bytes become JSON or YAML values, under limits.

Every reader of the package (episode files, FHIR JSON and NDJSON, configuration files,
Bundles read for push) goes through :func:`decode`, :func:`load_json` or
:func:`load_yaml`, so every input follows one rule:

- **Encoding**: UTF-8, with or without a byte-order mark. UTF-16 and UTF-32 (found by
  their BOM or by the NUL bytes of their first characters) and a few other encodings
  with a BOM are refused by name; invalid UTF-8 is refused naming the line and byte.
- **JSON**: RFC 8259 and no more: no duplicate object keys (FHIR JSON forbids them), no
  ``NaN``/``Infinity``, no lone surrogates, nesting, number and string sizes bounded by
  :class:`Limits`.
- **YAML**: the safe subset of YAML 1.1, with dates and times kept as strings (as JSON
  would give them), only JSON's types, no duplicate keys, nesting and alias expansion
  ("billion laughs") bounded, the same number and string limits.

Every failure is an :class:`~iopfhir.errors.LoadError` (an ``InputError``, so the command
line exits with 2): one line naming the origin and the line, column or JSON path, never
the content (keys and values may be patient data or secrets).

Speed: JSON goes through orjson. Its result is checked at C speed where the check can
only pass when the input is clean (duplicate keys: structural colons of the input against
those of the re-serialised value; depth: the indentation of the value re-serialised with
indents), and only suspicious input is read a second time by the exact, slower reader that
finds the JSON path. Files named ``.json``, ``.ndjson``, ``.jsonl`` may be gzip-compressed
(``.ndjson.gz``, as Bulk Data tools write them): :func:`open_data` and :func:`read_data`
inflate them. Imports: :mod:`iopfhir.errors` only.
"""

from iopfhir.loading.files import data_files, data_kind, open_data, read_data
from iopfhir.loading.json_values import iter_json_lines, iter_json_stream, load_json
from iopfhir.loading.text import DEFAULT_LIMITS, Limits, decode
from iopfhir.loading.yaml_values import load_yaml

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "data_files",
    "data_kind",
    "decode",
    "iter_json_lines",
    "iter_json_stream",
    "load_json",
    "load_yaml",
    "open_data",
    "read_data",
]
