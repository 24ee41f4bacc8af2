"""The report page: one self-contained HTML file (styles, data and chart library inline).

:func:`render_report` lays out the measure results (:class:`~iopfhir.outcomes.Outcomes`,
whatever measures were computed: a new measure shows up in the headline, the table of all
measures and the stratified tables without a change here) and the rows of
:class:`~iopfhir.outcomes.report.data.ReportData` (trajectories, weeks, readmission curve).

The charts are Vega-Lite specifications (:mod:`.charts`) drawn in the browser by Vega,
Vega-Lite and Vega-Embed, whose JavaScript comes inline from ``vl-convert-python``
(``vl_convert.javascript_bundle``): the page fetches nothing. Each chart is a ``<figure>``
with a caption that says what it shows (also its ``aria-label``) and the table behind it in
``<details>``. Printing opens every table and hides the navigation.

Patients appear by their keys (``Patient/<id>``), never by name: the report goes to the
program and its funders, and the views hold no names. No clock is read: the page says when
it was made only when the caller passes ``generated``; same input, same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from html import escape
from typing import Any

from iopfhir.outcomes.compute import Outcomes, Stratum, SubjectResult, Summary
from iopfhir.outcomes.facts import INSTRUMENTS
from iopfhir.outcomes.measures import MeasureDef, OutcomesError
from iopfhir.outcomes.report import charts
from iopfhir.outcomes.report.data import EpisodeFacts, ReportData
from iopfhir.terminology.instruments import instrument

__all__ = ["HEADLINE", "javascript_bundle", "render_report"]

#: the measures of the headline, in order (shown when computed)
HEADLINE = (
    "iop-phq9-response",
    "iop-phq9-remission",
    "iop-gad7-response",
    "iop-gad7-remission",
    "iop-completion",
    "iop-readmission-30",
    "iop-readmission-90",
    "iop-followup-7",
    "iop-followup-30",
    "iop-attendance",
)

_STRATIFIER_LABELS = {
    "program_type": "program type",
    "referral_source": "referral source",
    "telehealth_band": "telehealth share of attended sessions",
    "age_band": "age band at admission",
    "sex": "sex",
    "period": "period (quarter of the index date)",
}

_CSS = """
:root { --ink: #1f2937; --muted: #4b5563; --line: #d1d5db; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--ink); margin: 0; }
header, main, nav { max-width: 1000px; margin: 0 auto; padding: 0 1.2rem; }
header { padding-top: 1.2rem; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid var(--line); padding-bottom: .2rem;
  margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
.meta, figcaption, .note { color: var(--muted); }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
a { color: var(--accent); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(175px, 1fr));
  gap: .7rem; margin: 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.card dt { font-size: .85rem; color: var(--muted); }
.card dd { margin: .2rem 0 0; }
.card .value { font-size: 1.6rem; font-weight: 650; display: block; }
.card .count { font-size: .8rem; color: var(--muted); }
figure { margin: 1.2rem 0; break-inside: avoid; }
.chart { min-height: 120px; overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .88rem; }
th, td { border: 1px solid var(--line); padding: .2rem .45rem; text-align: left;
  vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f3f4f6; }
details > summary { cursor: pointer; color: var(--accent); }
.scroll { overflow-x: auto; }
.patient { border-top: 1px solid var(--line); }
small { color: var(--muted); }
@media print {
  nav, .vega-embed details, .vega-embed summary { display: none !important; }
  body { font-size: 11pt; }
  header, main { max-width: none; }
  section.patient { break-before: page; }
  a { color: inherit; text-decoration: none; }
}
@page { margin: 14mm; }
"""

_SCRIPT = """
(function () {
  var specs = JSON.parse(document.getElementById('report-specs').textContent);
  var options = {renderer: 'svg',
    actions: {export: true, source: false, compiled: false, editor: false}};
  var drawn = Object.keys(specs).map(function (id) {
    var box = document.getElementById(id);
    return vegaEmbed(box, specs[id], options).then(function () {
      box.setAttribute('data-drawn', 'yes');
    }).catch(function () {
      box.setAttribute('data-drawn', 'failed');
      box.textContent = 'This chart could not be drawn; the table below holds its data.';
      console.error('chart not drawn: ' + id);
    });
  });
  Promise.all(drawn).then(function () { document.body.setAttribute('data-charts', 'drawn'); });
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('figure details, .patient details').forEach(function (d) {
      d.open = true;
    });
  });
})();
"""


def _require() -> None:
    try:
        import altair  # noqa: F401
        import vl_convert  # noqa: F401
    except ImportError:
        raise OutcomesError(
            "the report needs Vega-Altair and vl-convert: pip install 'iopfhir[report]'"
        ) from None


@cache
def javascript_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (``vl-convert-python``), for the page."""
    _require()
    import altair
    import vl_convert

    major_minor = ".".join(altair.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    known = vl_convert.get_vegalite_versions()
    # its stub wants ``snippet``, which is optional: the default snippet sets the globals
    bundle: str = vl_convert.javascript_bundle(  # type: ignore[call-arg]
        vl_version=major_minor if major_minor in known else None
    )
    if "</script" in bundle.lower() or "<!--" in bundle:
        raise OutcomesError("the chart library cannot be inlined in a <script> element")
    return bundle


def _json_for_script(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _score(m: MeasureDef, s: Stratum) -> str:
    if s.score is None:
        return "-"
    return _pct(s.score) if m.scoring == "proportion" else f"{s.score:.2f}"


def _count(m: MeasureDef, s: Stratum) -> str:
    p = s.populations
    if m.scoring == "proportion":
        den = p.get("denominator", 0) - p.get("denominator-exclusion", 0)
        return f"{p.get('numerator', 0)} of {den}"
    return f"mean of {p.get('measure-population', 0)}"


def _table(
    columns: Iterable[str], rows: Iterable[Iterable[Any]], numeric: Iterable[int] = ()
) -> str:
    nums = set(numeric)
    head = "".join(
        f'<th scope="col"{" class=num" if i in nums else ""}>{escape(str(c))}</th>'
        for i, c in enumerate(columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in nums else ''}>{escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(chart: charts.Chart, specs: dict[str, Any]) -> str:
    specs[f"chart-{chart.id}"] = chart.spec
    cid = escape(chart.id)
    numeric = [i for i, v in enumerate(chart.rows[0]) if isinstance(v, int)] if chart.rows else []
    return (
        f'<figure id="fig-{cid}" class="figure" aria-labelledby="cap-{cid}">'
        f"<h3>{escape(chart.title)}</h3>"
        f'<div class="chart" id="chart-{cid}" role="img" '
        f'aria-label="{escape(chart.description)}"></div>'
        f'<figcaption id="cap-{cid}">{escape(chart.description)}</figcaption>'
        f"<details><summary>Table behind the chart</summary>"
        f'<div class="scroll">{_table(chart.columns, chart.rows, numeric)}</div></details>'
        "</figure>"
    )


def _headline(outcomes: Outcomes, summaries: dict[str, Summary], data: ReportData) -> str:
    cards = [
        ('data-figure="episodes"', "Episodes", str(len(data.episodes)), "in the report period"),
        ('data-figure="patients"', "Patients", str(len(data.patients)), "with an episode"),
    ]
    computed = {m.id for m in outcomes.measures}
    for mid in HEADLINE:
        if mid not in computed:
            continue
        m = outcomes.measure(mid)
        s = summaries[mid].overall
        cards.append((f'data-measure="{escape(mid)}"', m.title, _score(m, s), _count(m, s)))
    items = "".join(
        f'<div class="card" {attr}><dt>{escape(label)}</dt><dd><span class="value">'
        f'{escape(value)}</span><span class="count">{escape(note)}</span></dd></div>'
        for attr, label, value, note in cards
    )
    return f'<dl class="cards">{items}</dl>'


def _response_rows(
    outcomes: Outcomes, summaries: dict[str, Summary]
) -> list[tuple[str, str, int, int, float | None]]:
    computed = {m.id for m in outcomes.measures}
    rows = []
    for prefix, inst_id in INSTRUMENTS.items():
        for what in ("response", "remission"):
            mid = f"iop-{prefix}-{what}"
            if mid in computed:
                s = summaries[mid].overall
                den = s.populations.get("denominator", 0) - s.populations.get(
                    "denominator-exclusion", 0
                )
                rows.append(
                    (
                        instrument(inst_id).title,
                        what,
                        s.populations.get("numerator", 0),
                        den,
                        s.score,
                    )
                )
    return rows


#: the measures over inpatient stays the readmission section names when no episode has
#: a discharge (a hospital's own data: stays without an IOP)
_STAY_MEASURES = ("iop-inpatient-readmission-30",)


def _stays_note(outcomes: Outcomes, summaries: dict[str, Summary]) -> str:
    """A line per stay measure with stays to count (else nothing)."""
    computed = {m.id for m in outcomes.measures}
    lines = []
    for mid in _STAY_MEASURES:
        if mid not in computed:
            continue
        m, s = outcomes.measure(mid), summaries[mid].overall
        if s.populations.get("denominator", 0):
            lines.append(
                f'<p class="note" data-measure="{escape(mid)}">{escape(m.title)}: '
                f"{escape(_score(m, s))} ({escape(_count(m, s))} stays).</p>"
            )
    return "".join(lines)


def _all_measures(outcomes: Outcomes, summaries: dict[str, Summary]) -> str:
    rows = []
    for m in outcomes.measures:
        s = summaries[m.id].overall
        better = {"increase": "higher", "decrease": "lower"}.get(m.improvement or "", "-")
        rows.append((m.title, m.id, _score(m, s), _count(m, s), better, m.basis))
    return _table(("measure", "id", "score", "counts", "better", "counts over"), rows)


def _strata(outcomes: Outcomes, summaries: dict[str, Summary]) -> str:
    names: list[str] = []
    for m in outcomes.measures:
        names += [n for n in m.strata if n not in names]
    parts = []
    for name in names:
        measures = [m for m in outcomes.measures if name in m.strata]
        values = sorted({v for m in measures for v in summaries[m.id].strata.get(name, {})})
        label = _STRATIFIER_LABELS.get(name, name.replace("_", " "))
        rows = []
        for m in measures:
            cells = []
            for v in values:
                st = summaries[m.id].strata[name].get(v)
                cells.append(f"{_score(m, st)} ({_count(m, st)})" if st else "")
            rows.append((m.title, *cells))
        parts.append(
            f'<section id="stratum-{escape(name)}" class="stratifier">'
            f"<h3>By {escape(label)}</h3><details><summary>{len(measures)} measures by "
            f'{len(values)} values</summary><div class="scroll">'
            f"{_table(('measure', *values), rows)}</div></details></section>"
        )
    return "".join(parts)


def _anchors(patients: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in patients:
        base = "patient-" + re.sub(r"[^A-Za-z0-9.-]", "_", key.removeprefix("Patient/"))
        anchor, n = base, 1
        while anchor in used:
            n += 1
            anchor = f"{base}-{n}"
        used.add(anchor)
        out[key] = anchor
    return out


def _episode_facts(e: EpisodeFacts) -> str:
    def show(value: Any) -> str:
        return "-" if value is None else str(value)

    facts = [
        ("Episode", e.episode_key),
        ("Program type", show(e.program_type)),
        ("Admission", show(e.admission_date)),
        ("Discharge", show(e.discharge_date)),
        ("Disposition", show(e.disposition)),
        ("Sessions attended", f"{e.sessions_attended} of {e.sessions_settled} settled"),
        ("Days to inpatient readmission", show(e.days_to_readmission)),
        ("Days to aftercare follow-up", show(e.days_to_followup)),
    ]
    return _table(("fact", "value"), facts)


def _result(m: MeasureDef, r: SubjectResult) -> str:
    """What one subject adds to a measure, in words."""
    p = r.populations
    if m.scoring == "continuous-variable":
        measured = p.get("measure-population", 0) > 0 and r.observation is not None
        return f"{r.observation:g}" if measured else "not measured"
    if p.get("denominator-exclusion", 0):
        return "excluded"
    den, num = p.get("denominator", 0), p.get("numerator", 0)
    if den == 0:
        return "not in the denominator"
    if den == 1:
        return "yes" if num else "no"
    return f"{num} of {den}"


def _patients(outcomes: Outcomes, data: ReportData, anchors: dict[str, str]) -> str:
    results: dict[str, list[tuple[MeasureDef, SubjectResult]]] = {}
    for m in outcomes.measures:
        for row in outcomes.subjects.get(m.id, []):
            if row.patient_key:
                results.setdefault(row.patient_key, []).append((m, row))
    episodes: dict[str, list[EpisodeFacts]] = {}
    for e in data.episodes:
        episodes.setdefault(e.patient_key, []).append(e)
    scores: dict[str, list[Any]] = {}
    for p in data.scores:
        scores.setdefault(p.episode_key, []).append(p)
    weeks: dict[str, list[Any]] = {}
    for w in data.weeks:
        weeks.setdefault(w.episode_key, []).append(w)
    index = "".join(f'<li><a href="#{anchors[k]}">{escape(k)}</a></li>' for k in data.patients)
    parts = [
        f"<details><summary>Index of {len(data.patients)} patients</summary>"
        f'<ul class="index">{index}</ul></details>'
    ]
    for key in data.patients:
        body = []
        names = {}
        for n, e in enumerate(episodes[key], start=1):
            names[e.episode_key] = f"episode {n}"
            body.append(f"<h4>Episode {n}</h4>" + _episode_facts(e))
            pts = scores.get(e.episode_key, [])
            if pts:
                body.append(
                    "<h4>Scores by week since admission</h4>"
                    + _table(
                        ("instrument", "week", "date", "score"),
                        [
                            (instrument(p.instrument).title, p.week, p.date, f"{p.score:g}")
                            for p in pts
                        ],
                        (1, 3),
                    )
                )
            wk = weeks.get(e.episode_key, [])
            if wk:
                body.append(
                    "<h4>Program weeks</h4>"
                    + _table(
                        (
                            "week",
                            "sessions settled",
                            "attended",
                            "no-show",
                            "cancelled",
                            "hours",
                            "days",
                            "whole week",
                        ),
                        [
                            (
                                w.week,
                                w.settled,
                                w.attended,
                                w.noshow,
                                w.cancelled,
                                f"{w.hours:g}",
                                w.days,
                                "yes" if w.whole else "no",
                            )
                            for w in wk
                        ],
                        range(7),
                    )
                )
        rows = [
            (m.title, names.get(r.subject_key, r.subject_key), _result(m, r))
            for m, r in results.get(key, [])
        ]
        if rows:
            body.append("<h4>Measures</h4>" + _table(("measure", "for", "result"), rows))
        parts.append(
            f'<section class="patient" id="{anchors[key]}"><h3>{escape(key)}</h3>'
            + "".join(body)
            + '<p><a href="#patients">Back to the index</a></p></section>'
        )
    return "".join(parts)


def render_report(
    outcomes: Outcomes,
    data: ReportData,
    *,
    patient_pages: bool = False,
    title: str = "IOP outcomes report",
    generated: str | None = None,
) -> str:
    """The report as one self-contained HTML page (a string).

    ``patient_pages`` adds a section per patient (by patient key) with anchor links, also
    from the lines of the trajectory charts; ``generated`` is shown as the page's date.
    """
    _require()
    specs: dict[str, Any] = {}
    summaries = {m.id: outcomes.summary(m.id) for m in outcomes.measures}
    anchors = _anchors(data.patients) if patient_pages else {}
    sections: list[tuple[str, str, str]] = [
        ("headline", "Headline figures", _headline(outcomes, summaries, data))
    ]
    symptom = "".join(
        _figure(charts.trajectory(data, inst, anchors or None), specs)
        for inst in data.instruments()
    )
    response_rows = _response_rows(outcomes, summaries)
    if any(row[3] for row in response_rows):  # some episode has the scores they need
        symptom += _figure(charts.response_remission(response_rows), specs)
    elif response_rows:
        symptom += '<p class="note">No episode with a baseline and a last score.</p>'
    sections.append(("symptoms", "Symptoms", symptom or '<p class="note">No scores.</p>'))
    # one chart each, or a note saying why there is none
    for key, heading, chart, has_data, none in (
        ("attendance", "Attendance", charts.attendance, data.attendance_by_week,
         "No sessions."),
        ("intensity", "Intensity", charts.intensity, data.whole_weeks,
         "No whole program week of a discharged episode."),
        ("readmission", "Readmission", charts.readmission, data.readmission_curve,
         "No discharged episode."),
    ):  # fmt: skip
        body = _figure(chart(data), specs) if has_data() else f'<p class="note">{none}</p>'
        if key == "readmission" and not has_data():
            body += _stays_note(outcomes, summaries)
        sections.append((key, heading, body))
    sections.append(("measures", "All measures", _all_measures(outcomes, summaries)))
    sections.append(("strata", "Stratified results", _strata(outcomes, summaries)))
    if patient_pages:
        sections.append(("patients", "Patients", _patients(outcomes, data, anchors)))
    if outcomes.period is not None or data.episodes:
        start, end = outcomes.report_period()
        meta = f"Period {escape(start)} to {escape(end)} · "
    else:  # nothing to take a period from (data of another kind of care)
        meta = "No IOP episode (EpisodeOfCare) in this source · "
    meta += (
        f"{_n(len(data.episodes), 'episode')} · "
        f"{_n(len(data.patients), 'patient')} · {_n(len(outcomes.measures), 'measure')}"
    )
    if outcomes.repeated:  # overlapping exports: say what was read once
        meta += f" · {_n(outcomes.repeated, 'repeated resource')} counted once"
    if outcomes.undated:  # dates of a year or a month only: no day to count them on
        meta += f" · {_n(outcomes.undated, 'record')} dated by year or month only left out"
    if outcomes.unstarted:  # no start to place sessions and scores by
        meta += f" · {_n(outcomes.unstarted, 'episode')} without a start: discharge measures only"
    if outcomes.other_programs:  # typed as other programs: not IOP episodes
        meta += f" · {_n(outcomes.other_programs, 'episode')} of other programs left out"
    if generated:
        meta += f" · generated {escape(generated)}"
    nav = "".join(f'<li><a href="#{sid}">{escape(h)}</a></li>' for sid, h, _ in sections)
    main = "".join(
        f'<section id="{sid}" aria-labelledby="h-{sid}"><h2 id="h-{sid}">{escape(h)}</h2>'
        f"{body}</section>"
        for sid, h, body in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="meta">{meta}</p></header>'
        f'<nav aria-label="Contents"><ul>{nav}</ul></nav><main>{main}</main>'
        f'<script type="application/json" id="report-specs">{_json_for_script(specs)}</script>'
        f"<script>{javascript_bundle()}</script><script>{_SCRIPT}</script>"
        "</body></html>\n"
    )
