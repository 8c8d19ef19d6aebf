"""daily_aggregates: marketing tables under `<lake_root>/analytics/` for one run date D.

- sales_daily (partition sales_date): restated for the last `analytics.restatement_days` days,
  because late changes (cancellations, returns) rewrite older order partitions; a day in that
  window that no longer has sales loses its partition instead of keeping stale numbers;
- customer_rfm, top_sellers, trend_movers (partition as_of_date = D).
Each run replaces exactly the partitions it computes, so re-running D gives the same tables.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.pipelines.extract_rds import ORDER_ITEMS_TABLE, ORDERS_TABLE, STORE_ARTICLES_TABLE
from fashion_pipeline.storage import Storage
from fashion_pipeline.store.lakefs import delete_path, path_exists
from fashion_pipeline.store.schemas import ORDER_DATE, ORDER_ITEMS_SCHEMA, ORDERS_SCHEMA, SNAPSHOT_DATE
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

SALES_DAILY_TABLE = "analytics/sales_daily"
CUSTOMER_RFM_TABLE = "analytics/customer_rfm"
TOP_SELLERS_TABLE = "analytics/top_sellers"
TREND_MOVERS_TABLE = "analytics/trend_movers"
REPORTS = "_reports/daily_aggregates"


class MissingInputError(RuntimeError):
    """A table this job reads has not been written for the run date."""


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


def run_daily_aggregates(spark: SparkSession, config: Config, storage: Storage, run_date: date) -> DailyAggregatesReport:
    analytics = config.analytics
    lake = config.paths.lake
    report = DailyAggregatesReport(run_date=run_date.isoformat())
    for table in (ORDERS_TABLE, ORDER_ITEMS_TABLE, STORE_ARTICLES_TABLE):
        if not path_exists(spark, lake(table)):
            raise MissingInputError(f"{lake(table)} does not exist: run extract_rds for {run_date} first")
    articles_uri = lake(STORE_ARTICLES_TABLE, f"{SNAPSHOT_DATE}={run_date}")
    if not path_exists(spark, articles_uri):
        raise MissingInputError(f"no articles snapshot for {run_date} ({articles_uri}): run extract_rds for {run_date} first")

    history_days = max(analytics.rfm_lookback_days, analytics.restatement_days, 2 * TREND_WINDOW_DAYS)
    first_day = run_date - timedelta(days=history_days - 1)
    lines_df = net_sales_lines(
        _order_dates(read_table(spark, lake(ORDERS_TABLE), ORDERS_SCHEMA), first_day, run_date),
        _order_dates(read_table(spark, lake(ORDER_ITEMS_TABLE), ORDER_ITEMS_SCHEMA), first_day, run_date),
        read_table(spark, articles_uri),
    )

    restate_from = run_date - timedelta(days=analytics.restatement_days - 1)
    sales_df = daily_sales_by_dimension(lines_df.filter(F.col(SALES_DATE) >= F.lit(restate_from)))
    staging = lake("_staging", "daily_aggregates", f"run_date={run_date}", "sales_daily")
    write_table(sales_df, staging, (SALES_DATE,))
    staged_sales_df = read_table(spark, staging)
    # Dates in the window, a few dozen rows: which partitions to replace and which to drop.
    with_sales = {r[SALES_DATE] for r in staged_sales_df.select(SALES_DATE).distinct().collect()}
    for day in _days(restate_from, run_date):
        if day not in with_sales:
            delete_path(spark, lake(SALES_DAILY_TABLE, f"{SALES_DATE}={day}"))
    write_table(staged_sales_df, lake(SALES_DAILY_TABLE), (SALES_DATE,))
    report.restated_sales_dates = [d.isoformat() for d in sorted(with_sales)]
    report.rows_written["sales_daily"] = staged_sales_df.count()
    delete_path(spark, staging)

    rfm_first_day = run_date - timedelta(days=analytics.rfm_lookback_days - 1)
    measures_df = rfm_measures(lines_df.filter(F.col(SALES_DATE) >= F.lit(rfm_first_day)), run_date)
    thresholds = measures_df.agg(*rfm_threshold_columns()).first().asDict()
    thresholds = {name: [float(v) for v in (values or [])] for name, values in thresholds.items()}
    as_of_tables = {
        "customer_rfm": (CUSTOMER_RFM_TABLE, with_rfm_segments(measures_df, thresholds, run_date)),
        "top_sellers": (TOP_SELLERS_TABLE, top_sellers(lines_df, run_date, analytics.top_n)),
        "trend_movers": (TREND_MOVERS_TABLE, trend_movers(lines_df, run_date, analytics.trend_min_units, analytics.top_n)),
    }
    for name, (table, df) in as_of_tables.items():
        partition_uri = lake(table, f"{AS_OF_DATE}={run_date}")
        write_table(df.drop(AS_OF_DATE), partition_uri)
        report.rows_written[name] = read_table(spark, partition_uri).count()

    storage.write_text(lake(REPORTS, f"run_date={run_date}.json"), json.dumps(asdict(report), indent=2, sort_keys=True))
    return report


def _order_dates(df: DataFrame, first: date, last: date) -> DataFrame:
    return df.filter(F.col(ORDER_DATE).between(F.lit(first), F.lit(last)))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
