"""The outcomes report: one self-contained, offline HTML page people look at.

::

    from iopfhir.outcomes.report import build_report
    from iopfhir.views import Source, get_engine

    with Source.from_path("export/") as source:
        page = build_report(source, get_engine("duckdb"), patient_pages=True)

or in steps, with measure results already computed::

    data = report_data(source, engine, outcomes)   # SQL over the same views
    page = render_report(outcomes, data)

Modules: :mod:`.data` (the rows the measure results do not carry: trajectories, program
weeks, the readmission curve; SQL on the views engine), :mod:`.charts` (Vega-Lite charts,
built with Vega-Altair), :mod:`.page` (the HTML, with Vega's JavaScript inlined from
``vl-convert-python``). Charts need the ``report`` extra (``pip install 'iopfhir[report]'``).
Imports from the package: :mod:`iopfhir.outcomes`, :mod:`iopfhir.views`,
:mod:`iopfhir.terminology`.
"""

from __future__ import annotations

from iopfhir.outcomes.compute import compute
from iopfhir.outcomes.report.data import (
    EpisodeFacts,
    ReportData,
    ScorePoint,
    WeekRow,
    report_data,
)
from iopfhir.outcomes.report.page import HEADLINE, javascript_bundle, render_report
from iopfhir.terminology.programs import ProgramCodes
from iopfhir.views import Engine, Source

__all__ = [
    "HEADLINE",
    "EpisodeFacts",
    "ReportData",
    "ScorePoint",
    "WeekRow",
    "build_report",
    "javascript_bundle",
    "render_report",
    "report_data",
]


def build_report(
    source: Source,
    engine: Engine,
    *,
    period: tuple[str, str] | None = None,
    patient_pages: bool = False,
    title: str = "IOP outcomes report",
    generated: str | None = None,
    program_codes: ProgramCodes | None = None,
) -> str:
    """Compute every measure over ``source`` and render the report page (HTML text);
    ``program_codes``: an EHR's own codes for its IOP programs, as
    :func:`~iopfhir.outcomes.compute` takes them."""
    outcomes = compute(source, engine, period=period, program_codes=program_codes)
    data = report_data(source, engine, outcomes)
    return render_report(
        outcomes, data, patient_pages=patient_pages, title=title, generated=generated
    )
