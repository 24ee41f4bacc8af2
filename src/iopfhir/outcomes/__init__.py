"""Program outcome measures over any FHIR source, computed in SQL on the views engines.

The measures are FHIR R4 ``Measure`` resources shipped as package data
(``iopfhir/outcomes/data``, also copied into the ``profiles/`` package); their populations,
observations and stratifiers are SQL over per-episode (or per-stay) facts built from the
SQL-on-FHIR views (:mod:`iopfhir.views`). Results come out as ``MeasureReport`` resources
(individual and summary) or flat rows::

    from iopfhir.outcomes import compute, report_bundle
    from iopfhir.views import Source, get_engine

    with Source.from_path("export/") as source:
        outcomes = compute(source, get_engine("duckdb"))
    bundle = report_bundle(outcomes)

Modules: :mod:`.facts` (facts SQL), :mod:`.measures` (definitions, measure SQL),
:mod:`.compute` (running and summing), :mod:`.programs` (an EHR's own program codes),
:mod:`.bundles` (Bundles as sources), :mod:`.reports` (MeasureReports, rows),
:mod:`.report` (the HTML report page).
Imports from the package: :mod:`iopfhir.views`, :mod:`iopfhir.terminology`,
:mod:`iopfhir.errors`.
"""

from iopfhir.outcomes.bundles import bundle_resources, open_source
from iopfhir.outcomes.compute import (
    Outcomes,
    Stratum,
    SubjectResult,
    Subjects,
    Summary,
    compute,
    parse_period,
)
from iopfhir.outcomes.measures import (
    MeasureDef,
    OutcomesError,
    load_measures,
    measure,
    measure_resource,
    measure_sql,
    summary_sql,
)
from iopfhir.outcomes.report import ReportData, build_report, render_report, report_data
from iopfhir.outcomes.reports import (
    individual_reports,
    report_bundle,
    summary_report,
    summary_rows,
)

__all__ = [
    "MeasureDef",
    "Outcomes",
    "OutcomesError",
    "ReportData",
    "Stratum",
    "SubjectResult",
    "Subjects",
    "Summary",
    "build_report",
    "bundle_resources",
    "compute",
    "individual_reports",
    "load_measures",
    "measure",
    "measure_resource",
    "measure_sql",
    "open_source",
    "parse_period",
    "render_report",
    "report_bundle",
    "report_data",
    "summary_report",
    "summary_rows",
    "summary_sql",
]
