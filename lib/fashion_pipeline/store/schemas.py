"""Lake schemas of the store's tables, declared once: the extract, the aggregates, the data-quality
checks, the tests and the Glue catalog all read them from here.

Snapshots of customers carry no direct identifiers (names, e-mail, phone, street): marketing
analytics needs segments and places, not people, so those columns never leave the database.
"""
from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fashion_pipeline.schemas import REJECT_REASON

ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
# What counts as a sale: an order that was neither cancelled nor sent back.
NET_SALES_STATUSES = ("placed", "paid", "shipped", "delivered")
SALES_CHANNEL_NAMES = {1: "store", 2: "online"}

MONEY = DecimalType(10, 2)
AMOUNT = DecimalType(20, 2)
ORDER_DATE = "order_date"
SNAPSHOT_DATE = "snapshot_date"
RUN_DATE = "run_date"


def _fields(*specs: tuple[str, object, bool]) -> StructType:
    return StructType([StructField(name, dtype, nullable) for name, dtype, nullable in specs])


# ---- as read from PostgreSQL ----------------------------------------------------------------
SOURCE_ORDERS_SCHEMA = _fields(
    ("order_id", LongType(), False),
    ("customer_id", StringType(), True),
    ("status", StringType(), True),
    ("sales_channel_id", IntegerType(), True),
    ("created_at", TimestampType(), True),
    ("updated_at", TimestampType(), True),
)
SOURCE_ORDER_ITEMS_SCHEMA = _fields(
    ("order_id", LongType(), False),
    ("line_no", IntegerType(), False),
    ("article_id", StringType(), True),
    ("quantity", IntegerType(), True),
    ("unit_price", MONEY, True),
    ("updated_at", TimestampType(), True),
)
SOURCE_CUSTOMERS_SCHEMA = _fields(
    ("customer_id", StringType(), False),
    ("age", IntegerType(), True),
    ("city", StringType(), True),
    ("postal_code", StringType(), True),
    ("club_member_status", StringType(), True),
    ("created_at", TimestampType(), True),
    ("updated_at", TimestampType(), True),
)
SOURCE_ARTICLES_SCHEMA = _fields(
    ("article_id", StringType(), False),
    ("product_code", IntegerType(), True),
    ("prod_name", StringType(), True),
    ("product_type_name", StringType(), True),
    ("product_group_name", StringType(), True),
    ("colour_group_name", StringType(), True),
    ("department_name", StringType(), True),
    ("index_name", StringType(), True),
    ("index_group_name", StringType(), True),
    ("garment_group_name", StringType(), True),
    ("price", MONEY, True),
    ("stock", IntegerType(), True),
    ("updated_at", TimestampType(), True),
)

# ---- curated (partition column last) --------------------------------------------------------
ORDERS_SCHEMA = _fields(
    ("order_id", LongType(), False),
    ("customer_id", StringType(), False),
    ("status", StringType(), False),
    ("sales_channel_id", IntegerType(), False),
    ("created_at", TimestampType(), False),
    ("updated_at", TimestampType(), False),
    (ORDER_DATE, DateType(), False),
)
ORDER_ITEMS_SCHEMA = _fields(
    ("order_id", LongType(), False),
    ("line_no", IntegerType(), False),
    ("article_id", StringType(), False),
    ("quantity", IntegerType(), False),
    ("unit_price", MONEY, False),
    ("line_amount", AMOUNT, False),
    ("updated_at", TimestampType(), False),
    (ORDER_DATE, DateType(), False),
)
STORE_CUSTOMERS_SCHEMA = StructType(SOURCE_CUSTOMERS_SCHEMA.fields + [StructField(SNAPSHOT_DATE, DateType(), False)])
STORE_ARTICLES_SCHEMA = StructType(SOURCE_ARTICLES_SCHEMA.fields + [StructField(SNAPSHOT_DATE, DateType(), False)])

# ---- quarantine: the source row as read, why, and the run that saw it ----------------------
ORDERS_QUARANTINE_SCHEMA = StructType(
    SOURCE_ORDERS_SCHEMA.fields
    + [StructField(REJECT_REASON, StringType(), False), StructField(RUN_DATE, DateType(), False)]
)
ORDER_ITEMS_QUARANTINE_SCHEMA = StructType(
    SOURCE_ORDER_ITEMS_SCHEMA.fields
    + [StructField(REJECT_REASON, StringType(), False), StructField(RUN_DATE, DateType(), False)]
)

# ---- analytics (partition column last) ------------------------------------------------------
SALES_DAILY_SCHEMA = _fields(
    ("dimension", StringType(), False),
    ("dimension_value", StringType(), True),
    ("units", LongType(), True),
    ("revenue", AMOUNT, True),
    ("orders", LongType(), False),
    ("customers", LongType(), False),
    ("sales_date", DateType(), False),
)
CUSTOMER_RFM_SCHEMA = _fields(
    ("customer_id", StringType(), True),
    ("recency_days", IntegerType(), True),
    ("frequency", LongType(), False),
    ("monetary", AMOUNT, True),
    ("r_score", IntegerType(), True),
    ("f_score", IntegerType(), True),
    ("m_score", IntegerType(), True),
    ("segment", StringType(), False),
    ("as_of_date", DateType(), False),
)
_ARTICLE_LABELS = (
    ("article_id", StringType(), True),
    ("prod_name", StringType(), True),
    ("product_type_name", StringType(), True),
    ("colour_group_name", StringType(), True),
    ("department_name", StringType(), True),
    ("index_group_name", StringType(), True),
)
TOP_SELLERS_SCHEMA = _fields(
    ("rank", IntegerType(), False),
    *_ARTICLE_LABELS,
    ("units", LongType(), True),
    ("revenue", AMOUNT, True),
    ("customers", LongType(), False),
    ("as_of_date", DateType(), False),
)
TREND_MOVERS_SCHEMA = _fields(
    ("direction", StringType(), False),
    ("rank", IntegerType(), False),
    *_ARTICLE_LABELS,
    ("this_week_units", LongType(), True),
    ("last_week_units", LongType(), True),
    ("growth", DoubleType(), True),
    ("as_of_date", DateType(), False),
)
