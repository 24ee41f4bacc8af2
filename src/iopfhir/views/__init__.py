"""SQL-on-FHIR v2 ViewDefinitions compiled to SQL and run on DuckDB or Spark.

A ViewDefinition flattens FHIR resources into a table. This package checks one
(:func:`parse_view`), compiles it to a single SQL statement for an engine (no Python runs
per resource) and runs it over NDJSON files or resources in memory (:class:`Source`)::

    from iopfhir.views import Source, get_engine, iop_view

    engine = get_engine("duckdb")             # or "spark"; entry points iopfhir.engines
    with Source.from_path("export/") as source:
        result = engine.run(iop_view("iop-observation-score"), source)
    result.columns, result.rows, result.to_dicts()

Modules: :mod:`.model` (the view, checked), :mod:`.fhirpath` (parser),
:mod:`.compile_path` / :mod:`.compile_view` (compiler), :mod:`.dialect` (engine SQL
spellings), :mod:`.types` (engine-neutral schema), :mod:`.fhir_types` (the R4 types of what a
view reads: engines infer no schema), :mod:`.r4_shapes` (where data breaks them),
:mod:`.source`, :mod:`.engine` (the
plugin contract), :mod:`.engines` (DuckDB, Spark), :mod:`.catalog` (shipped IOP views).
Imports from the package: :mod:`iopfhir.errors` and :mod:`iopfhir.plugins` only.
"""

from iopfhir.views.catalog import iop_view, iop_view_json, iop_view_names
from iopfhir.views.engine import ENGINE_GROUP, Engine, SqlEngine, ViewResult, get_engine
from iopfhir.views.errors import ViewError
from iopfhir.views.model import Column, Constant, Select, View, parse_view
from iopfhir.views.source import Source

__all__ = [
    "ENGINE_GROUP",
    "Column",
    "Constant",
    "Engine",
    "Select",
    "Source",
    "SqlEngine",
    "View",
    "ViewError",
    "ViewResult",
    "get_engine",
    "iop_view",
    "iop_view_json",
    "iop_view_names",
    "parse_view",
]
