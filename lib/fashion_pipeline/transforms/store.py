"""Validation and merging of the store's orders: rows read from PostgreSQL in, curated rows out.

An order is kept or rejected as a whole, with its lines: an order whose line is broken, or a line
whose order is broken, would otherwise put half a basket in the lake and revenue that does not
add up to what the shop billed.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

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
ORPHAN_ITEM = "orphan_item"
ORDER_WITHOUT_ITEMS = "order_without_items"
_KNOWN_CUSTOMER, _KNOWN_ARTICLE = "_known_customer", "_known_article"
_REJECTED_LINES, _LINES_VERSION, _EXISTING_VERSION = "_rejected_lines", "_lines_version", "_existing_version"
LINES, VERSION, SOURCE, NEWEST = "_lines", "_version", "_source", "_newest"
INCOMING, EXISTING = "incoming", "existing"


def line_amount(quantity: str = "quantity", unit_price: str = "unit_price") -> Column:
    """What an order line is worth: quantity x unit price, exact (decimal). The one definition,
    used by the curated lines, the extract's reconciliation and the data-quality checks."""
    return (F.col(quantity) * F.col(unit_price)).cast(AMOUNT)


def line_amount_sql(table_alias: str) -> str:
    """The same in PostgreSQL's SQL, for aggregates computed at the source."""
    return f"({table_alias}.quantity * {table_alias}.unit_price)"


def flag_order_lines(source_items_df: DataFrame, known_articles_df: DataFrame) -> DataFrame:
    """Source order lines with `_reject_reason` for what is wrong with the line itself (null when
    nothing is); whether its order was read and is valid is the order's side (`flag_orders`)."""
    rules = [
        Rule("missing_article_id", F.col("article_id").isNull()),
        Rule("unknown_article_id", F.col(_KNOWN_ARTICLE).isNull()),
        Rule("non_positive_quantity", F.col("quantity").isNull() | (F.col("quantity") <= 0)),
        Rule("invalid_unit_price", F.col("unit_price").isNull() | (F.col("unit_price") <= 0)),
        Rule("missing_updated_at", F.col("updated_at").isNull()),
    ]
    return (
        source_items_df.transform(with_known_key("article_id", known_articles_df, _KNOWN_ARTICLE, known_unique=True))
        .transform(with_reject_reason(rules))
        .select(*SOURCE_ORDER_ITEMS_SCHEMA.fieldNames(), REJECT_REASON)
    )


def summarise_order_lines(flagged_lines_df: DataFrame) -> DataFrame:
    """Per order id: how many lines were read, how many of them are broken, and when one last
    changed. Everything the order's own validation and its version need from its lines, in one
    aggregate, so the lines themselves meet their orders only once, at the end."""
    return flagged_lines_df.groupBy("order_id").agg(
        F.count(F.lit(1)).alias(LINES),
        F.count_if(F.col(REJECT_REASON).isNotNull()).alias(_REJECTED_LINES),
        F.max("updated_at").alias(_LINES_VERSION),
    )


def flag_orders(
    source_orders_df: DataFrame, known_customers_df: DataFrame, line_summary_df: DataFrame, broadcast: bool = False,
) -> DataFrame:
    """The orders as read with `_reject_reason` (null when valid), `_version` (when the order or
    any of its lines last changed) and `_lines` (how many lines were read for it).

    An order is kept or rejected whole: one with a broken line is `has_rejected_item`. An order
    read without lines changed between the reads of orders and lines: it is held back (rather
    than replacing the lake's image with an empty basket) and comes with its lines in the next
    run, since that change moved it into the next day's window. (Lines read without their order,
    the other side of such a change, are `orphan_lines`.)

    `broadcast`: the day's orders are few enough for the lines' summary to be broadcast to the
    orders instead of both being shuffled.
    """
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
        Rule(ORDER_WITHOUT_ITEMS, F.col(LINES).isNull()),
        Rule(REJECTED_ITEM, F.col(_REJECTED_LINES) > 0),
    ]
    return (
        source_orders_df.transform(with_known_key("customer_id", known_customers_df, _KNOWN_CUSTOMER, known_unique=True))
        .join(F.broadcast(line_summary_df) if broadcast else line_summary_df, on="order_id", how="left")
        .transform(with_reject_reason(rules))
        .withColumn(VERSION, F.greatest("updated_at", _LINES_VERSION))
        .select(*SOURCE_ORDERS_SCHEMA.fieldNames(), REJECT_REASON, VERSION, LINES)
    )


def to_order_quarantine(flagged_orders_df: DataFrame) -> DataFrame:
    """Rejected orders as they were read, with the reason; the run's partition says when."""
    return flagged_orders_df.filter(F.col(REJECT_REASON).isNotNull()).select(*SOURCE_ORDERS_SCHEMA.fieldNames(), REJECT_REASON)


def to_order_item_quarantine(flagged_lines_df: DataFrame, flagged_orders_df: DataFrame) -> DataFrame:
    """The lines of rejected orders as read, each with one reason: its own, else
    `in_rejected_order`. A broken line always rejects its order, so with `orphan_lines` these are
    all the rejected lines."""
    rejected_orders_df = flagged_orders_df.filter(F.col(REJECT_REASON).isNotNull()).select("order_id")
    # Rejected orders are few, the lines many: the lines stream past the rejected order ids
    # instead of being shuffled (file sizes would make Spark pick the lines as the smaller side).
    return (
        flagged_lines_df.join(F.broadcast(rejected_orders_df), on="order_id", how="inner")
        .withColumn(REJECT_REASON, F.coalesce(F.col(REJECT_REASON), F.lit(REJECTED_ORDER)))
        .select(*SOURCE_ORDER_ITEMS_SCHEMA.fieldNames(), REJECT_REASON)
    )


def orphan_lines(source_items_df: DataFrame, source_orders_df: DataFrame) -> DataFrame:
    """Lines whose order was not read (it changed between the two reads and left the window), as
    read, `orphan_item`: quarantined, and read again with their order in the next run."""
    return (
        source_items_df.join(source_orders_df.select("order_id"), on="order_id", how="left_anti")
        .withColumn(REJECT_REASON, F.lit(ORPHAN_ITEM))
        .select(*SOURCE_ORDER_ITEMS_SCHEMA.fieldNames(), REJECT_REASON)
    )


def filter_valid_orders(flagged_orders_df: DataFrame) -> DataFrame:
    """The orders that passed, as read, with their `_version`."""
    return flagged_orders_df.filter(F.col(REJECT_REASON).isNull()).select(*SOURCE_ORDERS_SCHEMA.fieldNames(), VERSION)


def order_date() -> Column:
    """An order's partition: the UTC day it was placed (the session time zone is UTC)."""
    return F.to_date("created_at")


def to_curated_orders(valid_orders_df: DataFrame) -> DataFrame:
    """Typed orders with their partition (`order_date`); `_version` is kept when the input has it."""
    version = [VERSION] if VERSION in valid_orders_df.columns else []
    return valid_orders_df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in SOURCE_ORDERS_SCHEMA.fields],
        order_date().alias(ORDER_DATE),
        *version,
    ).select(*ORDERS_SCHEMA.fieldNames(), *version)


def order_versions(orders_df: DataFrame, items_df: DataFrame) -> DataFrame:
    """(order_id, _version): when the order or any of its lines last changed."""
    item_versions = items_df.groupBy("order_id").agg(F.max("updated_at").alias(_LINES_VERSION))
    return (
        orders_df.select("order_id", "updated_at")
        .join(item_versions, on="order_id", how="left")
        .select("order_id", F.greatest("updated_at", _LINES_VERSION).alias(VERSION))
    )


def order_outcomes(incoming_orders_df: DataFrame, existing_versions_df: DataFrame) -> DataFrame:
    """(order_id, order_date, _newest) for each incoming order: whether its image replaces the
    lake's. The newer image wins; on equal versions the incoming one does, which makes a re-run a
    no-op; an older one never replaces a newer one (a backfill must not undo a later return)."""
    existing_df = existing_versions_df.select("order_id", F.col(VERSION).alias(_EXISTING_VERSION))
    newest = F.col(_EXISTING_VERSION).isNull() | (F.col(VERSION) >= F.col(_EXISTING_VERSION))
    return (
        incoming_orders_df.join(existing_df, on="order_id", how="left")
        .select("order_id", ORDER_DATE, newest.alias(NEWEST))
    )


def merge_orders(existing_orders_df: DataFrame, incoming_orders_df: DataFrame, outcomes_df: DataFrame) -> DataFrame:
    """The lake's orders and this run's, marked `_source` and `_newest`: every incoming image (the
    losers too, so the caller can count what arrived already superseded) and the lake's images
    that no incoming one replaces. `filter_newest` keeps what the lake should hold."""
    replaced_df = outcomes_df.filter(F.col(NEWEST)).select("order_id")
    incoming_df = incoming_orders_df.join(outcomes_df.select("order_id", NEWEST), on="order_id", how="inner")
    kept_df = existing_orders_df.join(replaced_df, on="order_id", how="left_anti").withColumn(NEWEST, F.lit(True))
    columns = [*ORDERS_SCHEMA.fieldNames(), SOURCE, NEWEST]
    return (
        incoming_df.withColumn(SOURCE, F.lit(INCOMING)).select(*columns)
        .unionByName(kept_df.withColumn(SOURCE, F.lit(EXISTING)).select(*columns))
    )


def merge_order_items(existing_items_df: DataFrame, incoming_lines_df: DataFrame, outcomes_df: DataFrame) -> DataFrame:
    """Lines to go with `merge_orders`: the incoming lines of each incoming order (curated, with
    their order's date and amount), and the lake's lines of the orders no incoming image replaces.
    An order's image is its row plus all its lines, so a line removed in the shop disappears."""
    replaced_df = outcomes_df.filter(F.col(NEWEST)).select("order_id")
    incoming_df = (
        incoming_lines_df.join(outcomes_df, on="order_id", how="inner")
        .withColumn("line_amount", line_amount())
    )
    kept_df = existing_items_df.join(replaced_df, on="order_id", how="left_anti").withColumn(NEWEST, F.lit(True))
    columns = [*ORDER_ITEMS_SCHEMA.fieldNames(), SOURCE, NEWEST]
    return (
        incoming_df.withColumn(SOURCE, F.lit(INCOMING)).select(*columns)
        .unionByName(kept_df.withColumn(SOURCE, F.lit(EXISTING)).select(*columns))
    )


def merge_latest_orders(
    existing_orders_df: DataFrame,
    existing_items_df: DataFrame,
    incoming_orders_df: DataFrame,
    incoming_lines_df: DataFrame,
) -> tuple[DataFrame, DataFrame]:
    """`merge_orders` and `merge_order_items` of this run's valid orders (curated, with their
    `_version`) and their source lines against the lake's orders and lines."""
    outcomes_df = order_outcomes(incoming_orders_df, order_versions(existing_orders_df, existing_items_df))
    return (
        merge_orders(existing_orders_df, incoming_orders_df, outcomes_df),
        merge_order_items(existing_items_df, incoming_lines_df, outcomes_df),
    )


def filter_newest(merged_df: DataFrame, schema_columns: list[str]) -> DataFrame:
    return merged_df.filter(F.col(NEWEST)).select(*schema_columns)
