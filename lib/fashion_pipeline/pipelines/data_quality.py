"""data_quality: the day's checks on the curated and analytics tables, and a reconciliation with
PostgreSQL. One JSON file per check under `<lake_root>/_reports/dq/run_date=D/`, a readable
summary, a Slack alert and a non-zero exit when a blocking check fails.

The lake checks are the Athena SQL files of fashion_pipeline/sql/dq run by Spark; the
reconciliation needs the database, so it exists only here: every order PostgreSQL shows as last
changed on D must be in the lake as that very version (curated, or quarantined by D's run), with
the same number of lines and the same amount.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table
from fashion_pipeline.lakefs import path_exists
from fashion_pipeline.pipelines.extract_rds import changed_orders_sql, changed_predicate, extract_report_uri
from fashion_pipeline.quality.alerts import post_slack_alert, slack_webhook_url
from fashion_pipeline.quality.checks import (  # noqa: F401 (DataQualityFailure: callers import it from here)
    CheckResult,
    DataQualityFailure,
    athena_to_spark,
    load_sql_checks,
)
from fashion_pipeline.storage import Storage
from fashion_pipeline.store.credentials import RdsConnection, resolve_rds_connection
from fashion_pipeline.store.database import StoreUnavailableError
from fashion_pipeline.store.jdbc import JdbcSource, describe_jdbc_failure, require_jdbc_driver
from fashion_pipeline.store.schemas import RUN_DATE
from fashion_pipeline.tables import CLICKSTREAM_TABLE, LAKE_TABLES, LAKE_TABLES_BY_NAME, read_clickstream, reports_uri
from fashion_pipeline.transforms.store import line_amount, line_amount_sql

REPORTS = "dq"
RUN_DATE_HELP = "YYYY-MM-DD: the day whose data to check"
RECONCILIATION = "reconcile_with_source"
log = logging.getLogger(__name__)


@dataclass
class DataQualityReport:
    run_date: str
    results: list[CheckResult] = field(default_factory=list)
    alert_sent: bool = False

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking and not r.passed]

    def summary(self) -> str:
        failed = self.blocking_failures
        verdict = "FAILED: " + ", ".join(r.name for r in failed) if failed else "passed"
        return "\n".join([f"data_quality {self.run_date}: {verdict}", *("  " + r.line() for r in self.results)])


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)


def run_data_quality(
    spark: SparkSession,
    config: Config,
    storage: Storage,
    run_date: date,
    connection: RdsConnection | None = None,
    reconcile: bool = True,
) -> DataQualityReport:
    extract_report = extract_report_uri(config, run_date)
    if not storage.exists(extract_report):
        raise MissingInputError(
            f"extract_rds has not run for {run_date} (no {extract_report}): "
            f"run `fashion extract-rds --run-date {run_date}` first")
    report = DataQualityReport(run_date=run_date.isoformat())
    register_lake_views(spark, config)
    for check in load_sql_checks():
        row = spark.sql(athena_to_spark(check.sql), args=check.parameters(run_date)).first()
        report.results.append(CheckResult(
            check.name, check.blocking, check.description, run_date.isoformat(),
            int(row["checked_rows"]), int(row["failed_rows"]),
        ))
    if reconcile:
        require_jdbc_driver(spark, config.rds.jdbc_driver)
        report.results.append(reconcile_with_source(spark, config, run_date, connection or resolve_rds_connection(config)))

    folder = reports_uri(config, REPORTS, f"run_date={run_date}")
    for result in report.results:
        storage.write_text(f"{folder}/{result.name}.json", json.dumps(
            {**asdict(result), "status": result.status, "checked_at": _now()}, indent=2, sort_keys=True))
    storage.write_text(f"{folder}/summary.txt", report.summary() + "\n")
    log.info("%s", report.summary())
    if report.blocking_failures:
        report.alert_sent = post_slack_alert(slack_webhook_url(config), f":rotating_light: {report.summary()}")
        names = ", ".join(r.name for r in report.blocking_failures)
        raise DataQualityFailure(f"{run_date}: blocking check(s) failed: {names}; see {folder}/summary.txt")
    return report


def register_lake_views(spark: SparkSession, config: Config) -> None:
    """Each catalog table as a temporary view under its Athena name (empty when not yet written)."""
    for table in LAKE_TABLES:
        uri = table.uri(config)
        if table is CLICKSTREAM_TABLE:
            df = read_clickstream(spark, config)  # through its hour manifests, as compaction requires
        elif path_exists(spark, uri):
            df = read_table(spark, uri, table.schema)
        else:
            df = spark.createDataFrame([], table.schema)
        df.createOrReplaceTempView(table.name)


def reconcile_with_source(spark: SparkSession, config: Config, run_date: date, connection: RdsConnection) -> CheckResult:
    source = JdbcSource.from_config(config, connection)
    changed = changed_orders_sql(run_date)
    bounds = source.query_one_row(spark, changed["bounds"])
    description = "every order PostgreSQL last changed on the day is in the lake as that version, with equal lines and amount"
    if not bounds["orders"]:
        return CheckResult(RECONCILIATION, True, description, run_date.isoformat(), 0, 0, {"source_orders": 0})
    images_sql = (
        "SELECT o.order_id, GREATEST(o.updated_at, MAX(i.updated_at)) AS version, COUNT(i.line_no) AS lines, "
        f"COALESCE(SUM({line_amount_sql('i')}), 0)::numeric(20,2) AS amount "
        "FROM orders o LEFT JOIN order_items i ON i.order_id = o.order_id "
        f"WHERE {changed_predicate(run_date, 'o')} GROUP BY o.order_id, o.updated_at"
    )
    from pyspark.sql.types import (
        DecimalType,
        LongType,
        StructField,
        StructType,
        TimestampType,
    )

    image_schema = StructType([
        StructField("order_id", LongType(), False), StructField("version", TimestampType(), True),
        StructField("lines", LongType(), False), StructField("amount", DecimalType(20, 2), True),
    ])
    try:
        source_df = source.read_by_key_range(
            spark, images_sql, "order_id", int(bounds["lower"]), int(bounds["upper"]), image_schema
        ).cache()
        source_totals = source_df.agg(F.count(F.lit(1)).alias("orders"), F.sum("amount").alias("amount")).first()
    except Exception as error:
        raise StoreUnavailableError(describe_jdbc_failure(error, connection)) from None

    lake_images = _lake_images(spark, config, run_date, source_df.select("order_id"))
    compared = source_df.alias("s").join(
        lake_images.alias("l"),
        on=(F.col("s.order_id") == F.col("l.order_id")) & (F.col("s.version") == F.col("l.version")),
        how="left",
    )
    outcome = compared.agg(
        F.count_if(F.col("l.order_id").isNull()).alias("missing"),
        F.count_if(F.col("l.order_id").isNotNull() & ((F.col("s.lines") != F.col("l.lines")) | (F.col("s.amount") != F.col("l.amount")))).alias("different"),
        F.sum(F.when(F.col("l.order_id").isNotNull(), F.col("l.amount"))).alias("lake_amount"),
    ).first()
    source_df.unpersist()
    details = {
        "source_orders": source_totals["orders"],
        "source_amount": str(Decimal(source_totals["amount"] or 0)),
        "lake_amount": str(Decimal(outcome["lake_amount"] or 0)),
        "missing_in_lake": outcome["missing"],
        "different_in_lake": outcome["different"],
    }
    return CheckResult(RECONCILIATION, True, description, run_date.isoformat(), source_totals["orders"],
                       outcome["missing"] + outcome["different"], details)


def _lake_images(spark: SparkSession, config: Config, run_date: date, order_ids_df: DataFrame) -> DataFrame:
    """(order_id, version, lines, amount) of the curated images and of run D's quarantine."""
    def images(orders_df: DataFrame, items_df: DataFrame, amount) -> DataFrame:
        per_order = items_df.groupBy("order_id").agg(
            F.max("updated_at").alias("_items_version"), F.count(F.lit(1)).alias("lines"),
            F.sum(amount).cast("decimal(20,2)").alias("amount"))
        return (
            orders_df.join(F.broadcast(order_ids_df), "order_id", how="left_semi")
            .join(per_order, "order_id", how="left")
            .select("order_id", F.greatest("updated_at", "_items_version").alias("version"),
                    F.coalesce("lines", F.lit(0)).cast("long").alias("lines"),
                    F.coalesce("amount", F.lit(0)).cast("decimal(20,2)").alias("amount"))
        )

    def table(name: str) -> DataFrame:
        spec = LAKE_TABLES_BY_NAME[name]
        uri = spec.uri(config)
        return read_table(spark, uri, spec.schema) if path_exists(spark, uri) else spark.createDataFrame([], spec.schema)

    curated = images(table("orders"), table("order_items"), F.col("line_amount"))
    quarantined = images(
        table("orders_quarantine").filter(F.col(RUN_DATE) == F.lit(run_date)),
        table("order_items_quarantine").filter(F.col(RUN_DATE) == F.lit(run_date)),
        line_amount(),
    )
    return curated.unionByName(quarantined).dropDuplicates(["order_id", "version"])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
