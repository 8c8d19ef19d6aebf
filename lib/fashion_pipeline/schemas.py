"""Schemas, declared once: the generator, the jobs, the tests and the Glue catalog all read them.

Raw H&M files are read with every column as a string, in the Kaggle column order, so that a bad
value can be quarantined exactly as it arrived; curated tables carry the typed schemas below.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fashion_pipeline.clickstream.contract import CLICK_EVENT_FIELDS

REJECT_REASON = "_reject_reason"
SOURCE_FILE = "_source_file"
INGEST_DATE = "_ingest_date"
CORRUPT_RECORD = "_corrupt_record"
# A flagged row's attribute problems (transforms/validation.py), before they become rows of
# ATTRIBUTE_ISSUES_SCHEMA.
ATTRIBUTE_ISSUES = "_attribute_issues"

ARTICLES_COLUMNS = (
    "article_id", "product_code", "prod_name", "product_type_no", "product_type_name",
    "product_group_name", "graphical_appearance_no", "graphical_appearance_name",
    "colour_group_code", "colour_group_name", "perceived_colour_value_id",
    "perceived_colour_value_name", "perceived_colour_master_id", "perceived_colour_master_name",
    "department_no", "department_name", "index_code", "index_name", "index_group_no",
    "index_group_name", "section_no", "section_name", "garment_group_no", "garment_group_name",
    "detail_desc",
)
CUSTOMERS_COLUMNS = (
    "customer_id", "FN", "Active", "club_member_status", "fashion_news_frequency", "age",
    "postal_code",
)
TRANSACTIONS_COLUMNS = ("t_dat", "customer_id", "article_id", "price", "sales_channel_id")


def _fields(*specs: tuple[str, object, bool]) -> StructType:
    return StructType([StructField(name, dtype, nullable) for name, dtype, nullable in specs])


def raw_string_schema(columns: tuple[str, ...], with_corrupt_record: bool = True) -> StructType:
    fields = [StructField(name, StringType(), True) for name in columns]
    if with_corrupt_record:
        fields.append(StructField(CORRUPT_RECORD, StringType(), True))
    return StructType(fields)


# Every attribute may be null: partition_raw keeps an article whose id is sound and nulls a value
# that breaks its rule, recording why in ATTRIBUTE_ISSUES_SCHEMA's table.
ARTICLES_SCHEMA = _fields(
    ("article_id", StringType(), False),
    ("product_code", IntegerType(), True),
    ("prod_name", StringType(), True),
    ("product_type_no", IntegerType(), True),
    ("product_type_name", StringType(), True),
    ("product_group_name", StringType(), True),
    ("graphical_appearance_no", IntegerType(), True),
    ("graphical_appearance_name", StringType(), True),
    ("colour_group_code", IntegerType(), True),
    ("colour_group_name", StringType(), True),
    ("perceived_colour_value_id", IntegerType(), True),
    ("perceived_colour_value_name", StringType(), True),
    ("perceived_colour_master_id", IntegerType(), True),
    ("perceived_colour_master_name", StringType(), True),
    ("department_no", IntegerType(), True),
    ("department_name", StringType(), True),
    ("index_code", StringType(), True),
    ("index_name", StringType(), True),
    ("index_group_no", IntegerType(), True),
    ("index_group_name", StringType(), True),
    ("section_no", IntegerType(), True),
    ("section_name", StringType(), True),
    ("garment_group_no", IntegerType(), True),
    ("garment_group_name", StringType(), True),
    ("detail_desc", StringType(), True),
)

CUSTOMERS_SCHEMA = _fields(
    ("customer_id", StringType(), False),
    ("fn", BooleanType(), True),
    ("active", BooleanType(), True),
    ("club_member_status", StringType(), True),
    ("fashion_news_frequency", StringType(), True),
    ("age", IntegerType(), True),
    ("postal_code", StringType(), True),
)

TRANSACTIONS_SCHEMA = _fields(
    ("t_dat", DateType(), False),
    ("customer_id", StringType(), False),
    ("article_id", StringType(), False),
    ("price", DoubleType(), False),
    ("sales_channel_id", IntegerType(), False),
    ("year_month", StringType(), False),
)


@dataclass(frozen=True)
class TableSpec:
    """A raw H&M file and the curated table it becomes."""

    name: str
    raw_file: str
    raw_columns: tuple[str, ...]
    curated_schema: StructType
    primary_key: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    # Near-unique columns, written without a Parquet dictionary (see lake.write_table).
    plain_encoded: tuple[str, ...] = ()
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def raw_schema(self) -> StructType:
        return raw_string_schema(self.raw_columns)

    @property
    def quarantine_schema(self) -> StructType:
        return StructType(
            raw_string_schema(self.raw_columns).fields
            + [
                StructField(SOURCE_FILE, StringType(), True),
                StructField(INGEST_DATE, StringType(), True),
                StructField(REJECT_REASON, StringType(), False),
            ]
        )


ARTICLES = TableSpec(
    name="articles",
    raw_file="articles.csv",
    raw_columns=ARTICLES_COLUMNS,
    curated_schema=ARTICLES_SCHEMA,
    primary_key=("article_id",),
    description="H&M article catalogue, one row per article (product x colour variant).",
)
CUSTOMERS = TableSpec(
    name="customers",
    raw_file="customers.csv",
    raw_columns=CUSTOMERS_COLUMNS,
    curated_schema=CUSTOMERS_SCHEMA,
    primary_key=("customer_id",),
    plain_encoded=("customer_id",),
    description="H&M customers, one row per customer.",
)
TRANSACTIONS = TableSpec(
    name="transactions",
    raw_file="transactions_train.csv",
    raw_columns=TRANSACTIONS_COLUMNS,
    curated_schema=TRANSACTIONS_SCHEMA,
    partition_by=("year_month",),
    plain_encoded=("customer_id",),
    description="H&M sales, one row per unit sold (identical rows are separate units).",
)

HM_TABLES = (ARTICLES, CUSTOMERS, TRANSACTIONS)
HM_TABLES_BY_FILE = {spec.raw_file: spec for spec in HM_TABLES}
# Dimensions: a row with a sound key is kept, its broken attributes nulled (see below).
HM_DIMENSIONS = tuple(spec for spec in HM_TABLES if spec.primary_key)

# One row per attribute value partition_raw nulled in a kept dimension row: which row (`key`, the
# value of the table's primary key), which column (as named in the landed file), the value as it
# arrived, the rule it broke, and the file and ingest day it came from. Partitioned by table.
ATTRIBUTE_ISSUE_TABLE = "table_name"
ATTRIBUTE_ISSUES_SCHEMA = _fields(
    ("key", StringType(), False),
    ("column_name", StringType(), False),
    ("original_value", StringType(), True),
    ("reason", StringType(), False),
    (SOURCE_FILE, StringType(), True),
    (INGEST_DATE, StringType(), True),
    (ATTRIBUTE_ISSUE_TABLE, StringType(), False),
)


# ---- recommendations (recs/) -------------------------------------------------------------------
RECOMMENDED_ITEM = StructType([
    StructField("article_id", StringType(), True),
    StructField("score", DoubleType(), True),
    StructField("reason", StringType(), True),
])
NEIGHBOR_ITEM = StructType([
    StructField("article_id", StringType(), True),
    StructField("score", DoubleType(), True),
])
RECOMMENDATIONS_SCHEMA = _fields(
    ("customer_id", StringType(), False),
    ("items", ArrayType(RECOMMENDED_ITEM), False),
    ("cold_start", BooleanType(), False),
    ("model_version", StringType(), False),
    ("generated_at", StringType(), False),
    ("run_date", DateType(), False),
)
ITEM_NEIGHBORS_SCHEMA = _fields(
    ("article_id", StringType(), False),
    ("neighbors", ArrayType(NEIGHBOR_ITEM), False),
    ("model_version", StringType(), False),
    ("generated_at", StringType(), False),
    ("run_date", DateType(), False),
)


# ---- clickstream -------------------------------------------------------------------------------
# The event contract itself is plain Python (clickstream/contract.py) so the Lambda function can
# carry it without Spark; this is its Spark reading, for `from_json` and the lake.
_CLICK_KINDS = {"string": StringType(), "timestamp": TimestampType(), "double": DoubleType(), "int": IntegerType()}
CLICK_EVENT_SCHEMA = StructType([StructField(f.name, _CLICK_KINDS[f.kind], f.nullable) for f in CLICK_EVENT_FIELDS])

# Raw records of a Kinesis stream, as EMR's `aws-kinesis` connector and our own `kinesis` source
# (fashion_pipeline.streaming) both return them.
KINESIS_RECORD_SCHEMA = StructType([
    StructField("data", BinaryType(), True),
    StructField("streamName", StringType(), True),
    StructField("partitionKey", StringType(), True),
    StructField("sequenceNumber", StringType(), True),
    StructField("approximateArrivalTimestamp", TimestampType(), True),
])
KINESIS_RECORD_COLUMNS = tuple(KINESIS_RECORD_SCHEMA.fieldNames())

# The lake's clickstream: curated events by UTC date and hour, and refused records by arrival day.
CURATED_CLICKS_SCHEMA = StructType(
    list(CLICK_EVENT_SCHEMA.fields) + _fields(
        ("partition_key", StringType(), True),
        ("sequence_number", StringType(), True),
        ("arrived_at", TimestampType(), True),
        ("event_date", DateType(), False),
        ("event_hour", IntegerType(), False),
    ).fields
)
CLICK_QUARANTINE_SCHEMA = _fields(
    ("payload", BinaryType(), True),
    ("stream_name", StringType(), True),
    ("partition_key", StringType(), True),
    ("sequence_number", StringType(), True),
    ("arrived_at", TimestampType(), True),
    (REJECT_REASON, StringType(), False),
    ("arrival_date", DateType(), False),
)

# Real-time trending (stream_recommendations): each closed window's top movers.
TRENDING_ARTICLES_SCHEMA = _fields(
    ("window_start", TimestampType(), False),
    ("window_end", TimestampType(), False),
    ("rank", IntegerType(), False),
    ("article_id", StringType(), False),
    ("weight", DoubleType(), False),
    ("events", LongType(), False),
    ("usual_weight", DoubleType(), False),
    ("lift", DoubleType(), False),
    ("window_date", DateType(), False),
)
