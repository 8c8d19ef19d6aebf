"""extract_rds: the store's orders changed on one day, from PostgreSQL into the curated lake.

Three phases, so that a database failure leaves the lake as it was:
1. read, each row once: orders changed in [D, D+1) by updated_at with all their lines (whole order
   images; a line's change touches its order, see ddl/V003) over partitioned JDBC reads into
   local checkpoints (Spark's own storage, with no lineage back to the database), today's
   customers and articles into their snapshot partitions under `_staging/extract_rds/run_date=D`;
2. compute from what was read only: validate each order against a one-row summary of its lines,
   quarantine whole orders with a reason, merge with the lake partitions the changes touch,
   keeping the newest image of each order; the quarantine and the merged partitions are written
   to staging once each (the merge's outcome counts observed while writing);
3. publish: move exactly those `order_date` partitions, the day's snapshots and quarantine into
   the lake (lakefs.replace_partitions), write the run report last, drop the staging folder.

Re-running a day reads the same rows (or newer ones) and produces the same lake: the incoming
image wins over an equal one, an older one never replaces a newer one.

Phases 2 and 3 read partitions and write them back, so two runs at once would each publish a
merge that lacks the other's changes. One run at a time holds the lake lease
`_locks/extract_rds.json` (lake_lock.py) from before the first read to after the last write; a
second run fails at once and says who holds it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fashion_pipeline.config import Config
from fashion_pipeline.errors import ReconciliationError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.lake_lock import LakeLease, lease_uri
from fashion_pipeline.lakefs import delete_path, partition_folders, replace_partitions
from fashion_pipeline.schemas import REJECT_REASON
from fashion_pipeline.storage import Storage
from fashion_pipeline.store.credentials import RdsConnection, resolve_rds_connection
from fashion_pipeline.store.database import StoreUnavailableError
from fashion_pipeline.store.jdbc import (
    DECIMAL_DIGITS,
    HEX_DIGITS,
    JdbcSource,
    describe_jdbc_failure,
    require_jdbc_driver,
)
from fashion_pipeline.store.schemas import (
    ORDER_DATE,
    SOURCE_ARTICLES_SCHEMA,
    SOURCE_CUSTOMERS_SCHEMA,
    SOURCE_ORDER_ITEMS_SCHEMA,
    SOURCE_ORDERS_SCHEMA,
)
from fashion_pipeline.tables import (
    ORDER_ITEMS_QUARANTINE_TABLE,
    ORDER_ITEMS_TABLE,
    ORDERS_QUARANTINE_TABLE,
    ORDERS_TABLE,
    STORE_ARTICLES_TABLE,
    STORE_CUSTOMERS_TABLE,
    LakeTable,
    reports_uri,
    staging_uri,
)
from fashion_pipeline.transforms.store import (
    INCOMING,
    LINES,
    NEWEST,
    SOURCE,
    filter_newest,
    filter_valid_orders,
    flag_order_lines,
    flag_orders,
    line_amount,
    merge_order_items,
    merge_orders,
    order_date,
    order_outcomes,
    order_versions,
    orphan_lines,
    summarise_order_lines,
    to_curated_orders,
    to_order_item_quarantine,
    to_order_quarantine,
)

JOB = "extract_rds"
RUN_DATE_HELP = "YYYY-MM-DD: the day whose changes to extract"

# Orders changed in the window; a line's change moves its order's updated_at (ddl/V003), so
# this one index range finds every order whose image changed.
_CHANGED = "updated_at >= {start} AND updated_at < {end}"
_ORDER_COLUMNS = ", ".join(SOURCE_ORDERS_SCHEMA.fieldNames())
_CUSTOMER_COLUMNS = ", ".join(SOURCE_CUSTOMERS_SCHEMA.fieldNames())
_ARTICLE_COLUMNS = ", ".join(SOURCE_ARTICLES_SCHEMA.fieldNames())


@dataclass
class Totals:
    orders: int = 0
    items: int = 0
    amount: str = "0.00"  # sum of quantity x unit_price over the lines, exact, as text

    def plus(self, other: "Totals") -> "Totals":
        return Totals(self.orders + other.orders, self.items + other.items,
                      str(Decimal(self.amount) + Decimal(other.amount)))


@dataclass
class ExtractRdsReport:
    run_date: str
    source: str
    started_at: str
    finished_at: str = ""
    read: Totals = field(default_factory=Totals)
    published: Totals = field(default_factory=Totals)
    superseded: Totals = field(default_factory=Totals)  # valid, but the lake already had newer
    quarantined: Totals = field(default_factory=Totals)
    quarantined_by_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    rewritten_order_dates: list[str] = field(default_factory=list)
    snapshot_rows: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.read == self.published.plus(self.superseded).plus(self.quarantined)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "reconciles": self.reconciles}, indent=2, sort_keys=True)

    def summary(self) -> str:
        lines = [f"extract_rds {self.run_date} from {self.source}",
                 f"{'':<12} {'orders':>10} {'items':>10} {'amount':>16}"]
        for label in ("read", "published", "superseded", "quarantined"):
            totals: Totals = getattr(self, label)
            lines.append(f"{label:<12} {totals.orders:>10,} {totals.items:>10,} {Decimal(totals.amount):>16,.2f}")
        for table, reasons in sorted(self.quarantined_by_reason.items()):
            if reasons:
                lines.append(f"quarantined {table}: " + ", ".join(f"{r}={n:,}" for r, n in sorted(reasons.items())))
        dates = self.rewritten_order_dates
        lines.append(f"rewrote {len(dates)} order_date partition(s)" + (f": {', '.join(dates)}" if dates else ""))
        lines.append("reconciles: " + ("yes" if self.reconciles else "NO"))
        return "\n".join(lines)


def add_arguments(parser) -> None:
    add_run_date_option(parser, RUN_DATE_HELP)
    parser.add_argument(
        "--break-lock", action="store_true",
        help="take over the lake lease of another extract_rds run that is known to be dead "
             "(an expired lease, after rds.extract_lease_s, is taken over without this)",
    )


def run_extract_rds(
    spark: SparkSession,
    config: Config,
    storage: Storage,
    run_date: date,
    connection: RdsConnection | None = None,
    break_lock: bool = False,
) -> ExtractRdsReport:
    lease = LakeLease(storage, lease_uri(config, JOB), JOB, f"run_date={run_date}", config.rds.extract_lease_s,
                      break_lock=break_lock)
    with lease:
        return _extract(spark, config, storage, run_date, connection)


def _extract(
    spark: SparkSession, config: Config, storage: Storage, run_date: date, connection: RdsConnection | None,
) -> ExtractRdsReport:
    require_jdbc_driver(spark, config.rds.jdbc_driver)
    connection = connection or resolve_rds_connection(config)
    source = JdbcSource.from_config(config, connection)
    report = ExtractRdsReport(run_date=run_date.isoformat(), source=connection.where, started_at=_now())
    staging = staging_uri(config, JOB, f"run_date={run_date}")

    try:
        source_orders_df, source_items_df, read_counts = _read_source(spark, source, run_date, staging)
    except StoreUnavailableError:
        delete_path(spark, staging)
        raise
    except Exception as error:  # a JDBC failure inside a Spark job surfaces as a Java error
        delete_path(spark, staging)
        if "org.postgresql" in str(error) or "SQLException" in str(error):
            raise StoreUnavailableError(describe_jdbc_failure(error, connection)) from None
        raise
    report.read = Totals(read_counts["orders"], read_counts["order_items"], _money(read_counts["amount"]))
    report.snapshot_rows = {"store_customers": read_counts["customers"], "store_articles": read_counts["articles"]}

    customers_df = read_table(spark, _staged_partition(staging, STORE_CUSTOMERS_TABLE, run_date), SOURCE_CUSTOMERS_SCHEMA)
    articles_df = read_table(spark, _staged_partition(staging, STORE_ARTICLES_TABLE, run_date), SOURCE_ARTICLES_SCHEMA)

    flagged_lines_df = flag_order_lines(source_items_df, articles_df.select("article_id"))
    # Per-order frames (line summaries, verdicts) are broadcast to the lines on a day of few enough
    # orders (rds.extract_broadcast_max_orders), instead of shuffling the lines to meet them.
    broadcast_orders = report.read.orders <= config.rds.extract_broadcast_max_orders
    flagged_orders_df = flag_orders(source_orders_df, customers_df.select("customer_id"),
                                    summarise_order_lines(flagged_lines_df), broadcast_orders)
    # One row per order: the days touched, the quarantine and the merge all start from it, so it
    # is computed once. Evicted blocks are recomputed from the checkpoints, which do not change.
    flagged_orders_df = flagged_orders_df.persist()
    try:
        _stage_outputs(spark, config, run_date, staging, source_orders_df, source_items_df, flagged_lines_df,
                       flagged_orders_df, broadcast_orders, report)
    finally:
        flagged_orders_df.unpersist()

    # Publish: everything is staged; each partition of the day's output now moves into the lake.
    _publish(spark, config, run_date, staging, report)
    report.finished_at = _now()
    report_uri = extract_report_uri(config, run_date)
    storage.write_text(report_uri, report.to_json())
    delete_path(spark, staging)
    if not report.reconciles:
        raise ReconciliationError(f"extract_rds {run_date}: counts or amounts do not reconcile; see {report_uri}")
    return report


def _stage_outputs(
    spark: SparkSession, config: Config, run_date: date, staging: str, source_orders_df: DataFrame,
    source_items_df: DataFrame, flagged_lines_df: DataFrame, flagged_orders_df: DataFrame, broadcast_orders: bool,
    report: ExtractRdsReport,
) -> None:
    """Quarantine and the merged order partitions into staging, with their counts in `report`.
    The orders' verdicts (`flagged_orders_df`, cached) are computed once; the lines are read from
    their checkpoint past the rejected orders for the quarantine (only when there are any) and
    past the verdicts for the merge."""
    valid_orders_by_day, rejected_orders, lines_of_orders = _census(flagged_orders_df)
    orphans = report.read.items - lines_of_orders  # lines whose order was not read
    rejected_lines = []
    if rejected_orders:
        rejected_lines.append(to_order_item_quarantine(flagged_lines_df, flagged_orders_df))
    if orphans:
        rejected_lines.append(orphan_lines(source_items_df, source_orders_df))
    orders_quarantine = _staged_partition(staging, ORDERS_QUARANTINE_TABLE, run_date)
    items_quarantine = _staged_partition(staging, ORDER_ITEMS_QUARANTINE_TABLE, run_date)
    write_table(to_order_quarantine(flagged_orders_df) if rejected_orders else _empty_partition(spark, ORDERS_QUARANTINE_TABLE),
                orders_quarantine)
    write_table(reduce(DataFrame.unionByName, rejected_lines) if rejected_lines
                else _empty_partition(spark, ORDER_ITEMS_QUARANTINE_TABLE), items_quarantine)
    orders_by_reason = _totals_by(read_table(spark, orders_quarantine), REJECT_REASON) if rejected_orders else {}
    items_by_reason = _totals_by(read_table(spark, items_quarantine), REJECT_REASON) if rejected_lines else {}
    report.quarantined = Totals(
        sum(t["rows"] for t in orders_by_reason.values()),
        sum(t["rows"] for t in items_by_reason.values()),
        _money(sum((t["amount"] for t in items_by_reason.values()), Decimal(0))),
    )
    report.quarantined_by_reason = {
        "orders": {reason: t["rows"] for reason, t in orders_by_reason.items()},
        "order_items": {reason: t["rows"] for reason, t in items_by_reason.items()},
    }

    touched = sorted(valid_orders_by_day)
    report.rewritten_order_dates = [d.isoformat() for d in touched]
    if not touched:
        return
    valid_orders_df = to_curated_orders(filter_valid_orders(flagged_orders_df))
    existing_orders_df = _existing_partitions(spark, config, ORDERS_TABLE, touched)
    existing_items_df = _existing_partitions(spark, config, ORDER_ITEMS_TABLE, touched)
    outcomes_df = order_outcomes(valid_orders_df, order_versions(existing_orders_df, existing_items_df))
    if broadcast_orders:
        # Spark sizes this narrow frame from the cached orders it comes from, many times too large.
        outcomes_df = F.broadcast(outcomes_df)
    # Only the images to keep are written; what this run published or found already superseded
    # is observed on the way, so each merge is computed once.
    order_totals = _write_newest(spark, merge_orders(existing_orders_df, valid_orders_df, outcomes_df),
                                 ORDERS_TABLE, staging)
    item_totals = _write_newest(spark, merge_order_items(existing_items_df, source_items_df, outcomes_df),
                                ORDER_ITEMS_TABLE, staging)
    report.published = Totals(order_totals["published_rows"], item_totals["published_rows"],
                              _money(item_totals["published_amount"]))
    report.superseded = Totals(order_totals["superseded_rows"], item_totals["superseded_rows"],
                               _money(item_totals["superseded_amount"]))


def _census(flagged_orders_df: DataFrame) -> tuple[dict[date, int], int, int]:
    """From the verdicts, in one small aggregate: the valid orders per day they belong to (the
    partitions to rewrite: a few hundred at most, fine on the driver), the rejected orders, and
    the lines of all orders read (fewer than the lines read when some lines lost their order)."""
    day = F.when(F.col(REJECT_REASON).isNull(), order_date()).alias(ORDER_DATE)
    rows = flagged_orders_df.groupBy(day).agg(F.count(F.lit(1)).alias("orders"), F.sum(LINES).alias("lines")).collect()
    valid_by_day = {r[ORDER_DATE]: r["orders"] for r in rows if r[ORDER_DATE] is not None}
    rejected = sum(r["orders"] for r in rows if r[ORDER_DATE] is None)
    return valid_by_day, rejected, sum(r["lines"] or 0 for r in rows)


def _empty_partition(spark: SparkSession, table: LakeTable) -> DataFrame:
    """No rows, with the columns of one partition of `table` (its data columns)."""
    return _empty(spark, StructType(table.data_fields))


def _write_newest(spark: SparkSession, merged_df: DataFrame, table: LakeTable, staging: str) -> dict:
    """The newest images of `merged_df` into the table's staged partitions; returns how many
    incoming rows (and line amount) were published and how many arrived superseded."""
    incoming = F.col(SOURCE) == INCOMING
    measures = []
    for outcome, kept in (("published", F.col(NEWEST)), ("superseded", ~F.col(NEWEST))):
        measures.append(F.count_if(incoming & kept).alias(f"{outcome}_rows"))
        if "line_amount" in merged_df.columns:
            measures.append(F.sum(F.when(incoming & kept, F.col("line_amount"))).alias(f"{outcome}_amount"))
    observation = Observation(f"extract_rds_{table.name}_outcomes")
    staged = f"{staging}/{table.name}"
    delete_path(spark, staged)  # partitions of an earlier, failed run must not be published
    write_table(filter_newest(merged_df.observe(observation, *measures), table.schema.fieldNames()),
                staged, table.partition_keys, table.plain_encoded)
    return observation.get


def _publish(spark: SparkSession, config: Config, run_date: date, staging: str, report: ExtractRdsReport) -> None:
    """Moves the staged partitions into the lake: the order partitions the run touched (one whose
    orders all moved to another day is removed), the run's quarantine and the day's snapshots."""
    order_partitions = [f"{ORDER_DATE}={day}" for day in report.rewritten_order_dates]
    for table in (ORDERS_TABLE, ORDER_ITEMS_TABLE):
        replace_partitions(spark, f"{staging}/{table.name}", table.uri(config), order_partitions)
    for table in (ORDERS_QUARANTINE_TABLE, ORDER_ITEMS_QUARANTINE_TABLE, STORE_CUSTOMERS_TABLE, STORE_ARTICLES_TABLE):
        key = table.partition_keys[0]
        replace_partitions(spark, f"{staging}/{table.name}", table.uri(config), [f"{key}={run_date}"])


def _staged_partition(staging: str, table: LakeTable, run_date: date) -> str:
    """Where the run stages the one partition of `table` it publishes for the day."""
    return f"{staging}/{table.name}/{table.partition_keys[0]}={run_date}"


def extract_report_uri(config: Config, run_date: date) -> str:
    """The run's report, written last: its presence says the day was extracted."""
    return reports_uri(config, JOB, f"run_date={run_date}.json")


def change_window(run_date: date) -> tuple[str, str]:
    """[D, D+1) in UTC as PostgreSQL timestamptz literals."""
    start = datetime(run_date.year, run_date.month, run_date.day, tzinfo=timezone.utc)
    return (f"TIMESTAMPTZ '{start.isoformat()}'", f"TIMESTAMPTZ '{(start + timedelta(days=1)).isoformat()}'")


def changed_predicate(run_date: date, alias: str = "") -> str:
    """SQL condition: the order (table alias `alias`) last changed within the run date."""
    start, end = change_window(run_date)
    return _CHANGED.format(start=start, end=end).replace("updated_at", f"{alias}.updated_at" if alias else "updated_at")


def changed_orders_sql(run_date: date) -> dict[str, str]:
    """The queries of the day's change window: bounds of the changed order ids, the changed
    orders, and all lines of those orders (each read split by ranges of order_id)."""
    start, end = change_window(run_date)
    changed = _CHANGED.format(start=start, end=end)
    item_columns = ", ".join("o.order_id" if c == "order_id" else f"i.{c}" for c in SOURCE_ORDER_ITEMS_SCHEMA.fieldNames())
    return {
        "bounds": f"SELECT min(order_id) AS lower, max(order_id) AS upper, count(*) AS orders FROM orders WHERE {changed}",
        "orders": f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {changed}",
        # order_id comes from orders, so Spark's range predicate on it narrows the orders scan.
        "order_items": f"SELECT {item_columns} FROM orders o JOIN order_items i ON i.order_id = o.order_id WHERE {changed_predicate(run_date, 'o')}",
    }


def _read_source(spark: SparkSession, source: JdbcSource, run_date: date, staging: str) -> tuple[DataFrame, DataFrame, dict]:
    """Read what the run needs from the database, each row once: the changed orders and their
    lines into Spark's own storage, today's customers and articles straight into the staged
    snapshot partitions (also the validation's lookups). Returns the orders, the lines, and the
    rows (and line amount) read, observed while reading rather than counted again.

    The orders and lines are local checkpoints, not cached DataFrames: a checkpoint has no lineage
    back to the database, so a lost block fails the run instead of being read again, possibly
    with other rows than the counts saw. They cost no more than the read itself; writing them to
    the lake's storage and reading them back cost as much as the read again. They are kept
    serialized: a million deserialized rows kept the garbage collector busy for seconds.
    """
    sql = changed_orders_sql(run_date)
    bounds = source.query_one_row(spark, sql["bounds"])  # also proves we can connect and log in
    if bounds["orders"]:
        lower, upper = int(bounds["lower"]), int(bounds["upper"])
        orders_df = source.read_by_key_range(spark, sql["orders"], "order_id", lower, upper, SOURCE_ORDERS_SCHEMA)
        items_df = source.read_by_key_range(spark, sql["order_items"], "order_id", lower, upper, SOURCE_ORDER_ITEMS_SCHEMA)
    else:
        orders_df = _empty(spark, SOURCE_ORDERS_SCHEMA)
        items_df = _empty(spark, SOURCE_ORDER_ITEMS_SCHEMA)
    customers_df = source.read_by_prefix(
        spark, f"SELECT {_CUSTOMER_COLUMNS} FROM customers", "customer_id", HEX_DIGITS, SOURCE_CUSTOMERS_SCHEMA)
    articles_df = source.read_by_prefix(
        spark, f"SELECT {_ARTICLE_COLUMNS} FROM articles", "article_id", DECIMAL_DIGITS, SOURCE_ARTICLES_SCHEMA)

    def observed(name: str, df: DataFrame) -> tuple[DataFrame, Observation]:
        observation = Observation(f"extract_rds_{name}")
        measures = [F.count(F.lit(1)).alias("rows")]
        if name == "order_items":
            measures.append(F.sum(line_amount()).alias("amount"))
        return df.observe(observation, *measures), observation

    counts = {}
    read = {}
    for name, df in (("orders", orders_df), ("order_items", items_df)):
        observed_df, observation = observed(name, df)
        read[name] = observed_df.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
        counts[name] = observation.get["rows"]
    counts["amount"] = observation.get["amount"]
    for name, df, table in (("customers", customers_df, STORE_CUSTOMERS_TABLE),
                            ("articles", articles_df, STORE_ARTICLES_TABLE)):
        observed_df, observation = observed(name, df)
        write_table(observed_df, _staged_partition(staging, table, run_date))
        counts[name] = observation.get["rows"]
    return read["orders"], read["order_items"], counts


def _existing_partitions(spark: SparkSession, config: Config, table: LakeTable, order_dates: list[date]) -> DataFrame:
    """The lake's rows of the given days: only those partition folders are listed and read (the
    table's other days are never listed), and none at all is an empty relation the optimiser
    removes from the merge."""
    uri = table.uri(config)
    folders = partition_folders(spark, uri, ORDER_DATE)
    present = [folders[str(day)] for day in order_dates if str(day) in folders]
    if not present:
        return _empty(spark, table.schema)
    return spark.read.schema(table.schema).option("basePath", uri).parquet(*present)


def _empty(spark: SparkSession, schema: StructType) -> DataFrame:
    """No rows, as a local relation: the optimiser drops the joins and unions it takes part in."""
    return spark.range(1).select(*[F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields]).filter(F.lit(False))


def _totals_by(df: DataFrame, key: str) -> dict:
    """rows (and line amount, for order lines) per value of `key`: a handful of groups."""
    measures = [F.count(F.lit(1)).alias("rows")]
    if "quantity" in df.columns:
        measures.append(F.sum(line_amount()).alias("amount"))
    return {
        row[key]: {"rows": row["rows"], "amount": row["amount"] if "quantity" in df.columns and row["amount"] is not None else Decimal(0)}
        for row in df.groupBy(key).agg(*measures).collect()
    }


def _money(value) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
