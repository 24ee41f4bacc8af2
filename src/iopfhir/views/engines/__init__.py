"""The built-in engines: :mod:`.duckdb` (in-process, the default) and :mod:`.spark`.

Each module imports its engine library only when an engine is constructed, so
``import iopfhir.views`` works without either installed (``pip install 'iopfhir[analytics]'``
for DuckDB, ``'iopfhir[spark]'`` for Spark).
"""

__all__: list[str] = []
