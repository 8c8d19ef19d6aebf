"""`make demo`: the whole pipeline end to end on the embedded local stack, then where to look."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from fashion_pipeline.config import Config, join_uri
from fashion_pipeline.console import demo_step, say

DEMO_INGEST_DATE = date(2020, 9, 23)  # the day after H&M's last transaction
EXAMPLE_QUERY = """
SELECT a.product_group_name,
       COUNT(*)                   AS units,
       ROUND(SUM(t.price), 2)     AS revenue,
       COUNT(DISTINCT t.customer_id) AS customers
FROM transactions t
JOIN articles a ON a.article_id = t.article_id
WHERE t.year_month = '2020-08'
GROUP BY a.product_group_name
ORDER BY revenue DESC
LIMIT 8
"""


def run_demo(config: Config, scale: str = "small", seed: int = 42) -> int:
    from fashion_pipeline.generate import generate_hm
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.pipelines.partition_raw import run_partition_raw
    from fashion_pipeline.services import after_services_up, local_services
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.storage import storage_for
    from fashion_pipeline.tables import (
        ARTICLES_TABLE,
        TRANSACTIONS_TABLE,
        read_lake_table,
    )

    storage = storage_for(config)

    with demo_step("1. local services"):
        services = local_services(config)
        for service in services:
            say(service.up())
        for line in after_services_up(config, services):
            say(line)

    generated_dir = Path(config.paths.state_dir) / "generated" / f"{scale}-seed{seed}"
    with demo_step(f"2. generate H&M-schema data (scale={scale}, seed={seed}) -> {generated_dir}"):
        if (generated_dir / "_truth" / "manifest.json").is_file():
            say("already generated: same scale and seed give the same bytes, reusing them")
        else:
            say(generate_hm(scale=scale, seed=seed, out_dir=generated_dir, progress=False).summary())

    with demo_step(f"3. land raw files -> {join_uri(config.paths.raw_root, 'hm')}"):
        for outcome in land_directory(generated_dir, config.paths.raw_root, DEMO_INGEST_DATE, storage):
            say(outcome.line())

    with demo_step("4. partition_raw: validate, type, partition -> curated Parquet"):
        spark = build_spark("demo", config)
        report = run_partition_raw(spark, config, storage)
        say(report.summary())

    with demo_step("5. example query over the curated Parquet (Spark SQL; the same runs in Athena)"):
        read_lake_table(spark, config, TRANSACTIONS_TABLE).createOrReplaceTempView("transactions")
        read_lake_table(spark, config, ARTICLES_TABLE).createOrReplaceTempView("articles")
        say(EXAMPLE_QUERY.strip())
        spark.sql(EXAMPLE_QUERY).show(truncate=False)

    from fashion_pipeline.clickstream.demo import run_clickstream_demo
    from fashion_pipeline.recs.demo import run_recs_demo
    from fashion_pipeline.store.demo import run_store_demo

    # The shop runs on the same taste model (scale and seed) as the H&M files above.
    store_headline = run_store_demo(config.with_overrides({"store.scale": scale, "store.seed": seed}), spark, step_prefix="6")
    recs_summary = run_recs_demo(config, spark, storage, step_prefix="7")
    # Shoppers click on the same catalogue the H&M files above describe.
    clicks_config = config.with_overrides({"clickstream.scale": scale, "clickstream.model_seed": seed})
    clicks_summary = run_clickstream_demo(clicks_config, spark, storage, step_prefix="8")
    from fashion_pipeline.realtime.demo import run_realtime_demo

    # One customer's list, a browsing session of a style they never bought, the fast path, the list again.
    realtime_summary = run_realtime_demo(clicks_config, spark, step_prefix="9")

    from fashion_pipeline.orchestration.demo import run_airflow_demo
    from fashion_pipeline.report.dashboard import write_dashboard
    from fashion_pipeline.web.commands import DEFAULT_HOST, DEFAULT_PORT

    # The store's next night, run as production runs it: the nightly_batch DAG (local target).
    airflow_day = date.fromisoformat(store_headline["days"][-1]["run_date"]) + timedelta(days=1)
    airflow_summary = run_airflow_demo(config.with_overrides({"store.scale": scale, "store.seed": seed}),
                                       airflow_day, step_prefix="10")

    # The dashboard is as of the newest night: the last day the aggregates cover.
    report_date = airflow_day
    with demo_step(f"11. the analyst dashboard: fashion report --run-date {report_date}"):
        dashboard_path, dashboard = write_dashboard(config, report_date)
        say(dashboard.summary())
        say(f"dashboard: {dashboard_path.resolve()}")

    print("\n== where to look")
    lake = config.paths.lake_root
    for label, uri in [
        ("raw zone", join_uri(config.paths.raw_root, "hm")),
        ("curated tables", join_uri(lake, "curated")),
        ("quarantine", join_uri(lake, "quarantine")),
        ("run reports", join_uri(lake, "_reports")),
        ("recommendations", join_uri(lake, "recs")),
        ("analytics", join_uri(lake, "analytics")),
        ("clickstream", join_uri(lake, "curated", "clickstream")),
        ("generator truth", str(generated_dir / "_truth")),
        ("service logs", config.paths.state_dir),
        ("Airflow task logs", airflow_summary["task_logs"]),
    ]:
        say(f"{label:<16} {uri}")
    say("services keep running for you; stop them with: .venv/bin/fashion services down")
    if recs_summary.get("shown_user"):
        say(f"show a user's items:  .venv/bin/fashion recs show {recs_summary['shown_user']}")
    tables = {t.table: t.rows_written for t in report.tables}
    say("the streaming job's batches:  .venv/bin/fashion clicks status")
    say(f"the real-time list again:  .venv/bin/fashion recs show {realtime_summary['customer']}")
    say("the streaming refresh of real-time lists and trending:  .venv/bin/fashion realtime stream --until-idle")
    say(f"the analyst dashboard (open in a browser):  {dashboard_path.resolve()}")
    say(f"the storefront:  .venv/bin/fashion web   then open http://{DEFAULT_HOST}:{DEFAULT_PORT}/?customer="
        f"{realtime_summary['customer']}  (clicks refresh the list; Ctrl-C stops it)")
    say(f"the night again, through Airflow:  .venv/bin/fashion airflow test nightly_batch --run-date {airflow_day}")
    print(json.dumps({"demo": "ok", "tables": tables, "store": store_headline, "recs": recs_summary,
                      "airflow": airflow_summary,
                      "clicks": clicks_summary, "realtime": realtime_summary,
                      "dashboard": str(dashboard_path.resolve())}))
    return 0
