"""`fashion report`: the analyst dashboard from a tiny lake (Parquet tables and the jobs' JSON
reports), opened offline in headless Chromium; and what it says when the lake has little."""
from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from fashion_pipeline.cli import main
from fashion_pipeline.report.dashboard import build_dashboard, render_html
from fashion_pipeline.tables import CLICKSTREAM_TABLE, CUSTOMER_RFM_TABLE, SALES_DAILY_TABLE, TREND_MOVERS_TABLE
from tests.lake_rows import write_rows

RUN_DATE = date(2020, 9, 25)
CHART_KEYS = ["revenue", "units", "categories", "colours", "rfm", "trend_movers", "funnel", "data_quality",
              "map_at_12", "batch_durations", "streaming_durations"]
COLOURS = ["Black", "White", "Dark Blue", "Light Pink", "Beige", "Red"]
TYPES = ["Trousers", "Dress", "Sweater", "T-shirt", "Sneakers"]
STRATEGIES = ["popular_last_week", "trending", "repurchase_trending", "als", "blend"]


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def seed_analytics_lake(config, run_date: date = RUN_DATE) -> None:
    rng = random.Random(7)
    sales = []
    for back in range(-1, 35):  # -1: a day after the run date, which the dashboard must not show
        day = run_date - timedelta(days=back)
        scale = 100 if back >= 0 else 100_000
        for dimension, values in (("channel", ["1", "2"]), ("product_type", TYPES), ("colour", COLOURS)):
            for n, value in enumerate(values):
                units = scale * (len(values) - n) + rng.randint(0, 40)
                sales.append({"dimension": dimension, "dimension_value": value, "units": units,
                              "revenue": Decimal(units * 17), "orders": units // 2, "customers": units // 3,
                              "sales_date": day})
    write_rows(config, SALES_DAILY_TABLE, sales)
    segments = {"champions": 40, "loyal": 90, "at_risk": 60, "new": 25, "hibernating": 120}
    write_rows(config, CUSTOMER_RFM_TABLE, [
        {"customer_id": f"{segment[:4]}{i:060d}", "recency_days": i % 30, "frequency": 1 + i % 5,
         "monetary": Decimal(10 + i), "r_score": 3, "f_score": 3, "m_score": 3, "segment": segment, "as_of_date": run_date}
        for segment, count in segments.items() for i in range(count)])
    write_rows(config, TREND_MOVERS_TABLE, [
        {"direction": direction, "rank": rank, "article_id": f"0{n:09d}", "prod_name": f"Article {n}",
         "product_type_name": "Dress", "colour_group_name": "Black", "department_name": "Dresses",
         "index_group_name": "Ladieswear", "this_week_units": this, "last_week_units": last,
         "growth": this / last - 1, "as_of_date": run_date}
        for n, (direction, rank, this, last) in enumerate([("up", 1, 90, 30), ("up", 2, 60, 30), ("up", 3, 40, 30),
                                                           ("down", 1, 10, 50), ("down", 2, 20, 40)])])
    clicks = []
    for day in (run_date - timedelta(days=1), run_date):
        for hour in range(0, 24, 3):
            for n, kind in enumerate(["view"] * 20 + ["add_to_cart"] * 4 + ["purchase"] * (1 + hour % 2)):
                moment = datetime(day.year, day.month, day.day, hour, n % 60, tzinfo=timezone.utc)
                clicks.append({"event_id": f"00000000-0000-4000-8000-{len(clicks):012d}", "event_type": kind,
                               "event_time": moment, "customer_id": None, "session_id": f"5e550000-0000-4000-8000-{n % 7:012d}",
                               "article_id": "0100000001", "price": 0.03 if kind == "purchase" else None,
                               "quantity": None if kind == "view" else 1, "device": "desktop", "page": "product",
                               "referrer": None, "partition_key": "k", "sequence_number": str(len(clicks)),
                               "arrived_at": moment, "event_date": day, "event_hour": hour})
    write_rows(config, CLICKSTREAM_TABLE, clicks)

    reports = Path(config.paths.lake_root) / "_reports"
    for back in range(5):
        day = (run_date - timedelta(days=back)).isoformat()
        for check, blocking in (("orders_pk_unique", True), ("orders_freshness", True), ("duplicate_orders", False),
                                ("reconcile_with_source", True)):
            failed = 1 if (check == "duplicate_orders" and back == 1) or (check == "orders_freshness" and back == 3) else 0
            write_json(reports / "dq" / f"run_date={day}" / f"{check}.json", {
                "name": check, "blocking": blocking, "description": "d", "run_date": day, "checked_rows": 100,
                "failed_rows": failed, "details": {"x": 1} if failed else {},
                "status": "pass" if not failed else ("fail" if blocking else "warn"), "checked_at": "2026-01-01T00:00:00+00:00"})
        write_json(reports / "extract_rds" / f"run_date={day}.json", {
            "run_date": day, "started_at": f"{day}T00:01:00+00:00", "finished_at": f"{day}T00:01:{20 + back:02d}+00:00"})
    write_json(reports / "dq" / "run_date=2020-09-30" / "orders_pk_unique.json", {  # after the run date
        "name": "orders_pk_unique", "run_date": "2020-09-30", "status": "fail"})
    for back in (0, 7, 14):
        day = (run_date - timedelta(days=back)).isoformat()
        write_json(reports / "recs" / f"evaluation-{day}-v1.json", {
            "run_date": day, "created_at": "2026-01-01T00:00:00", "results": [
                {"strategy": s, "map_at_12": 0.01 * (n + 1) + 0.001 * back, "recall_at_12": 0.1, "coverage": 0.2}
                for n, s in enumerate(STRATEGIES)]})
        write_json(reports / "recs" / f"train_als-{day}.json", {
            "run_date": day, "generated_at": f"{day}T02:00:00+00:00", "seconds": 30.5 + back})
    write_json(reports / "partition_raw" / "abc.json", {
        "started_at": "2026-01-01T10:00:00+00:00", "finished_at": "2026-01-01T10:00:42+00:00", "tables": []})
    for batch in range(12):
        write_json(reports / "stream_clickstream" / "progress" / f"batch={batch:012d}.json", {
            "batch_id": batch, "timestamp": "2026-01-01T10:00:00.000Z", "input_rows": 100, "input_rows_per_s": 1.0,
            "processed_rows_per_s": 1.0, "duration_ms": 2000 + 150 * batch, "watermark": None,
            "duplicates_dropped": 0, "late_rows_dropped": 0})


def test_the_dashboard_renders_every_chart_offline_in_chromium(config, browser, tmp_path, capsys):
    seed_analytics_lake(config)
    out = tmp_path / "dashboard.html"
    assert main(["report", "--run-date", str(RUN_DATE), "--out", str(out), "--lake-root", config.paths.lake_root]) == 0
    assert f"dashboard: {out.resolve()}" in capsys.readouterr().out

    context = browser.new_context(offline=True, viewport={"width": 1640, "height": 1000})
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.continue_())
                  if route.request.url.startswith("file:") else (requests.append(route.request.url), route.abort()))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(out.resolve().as_uri())
    rendered = page.eval_on_selector_all("figure.chart", """figures => figures.map(f => ({
        key: f.dataset.chart, marks: f.querySelectorAll('svg .mark').length,
        width: f.querySelector('svg') ? f.querySelector('svg').getBoundingClientRect().width : 0,
        caption: f.querySelector('figcaption').textContent}))""")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    context.close()

    assert problems == []
    assert [r for r in requests if not r.startswith("file:")] == []  # nothing but the file itself
    assert [r["key"] for r in rendered] == CHART_KEYS
    for chart in rendered:
        assert chart["marks"] > 0 and chart["width"] > 300, chart
        assert chart["caption"].strip() and "from" in chart["caption"], chart


def test_the_dashboard_sees_the_lake_as_of_its_run_date(config):
    seed_analytics_lake(config)
    charts = {c.key: c for c in build_dashboard(config, RUN_DATE).charts}
    revenue_svg = charts["revenue"].svg
    assert f"{RUN_DATE:%m-%d} revenue" in revenue_svg
    assert f"{RUN_DATE + timedelta(days=1):%m-%d}" not in revenue_svg  # the later day is not shown
    assert revenue_svg.count('class="mark"') == 2 * 28  # revenue and its average, 28 days
    grid = charts["data_quality"].svg
    assert "2020-09-30" not in grid and grid.count('class="mark"') == 5 * 4
    assert "duplicate_orders 2020-09-24: warn" in grid and "orders_freshness 2020-09-22: fail" in grid
    assert charts["map_at_12"].svg.count('class="mark"') == 3 * len(STRATEGIES)
    assert "Dark Blue" in charts["colours"].svg and "#1b2a4e" in charts["colours"].svg


def test_an_empty_lake_gets_a_page_that_says_what_to_run(config, capsys):
    Path(config.paths.lake_root).mkdir(parents=True)
    html = render_html(build_dashboard(config, RUN_DATE))
    assert html.count('class="chart no-data"') == len(CHART_KEYS)
    assert "fashion daily-aggregates --run-date D" in html and "<script" not in html


def test_no_lake_is_one_line(config, capsys):
    assert main(["report", "--run-date", str(RUN_DATE), "--lake-root", config.paths.lake_root]) == 1
    assert capsys.readouterr().err.strip() == f"fashion report: no lake at {config.paths.lake_root}: run `make demo` (or the nightly jobs) first"


@pytest.mark.parametrize("low, high", [(0, 7.5), (0, 0.0123), (-40, 200), (0, 1_234_567)])
def test_axis_ticks_cover_the_values_in_round_steps(low, high):
    from fashion_pipeline.report.svg import nice_ticks

    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and 3 <= len(ticks) <= 7
    steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1
