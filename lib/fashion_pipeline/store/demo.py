"""The nightly store batch in `make demo` (services already up): three simulated shop days, each night's
extract + aggregates + data quality, the Glue catalog, and one analyst query run locally."""
from __future__ import annotations

from datetime import date, timedelta
from importlib import resources

from pyspark.sql import SparkSession

from fashion_pipeline.config import Config
from fashion_pipeline.console import demo_step, say

STORE_DEMO_FIRST_DAY = date(2020, 9, 23)  # the shop goes on where the H&M history ends
STORE_DEMO_DAYS = 3
DEMO_QUERY = "top_categories_this_week.sql"


def run_store_demo(config: Config, spark: SparkSession, first_day: date = STORE_DEMO_FIRST_DAY,
                   days: int = STORE_DEMO_DAYS, step_prefix: str = "") -> dict:
    """Runs the store part of the demo and returns its headline numbers. Safe to re-run: days
    already simulated are skipped and the jobs replace what they wrote."""
    from fashion_pipeline.catalog.glue import sync_catalog
    from fashion_pipeline.catalog.local_query import run_athena_sql
    from fashion_pipeline.pipelines.daily_aggregates import run_daily_aggregates
    from fashion_pipeline.pipelines.data_quality import run_data_quality
    from fashion_pipeline.pipelines.extract_rds import run_extract_rds
    from fashion_pipeline.storage import storage_for
    from fashion_pipeline.store.credentials import resolve_rds_connection
    from fashion_pipeline.store.database import apply_migrations
    from fashion_pipeline.store.simulate import simulate_day

    storage = storage_for(config)
    headline: dict = {"days": []}

    with demo_step(f"{step_prefix}a. store database: migrate PostgreSQL (the local RDS)"):
        connection = resolve_rds_connection(config)
        for line in apply_migrations(connection):
            say(line)

    run_dates = [first_day + timedelta(days=n) for n in range(days)]
    for number, run_date in enumerate(run_dates, 1):
        with demo_step(f"{step_prefix}b{number}. {run_date}: simulate the shop's day, then the 00:01 batch"):
            say(simulate_day(config, connection, run_date).summary())
            extract = run_extract_rds(spark, config, storage, run_date, connection)
            say(extract.summary())
            say(run_daily_aggregates(spark, config, storage, run_date).summary())
            quality = run_data_quality(spark, config, storage, run_date, connection)
            say(quality.summary())
            headline["days"].append({"run_date": run_date.isoformat(), "orders_published": extract.published.orders,
                                     "late_partitions": len(extract.rewritten_order_dates) - 1,
                                     "dq_failures": len(quality.blocking_failures)})

    with demo_step(f"{step_prefix}c. Glue catalog from the declared schemas (moto)"):
        say(f"{len(sync_catalog(config))} databases/tables created or updated in {config.names.glue_database}")

    with demo_step(f"{step_prefix}d. analyst query sql/analyst/{DEMO_QUERY}, run locally by DuckDB"):
        sql = resources.files("fashion_pipeline").joinpath("sql", "analyst", DEMO_QUERY).read_text(encoding="utf-8")
        say(run_athena_sql(config, sql).to_string(index=False))
    return headline
