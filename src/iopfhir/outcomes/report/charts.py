"""The report's charts as Vega-Lite specifications, built with Vega-Altair.

Each function returns a :class:`Chart`: the Vega-Lite JSON (``spec``, a plain dict that the
page embeds and Vega renders in the browser), a text alternative (``description``: what
the chart shows, read by screen readers and shown as the figure caption) and the table
behind it (``columns``, ``rows``). The rows are inline, in the spec's ``datasets`` (named
by a hash of their content); nothing is fetched.

Colour never carries meaning alone: series differ in dash or shape too, reference lines
have text labels, and every point has a tooltip. Every selection and zoom parameter is
named, so the same data gives the same JSON (Altair numbers unnamed ones per process).

Altair is imported when a chart is built (the ``report`` extra), not with the package.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from iopfhir.outcomes.report.data import CURVE_DAYS, ReportData
from iopfhir.terminology.instruments import instrument

__all__ = ["Chart", "attendance", "intensity", "readmission", "response_remission", "trajectory"]

WIDTH = 640
HEIGHT = 280
_INK = "#1f2937"
_THIN = "#6b7280"
_ACCENT = "#0b5cad"
_SERIES = [_INK, _ACCENT, "#e08a00", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41"]


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart: its Vega-Lite spec, a text alternative and the table behind it."""

    id: str
    title: str
    description: str
    spec: dict[str, Any]
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _alt() -> Any:
    import altair

    return altair


def _data(sets: dict[str, list[Any]], values: list[Any]) -> Any:
    """A named data set: Altair checks the spec without the rows (checking thousands of
    rows against the schema took most of the time); they go into ``datasets`` after."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    name = f"data-{digest[:16]}"
    sets[name] = values
    return _alt().NamedData(name=name)


def _finish(chart: Any, description: str, sets: dict[str, list[Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = chart.properties(description=description).to_dict()
    spec["datasets"] = {**spec.get("datasets", {}), **sets}
    spec.setdefault("config", {}).update(
        {"font": "system-ui, sans-serif", "view": {"stroke": None}}
    )
    return spec


def trajectory(
    data: ReportData, instrument_id: str, anchors: dict[str, str] | None = None
) -> Chart:
    """Each episode's scores by week since admission (thin) and the median (bold)."""
    alt = _alt()
    sets: dict[str, list[Any]] = {}
    inst = instrument(instrument_id)
    slug = instrument_id.replace("-", "")
    patient_of = {e.episode_key: e.patient_key for e in data.episodes}
    points = [p for p in data.scores if p.instrument == instrument_id]
    values = [
        {
            "episode": p.episode_key,
            "patient": patient_of.get(p.episode_key, ""),
            "week": p.week,
            "score": p.score,
            **({"href": "#" + anchors[patient_of[p.episode_key]]} if anchors else {}),
        }
        for p in points
    ]
    median = data.median_trajectory(instrument_id)
    med_values = [{"week": w, "median": m, "episodes": n} for w, m, n in median]
    x = alt.X("week:Q", title="weeks since admission", axis=alt.Axis(tickMinStep=1))
    y = alt.Y("score:Q", title=f"{inst.title} total", scale=alt.Scale(domain=[0, inst.max_total]))
    hover = alt.selection_point(
        name=f"hover_{slug}", fields=["episode"], on="pointerover", clear="pointerout"
    )
    thin = (
        alt.Chart(_data(sets, values))
        .mark_line(strokeWidth=1, point=alt.OverlayMarkDef(size=12, filled=True))
        .encode(
            x=x,
            y=y,
            detail="episode:N",
            color=alt.value(_THIN),
            opacity=alt.condition(hover, alt.value(0.9), alt.value(0.3)),
            tooltip=[
                alt.Tooltip("patient:N"),
                alt.Tooltip("episode:N"),
                alt.Tooltip("week:Q"),
                alt.Tooltip("score:Q"),
            ],
            **({"href": alt.Href("href:N")} if anchors else {}),
        )
        .add_params(hover)
    )
    bold = (
        alt.Chart(_data(sets, med_values))
        .mark_line(strokeWidth=4, color=_ACCENT, point=alt.OverlayMarkDef(size=70, shape="diamond"))
        .encode(
            x=alt.X("week:Q"),
            y=alt.Y("median:Q"),
            tooltip=[
                alt.Tooltip("week:Q"),
                alt.Tooltip("median:Q", title="median score"),
                alt.Tooltip("episodes:Q"),
            ],
        )
    )
    chart = alt.layer(thin, bold).properties(width=WIDTH, height=HEIGHT)
    n_eps = len({p.episode_key for p in points})
    description = (
        f"Line chart of {inst.title} totals by week since admission: one thin grey line per "
        f"episode ({n_eps} episodes) and the median of each week as a thick blue line with "
        "diamond markers; a score taken up to 14 days before admission counts as week 0."
    )
    if median:
        description += (
            f" The median is {median[0][1]:g} in week {median[0][0]} and "
            f"{median[-1][1]:g} in week {median[-1][0]}."
        )
    return Chart(
        f"trajectory-{slug}",
        f"{inst.title} by week since admission",
        description,
        _finish(chart, description, sets),
        ("week", "median score", "episodes scored"),
        [(w, f"{m:g}", n) for w, m, n in median],
    )


def response_remission(rows: list[tuple[str, str, int, int, float | None]]) -> Chart:
    """Bars: response and remission per instrument (rows: instrument, what, num, den, score)."""
    alt = _alt()
    sets: dict[str, list[Any]] = {}
    values = [
        {
            "instrument": i,
            "what": what,
            "share": score,
            "label": f"{score * 100:.0f} % ({num}/{den})" if score is not None else "no data",
            "numerator": num,
            "denominator": den,
        }
        for i, what, num, den, score in rows
    ]
    base = alt.Chart(_data(sets, values)).encode(
        y=alt.Y("instrument:N", title=None),
        yOffset=alt.YOffset("what:N", sort=["response", "remission"]),
        x=alt.X(
            "share:Q",
            title="share of episodes",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
    )
    bars = base.mark_bar(stroke=_INK, strokeWidth=0.5).encode(
        color=alt.Color(
            "what:N",
            title=None,
            sort=["response", "remission"],
            scale=alt.Scale(range=[_ACCENT, "#e08a00"]),
        ),
        tooltip=[
            "instrument:N",
            "what:N",
            "numerator:Q",
            "denominator:Q",
            alt.Tooltip("share:Q", format=".1%"),
        ],
    )
    text = base.mark_text(align="left", dx=4, color=_INK).encode(
        text=alt.Text("label:N"), detail="what:N"
    )
    labels = base.mark_text(align="right", dx=-4, color="white", fontWeight="bold").encode(
        text=alt.Text("what:N"), detail="what:N"
    )
    chart = alt.layer(bars, text, labels).properties(
        width=WIDTH - 120, height=60 * max(1, len({r[0] for r in rows}))
    )
    parts = [f"{i} {what} {lab['label']}" for (i, what, *_), lab in zip(rows, values, strict=True)]
    description = (
        "Horizontal bars of the share of episodes with a response (a drop of at least half "
        "from a baseline of 10 or more) and in remission (last score under 5), per "
        "instrument, each bar labelled with its percentage and counts: " + "; ".join(parts) + "."
    )
    return Chart(
        "response-remission",
        "Response and remission",
        description,
        _finish(chart, description, sets),
        ("instrument", "outcome", "episodes", "of", "share"),
        [(i, w, n, d, f"{s * 100:.1f} %" if s is not None else "-") for i, w, n, d, s in rows],
    )


def attendance(data: ReportData) -> Chart:
    """Line: the share of settled sessions attended, by program week."""
    alt = _alt()
    sets: dict[str, list[Any]] = {}
    rows = data.attendance_by_week()
    values = [
        {
            "week": w,
            "rate": round(a / s, 4),
            "settled": s,
            "attended": a,
            "no-show": ns,
            "cancelled": c,
        }
        for w, s, a, ns, c in rows
    ]
    base = alt.Chart(_data(sets, values)).encode(
        x=alt.X("week:O", title="program week", axis=alt.Axis(labelAngle=0)),
    )
    bars = base.mark_bar(color="#d1d5db").encode(
        y=alt.Y("settled:Q", title="sessions settled (bars)"),
        tooltip=["week:Q", "settled:Q", "attended:Q", "no-show:Q", "cancelled:Q"],
    )
    line = base.mark_line(color=_ACCENT, strokeWidth=3, point=alt.OverlayMarkDef(size=60)).encode(
        y=alt.Y(
            "rate:Q",
            title="share attended (line)",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
        tooltip=[
            "week:Q",
            alt.Tooltip("rate:Q", format=".1%", title="attended"),
            "settled:Q",
            "attended:Q",
            "no-show:Q",
            "cancelled:Q",
        ],
    )
    chart = (
        alt.layer(bars, line).resolve_scale(y="independent").properties(width=WIDTH, height=HEIGHT)
    )
    total_s = sum(r[1] for r in rows)
    total_a = sum(r[2] for r in rows)
    description = (
        "By program week: grey bars count the sessions settled (attended, no-show "
        "or cancelled), read on the left axis; the blue line with dots is the share attended, "
        f"read on the right axis. Over all weeks {total_a} of {total_s} were attended."
    )
    return Chart(
        "attendance",
        "Attendance by program week",
        description,
        _finish(chart, description, sets),
        ("week", "settled", "attended", "no-show", "cancelled", "attended share"),
        [(w, s, a, ns, c, f"{a / s * 100:.1f} %") for w, s, a, ns, c in rows],
    )


def intensity(data: ReportData) -> Chart:
    """Box plots of attended hours per whole program week, with the program's limits."""
    alt = _alt()
    sets: dict[str, list[Any]] = {}
    weeks = data.whole_weeks()
    values = [{"week": r.week, "hours": r.hours, "episode": r.episode_key} for r in weeks]
    limits: list[dict[str, Any]] = []
    for label, attr in (("minimum", "min_hours_per_week"), ("maximum", "max_hours_per_week")):
        for value in sorted({getattr(e, attr) for e in data.episodes} - {None}):
            limits.append({"hours": value, "kind": label, "limit": f"program {label} {value:g} h"})
    x = alt.X(
        "week:O",
        title="program week (whole weeks of discharged episodes)",
        axis=alt.Axis(labelAngle=0),
    )
    y = alt.Y("hours:Q", title="attended hours in the week")
    box = (
        alt.Chart(_data(sets, values))
        .mark_boxplot(
            extent="min-max", size=22, color=_ACCENT, opacity=0.45, median={"color": _INK}
        )
        .encode(x=x, y=y)
    )
    dots = (
        alt.Chart(_data(sets, values))
        .mark_circle(size=28, color=_INK, opacity=0.35)
        .encode(x=x, y=y, tooltip=["episode:N", "week:Q", "hours:Q"])
    )
    rules = (
        alt.Chart(_data(sets, limits))
        .mark_rule(color=_INK, strokeWidth=1.5)
        .encode(
            y="hours:Q",
            strokeDash=alt.StrokeDash(
                "kind:N",
                legend=None,
                scale=alt.Scale(domain=["minimum", "maximum"], range=[[6, 3], [2, 2]]),
            ),
            tooltip=["limit:N"],
        )
    )
    text = (
        alt.Chart(_data(sets, limits))
        .mark_text(align="left", baseline="bottom", x=4, dy=-2, color=_INK)
        .encode(y="hours:Q", text="limit:N")
    )
    chart = alt.layer(box, dots, rules, text).properties(width=WIDTH, height=HEIGHT)
    per_week: dict[int, list[float]] = {}
    for r in weeks:
        per_week.setdefault(r.week, []).append(r.hours)
    minimum = {e.episode_key: e.min_hours_per_week for e in data.episodes}
    met = sum(1 for r in weeks if (m := minimum.get(r.episode_key)) is not None and r.hours >= m)
    description = (
        "Box plots of the hours each discharged episode attended in each whole program week "
        "(a dot per episode and week; box: middle half, dark line: median, whiskers: lowest "
        "and highest), with the "
        "program's minimum (dashed line) and maximum (dotted line) labelled. "
        f"{met} of {len(weeks)} whole weeks reach the minimum hours."
    )
    return Chart(
        "intensity",
        "Hours per week against the program's limits",
        description,
        _finish(chart, description, sets),
        ("week", "episodes", "median hours", "lowest", "highest"),
        [
            (w, len(h), f"{_median(h):g}", f"{min(h):g}", f"{max(h):g}")
            for w, h in sorted(per_week.items())
        ],
    )


def _median(values: list[float]) -> float:
    import statistics

    return float(statistics.median(values))


def readmission(data: ReportData) -> Chart:
    """Cumulative share of discharged episodes readmitted, by days since discharge."""
    alt = _alt()
    sets: dict[str, list[Any]] = {}
    groups = sorted({e.program_type for e in data.episodes if e.program_type})
    series: list[tuple[str, str | None]] = [("all episodes", None)]
    if len(groups) > 1:
        series += [(g, g) for g in groups]
    values: list[dict[str, Any]] = []
    table: list[tuple[Any, ...]] = []
    for label, group in series:
        curve = data.readmission_curve(group)
        for day, share, readm, disch in curve:
            values.append(
                {
                    "group": label,
                    "day": day,
                    "share": share,
                    "readmitted": readm,
                    "discharged": disch,
                }
            )
        for day, share, readm, disch in curve:
            if day in (7, 30, 60, 90):
                table.append((label, day, readm, disch, f"{share * 100:.1f} %"))
    names = [label for label, _ in series]
    top = max([0.1] + [float(v["share"]) * 1.1 for v in values])
    line = (
        alt.Chart(_data(sets, values))
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("day:Q", title="days since discharge", scale=alt.Scale(domain=[0, CURVE_DAYS])),
            y=alt.Y(
                "share:Q",
                title="share readmitted (cumulative)",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, top]),
            ),
            # one legend for both: same field, title and scale domain (a sort splits them)
            color=alt.Color(
                "group:N",
                title="episodes",
                scale=alt.Scale(domain=names, range=_SERIES[: len(names)]),
            ),
            strokeDash=alt.StrokeDash("group:N", title="episodes", scale=alt.Scale(domain=names)),
            strokeWidth=alt.condition(
                alt.datum.group == "all episodes", alt.value(3), alt.value(1.5)
            ),
            tooltip=[
                "group:N",
                "day:Q",
                alt.Tooltip("share:Q", format=".1%"),
                "readmitted:Q",
                "discharged:Q",
            ],
        )
    )
    marks = alt.Chart(_data(sets, [{"day": 30, "t": "30 days"}, {"day": 90, "t": "90 days"}]))
    rule = marks.mark_rule(color=_THIN, strokeDash=[3, 3]).encode(x="day:Q")
    label = marks.mark_text(align="right", dx=-3, y=8, color=_THIN).encode(x="day:Q", text="t:N")
    chart = alt.layer(line, rule, label).properties(width=WIDTH, height=HEIGHT)
    overall = data.readmission_curve()
    at = {d: (s, r, n) for d, s, r, n in overall}
    summary = (
        f" Of {at[30][2]} discharged episodes, {at[30][1]} were readmitted within 30 days and "
        f"{at[90][1]} within 90 days."
        if overall
        else " No episode was discharged."
    )
    description = (
        "Step line chart of the cumulative share of discharged episodes with an inpatient "
        "admission, by days since IOP discharge (0 to 90), for all episodes (thick line) and "
        "per program type (each its own dash pattern), with the 30 and 90 day marks." + summary
    )
    return Chart(
        "readmission",
        "Readmission after discharge",
        description,
        _finish(chart, description, sets),
        ("episodes", "within days", "readmitted", "discharged", "share"),
        table,
    )
