"""Every table of the lake, in one registry: its name (the Glue / Athena name), where it lives
under the lake root, its declared schema, its partitioning and the command that writes it.

Jobs write and read tables through this registry, the Glue catalog and the Athena DDL are
generated from it, and the local DuckDB views and the data-quality views are made from it, so a
location is spelled once. Run reports and staging copies live beside the tables under `_reports/`
and `_staging/`, one folder per job.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from fashion_pipeline.config import Config
from fashion_pipeline.dataset import HM_FIRST_DAY
from fashion_pipeline.errors import MissingInputError
from fashion_pipeline.hour_manifest import visible_files
from fashion_pipeline.lake import read_table
from fashion_pipeline.lake_paths import reports_uri, staging_uri  # noqa: F401 (their home before lake_paths)
from fashion_pipeline.lakefs import path_exists
from fashion_pipeline.schemas import (
    ARTICLES,
    ATTRIBUTE_ISSUE_TABLE,
    ATTRIBUTE_ISSUES_SCHEMA,
    CLICK_QUARANTINE_SCHEMA,
    CURATED_CLICKS_SCHEMA,
    CUSTOMERS,
    HM_DIMENSIONS,
    ITEM_NEIGHBORS_SCHEMA,
    RECOMMENDATIONS_SCHEMA,
    TRANSACTIONS,
    TRENDING_ARTICLES_SCHEMA,
    TableSpec,
)
from fashion_pipeline.store import schemas as store

# Partition projection per partition column: Athena computes partitions instead of listing them.
DAILY_PROJECTION = {"type": "date", "format": "yyyy-MM-dd", "range": f"{HM_FIRST_DAY:%Y-%m-%d},NOW",
                    "interval": "1", "interval.unit": "DAYS"}
MONTHLY_PROJECTION = {"type": "date", "format": "yyyy-MM", "range": f"{HM_FIRST_DAY:%Y-%m},NOW",
                      "interval": "1", "interval.unit": "MONTHS"}
HOURLY_PROJECTION = {"type": "integer", "range": "0,23"}
DIMENSION_PROJECTION = {"type": "enum", "values": ",".join(spec.name for spec in HM_DIMENSIONS)}
PROJECTION_BY_KEY = {"year_month": MONTHLY_PROJECTION, "event_hour": HOURLY_PROJECTION,
                     ATTRIBUTE_ISSUE_TABLE: DIMENSION_PROJECTION}


@dataclass(frozen=True)
class LakeTable:
    name: str  # the Glue / Athena table name
    location: str  # under the lake root
    schema: StructType  # every column, partition columns included
    partition_keys: tuple[str, ...] = ()
    description: str = ""
    written_by: str = ""  # the `fashion` command that writes it, for "run ... first" messages
    # Near-unique columns written without a Parquet dictionary (lake.write_table): cheaper to
    # write, and smaller, than a dictionary that overflows and falls back anyway.
    plain_encoded: tuple[str, ...] = ()

    def uri(self, config: Config, **partition: object) -> str:
        """The table's folder, or one partition's: `uri(config, run_date=day)`."""
        unknown = set(partition) - set(self.partition_keys)
        if unknown:
            raise ValueError(f"{self.name} is not partitioned by {sorted(unknown)}")
        return config.paths.lake(self.location, *(f"{key}={value}" for key, value in partition.items()))

    @property
    def data_fields(self) -> list[StructField]:
        return [f for f in self.schema.fields if f.name not in self.partition_keys]

    @property
    def partition_fields(self) -> list[StructField]:
        by_name = {f.name: f for f in self.schema.fields}
        return [by_name[key] for key in self.partition_keys]

    def projection(self, key: str) -> dict[str, str]:
        return PROJECTION_BY_KEY.get(key, DAILY_PROJECTION)


def _hm_tables(spec: TableSpec) -> tuple[LakeTable, LakeTable]:
    curated = LakeTable(spec.name, f"curated/{spec.name}", spec.curated_schema, spec.partition_by,
                        spec.description, "fashion partition-raw")
    quarantine = LakeTable(f"{spec.name}_quarantine", f"quarantine/{spec.name}", spec.quarantine_schema, (),
                           f"Rows of the landed {spec.raw_file} files partition_raw refused, as read, with the reason.",
                           "fashion partition-raw")
    return curated, quarantine


ARTICLES_TABLE, ARTICLES_QUARANTINE_TABLE = _hm_tables(ARTICLES)
CUSTOMERS_TABLE, CUSTOMERS_QUARANTINE_TABLE = _hm_tables(CUSTOMERS)
TRANSACTIONS_TABLE, TRANSACTIONS_QUARANTINE_TABLE = _hm_tables(TRANSACTIONS)
ATTRIBUTE_ISSUES_TABLE = LakeTable(
    "attribute_issues", "quarantine/attribute_issues", ATTRIBUTE_ISSUES_SCHEMA, (ATTRIBUTE_ISSUE_TABLE,),
    "Attribute values partition_raw nulled in the articles and customers it kept (their ids were "
    "sound), as read, with the rule each broke; by table.", "fashion partition-raw")

ORDERS_TABLE = LakeTable(
    "orders", "curated/orders", store.ORDERS_SCHEMA, (store.ORDER_DATE,),
    "Web-shop orders, newest version of each, by the UTC day they were placed.", "fashion extract-rds",
    plain_encoded=("order_id", "customer_id", "created_at", "updated_at"))
ORDER_ITEMS_TABLE = LakeTable(
    "order_items", "curated/order_items", store.ORDER_ITEMS_SCHEMA, (store.ORDER_DATE,),
    "Lines of the web-shop orders, partitioned like their orders.", "fashion extract-rds",
    plain_encoded=("order_id", "updated_at"))
STORE_CUSTOMERS_TABLE = LakeTable(
    "store_customers", "curated/store_customers", store.STORE_CUSTOMERS_SCHEMA, (store.SNAPSHOT_DATE,),
    "Daily snapshot of the shop's customers, without direct identifiers.", "fashion extract-rds")
STORE_ARTICLES_TABLE = LakeTable(
    "store_articles", "curated/store_articles", store.STORE_ARTICLES_SCHEMA, (store.SNAPSHOT_DATE,),
    "Daily snapshot of the shop's catalogue with price and stock.", "fashion extract-rds")
ORDERS_QUARANTINE_TABLE = LakeTable(
    "orders_quarantine", "quarantine/orders", store.ORDERS_QUARANTINE_SCHEMA, (store.RUN_DATE,),
    "Orders extract_rds refused, as read, with the reason; by run date.", "fashion extract-rds")
ORDER_ITEMS_QUARANTINE_TABLE = LakeTable(
    "order_items_quarantine", "quarantine/order_items", store.ORDER_ITEMS_QUARANTINE_SCHEMA, (store.RUN_DATE,),
    "Order lines extract_rds refused, as read, with the reason; by run date.", "fashion extract-rds")

SALES_DAILY_TABLE = LakeTable(
    "sales_daily", "analytics/sales_daily", store.SALES_DAILY_SCHEMA, ("sales_date",),
    "Net sales per day by article, product type, colour, department, index group and channel.",
    "fashion daily-aggregates")
CUSTOMER_RFM_TABLE = LakeTable(
    "customer_rfm", "analytics/customer_rfm", store.CUSTOMER_RFM_SCHEMA, ("as_of_date",),
    "Recency, frequency and monetary scores and segment of each customer, as of a day.",
    "fashion daily-aggregates")
TOP_SELLERS_TABLE = LakeTable(
    "top_sellers", "analytics/top_sellers", store.TOP_SELLERS_SCHEMA, ("as_of_date",),
    "Best-selling articles of the seven days ending on a day.", "fashion daily-aggregates")
TREND_MOVERS_TABLE = LakeTable(
    "trend_movers", "analytics/trend_movers", store.TREND_MOVERS_SCHEMA, ("as_of_date",),
    "Articles rising or falling most, week over week, above a minimum volume.", "fashion daily-aggregates")

RECOMMENDATIONS_TABLE = LakeTable(
    "recommendations", "recs/recommendations", RECOMMENDATIONS_SCHEMA, ("run_date",),
    "Each customer's 12 recommended articles of a nightly run, best first, with the reason.",
    "fashion recs train")
ITEM_NEIGHBORS_TABLE = LakeTable(
    "item_neighbors", "recs/item_neighbors", ITEM_NEIGHBORS_SCHEMA, ("run_date",),
    "Each recently sold article's closest articles by ALS item factors, of a nightly run.",
    "fashion recs train")

CLICKSTREAM_TABLE = LakeTable(
    "clickstream", "curated/clickstream", CURATED_CLICKS_SCHEMA, ("event_date", "event_hour"),
    "The website's click events (view, add_to_cart, remove_from_cart, purchase), once each, by UTC "
    "date and hour of the event.", "fashion clicks stream")
CLICKSTREAM_QUARANTINE_TABLE = LakeTable(
    "clickstream_quarantine", "quarantine/clickstream", CLICK_QUARANTINE_SCHEMA, ("arrival_date",),
    "Click records the streaming job refused, payload as received, with the reason; by arrival day.",
    "fashion clicks stream")
TRENDING_ARTICLES_TABLE = LakeTable(
    "trending_articles", "analytics/trending_articles", TRENDING_ARTICLES_SCHEMA, ("window_date",),
    "Articles rising fastest on the website: weighted clicks of each sliding window against the "
    "article's usual rate, the top movers of every window, by the UTC day the window ends.",
    "fashion realtime stream")

LAKE_TABLES: tuple[LakeTable, ...] = (
    ARTICLES_TABLE, CUSTOMERS_TABLE, TRANSACTIONS_TABLE,
    ARTICLES_QUARANTINE_TABLE, CUSTOMERS_QUARANTINE_TABLE, TRANSACTIONS_QUARANTINE_TABLE, ATTRIBUTE_ISSUES_TABLE,
    ORDERS_TABLE, ORDER_ITEMS_TABLE, STORE_CUSTOMERS_TABLE, STORE_ARTICLES_TABLE,
    ORDERS_QUARANTINE_TABLE, ORDER_ITEMS_QUARANTINE_TABLE,
    SALES_DAILY_TABLE, CUSTOMER_RFM_TABLE, TOP_SELLERS_TABLE, TREND_MOVERS_TABLE,
    RECOMMENDATIONS_TABLE, ITEM_NEIGHBORS_TABLE,
    CLICKSTREAM_TABLE, CLICKSTREAM_QUARANTINE_TABLE, TRENDING_ARTICLES_TABLE,
)
LAKE_TABLES_BY_NAME = {table.name: table for table in LAKE_TABLES}


def hm_table(spec: TableSpec) -> LakeTable:
    """The curated table an H&M file becomes."""
    return LAKE_TABLES_BY_NAME[spec.name]


def hm_quarantine_table(spec: TableSpec) -> LakeTable:
    return LAKE_TABLES_BY_NAME[f"{spec.name}_quarantine"]


def attribute_issues_uri(config: Config, spec: TableSpec) -> str:
    """The folder of one dimension's attribute issues, replaced whole by each run."""
    return ATTRIBUTE_ISSUES_TABLE.uri(config, **{ATTRIBUTE_ISSUE_TABLE: spec.name})


def read_lake_table(spark: SparkSession, config: Config, table: LakeTable) -> DataFrame:
    """A whole table with its declared schema; a table never written is a `MissingInputError`
    naming the command that writes it."""
    uri = table.uri(config)
    if not path_exists(spark, uri):
        raise MissingInputError(f"the {table.name} table has not been written yet ({uri}): run `{table.written_by}` first")
    if table is CLICKSTREAM_TABLE:
        return read_clickstream(spark, config)
    return read_table(spark, uri, table.schema)


def read_clickstream(spark: SparkSession, config: Config, event_dates: Iterable[date] | None = None,
                     storage=None) -> DataFrame:
    """The clickstream table (or the given days of it) as its hour manifests define it: the files
    of `hour_manifest.visible_files`, never a listing of the folders, so a compaction in progress
    shows no event twice and none missing. Empty when nothing has been written."""
    from fashion_pipeline.storage import storage_for

    table_uri = CLICKSTREAM_TABLE.uri(config)
    files = visible_files(storage or storage_for(config), table_uri, event_dates)
    if not files:
        return spark.createDataFrame([], CLICKSTREAM_TABLE.schema)
    # basePath: the partition columns come from `event_date=/event_hour=` above `_compacted/g<N>/` too.
    return spark.read.schema(CLICKSTREAM_TABLE.schema).option("basePath", table_uri).parquet(*files)
