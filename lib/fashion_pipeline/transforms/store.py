"""Validation and merging of the store's orders: rows read from PostgreSQL in, curated rows out.

An order is kept or rejected as a whole, with its lines: an order whose line is broken, or a line
whose order is broken, would otherwise put half a basket in the lake and revenue that does not
add up to what the shop billed.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from fashion_pipeline.schemas import REJECT_REASON
from fashion_pipeline.store.schemas import (
    AMOUNT,
    ORDER_DATE,
    ORDER_ITEMS_SCHEMA,
    ORDER_STATUSES,
    ORDERS_SCHEMA,
    SALES_CHANNEL_NAMES,
    SOURCE_ORDER_ITEMS_SCHEMA,
    SOURCE_ORDERS_SCHEMA,
)
from fashion_pipeline.transforms.hm import with_known_key
from fashion_pipeline.transforms.validation import Rule, outside, with_reject_reason

REJECTED_ITEM = "has_rejected_item"
REJECTED_ORDER = "in_rejected_order"
_KNOWN_CUSTOMER, _KNOWN_ARTICLE, _KNOWN_ORDER = "_known_customer", "_known_article", "_known_order"
_VERSION, SOURCE, NEWEST = "_version", "_source", "_newest"
INCOMING, EXISTING = "incoming", "existing"


def line_amount(quantity: str = "quantity", unit_price: str = "unit_price") -> Column:
    """What an order line is worth: quantity x unit price, exact (decimal). The one definition,
    used by the curated lines, the extract's reconciliation and the data-quality checks."""
    return (F.col(quantity) * F.col(unit_price)).cast(AMOUNT)


def line_amount_sql(table_alias: str) -> str:
    """The same in PostgreSQL's SQL, for aggregates computed at the source."""
    return f"({table_alias}.quantity * {table_alias}.unit_price)"


def flag_orders(source_orders_df: DataFrame, known_customers_df: DataFrame, source_items_df: DataFrame) -> DataFrame:
    """Source orders with `_reject_reason` (null when valid).

    An order read without lines changed between the reads of orders and lines: it is held back
    (rather than replacing the lake's image with an empty basket) and comes with its lines in the
    next run, since that change moved it into the next day's window.
    """
    orders_with_items = source_items_df.select("order_id").distinct().withColumn("_has_items", F.lit(True))
    rules = [
        Rule("missing_customer_id", F.col("customer_id").isNull()),
        Rule("unknown_customer_id", F.col(_KNOWN_CUSTOMER).isNull()),
        Rule("invalid_status", F.col("status").isNull() | outside(F.col("status"), ORDER_STATUSES)),
        Rule(
            "invalid_sales_channel_id",
            F.col("sales_channel_id").isNull()
            | ~F.col("sales_channel_id").isin(*SALES_CHANNEL_NAMES.keys()),
        ),
        Rule("missing_created_at", F.col("created_at").isNull()),
        Rule("missing_updated_at", F.col("updated_at").isNull()),
        Rule("updated_before_created", F.col("updated_at") < F.col("created_at")),
        Rule("order_without_items", F.col("_has_items").isNull()),
    ]
    return (
        source_orders_df.transform(with_known_key("customer_id", known_customers_df, _KNOWN_CUSTOMER))
        .join(orders_with_items, on="order_id", how="left")
        .transform(with_reject_reason(rules))
        .select(*SOURCE_ORDERS_SCHEMA.fieldNames(), REJECT_REASON)
    )


def flag_order_items(source_items_df: DataFrame, known_articles_df: DataFrame, source_orders_df: DataFrame) -> DataFrame:
    """Source order lines with `_reject_reason` (null when valid)."""
    rules = [
        Rule("orphan_item", F.col(_KNOWN_ORDER).isNull()),
        Rule("missing_article_id", F.col("article_id").isNull()),
        Rule("unknown_article_id", F.col(_KNOWN_ARTICLE).isNull()),
        Rule("non_positive_quantity", F.col("quantity").isNull() | (F.col("quantity") <= 0)),
        Rule("invalid_unit_price", F.col("unit_price").isNull() | (F.col("unit_price") <= 0)),
        Rule("missing_updated_at", F.col("updated_at").isNull()),
    ]
    known_orders_df = source_orders_df.select("order_id").distinct().withColumn(_KNOWN_ORDER, F.lit(True))
    return (
        source_items_df.transform(with_known_key("article_id", known_articles_df, _KNOWN_ARTICLE))
        .join(known_orders_df, on="order_id", how="left")
        .transform(with_reject_reason(rules))
        .select(*SOURCE_ORDER_ITEMS_SCHEMA.fieldNames(), REJECT_REASON)
    )


def with_whole_order_rejection(flagged_orders_df: DataFrame, flagged_items_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Rejects an order that has a rejected line, and every line of a rejected order.

    A row keeps its own reason when it has one, so each rejected row still has exactly one.
    """
    orders_with_bad_items = (
        flagged_items_df.filter(F.col(REJECT_REASON).isNotNull())
        .select("order_id").distinct().withColumn("_bad_item", F.lit(True))
    )
    orders_df = (
        flagged_orders_df.join(orders_with_bad_items, on="order_id", how="left")
        .withColumn(REJECT_REASON, F.coalesce(F.col(REJECT_REASON), F.when(F.col("_bad_item"), F.lit(REJECTED_ITEM))))
        .drop("_bad_item")
    )
    # From the orders after the step above, so the other lines of an order rejected for one bad
    # line follow it to quarantine.
    rejected_orders = (
        orders_df.filter(F.col(REJECT_REASON).isNotNull())
        .select("order_id").withColumn("_bad_order", F.lit(True))
    )
    items_df = (
        flagged_items_df.join(rejected_orders, on="order_id", how="left")
        .withColumn(REJECT_REASON, F.coalesce(F.col(REJECT_REASON), F.when(F.col("_bad_order"), F.lit(REJECTED_ORDER))))
        .drop("_bad_order")
    )
    return orders_df, items_df


def to_curated_orders(valid_orders_df: DataFrame) -> DataFrame:
    # Orders are partitioned by the UTC day they were placed; the session time zone is UTC.
    return valid_orders_df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in SOURCE_ORDERS_SCHEMA.fields],
        F.to_date("created_at").alias(ORDER_DATE),
    ).select(*ORDERS_SCHEMA.fieldNames())


def to_curated_order_items(valid_items_df: DataFrame, curated_orders_df: DataFrame) -> DataFrame:
    """Lines with their order's date (their partition) and amount."""
    order_dates = curated_orders_df.select("order_id", ORDER_DATE)
    return (
        valid_items_df.join(order_dates, on="order_id", how="inner")
        .withColumn("line_amount", line_amount())
        .select(*ORDER_ITEMS_SCHEMA.fieldNames())
    )


def to_order_quarantine(flagged_df: DataFrame, source_columns: list[str]) -> DataFrame:
    """Rejected rows as they were read, with the reason; the run's partition says when."""
    return flagged_df.filter(F.col(REJECT_REASON).isNotNull()).select(*source_columns, REJECT_REASON)


def order_versions(orders_df: DataFrame, items_df: DataFrame) -> DataFrame:
    """(order_id, _version): when the order or any of its lines last changed."""
    item_versions = items_df.groupBy("order_id").agg(F.max("updated_at").alias("_item_version"))
    return (
        orders_df.select("order_id", "updated_at")
        .join(item_versions, on="order_id", how="left")
        .select("order_id", F.greatest("updated_at", "_item_version").alias(_VERSION))
    )


def merge_latest_orders(
    existing_orders_df: DataFrame,
    existing_items_df: DataFrame,
    incoming_orders_df: DataFrame,
    incoming_items_df: DataFrame,
) -> tuple[DataFrame, DataFrame]:
    """Every image of every order, from the lake (existing) and from this run (incoming), each
    marked `_newest` when it is the one to keep.

    An order's image is its row plus all its lines; the newer image replaces the older whole (so a
    line removed in the shop disappears from the lake too). On equal versions the incoming image
    wins, which makes a re-run a no-op. The losers are kept, marked, so that the caller can count
    what this run published and what arrived already superseded; `filter_newest` drops them.
    """
    candidates = order_versions(existing_orders_df, existing_items_df).withColumn(SOURCE, F.lit(EXISTING)).unionByName(
        order_versions(incoming_orders_df, incoming_items_df).withColumn(SOURCE, F.lit(INCOMING))
    )
    newest_first = Window.partitionBy("order_id").orderBy(
        F.col(_VERSION).desc_nulls_last(), F.when(F.col(SOURCE) == INCOMING, 0).otherwise(1)
    )
    outcome = candidates.select(
        "order_id", SOURCE, (F.row_number().over(newest_first) == 1).alias(NEWEST)
    )

    def mark(existing_df: DataFrame, incoming_df: DataFrame, schema_columns: list[str]) -> DataFrame:
        tagged = existing_df.withColumn(SOURCE, F.lit(EXISTING)).unionByName(
            incoming_df.withColumn(SOURCE, F.lit(INCOMING))
        )
        return tagged.join(outcome, on=["order_id", SOURCE], how="inner").select(*schema_columns, SOURCE, NEWEST)

    return (
        mark(existing_orders_df, incoming_orders_df, ORDERS_SCHEMA.fieldNames()),
        mark(existing_items_df, incoming_items_df, ORDER_ITEMS_SCHEMA.fieldNames()),
    )


def filter_newest(merged_df: DataFrame, schema_columns: list[str]) -> DataFrame:
    return merged_df.filter(F.col(NEWEST)).select(*schema_columns)
