"""Schemas, declared once: the generator, the jobs, the tests and the Glue catalog all read them.

Raw H&M files are read with every column as a string, in the Kaggle column order, so that a bad
value can be quarantined exactly as it arrived; curated tables carry the typed schemas below.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

REJECT_REASON = "_reject_reason"
SOURCE_FILE = "_source_file"
INGEST_DATE = "_ingest_date"
CORRUPT_RECORD = "_corrupt_record"

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


ARTICLES_SCHEMA = _fields(
    ("article_id", StringType(), False),
    ("product_code", IntegerType(), False),
    ("prod_name", StringType(), False),
    ("product_type_no", IntegerType(), False),
    ("product_type_name", StringType(), False),
    ("product_group_name", StringType(), False),
    ("graphical_appearance_no", IntegerType(), False),
    ("graphical_appearance_name", StringType(), False),
    ("colour_group_code", IntegerType(), False),
    ("colour_group_name", StringType(), False),
    ("perceived_colour_value_id", IntegerType(), False),
    ("perceived_colour_value_name", StringType(), False),
    ("perceived_colour_master_id", IntegerType(), False),
    ("perceived_colour_master_name", StringType(), False),
    ("department_no", IntegerType(), False),
    ("department_name", StringType(), False),
    ("index_code", StringType(), False),
    ("index_name", StringType(), False),
    ("index_group_no", IntegerType(), False),
    ("index_group_name", StringType(), False),
    ("section_no", IntegerType(), False),
    ("section_name", StringType(), False),
    ("garment_group_no", IntegerType(), False),
    ("garment_group_name", StringType(), False),
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


# ---- clickstream: the website's events, one JSON object per Kinesis record -------------------
#
# The wire contract between the website (and `fashion clicks produce`), the streaming job, the
# Glue table and the Lambda fast path. Each Kinesis record's data is one UTF-8 JSON object with
# the fields of CLICK_EVENT_FIELDS (compact, in declared order, every field present, null where
# empty); its partition key is the customer id, or the session id for a guest, so one shopper's
# events stay in order on one shard. Unknown extra fields are ignored by readers (as `from_json`
# does). `event_time` is ISO-8601 in UTC with exactly three fractional digits and a `Z`, e.g.
# `2020-09-22T14:03:07.123Z`: it sorts as text, Athena and Spark parse it with one pattern, and a
# reader never has to guess a zone.
VIEW, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE = "view", "add_to_cart", "remove_from_cart", "purchase"
CLICK_EVENT_TYPES = (VIEW, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE)
# A quantity belongs to cart and purchase events and a price to purchases; elsewhere they are null.
CLICK_EVENT_TYPES_WITH_QUANTITY = (ADD_TO_CART, REMOVE_FROM_CART, PURCHASE)
CLICK_EVENT_TYPES_WITH_PRICE = (PURCHASE,)
CLICK_DEVICES = ("mobile_app", "mobile_web", "desktop", "tablet")
# The page an event fired on: views on a product page, quick adds on a category page, removals
# in the cart, purchases at checkout.
CLICK_PAGES = ("product", "category", "cart", "checkout")

CLICK_EVENT_TIME_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
# The same text form for Spark's JSON reader (`from_json(..., CLICK_EVENT_SCHEMA, CLICK_EVENT_JSON_OPTIONS)`)
# and for Athena's `parse_datetime`.
CLICK_EVENT_TIME_SPARK_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
CLICK_EVENT_JSON_OPTIONS = {"timestampFormat": CLICK_EVENT_TIME_SPARK_FORMAT}
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CUSTOMER_ID_PATTERN = r"[0-9a-f]{64}"
ARTICLE_ID_PATTERN = r"\d{10}"

# Why a click record is refused (the streaming job's quarantine reason, the Lambda's too):
# oversized first (nothing else is read), then unreadable JSON, then the first declared field that
# is missing or invalid (`missing_<field>`, `invalid_<field>`), then an article not in the catalogue.
CLICK_REJECT_OVERSIZED = "oversized_event"
CLICK_REJECT_INVALID_JSON = "invalid_json"
CLICK_REJECT_UNKNOWN_ARTICLE = "unknown_article_id"


@dataclass(frozen=True)
class ClickField:
    """One field of the click event: its Spark type and the rules its JSON value follows."""

    name: str
    spark_type: object
    nullable: bool
    description: str
    pattern: str | None = None  # the whole JSON string must match
    choices: tuple[str, ...] = ()
    positive: bool = False  # numbers only: must be > 0


CLICK_EVENT_FIELDS = (
    ClickField("event_id", StringType(), False, "UUID of the event; a re-sent duplicate has the same one",
               pattern=UUID_PATTERN),
    ClickField("event_type", StringType(), False, "what the shopper did", choices=CLICK_EVENT_TYPES),
    ClickField("event_time", TimestampType(), False, "when, in UTC to the millisecond",
               pattern=CLICK_EVENT_TIME_PATTERN),
    ClickField("customer_id", StringType(), True, "64 lowercase hex, as in customers.csv; null for a guest",
               pattern=CUSTOMER_ID_PATTERN),
    ClickField("session_id", StringType(), False, "UUID of the browsing session", pattern=UUID_PATTERN),
    ClickField("article_id", StringType(), False, "10-digit H&M article id (leading zero kept)",
               pattern=ARTICLE_ID_PATTERN),
    ClickField("price", DoubleType(), True, "unit price paid, on H&M's price scale; purchases only",
               positive=True),
    ClickField("quantity", IntegerType(), True, "units added, removed or bought; null for a view",
               positive=True),
    ClickField("device", StringType(), False, "the shopper's device", choices=CLICK_DEVICES),
    ClickField("page", StringType(), False, "the page type the event fired on", choices=CLICK_PAGES),
    ClickField("referrer", StringType(), True,
               "how the shopper reached the page: an outside source on a session's first event, "
               "`internal:<page>` afterwards; null when unknown"),
)
CLICK_EVENT_COLUMNS = tuple(f.name for f in CLICK_EVENT_FIELDS)
CLICK_EVENT_SCHEMA = StructType([StructField(f.name, f.spark_type, f.nullable) for f in CLICK_EVENT_FIELDS])


def format_event_time(moment: datetime) -> str:
    """`2020-09-22T14:03:07.123Z` from an aware datetime (sub-millisecond digits are cut)."""
    if moment.tzinfo is None:
        raise ValueError("event_time must be timezone-aware")
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_event_time(text: str) -> datetime:
    """The aware UTC datetime of an `event_time` text; ValueError when it is not in that form."""
    if not re.fullmatch(CLICK_EVENT_TIME_PATTERN, text):
        raise ValueError(f"event_time {text!r} is not YYYY-MM-DDTHH:MM:SS.sssZ")
    return datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)


def encode_click_event(event: Mapping[str, Any]) -> bytes:
    """The Kinesis record data of one event: every declared field, in order, as compact JSON."""
    record = {name: event[name] for name in CLICK_EVENT_COLUMNS}
    if isinstance(record["event_time"], datetime):
        record["event_time"] = format_event_time(record["event_time"])
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def click_partition_key(event: Mapping[str, Any]) -> str:
    """The customer id, or the session id for a guest: a shopper's events keep their order."""
    return event["customer_id"] or event["session_id"]
