"""data_quality: the day's checks on the curated and analytics tables, and a reconciliation with
PostgreSQL. One JSON file per check under `<lake_root>/_reports/dq/run_date=D/`, a readable
summary, a Slack alert and a non-zero exit when a blocking check fails.

The lake checks are the Athena SQL files of fashion_pipeline/sql/dq run by Spark; the
reconciliation needs the database, so it exists only here: every order PostgreSQL shows as last
changed on D must be in the lake as that very version (curated, or quarantined by D's run), with
the same number of lines and the same amount.

Athena runs one query per check. Here the checks share their reads (quality/scan_plan.py): each
slice of a table the checks read (the day's orders, the day's lines, a snapshot, ...) is read once,
only its partitions, kept in memory when several checks read it, and all checks then run as one
Spark query. `--per-check-queries` runs them the old way instead, one query per check over whole
tables, kept to cross-check the shared plan. How the checks were read, with times, goes to
`scan_plan.txt` beside the results.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, IntegerType, LongType, StringType, StructField, StructType

from fashion_pipeline.config import Config
from fashion_pipeline.errors import MissingInputError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table
from fashion_pipeline.lakefs import partition_folders, path_exists
from fashion_pipeline.pipelines.extract_rds import changed_orders_sql, changed_predicate, extract_report_uri
from fashion_pipeline.quality.alerts import post_slack_alert, slack_webhook_url
from fashion_pipeline.quality.checks import (  # noqa: F401 (DataQualityFailure: callers import it from here)
    CheckResult,
    DataQualityFailure,
    SqlCheck,
    athena_to_spark,
    load_sql_checks,
)
from fashion_pipeline.quality.scan_plan import ScanPlan, TableSlice, plan_shared_scans
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
SCAN_PLAN_FILE = "scan_plan.txt"
# Partition folder values the slice reader can type; a table partitioned otherwise is read whole.
_PARTITION_VALUE_PARSERS = {DateType: date.fromisoformat, IntegerType: int, LongType: int}
log = logging.getLogger(__name__)


@dataclass
class ScanStep:
    """One step of the run and its wall time: a slice read (and cached), the checks, the reconciliation."""
    step: str
    checks: list[str]
    rows: int | None
    seconds: float

    def line(self) -> str:
        rows = "" if self.rows is None else f"{self.rows:>10,} rows "
        return f"{self.seconds:7.2f} s  {rows:<16}{self.step}  <- {', '.join(self.checks)}"


@dataclass
class DataQualityReport:
    run_date: str
    results: list[CheckResult] = field(default_factory=list)
    alert_sent: bool = False
    steps: list[ScanStep] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking and not r.passed]

    def summary(self) -> str:
        failed = self.blocking_failures
        verdict = "FAILED: " + ", ".join(r.name for r in failed) if failed else "passed"
        return "\n".join([f"data_quality {self.run_date}: {verdict}", *("  " + r.line() for r in self.results)])

    def scan_plan_text(self) -> str:
        return "\n".join([f"data_quality {self.run_date}: how the checks read the lake", *(s.line() for s in self.steps)])


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)
    parser.add_argument(
        "--per-check-queries", action="store_true",
        help="run each SQL check as its own Spark query over whole tables, as before the checks "
             "shared their reads (the same results; to cross-check or compare the two plans)",
    )


def run_data_quality(
    spark: SparkSession,
    config: Config,
    storage: Storage,
    run_date: date,
    connection: RdsConnection | None = None,
    reconcile: bool = True,
    per_check_queries: bool = False,
) -> DataQualityReport:
    extract_report = extract_report_uri(config, run_date)
    if not storage.exists(extract_report):
        raise MissingInputError(
            f"extract_rds has not run for {run_date} (no {extract_report}): "
            f"run `fashion extract-rds --run-date {run_date}` first")
    report = DataQualityReport(run_date=run_date.isoformat())
    if per_check_queries:
        report.results.extend(run_checks_per_query(spark, config, run_date, report.steps))
    else:
        report.results.extend(run_checks_shared(spark, config, run_date, report.steps))
    if reconcile:
        started = time.monotonic()
        require_jdbc_driver(spark, config.rds.jdbc_driver)
        report.results.append(reconcile_with_source(spark, config, run_date, connection or resolve_rds_connection(config)))
        report.steps.append(ScanStep("PostgreSQL and the lake's orders and lines", [RECONCILIATION], None,
                                     time.monotonic() - started))

    folder = reports_uri(config, REPORTS, f"run_date={run_date}")
    for result in report.results:
        storage.write_text(f"{folder}/{result.name}.json", json.dumps(
            {**asdict(result), "status": result.status, "checked_at": _now()}, indent=2, sort_keys=True))
    storage.write_text(f"{folder}/summary.txt", report.summary() + "\n")
    storage.write_text(f"{folder}/{SCAN_PLAN_FILE}", report.scan_plan_text() + "\n")
    log.info("%s", report.summary())
    if report.blocking_failures:
        report.alert_sent = post_slack_alert(slack_webhook_url(config), f":rotating_light: {report.summary()}")
        names = ", ".join(r.name for r in report.blocking_failures)
        raise DataQualityFailure(f"{run_date}: blocking check(s) failed: {names}; see {folder}/summary.txt")
    return report


def run_checks_per_query(spark: SparkSession, config: Config, run_date: date,
                         steps: list[ScanStep] | None = None) -> list[CheckResult]:
    """Each check as its own Spark query over whole-table views, as Athena runs the files."""
    started = time.monotonic()
    register_lake_views(spark, config)
    _record(steps, "every lake table as a view", ["all"], None, started)
    results = []
    for check in load_sql_checks():
        started = time.monotonic()
        row = spark.sql(athena_to_spark(check.sql), args=check.parameters(run_date)).first()
        results.append(_check_result(check, run_date, row["checked_rows"], row["failed_rows"]))
        _record(steps, "its own query over whole tables", [check.name], None, started)
    return results


def run_checks_shared(spark: SparkSession, config: Config, run_date: date,
                      steps: list[ScanStep] | None = None) -> list[CheckResult]:
    """The same checks, each slice of a table read once (cached when several checks read it) and
    every check in one Spark query over the slices."""
    plan = plan_shared_scans(load_sql_checks(), run_date, {t.name: t.partition_keys for t in LAKE_TABLES})
    cached: list[DataFrame] = []
    try:
        for table_slice in plan.slices:
            started = time.monotonic()
            slice_df = read_slice(spark, config, table_slice)
            rows = None
            if plan.is_shared(table_slice):
                slice_df = slice_df.cache()
                cached.append(slice_df)
                rows = slice_df.count()  # read now, once, rather than by whichever check comes first
            slice_df.createOrReplaceTempView(table_slice.view)
            _record(steps, f"{'read once, cached: ' if rows is not None else 'read: '}{table_slice.describe()}",
                    plan.readers(table_slice), rows, started)
        started = time.monotonic()
        counts = {row["check_index"]: row for row in spark.sql(all_checks_sql(plan)).collect()}  # a row per check
        _record(steps, "all checks, one query", [p.check.name for p in plan.checks], None, started)
    finally:
        for slice_df in cached:
            slice_df.unpersist()
        for table_slice in plan.slices:
            spark.catalog.dropTempView(table_slice.view)
    results = []
    for index, planned in enumerate(plan.checks):
        if index not in counts:
            raise ValueError(f"check {planned.check.name} returned no row")
        results.append(_check_result(planned.check, run_date, counts[index]["checked_rows"], counts[index]["failed_rows"]))
    return results


def all_checks_sql(plan: ScanPlan) -> str:
    """One query returning (check_index, checked_rows, failed_rows) for every planned check."""
    return "\nUNION ALL\n".join(
        f"SELECT {index} AS check_index, checked_rows, failed_rows FROM ({planned.spark_sql}) AS check_{index}"
        for index, planned in enumerate(plan.checks)
    )


def read_slice(spark: SparkSession, config: Config, table_slice: TableSlice) -> DataFrame:
    """The slice's rows: only the partition folders its filter keeps, found from one listing of
    the table's top level (no file listing of the other partitions). Empty when nothing matches or
    the table has not been written."""
    table = LAKE_TABLES_BY_NAME[table_slice.table]
    folders = None
    if table_slice.partition_filter and len(table.partition_keys) == 1 and table is not CLICKSTREAM_TABLE:
        folders = _folders_kept(spark, config, table_slice)
    if folders is None:
        whole_df = _whole_table(spark, config, table)
        return whole_df.where(table_slice.partition_filter) if table_slice.partition_filter else whole_df
    if not folders:
        return spark.createDataFrame([], table.schema)
    return spark.read.schema(table.schema).option("basePath", table.uri(config)).parquet(*folders)


def _folders_kept(spark: SparkSession, config: Config, table_slice: TableSlice) -> list[str] | None:
    """Folders of the partitions the slice's filter keeps; None when the values cannot be typed."""
    table = LAKE_TABLES_BY_NAME[table_slice.table]
    key_field = next(f for f in table.schema.fields if f.name == table.partition_keys[0])
    parse = _PARTITION_VALUE_PARSERS.get(type(key_field.dataType))
    folders = partition_folders(spark, table.uri(config), key_field.name)
    if parse is None:
        return None
    try:
        typed = [(parse(value), folder) for value, folder in folders.items()]
    except ValueError:
        return None
    if not typed:
        return []
    # A partition list (one row per day, a few hundred), filtered on the driver by Spark's own
    # evaluation of the check's condition.
    values_df = spark.createDataFrame(typed, StructType([StructField(key_field.name, key_field.dataType),
                                                          StructField("_folder", StringType())]))
    return sorted(row["_folder"] for row in values_df.where(table_slice.partition_filter).collect())


def _whole_table(spark: SparkSession, config: Config, table) -> DataFrame:
    uri = table.uri(config)
    if table is CLICKSTREAM_TABLE:
        return read_clickstream(spark, config)  # through its hour manifests, as compaction requires
    if path_exists(spark, uri):
        return read_table(spark, uri, table.schema)
    return spark.createDataFrame([], table.schema)


def _check_result(check: SqlCheck, run_date: date, checked_rows, failed_rows) -> CheckResult:
    return CheckResult(check.name, check.blocking, check.description, run_date.isoformat(),
                       int(checked_rows), int(failed_rows))


def _record(steps: list[ScanStep] | None, step: str, checks: list[str], rows: int | None, started: float) -> None:
    if steps is not None:
        steps.append(ScanStep(step, checks, rows, time.monotonic() - started))


def register_lake_views(spark: SparkSession, config: Config) -> None:
    """Each catalog table as a temporary view under its Athena name (empty when not yet written)."""
    for table in LAKE_TABLES:
        _whole_table(spark, config, table).createOrReplaceTempView(table.name)


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
        source_totals = source_df.agg(F.count(F.lit(1)).alias("orders"), F.sum("amount").alias("amount"),
                                      F.min("order_id").alias("lowest"), F.max("order_id").alias("highest")).first()
    except Exception as error:
        raise StoreUnavailableError(describe_jdbc_failure(error, connection)) from None

    lake_images = _lake_images(spark, config, run_date, source_df.select("order_id"),
                               (source_totals["lowest"], source_totals["highest"]))
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


def _lake_images(spark: SparkSession, config: Config, run_date: date, order_ids_df: DataFrame,
                 id_range: tuple[int, int]) -> DataFrame:
    """(order_id, version, lines, amount) of the curated images and of run D's quarantine.

    The order ids' range, implied by the semi-joins, reaches the Parquet reader: the row groups of
    other orders (older orders, in the lake's other partitions) are skipped by their statistics."""
    in_range = F.col("order_id").between(*id_range)

    def images(orders_df: DataFrame, items_df: DataFrame, amount) -> DataFrame:
        orders_df, items_df = orders_df.filter(in_range), items_df.filter(in_range)
        # Only the lines of the day's orders are summed: the whole table's, at H&M size 30M+ lines,
        # would be shuffled and aggregated to be joined away.
        per_order = items_df.join(F.broadcast(order_ids_df), "order_id", how="left_semi").groupBy("order_id").agg(
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
