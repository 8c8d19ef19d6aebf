"""`fashion report --run-date D`: the analyst dashboard, one self-contained HTML file.

Every figure comes from the lake through DuckDB: the Athena SQL files of `sql/analyst` (run as
`fashion query` runs them, over views that see the lake as of D) and, for run history, the JSON
reports the jobs leave under `_reports/` (data quality, recommendation evaluations, batch and
streaming run times). Only aggregates come back from DuckDB. Charts are inline SVG
(`report/svg.py`): the file needs no network to render."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path

from fashion_pipeline.catalog.local_query import QueryError, athena_to_duckdb, lake_views
from fashion_pipeline.colours import colour_hex
from fashion_pipeline.config import Config, is_remote
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.report import svg

DQ_RUNS = 30
STREAMING_BATCHES = 60
BATCH_RUNS = 24
# What "as of D" means per table: the partition day a row belongs to. The clickstream is left out:
# clicks carry the wall-clock time they were sent, while run dates follow the sales calendar (the
# demo's are in 2020), so the funnel shows the latest two days of clicks whatever the run date.
AS_OF_COLUMNS = {"sales_daily": "sales_date", "customer_rfm": "as_of_date", "top_sellers": "as_of_date",
                 "trend_movers": "as_of_date", "orders": "order_date", "order_items": "order_date"}


class ReportError(PipelineError):
    """The dashboard cannot be built: its message names the cause and the fix."""


@dataclass
class Chart:
    key: str
    title: str
    caption: str  # what it shows and from which table
    svg: str | None = None
    empty: str | None = None  # why there is no chart, and what to run


@dataclass
class Dashboard:
    run_date: date
    lake_root: str
    charts: list[Chart] = field(default_factory=list)
    generated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def summary(self) -> str:
        drawn = [c.key for c in self.charts if c.svg]
        missing = [c.key for c in self.charts if not c.svg]
        return (f"dashboard for {self.run_date}: {len(drawn)} charts drawn"
                + (f"; no data yet for {', '.join(missing)}" if missing else ""))


class LakeQueries:
    """A DuckDB connection whose lake views end at the run date, and the report files beside it."""

    def __init__(self, config: Config, run_date: date):
        import duckdb

        if is_remote(config.paths.lake_root):
            raise ReportError("the dashboard reads a local lake; on AWS run its SQL files in Athena")
        if not Path(config.paths.lake_root).is_dir():
            raise ReportError(f"no lake at {config.paths.lake_root}: run `make demo` (or the nightly jobs) first")
        self.config, self.run_date, self.duckdb = config, run_date, duckdb
        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = 'UTC'")
        lake_views(self.connection, config,
                   filters={name: f"{column} <= DATE '{run_date.isoformat()}'" for name, column in AS_OF_COLUMNS.items()})

    def analyst(self, file_name: str) -> list[dict]:
        sql = resources.files("fashion_pipeline").joinpath("sql", "analyst", file_name).read_text(encoding="utf-8")
        return self.rows(athena_to_duckdb(sql))

    def reports(self, pattern: str) -> str | None:
        """A glob of report files under `_reports/`, or None when none exist yet."""
        root = Path(self.config.paths.lake_root) / "_reports"
        return str(root / pattern) if any(root.glob(pattern)) else None

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        try:
            cursor = self.connection.execute(sql, params or [])
        except self.duckdb.Error as error:
            raise QueryError(str(error).splitlines()[0]) from None
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()


# ------------------------------------------------------------------------------ the charts
def revenue_charts(q: LakeQueries) -> list[Chart]:
    rows = q.analyst("daily_revenue_trend.sql")
    revenue = Chart("revenue", "Daily revenue, 28 days",
                    "Net revenue per day with its 7-day moving average over the last 28 days, from sales_daily (channel totals; "
                    "sql/analyst/daily_revenue_trend.sql).")
    units = Chart("units", "Daily units, 28 days",
                  "Units sold per day over the same 28 days, from sales_daily (sql/analyst/daily_revenue_trend.sql).")
    if not rows:
        revenue.empty = units.empty = "no sales_daily rows up to the run date: run `fashion daily-aggregates --run-date D`"
        return [revenue, units]
    days = [r["sales_date"].strftime("%m-%d") for r in rows]
    revenue.svg = svg.line_chart(days, {"revenue": [float(r["revenue"] or 0) for r in rows],
                                        "7-day average": [float(r["revenue_7d_avg"] or 0) for r in rows]}, "daily revenue")
    units.svg = svg.line_chart(days, {}, "daily units", columns={"units": [float(r["units"] or 0) for r in rows]})
    return [revenue, units]


def category_chart(q: LakeQueries) -> Chart:
    chart = Chart("categories", "Category mix, this week",
                  "Revenue of the top 10 product types over the 7 days to the latest day, with their share, from "
                  "sales_daily (sql/analyst/top_categories_this_week.sql).")
    rows = q.analyst("top_categories_this_week.sql")
    if rows:
        chart.svg = svg.bar_chart([r["product_type"] for r in rows], [float(r["revenue"] or 0) for r in rows], "category mix",
                                  notes=[f"{svg.number(float(r['revenue'] or 0))} ({r['revenue_share_pct']}%)" for r in rows])
    else:
        chart.empty = "no sales by product type yet: run `fashion daily-aggregates --run-date D`"
    return chart


def colour_chart(q: LakeQueries) -> Chart:
    chart = Chart("colours", "Colour mix, this week",
                  "Units of the 12 best-selling colour groups over the 7 days to the latest day, bars in the colour's "
                  "swatch, from sales_daily (sql/analyst/colour_mix_this_week.sql).")
    rows = q.analyst("colour_mix_this_week.sql")
    if rows:
        chart.svg = svg.bar_chart([r["colour_group"] for r in rows], [float(r["units"] or 0) for r in rows], "colour mix",
                                  colours=[colour_hex(name=r["colour_group"]) for r in rows],
                                  notes=[f"{r['units']:,} units ({r['units_share_pct']}%)" for r in rows])
    else:
        chart.empty = "no sales by colour yet: run `fashion daily-aggregates --run-date D`"
    return chart


def rfm_chart(q: LakeQueries) -> Chart:
    chart = Chart("rfm", "RFM segments",
                  "Customers per recency-frequency-monetary segment on the latest day, from customer_rfm "
                  "(sql/analyst/rfm_mix.sql).")
    rows = q.analyst("rfm_mix.sql")
    if rows:
        rows.sort(key=lambda r: -r["customers"])
        chart.svg = svg.bar_chart([r["segment"] for r in rows], [float(r["customers"]) for r in rows], "RFM segments",
                                  notes=[f"{r['customers']:,} customers ({r['customers_pct']}%)" for r in rows])
    else:
        chart.empty = "no customer_rfm rows yet: run `fashion daily-aggregates --run-date D`"
    return chart


def trend_movers_chart(q: LakeQueries) -> Chart:
    chart = Chart("trend_movers", "Trend movers, this week",
                  "Articles rising and falling most by units against last week (growth %), from trend_movers "
                  "(sql/analyst/trend_movers.sql).")
    rows = q.analyst("trend_movers.sql")
    if rows:
        rows.sort(key=lambda r: -(r["growth_pct"] or 0))
        chart.svg = svg.bar_chart([f"{r['prod_name']} ({r['article_id']})" for r in rows],
                                  [float(r["growth_pct"] or 0) for r in rows], "trend movers",
                                  notes=[f"{r['growth_pct']:+.0f}% ({r['last_week_units']} → {r['this_week_units']})" for r in rows])
    else:
        chart.empty = "no trend movers yet (too little volume, or `fashion daily-aggregates` has not run)"
    return chart


def funnel_chart(q: LakeQueries) -> Chart:
    chart = Chart("funnel", "Clickstream funnel by hour",
                  "Views, add-to-carts and purchases per hour over the last two days of clicks, from clickstream "
                  "(sql/analyst/clickstream_funnel_by_hour.sql).")
    rows = q.analyst("clickstream_funnel_by_hour.sql")
    if rows:
        hours = [f"{r['event_date']:%m-%d} {r['event_hour']:02d}h" for r in rows]
        chart.svg = svg.line_chart(hours, {"add to cart": [float(r["carts"]) for r in rows],
                                           "purchase": [float(r["purchases"]) for r in rows]},
                                   "clickstream funnel", columns={"views": [float(r["views"]) for r in rows]})
    else:
        chart.empty = "no clickstream yet: `fashion clicks produce` then `fashion clicks stream --until-idle`"
    return chart


def quality_chart(q: LakeQueries) -> Chart:
    chart = Chart("data_quality", f"Data quality, last {DQ_RUNS} runs",
                  "Each data_quality check per run date: pass, warn (non-blocking) or fail, from the check results "
                  "in _reports/dq/run_date=D/*.json.")
    files = q.reports("dq/run_date=*/*.json")
    rows = q.rows(f"""
        WITH checks AS (
            SELECT name, status, run_date FROM read_json('{files}', hive_partitioning = false, columns = {{name: 'VARCHAR', status: 'VARCHAR',
                run_date: 'VARCHAR'}}) WHERE run_date <= ?
        ), runs AS (SELECT DISTINCT run_date FROM checks ORDER BY run_date DESC LIMIT {DQ_RUNS})
        SELECT name, status, run_date FROM checks WHERE run_date IN (SELECT run_date FROM runs)
        ORDER BY run_date, name""", [q.run_date.isoformat()]) if files else []
    if rows:
        runs = sorted({r["run_date"] for r in rows})
        checks = sorted({r["name"] for r in rows})
        chart.svg = svg.status_grid(checks, runs, {(r["name"], r["run_date"]): r["status"] for r in rows}, "data quality")
    else:
        chart.empty = "no data-quality results yet: run `fashion data-quality --run-date D`"
    return chart


def recs_quality_chart(q: LakeQueries) -> Chart:
    chart = Chart("map_at_12", "Recommendations: MAP@12 per strategy",
                  "MAP@12 of each strategy on the held-out week, per evaluated run date (the newest evaluation of "
                  "each), from _reports/recs/evaluation-*.json.")
    files = q.reports("recs/evaluation-*.json")
    rows = q.rows(f"""
        WITH evaluations AS (
            SELECT run_date, created_at, results FROM read_json('{files}', hive_partitioning = false, columns = {{run_date: 'VARCHAR',
                created_at: 'VARCHAR', results: 'STRUCT(strategy VARCHAR, map_at_12 DOUBLE)[]'}})
            WHERE run_date <= ?
            QUALIFY ROW_NUMBER() OVER (PARTITION BY run_date ORDER BY created_at DESC) = 1
        )
        SELECT run_date, r.strategy AS strategy, r.map_at_12 AS map_at_12
        FROM evaluations, UNNEST(results) AS t(r) ORDER BY run_date, strategy""", [q.run_date.isoformat()]) if files else []
    if rows:
        runs = sorted({r["run_date"] for r in rows})
        by = {(r["strategy"], r["run_date"]): r["map_at_12"] for r in rows}
        strategies = list(dict.fromkeys(r["strategy"] for r in rows))
        chart.svg = svg.line_chart(runs, {s: [by.get((s, d)) for d in runs] for s in strategies}, "MAP@12 per strategy")
    else:
        chart.empty = "no recommendation evaluations yet: run `fashion recs evaluate --run-date D`"
    return chart


def batch_durations_chart(q: LakeQueries) -> Chart:
    chart = Chart("batch_durations", "Batch run durations",
                  f"Seconds per run of the last {BATCH_RUNS} runs of partition_raw, extract_rds and train_als, from their "
                  "run reports in _reports/partition_raw, _reports/extract_rds and _reports/recs/train_als-*.json.")
    parts = []
    for job, pattern, run_label in (("partition_raw", "partition_raw/*.json", "CAST(CAST(finished_at AS TIMESTAMPTZ) AS DATE)"),
                                    ("extract_rds", "extract_rds/run_date=*.json", "CAST(run_date AS DATE)")):
        files = q.reports(pattern)
        if files:
            parts.append(f"""SELECT '{job}' AS job, {run_label} AS run, CAST(finished_at AS TIMESTAMPTZ) AS finished,
                date_diff('millisecond', CAST(started_at AS TIMESTAMPTZ), CAST(finished_at AS TIMESTAMPTZ)) / 1000.0 AS seconds
                FROM read_json('{files}', hive_partitioning = false, columns = {{started_at: 'VARCHAR', finished_at: 'VARCHAR'{", run_date: 'VARCHAR'" if job != "partition_raw" else ""}}})
                WHERE finished_at <> ''""")
    files = q.reports("recs/train_als-*.json")
    if files:
        parts.append(f"""SELECT 'train_als' AS job, CAST(run_date AS DATE) AS run, CAST(generated_at AS TIMESTAMPTZ) AS finished,
            seconds FROM read_json('{files}', hive_partitioning = false, columns = {{run_date: 'VARCHAR', generated_at: 'VARCHAR', seconds: 'DOUBLE'}})""")
    rows = q.rows(f"""SELECT job, run, seconds FROM ({" UNION ALL ".join(parts)})
        ORDER BY finished DESC LIMIT {BATCH_RUNS}""") if parts else []
    if rows:
        rows.reverse()
        chart.svg = svg.bar_chart([f"{r['job']} {r['run']}" for r in rows], [float(r["seconds"]) for r in rows],
                                  "batch durations", notes=[f"{r['seconds']:.1f} s" for r in rows])
    else:
        chart.empty = "no batch run reports yet: run `make demo` or the nightly jobs"
    return chart


def streaming_durations_chart(q: LakeQueries) -> Chart:
    chart = Chart("streaming_durations", "Streaming micro-batch durations",
                  f"Seconds per micro-batch of the last {STREAMING_BATCHES} batches of each streaming job, from the "
                  "progress reports in _reports/<job>/progress/*.json.")
    files = q.reports("*/progress/*.json")
    rows = q.rows(f"""
        WITH batches AS (
            SELECT regexp_extract(filename, '_reports/([^/]+)/progress', 1) AS job, batch_id, duration_ms
            FROM read_json('{files}', hive_partitioning = false, filename = true, columns = {{batch_id: 'BIGINT', duration_ms: 'BIGINT'}})
            QUALIFY ROW_NUMBER() OVER (PARTITION BY job ORDER BY batch_id DESC) <= {STREAMING_BATCHES}
        )
        SELECT job, batch_id, duration_ms FROM batches ORDER BY job, batch_id""") if files else []
    if rows:
        ids = sorted({r["batch_id"] for r in rows})
        by = {(r["job"], r["batch_id"]): r["duration_ms"] / 1000 for r in rows}
        jobs = list(dict.fromkeys(r["job"] for r in rows))
        chart.svg = svg.line_chart([f"#{i}" for i in ids], {j: [by.get((j, i)) for i in ids] for j in jobs},
                                   "streaming durations")
    else:
        chart.empty = "no streaming batches reported yet: run `fashion clicks stream --until-idle`"
    return chart


CHARTS: tuple[Callable[[LakeQueries], Chart | list[Chart]], ...] = (
    revenue_charts, category_chart, colour_chart, rfm_chart, trend_movers_chart, funnel_chart, quality_chart,
    recs_quality_chart, batch_durations_chart, streaming_durations_chart,
)


def build_dashboard(config: Config, run_date: date) -> Dashboard:
    queries = LakeQueries(config, run_date)
    dashboard = Dashboard(run_date, config.paths.lake_root)
    try:
        for make in CHARTS:
            made = make(queries)
            dashboard.charts.extend(made if isinstance(made, list) else [made])
    finally:
        queries.close()
    return dashboard


def render_html(dashboard: Dashboard) -> str:
    figures = []
    for chart in dashboard.charts:
        body = chart.svg if chart.svg else f'<p class="empty">{escape(chart.empty or "no data")}</p>'
        figures.append(f'<figure class="chart{"" if chart.svg else " no-data"}" id="chart-{chart.key}" data-chart="{chart.key}">'
                       f"<h2>{escape(chart.title)}</h2>{body}<figcaption>{escape(chart.caption)}</figcaption></figure>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>fashion-pipeline dashboard {dashboard.run_date}</title>
<style>
body {{ margin: 0; font: 14px/1.45 system-ui, sans-serif; color: #1d1d1f; background: #f6f6f7; }}
header {{ padding: 18px 32px; background: #fff; border-bottom: 1px solid #e4e4e7; }}
header h1 {{ margin: 0; font-size: 20px; }} header p {{ margin: 4px 0 0; color: #6b6b70; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(760px, 1fr)); gap: 18px; padding: 18px 32px 40px; }}
figure {{ margin: 0; background: #fff; border: 1px solid #e4e4e7; border-radius: 10px; padding: 14px 18px; }}
figure h2 {{ margin: 0 0 8px; font-size: 16px; }}
figcaption {{ margin-top: 6px; color: #6b6b70; font-size: 12px; }}
.empty {{ padding: 30px; text-align: center; color: #6b6b70; background: #fafafa; border-radius: 8px; }}
svg {{ max-width: 100%; height: auto; }}
</style></head>
<body>
<header><h1>fashion-pipeline: analyst dashboard</h1>
<p>The lake as of run date {dashboard.run_date} ({escape(dashboard.lake_root)}), built {dashboard.generated_at} from the
Athena SQL files in lib/fashion_pipeline/sql/analyst run by DuckDB, and the jobs' run reports.</p></header>
<main>
{chr(10).join(figures)}
</main>
</body></html>
"""


def default_output(config: Config, run_date: date) -> Path:
    return Path(config.paths.lake_root) / "_reports" / "dashboard" / f"dashboard-{run_date}.html"


def write_dashboard(config: Config, run_date: date, out: Path | None = None) -> tuple[Path, Dashboard]:
    dashboard = build_dashboard(config, run_date)
    path = Path(out) if out else default_output(config, run_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(dashboard), encoding="utf-8")
    return path, dashboard


