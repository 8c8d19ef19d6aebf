"""extract_rds: the store's orders changed on one day, from PostgreSQL into the curated lake.

Three phases, so that a database failure leaves the lake as it was:
1. read: orders changed in [D, D+1) by updated_at with all their lines (whole order images;
   a line's change touches its order, see ddl/V003), and today's
   customers and articles, over partitioned JDBC reads into `_staging/extract_rds/run_date=D`;
2. compute from the staged copy only: validate, quarantine whole orders with a reason, merge with
   the lake partitions the changes touch, keeping the newest image of each order;
3. publish: rewrite exactly those `order_date` partitions, the day's snapshots and quarantine,
   write the run report, drop the staging copy.

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

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.config import Config
from fashion_pipeline.errors import ReconciliationError
from fashion_pipeline.jobs import add_run_date_option
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.lake_lock import LakeLease, lease_uri
from fashion_pipeline.lakefs import delete_path, path_exists
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
    ORDER_ITEMS_SCHEMA,
    ORDERS_SCHEMA,
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
    NEWEST,
    SOURCE,
    filter_newest,
    flag_order_items,
    flag_orders,
    line_amount,
    merge_latest_orders,
    to_curated_order_items,
    to_curated_orders,
    to_order_quarantine,
    with_whole_order_rejection,
)
from fashion_pipeline.transforms.validation import filter_valid

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
        staged_counts = _stage_source(spark, source, run_date, staging)
    except StoreUnavailableError:
        delete_path(spark, staging)
        raise
    except Exception as error:  # a JDBC failure inside a Spark job surfaces as a Java error
        delete_path(spark, staging)
        if "org.postgresql" in str(error) or "SQLException" in str(error):
            raise StoreUnavailableError(describe_jdbc_failure(error, connection)) from None
        raise
    report.read = Totals(staged_counts["orders"], staged_counts["order_items"], _money(staged_counts["amount"]))
    report.snapshot_rows = {"store_customers": staged_counts["customers"], "store_articles": staged_counts["articles"]}

    source_orders_df = read_table(spark, f"{staging}/orders", SOURCE_ORDERS_SCHEMA)
    source_items_df = read_table(spark, f"{staging}/order_items", SOURCE_ORDER_ITEMS_SCHEMA)
    customers_df = read_table(spark, f"{staging}/customers", SOURCE_CUSTOMERS_SCHEMA)
    articles_df = read_table(spark, f"{staging}/articles", SOURCE_ARTICLES_SCHEMA)

    flagged_orders_df, flagged_items_df = with_whole_order_rejection(
        flag_orders(source_orders_df, customers_df.select("customer_id"), source_items_df),
        flag_order_items(source_items_df, articles_df.select("article_id"), source_orders_df),
    )
    orders_quarantine_uri = ORDERS_QUARANTINE_TABLE.uri(config, run_date=run_date)
    items_quarantine_uri = ORDER_ITEMS_QUARANTINE_TABLE.uri(config, run_date=run_date)
    write_table(to_order_quarantine(flagged_orders_df, SOURCE_ORDERS_SCHEMA.fieldNames()), orders_quarantine_uri)
    write_table(to_order_quarantine(flagged_items_df, SOURCE_ORDER_ITEMS_SCHEMA.fieldNames()), items_quarantine_uri)
    orders_by_reason = _totals_by(read_table(spark, orders_quarantine_uri), REJECT_REASON)
    items_by_reason = _totals_by(read_table(spark, items_quarantine_uri), REJECT_REASON)
    report.quarantined = Totals(
        sum(t["rows"] for t in orders_by_reason.values()),
        sum(t["rows"] for t in items_by_reason.values()),
        _money(sum((t["amount"] for t in items_by_reason.values()), Decimal(0))),
    )
    report.quarantined_by_reason = {
        "orders": {reason: t["rows"] for reason, t in orders_by_reason.items()},
        "order_items": {reason: t["rows"] for reason, t in items_by_reason.items()},
    }

    valid_orders_df = to_curated_orders(filter_valid(flagged_orders_df))
    valid_items_df = to_curated_order_items(filter_valid(flagged_items_df), valid_orders_df)
    # One row per day touched: a few hundred at most, fine on the driver.
    touched = sorted(r[ORDER_DATE] for r in valid_orders_df.select(ORDER_DATE).distinct().collect())
    report.rewritten_order_dates = [d.isoformat() for d in touched]

    if touched:
        existing_orders_df = _existing_partitions(spark, config, ORDERS_TABLE, touched)
        existing_items_df = _existing_partitions(spark, config, ORDER_ITEMS_TABLE, touched)
        merged_orders_df, merged_items_df = merge_latest_orders(
            existing_orders_df, existing_items_df, valid_orders_df, valid_items_df
        )
        # Materialised before publishing: the merge reads the partitions it is about to replace.
        write_table(merged_orders_df, f"{staging}/merged_orders", (ORDER_DATE,))
        write_table(merged_items_df, f"{staging}/merged_order_items", (ORDER_DATE,))
        staged_orders_df = read_table(spark, f"{staging}/merged_orders")
        staged_items_df = read_table(spark, f"{staging}/merged_order_items")
        order_outcomes = _totals_by(staged_orders_df.filter(F.col(SOURCE) == INCOMING), NEWEST)
        item_outcomes = _totals_by(staged_items_df.filter(F.col(SOURCE) == INCOMING), NEWEST)
        report.published = _outcome_totals(order_outcomes, item_outcomes, True)
        report.superseded = _outcome_totals(order_outcomes, item_outcomes, False)

        write_table(filter_newest(staged_orders_df, ORDERS_SCHEMA.fieldNames()), ORDERS_TABLE.uri(config), ORDERS_TABLE.partition_keys)
        write_table(filter_newest(staged_items_df, ORDER_ITEMS_SCHEMA.fieldNames()), ORDER_ITEMS_TABLE.uri(config), ORDER_ITEMS_TABLE.partition_keys)

    write_table(customers_df, STORE_CUSTOMERS_TABLE.uri(config, snapshot_date=run_date))
    write_table(articles_df, STORE_ARTICLES_TABLE.uri(config, snapshot_date=run_date))

    report.finished_at = _now()
    report_uri = extract_report_uri(config, run_date)
    storage.write_text(report_uri, report.to_json())
    delete_path(spark, staging)
    if not report.reconciles:
        raise ReconciliationError(f"extract_rds {run_date}: counts or amounts do not reconcile; see {report_uri}")
    return report


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


def _stage_source(spark: SparkSession, source: JdbcSource, run_date: date, staging: str) -> dict:
    """Copy what the run needs from the database into staging; returns the rows (and the orders'
    line amount) that were copied, observed while writing rather than counted again."""
    sql = changed_orders_sql(run_date)
    bounds = source.query_one_row(spark, sql["bounds"])  # also proves we can connect and log in
    if bounds["orders"]:
        lower, upper = int(bounds["lower"]), int(bounds["upper"])
        orders_df = source.read_by_key_range(spark, sql["orders"], "order_id", lower, upper, SOURCE_ORDERS_SCHEMA)
        items_df = source.read_by_key_range(spark, sql["order_items"], "order_id", lower, upper, SOURCE_ORDER_ITEMS_SCHEMA)
    else:
        orders_df = spark.createDataFrame([], SOURCE_ORDERS_SCHEMA)
        items_df = spark.createDataFrame([], SOURCE_ORDER_ITEMS_SCHEMA)
    customers_df = source.read_by_prefix(
        spark, f"SELECT {_CUSTOMER_COLUMNS} FROM customers", "customer_id", HEX_DIGITS, SOURCE_CUSTOMERS_SCHEMA)
    articles_df = source.read_by_prefix(
        spark, f"SELECT {_ARTICLE_COLUMNS} FROM articles", "article_id", DECIMAL_DIGITS, SOURCE_ARTICLES_SCHEMA)
    counts = {}
    for name, df in (("orders", orders_df), ("order_items", items_df), ("customers", customers_df), ("articles", articles_df)):
        observation = Observation(f"extract_rds_{name}")
        measures = [F.count(F.lit(1)).alias("rows")]
        if name == "order_items":
            measures.append(F.sum(line_amount()).alias("amount"))
        write_table(df.observe(observation, *measures), f"{staging}/{name}")
        counts[name] = observation.get["rows"]
        if name == "order_items":
            counts["amount"] = observation.get["amount"]
    return counts


def _existing_partitions(spark: SparkSession, config: Config, table: LakeTable, order_dates: list[date]) -> DataFrame:
    uri = table.uri(config)
    if not path_exists(spark, uri):
        return spark.createDataFrame([], table.schema)
    return read_table(spark, uri, table.schema).filter(F.col(ORDER_DATE).isin(*order_dates))


def _totals_by(df: DataFrame, key: str) -> dict:
    """rows (and line amount, for order lines) per value of `key`: a handful of groups."""
    measures = [F.count(F.lit(1)).alias("rows")]
    if "quantity" in df.columns:
        measures.append(F.sum(line_amount()).alias("amount"))
    return {
        row[key]: {"rows": row["rows"], "amount": row["amount"] if "quantity" in df.columns and row["amount"] is not None else Decimal(0)}
        for row in df.groupBy(key).agg(*measures).collect()
    }


def _outcome_totals(order_outcomes: dict, item_outcomes: dict, newest: bool) -> Totals:
    empty = {"rows": 0, "amount": Decimal(0)}
    return Totals(order_outcomes.get(newest, empty)["rows"], item_outcomes.get(newest, empty)["rows"],
                  _money(item_outcomes.get(newest, empty)["amount"]))


def _money(value) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
