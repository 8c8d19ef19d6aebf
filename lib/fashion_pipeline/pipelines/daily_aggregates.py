"""daily_aggregates: marketing tables under `<lake_root>/analytics/` for one run date D.

- sales_daily (partition sales_date): restated for the last `analytics.restatement_days` days,
  because late changes (cancellations, returns) rewrite older order partitions; a day in that
  window that no longer has sales loses its partition instead of keeping stale numbers;
- customer_rfm, top_sellers, trend_movers (partition as_of_date = D).
Each run replaces exactly the partitions it computes, so re-running D gives the same tables.
Every table is computed into `_staging/daily_aggregates/` first and only then swapped in,
partition by partition (lakefs.replace_partitions): a failed run never leaves a hole.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.lakefs import delete_path, path_exists, replace_partitions
from fashion_pipeline.storage import Storage
from fashion_pipeline.store.schemas import ORDER_DATE
from fashion_pipeline.tables import (
    CUSTOMER_RFM_TABLE,
    ORDER_ITEMS_TABLE,
    ORDERS_TABLE,
    SALES_DAILY_TABLE,
    STORE_ARTICLES_TABLE,
    TOP_SELLERS_TABLE,
    TREND_MOVERS_TABLE,
    reports_uri,
    staging_uri,
)
from fashion_pipeline.transforms.marketing import (
    AS_OF_DATE,
    SALES_DATE,
    TREND_WINDOW_DAYS,
    daily_sales_by_dimension,
    net_sales_lines,
    rfm_measures,
    rfm_threshold_columns,
    top_sellers,
    trend_movers,
    with_rfm_segments,
)

JOB = "daily_aggregates"
RUN_DATE_HELP = "YYYY-MM-DD: the day the aggregates are as of (extract_rds must have run for it)"


@dataclass
class DailyAggregatesReport:
    run_date: str
    restated_sales_dates: list[str] = field(default_factory=list)
    rows_written: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        dates = self.restated_sales_dates
        lines = [f"daily_aggregates {self.run_date}: sales_daily restated for {len(dates)} day(s)"
                 + (f" ({dates[0]} .. {dates[-1]})" if dates else "")]
        lines += [f"  {table:<14} {rows:>10,} rows" for table, rows in self.rows_written.items()]
        return "\n".join(lines)


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)


def run_daily_aggregates(spark: SparkSession, config: Config, storage: Storage, run_date: date) -> DailyAggregatesReport:
    analytics = config.analytics
    report = DailyAggregatesReport(run_date=run_date.isoformat())
    for table in (ORDERS_TABLE, ORDER_ITEMS_TABLE, STORE_ARTICLES_TABLE):
        if not path_exists(spark, table.uri(config)):
            raise MissingInputError(
                f"{table.uri(config)} does not exist: run `{table.written_by} --run-date {run_date}` first")
    articles_uri = STORE_ARTICLES_TABLE.uri(config, snapshot_date=run_date)
    if not path_exists(spark, articles_uri):
        raise MissingInputError(
            f"no articles snapshot for {run_date} ({articles_uri}): run `fashion extract-rds --run-date {run_date}` first")

    history_days = max(analytics.rfm_lookback_days, analytics.restatement_days, 2 * TREND_WINDOW_DAYS)
    first_day = run_date - timedelta(days=history_days - 1)
    lines_df = net_sales_lines(
        _order_dates(read_table(spark, ORDERS_TABLE.uri(config), ORDERS_TABLE.schema), first_day, run_date),
        _order_dates(read_table(spark, ORDER_ITEMS_TABLE.uri(config), ORDER_ITEMS_TABLE.schema), first_day, run_date),
        read_table(spark, articles_uri),
    )
    staging = staging_uri(config, JOB, f"run_date={run_date}")

    # Everything is computed into staging first; only then are the partitions swapped in.
    restate_from = run_date - timedelta(days=analytics.restatement_days - 1)
    sales_df = daily_sales_by_dimension(lines_df.filter(F.col(SALES_DATE) >= F.lit(restate_from)))
    staged_sales = f"{staging}/{SALES_DAILY_TABLE.name}"
    write_table(sales_df, staged_sales, SALES_DAILY_TABLE.partition_keys)
    staged_sales_df = read_table(spark, staged_sales)
    # Dates in the window, a few dozen rows: which partitions are replaced and which go.
    with_sales = {r[SALES_DATE] for r in staged_sales_df.select(SALES_DATE).distinct().collect()}
    report.restated_sales_dates = [d.isoformat() for d in sorted(with_sales)]
    report.rows_written[SALES_DAILY_TABLE.name] = staged_sales_df.count()

    rfm_first_day = run_date - timedelta(days=analytics.rfm_lookback_days - 1)
    measures_df = rfm_measures(lines_df.filter(F.col(SALES_DATE) >= F.lit(rfm_first_day)), run_date)
    thresholds = measures_df.agg(*rfm_threshold_columns()).first().asDict()
    thresholds = {name: [float(v) for v in (values or [])] for name, values in thresholds.items()}
    as_of_tables = {
        CUSTOMER_RFM_TABLE: with_rfm_segments(measures_df, thresholds, run_date),
        TOP_SELLERS_TABLE: top_sellers(lines_df, run_date, analytics.top_n),
        TREND_MOVERS_TABLE: trend_movers(lines_df, run_date, analytics.trend_min_units, analytics.top_n),
    }
    as_of_partition = f"{AS_OF_DATE}={run_date}"
    for table, df in as_of_tables.items():
        staged = f"{staging}/{table.name}"
        write_table(df.drop(AS_OF_DATE), f"{staged}/{as_of_partition}")
        report.rows_written[table.name] = read_table(spark, f"{staged}/{as_of_partition}").count()

    replace_partitions(spark, staged_sales, SALES_DAILY_TABLE.uri(config),
                       [f"{SALES_DATE}={day}" for day in _days(restate_from, run_date)])
    for table in as_of_tables:
        replace_partitions(spark, f"{staging}/{table.name}", table.uri(config), [as_of_partition])
    delete_path(spark, staging)

    storage.write_text(reports_uri(config, JOB, f"run_date={run_date}.json"),
                       json.dumps(asdict(report), indent=2, sort_keys=True))
    return report


def _order_dates(df: DataFrame, first: date, last: date) -> DataFrame:
    return df.filter(F.col(ORDER_DATE).between(F.lit(first), F.lit(last)))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
