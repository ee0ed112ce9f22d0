"""``viewership report``'s charts, shaped from answers and operations rows with no I/O at all.

Every function here takes what the readers (``viewership/dashboard_io.py``) fetched, the
query layer's answer rows or Arrow tables of ``ops.run_log`` and ``ops.audit_results``, and
returns chart data, so each one is tested on a few hand-written rows. :func:`render_page` puts
the charts in one HTML page that carries plotly.js itself: it opens offline, from a file or an
e-mail attachment. Once Plotly has drawn, the page's script writes what each chart drew into
``<script id="drawn-summary">``, so a headless browser can check the drawing, not only the
data the page was given.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import pyarrow as pa
from plotly.offline import get_plotlyjs

from schemas.contract import DEFAULT_MAX_BAD_RATIO, FEEDS

Row = Mapping[str, Any]

# Run-log rows of an aggregate's cycle carry ``aggregate:<name>`` in place of a feed.
AGGREGATE_PREFIX = "aggregate:"
_TEMPLATE = "plotly_white"
_GATE_COLORS = {"passed": "#2e7d32", "failed": "#c62828", "warned": "#f9a825"}


@dataclass(frozen=True)
class Inputs:
    """What the report reads for one period: four answers and the operations log's rows."""

    start: date
    end: date
    top_shows: Sequence[Row]
    genres: Sequence[Row]
    co_watch: Sequence[Row]
    signups: Sequence[Row]
    run_log: pa.Table
    audit_results: pa.Table


@dataclass(frozen=True)
class Chart:
    """One chart of the page: a figure, or None when the period holds no data for it."""

    key: str
    heading: str
    caption: str
    figure: go.Figure | None
    no_data: str = "no data in this period"


@dataclass(frozen=True)
class RunTime:
    """Seconds between the run-log rows of one arrival date's latest published run."""

    logical_date: date
    run_id: str
    publication: float
    aggregates: float


@dataclass(frozen=True)
class GateCounts:
    """The quality gate's verdicts in force for one arrival date."""

    logical_date: date
    passed: int = 0
    failed: int = 0
    warned: int = 0


# --- the four answers -----------------------------------------------------------------------


def show_label(row: Row) -> str:
    """A show as people know it, with its id to tell apart two shows of the same title."""
    title = row.get("title")
    return f"{title} ({row['show_id']})" if title else str(row["show_id"])


def top_shows_chart(rows: Sequence[Row]) -> Chart:
    """Horizontal bars of viewers, rank 1 on top: the numbers of ``query top-shows``."""
    caption = (
        "Shows ranked by viewers (distinct users with a qualified view: 2 minutes of a show on "
        "a day), then hours viewed, then show id; the same rows as `viewership query top-shows`."
    )
    if not rows:
        return Chart("top_shows", "Top shows", caption, None)
    figure = go.Figure(
        go.Bar(
            x=[r["viewers"] for r in rows],
            y=[show_label(r) for r in rows],
            orientation="h",
            text=[f"{r['viewers']:,} viewers, {r['hours_viewed']:,.2f} h" for r in rows],
            textposition="auto",
            customdata=[[r["rank"], r["hours_viewed"]] for r in rows],
            hovertemplate="#%{customdata[0]} %{y}<br>%{x} viewers<br>"
            "%{customdata[1]:.2f} hours viewed<extra></extra>",
            marker_color="#1f5fa8",
        )
    )
    figure.update_layout(
        title="Top shows by viewers",
        xaxis_title="viewers",
        yaxis={"autorange": "reversed", "automargin": True},
        height=max(320, 60 + 32 * len(rows)),
    )
    return Chart("top_shows", "Top shows", caption, _styled(figure))


def genres_chart(rows: Sequence[Row]) -> Chart:
    """A region-by-genre heat map of viewers: the cells of ``query genres``."""
    caption = (
        "Viewers per region and genre (distinct users with a view qualified in the region), the "
        "rows of `viewership query genres`: its top genres of each region; a blank cell is a "
        "genre outside that region's top."
    )
    if not rows:
        return Chart("genres", "Genres by region", caption, None)
    regions = sorted({str(r["region"]) for r in rows})
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["genre"]] = totals.get(r["genre"], 0) + int(r["viewers"])
    genres = sorted(totals, key=lambda g: (-totals[g], g))
    cells = {(r["region"], r["genre"]): r for r in rows}
    z = [[_get(cells, (region, g), "viewers") for g in genres] for region in regions]
    hours = [[_get(cells, (region, g), "hours_viewed") for g in genres] for region in regions]
    figure = go.Figure(
        go.Heatmap(
            x=genres,
            y=regions,
            z=z,
            customdata=hours,
            colorscale="Blues",
            texttemplate="%{z}",
            hovertemplate="%{y} %{x}<br>%{z} viewers<br>%{customdata:.2f} hours<extra></extra>",
            colorbar={"title": {"text": "viewers"}},
        )
    )
    figure.update_layout(
        title="Viewers by region and genre",
        yaxis={"autorange": "reversed"},  # regions read top-down, in name order
        height=160 + 50 * len(regions),
    )
    return Chart("genres", "Genres by region", caption, _styled(figure))


def co_watch_matrix(rows: Sequence[Row]) -> tuple[list[str], list[list[int | None]]]:
    """The shows of the strongest pairs, in the order they first appear, and a symmetric
    matrix of co-viewers: a cell is blank when its pair is not among the rows."""
    shows = list(dict.fromkeys(show for r in rows for show in (r["show_a"], r["show_b"])))
    index = {show: i for i, show in enumerate(shows)}
    z: list[list[int | None]] = [[None] * len(shows) for _ in shows]
    for r in rows:
        a, b = index[r["show_a"]], index[r["show_b"]]
        z[a][b] = z[b][a] = int(r["co_viewers"])
    return shows, z


def co_watch_chart(rows: Sequence[Row]) -> Chart:
    """The strongest co-watch pairs as a matrix: the pairs of ``query co-watch``."""
    caption = (
        "Users with a qualified view of both shows in the period (co-viewers), for the pairs "
        "`viewership query co-watch` ranks strongest; each pair fills two mirrored cells, and "
        "a blank cell is a pair outside those."
    )
    if not rows:
        return Chart("co_watch", "Co-watch", caption, None)
    shows, z = co_watch_matrix(rows)
    figure = go.Figure(
        go.Heatmap(
            x=shows,
            y=shows,
            z=z,
            colorscale="Purples",
            texttemplate="%{z}",
            hovertemplate="%{y} and %{x}<br>%{z} co-viewers<extra></extra>",
            colorbar={"title": {"text": "co-viewers"}},
        )
    )
    figure.update_layout(
        title="Co-viewers of the strongest pairs",
        xaxis={"type": "category"},
        yaxis={"type": "category", "autorange": "reversed"},
        height=220 + 40 * len(shows),
    )
    return Chart("co_watch", "Co-watch", caption, _styled(figure))


def days(start: date, end: date) -> list[str]:
    """Every date of the inclusive period, as ``YYYY-MM-DD``."""
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def signups_series(rows: Sequence[Row], start: date, end: date) -> dict[str, list[int]]:
    """New users per region on every day of the period; a day without a row had none."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(str(r["region"]), {})[str(r["date"])] = int(r["new_users"])
    return {
        region: [counts[region].get(day, 0) for day in days(start, end)]
        for region in sorted(counts)
    }


def signups_chart(rows: Sequence[Row], start: date, end: date) -> Chart:
    """One line per region of new users by signup day."""
    caption = (
        "New users (accounts counted once, at their earliest signup) per signup day and region, "
        "from gold.signups_daily; a point at 0 is a day without a signup in that region."
    )
    if not rows:
        return Chart("signups", "Signups by day and region", caption, None)
    x = days(start, end)
    figure = go.Figure(
        [
            go.Scatter(x=x, y=y, name=region, mode="lines+markers")
            for region, y in signups_series(rows, start, end).items()
        ]
    )
    figure.update_layout(
        title="New users per day and region",
        yaxis={"title": {"text": "new users"}, "rangemode": "tozero"},
        xaxis={"type": "category", "title": {"text": "signup date"}},
    )
    return Chart("signups", "Signups by day and region", caption, _styled(figure))


# --- data quality and run times ----------------------------------------------------------------


def quarantine_shares(run_log: pa.Table) -> dict[str, dict[str, float]]:
    """Per feed and arrival date, quarantined / lines read of the date's latest run of the feed.

    A feed that read no line quarantined nothing: its share is 0.
    """
    latest: dict[tuple[str, str], Row] = {}
    for r in run_log.to_pylist():
        if r["feed"] not in FEEDS:
            continue
        key = (r["feed"], r["logical_date"].isoformat())
        if key not in latest or r["recorded_at"] > latest[key]["recorded_at"]:
            latest[key] = r
    shares: dict[str, dict[str, float]] = {}
    for feed in FEEDS:
        for (name, day), r in sorted(latest.items()):
            if name == feed:
                read = r["lines_read"]
                shares.setdefault(feed, {})[day] = r["quarantined"] / read if read else 0.0
    return shares


def quarantine_chart(run_log: pa.Table) -> Chart:
    """One line per feed of its quarantined share by arrival date."""
    caption = (
        "Per arrival date, the share of a feed's lines that its latest run quarantined "
        "(quarantined / lines read in ops.run_log, refused runs included; a feed that read no "
        "line is at 0); a run publishes nothing when a share passes --max-bad-ratio (dotted: "
        "the default)."
    )
    shares = quarantine_shares(run_log)
    if not shares:
        return Chart("quarantine", "Quarantine share per feed", caption, None)
    dates = sorted({day for per_day in shares.values() for day in per_day})
    figure = go.Figure(
        [
            go.Scatter(
                x=dates,
                y=[per_day.get(day) for day in dates],
                name=feed,
                mode="lines+markers",
                hovertemplate=f"{feed} %{{x}}: %{{y:.2%}}<extra></extra>",
            )
            for feed, per_day in shares.items()
        ]
    )
    figure.update_layout(
        title="Quarantined share of lines read",
        yaxis={"tickformat": ".1%", "rangemode": "tozero", "title": {"text": "quarantined"}},
        xaxis={"type": "category", "title": {"text": "arrival date"}},
    )
    figure.add_hline(
        y=DEFAULT_MAX_BAD_RATIO,
        line={"dash": "dot", "color": "#c62828"},
        annotation_text=f"default refusal threshold {DEFAULT_MAX_BAD_RATIO:.0%}",
    )
    return Chart("quarantine", "Quarantine share per feed", caption, _styled(figure))


def gate_counts(audit_results: pa.Table) -> list[GateCounts]:
    """Per arrival date, the verdicts of each audited table's latest audit that date.

    A failed expectation counts as failed at error severity (it blocks publication) and as
    warned at warn severity.
    """
    latest: dict[tuple[date, str], tuple[datetime, str, str]] = {}
    rows = audit_results.to_pylist()
    for r in rows:
        key = (r["logical_date"], r["table_name"])
        audit = (r["recorded_at"], r["run_id"], r["branch"])
        if key not in latest or audit > latest[key]:
            latest[key] = audit
    counts: dict[date, dict[str, int]] = {}
    for r in rows:
        if latest[(r["logical_date"], r["table_name"])][1:] != (r["run_id"], r["branch"]):
            continue
        verdict = "passed" if r["success"] else "failed" if r["severity"] == "error" else "warned"
        per_day = counts.setdefault(r["logical_date"], {})
        per_day[verdict] = per_day.get(verdict, 0) + 1
    return [GateCounts(day, **counts[day]) for day in sorted(counts)]


def gate_chart(audit_results: pa.Table) -> Chart:
    """Stacked bars of passed, failed and warned expectations by arrival date."""
    caption = (
        "Per arrival date, the quality gate's expectations from ops.audit_results, as each "
        "audited table's latest audit that date left them: passed, failed (error severity: the "
        "run published nothing) and warned (warn severity: published with a warning)."
    )
    counts = gate_counts(audit_results)
    if not counts:
        return Chart("gate", "Quality gate results", caption, None)
    dates = [c.logical_date.isoformat() for c in counts]
    figure = go.Figure(
        [
            go.Bar(
                x=dates,
                y=[getattr(c, verdict) for c in counts],
                name=verdict,
                marker_color=color,
                hovertemplate=f"%{{x}}: %{{y}} {verdict}<extra></extra>",
            )
            for verdict, color in _GATE_COLORS.items()
        ]
    )
    figure.update_layout(
        title="Expectations per arrival date",
        barmode="stack",
        yaxis_title="expectations",
        xaxis={"type": "category", "title": {"text": "arrival date"}},
    )
    return Chart("gate", "Quality gate results", caption, _styled(figure))


def run_times(run_log: pa.Table) -> list[RunTime]:
    """Per arrival date, its latest published run's publication and aggregation spans.

    A run writes no row when it starts: its first row, ``publishing``, comes once its audit
    passed, then ``published`` after the last table moved, then one row per aggregate's cycle.
    So publication = published - publishing and aggregates = last aggregate row - published;
    the reading, staging and audit before the first row leave no time in the run log.
    """
    by_date: dict[date, list[Row]] = {}
    for r in run_log.to_pylist():
        by_date.setdefault(r["logical_date"], []).append(r)
    times = []
    for day in sorted(by_date):
        rows = by_date[day]
        published = [r for r in rows if r["feed"] in FEEDS and r["status"] == "published"]
        if not published:
            continue
        run_id = max(published, key=lambda r: r["recorded_at"])["run_id"]
        mine = [r for r in rows if r["run_id"] == run_id]
        done = min(r["recorded_at"] for r in published if r["run_id"] == run_id)
        began = max(
            (
                r["recorded_at"]
                for r in mine
                if r["feed"] in FEEDS and r["status"] == "publishing" and r["recorded_at"] <= done
            ),
            default=done,
        )
        last = max(
            (
                r["recorded_at"]
                for r in mine
                if r["feed"].startswith(AGGREGATE_PREFIX) and r["recorded_at"] >= done
            ),
            default=done,
        )
        times.append(
            RunTime(day, run_id, (done - began).total_seconds(), (last - done).total_seconds())
        )
    return times


def run_times_chart(run_log: pa.Table) -> Chart:
    """Stacked bars of each arrival date's publication and aggregation seconds."""
    caption = (
        "Approximate: seconds between ops.run_log rows of each arrival date's latest published "
        "run (their recorded_at). Publication runs from the 'publishing' row, written once the "
        "audit passed, to the 'published' row; aggregates from there to the last aggregate's "
        "row. Reading, staging and auditing come before a run's first row and are not recorded, "
        "so they are not in these bars."
    )
    times = run_times(run_log)
    if not times:
        return Chart("run_times", "Pipeline run times", caption, None)
    dates = [t.logical_date.isoformat() for t in times]
    runs = [t.run_id for t in times]
    figure = go.Figure(
        [
            go.Bar(
                x=dates,
                y=[getattr(t, part) for t in times],
                name=part,
                customdata=runs,
                hovertemplate=f"%{{x}} run %{{customdata}}: %{{y:.1f}} s {part}<extra></extra>",
            )
            for part in ("publication", "aggregates")
        ]
    )
    figure.update_layout(
        title="Publication and aggregation seconds (from run-log timestamps)",
        barmode="stack",
        yaxis_title="seconds",
        xaxis={"type": "category", "title": {"text": "arrival date"}},
    )
    return Chart("run_times", "Pipeline run times", caption, _styled(figure))


def charts(inputs: Inputs) -> list[Chart]:
    """The page's charts, in reading order."""
    return [
        top_shows_chart(inputs.top_shows),
        genres_chart(inputs.genres),
        co_watch_chart(inputs.co_watch),
        signups_chart(inputs.signups, inputs.start, inputs.end),
        quarantine_chart(inputs.run_log),
        gate_chart(inputs.audit_results),
        run_times_chart(inputs.run_log),
    ]


# --- the page --------------------------------------------------------------------------------


def render_page(inputs: Inputs) -> str:
    """The whole report: one HTML document with plotly.js inside, no network needed."""
    drawn = charts(inputs)
    empty = [c.heading for c in drawn if c.figure is None]
    notice = (
        f'<p class="notice" id="no-data">No data in this period for: {_esc(", ".join(empty))}.</p>'
        if empty
        else ""
    )
    period = f"{inputs.start.isoformat()} to {inputs.end.isoformat()}"
    return _PAGE.format(
        title=_esc(f"Viewership report {period}"),
        period=_esc(period),
        plotly=get_plotlyjs().replace("</script", "<\\/script"),
        notice=notice,
        sections="\n".join(_section(c) for c in drawn),
        script=_SCRIPT,
    )


def figure_json(figure: go.Figure) -> str:
    """A figure as JSON that is safe inside a ``<script>`` element."""
    return pio.to_json(figure, validate=False).replace("</", "<\\/")


def _section(chart: Chart) -> str:
    body = (
        f'<div class="chart" id="chart-{chart.key}"></div>\n'
        f'<script type="application/json" class="figure" data-chart="{chart.key}">'
        f"{figure_json(chart.figure)}</script>"
        if chart.figure is not None
        else f'<div class="chart no-data" id="chart-{chart.key}" data-empty="true">'
        f"{_esc(chart.heading)}: {_esc(chart.no_data)}.</div>"
    )
    return (
        f'<section id="section-{chart.key}">\n<h2>{_esc(chart.heading)}</h2>\n'
        f'<p class="caption">{_esc(chart.caption)}</p>\n{body}\n</section>'
    )


def _styled(figure: go.Figure) -> go.Figure:
    figure.update_layout(template=_TEMPLATE, margin={"l": 40, "r": 20, "t": 60, "b": 40})
    return figure


def _get(cells: Mapping[tuple[str, str], Row], key: tuple[str, str], column: str) -> Any:
    row = cells.get(key)
    return None if row is None else row[column]


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222;
       padding: 0 1rem; }}
h1 {{ margin-bottom: 0.2rem; }}
section {{ margin: 2.5rem 0; }}
.caption {{ color: #555; max-width: 60rem; }}
.notice {{ background: #fff4e5; border-left: 4px solid #f9a825; padding: 0.6rem 1rem; }}
.no-data {{ background: #f5f5f5; color: #666; padding: 2rem; text-align: center; }}
</style>
<script>{plotly}</script>
</head>
<body>
<h1>Viewership report</h1>
<p>Event and signup dates {period} for the answers; arrival dates {period} for data quality
and run times. Read from the published tables.</p>
{notice}
{sections}
<script type="application/json" id="drawn-summary"></script>
<script>{script}</script>
</body>
</html>
"""

# After every chart has drawn, record what Plotly drew: each trace's type and data as Plotly
# holds them, and the SVG marks on the page (bars, heat-map images, line paths, markers).
_SCRIPT = """
(async function () {
  const plain = (v) => (v == null ? null : Array.from(v, (x) =>
    x != null && typeof x === "object" && x.length !== undefined ? Array.from(x) : x));
  const summary = {};
  for (const holder of document.querySelectorAll("script.figure")) {
    const key = holder.dataset.chart;
    const figure = JSON.parse(holder.textContent);
    const div = document.getElementById("chart-" + key);
    await Plotly.newPlot(div, figure.data, figure.layout,
                         {displaylogo: false, responsive: true});
    summary[key] = {
      traces: div._fullData.map((t) => ({type: t.type, name: t.name, x: plain(t.x),
                                         y: plain(t.y), z: plain(t.z)})),
      marks: {
        bars: div.querySelectorAll(".barlayer .point").length,
        heatmaps: div.querySelectorAll(".heatmaplayer image").length,
        lines: div.querySelectorAll(".scatterlayer path.js-line").length,
        points: div.querySelectorAll(".scatterlayer .point").length,
      },
    };
  }
  for (const empty of document.querySelectorAll(".chart[data-empty]")) {
    summary[empty.id.replace(/^chart-/, "")] = {empty: true};
  }
  document.getElementById("drawn-summary").textContent = JSON.stringify(summary);
  document.body.dataset.rendered = "true";
})();
"""
