"""The store transforms on a few hand-made rows each."""
from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql.types import StructField, StructType, TimestampType

from fashion_pipeline.store.schemas import (
    ORDER_ITEMS_SCHEMA,
    ORDERS_SCHEMA,
    SOURCE_ORDER_ITEMS_SCHEMA,
    SOURCE_ORDERS_SCHEMA,
)
from fashion_pipeline.transforms.store import (
    filter_newest,
    filter_valid_orders,
    flag_order_lines,
    flag_orders,
    merge_latest_orders,
    orphan_lines,
    summarise_order_lines,
    to_curated_orders,
    to_order_item_quarantine,
    to_order_quarantine,
)

ALICE, BOB = "a" * 64, "b" * 64
TOP, SOCKS = "0108775015", "0108775044"
T1, T2, T3 = datetime(2020, 9, 21, 9), datetime(2020, 9, 22, 9), datetime(2020, 9, 23, 9)
D1 = date(2020, 9, 21)


def _reasons(df, key):
    return {tuple(r[k] for k in key): r._reject_reason for r in df.collect()}


def test_each_broken_order_and_line_gets_its_reason_and_takes_its_whole_order_along(spark):
    orders_df = spark.createDataFrame([
        (1, ALICE, "placed", 2, T1, T1),
        (2, None, "placed", 2, T1, T1),
        (3, "f" * 64, "placed", 2, T1, T1),       # not in the customers snapshot
        (4, BOB, "lost", 2, T1, T1),
        (5, BOB, "placed", 7, T1, T1),
        (6, BOB, "placed", 1, T2, T1),            # changed before it was made
        (7, BOB, "placed", 1, T1, T1),            # its second line is broken
        (8, BOB, "placed", 1, T1, T1),            # no lines were read
    ], SOURCE_ORDERS_SCHEMA)
    items_df = spark.createDataFrame(
        [(n, 1, TOP, 1, Decimal("19.99"), T1) for n in range(1, 8)]
        + [(7, 2, "0999999001", 1, Decimal("5.00"), T1), (7, 3, SOCKS, 0, Decimal("5.00"), T1),
           (9, 1, TOP, 1, Decimal("19.99"), T1)],   # order 9 was not read: an orphan line
        SOURCE_ORDER_ITEMS_SCHEMA)
    known_customers_df = spark.createDataFrame([(ALICE,), (BOB,)], "customer_id string")
    known_articles_df = spark.createDataFrame([(TOP,), (SOCKS,)], "article_id string")

    flagged_lines_df = flag_order_lines(items_df, known_articles_df)
    flagged_orders_df = flag_orders(orders_df, known_customers_df, summarise_order_lines(flagged_lines_df))
    assert _reasons(flagged_orders_df, ["order_id"]) == {
        (1,): None, (2,): "missing_customer_id", (3,): "unknown_customer_id", (4,): "invalid_status",
        (5,): "invalid_sales_channel_id", (6,): "updated_before_created", (7,): "has_rejected_item",
        (8,): "order_without_items",
    }
    assert {r.order_id: r._lines for r in flagged_orders_df.collect()} == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 3, 8: None}
    assert _reasons(to_order_quarantine(flagged_orders_df), ["order_id"]) == {
        (2,): "missing_customer_id", (3,): "unknown_customer_id", (4,): "invalid_status",
        (5,): "invalid_sales_channel_id", (6,): "updated_before_created", (7,): "has_rejected_item",
        (8,): "order_without_items",
    }
    assert _reasons(to_order_item_quarantine(flagged_lines_df, flagged_orders_df), ["order_id", "line_no"]) == {
        **{(n, 1): "in_rejected_order" for n in range(2, 8)},
        (7, 2): "unknown_article_id", (7, 3): "non_positive_quantity",
    }
    # Order 9 was not read: its line is an orphan.
    assert _reasons(orphan_lines(items_df, orders_df), ["order_id", "line_no"]) == {(9, 1): "orphan_item"}
    valid_df = to_curated_orders(filter_valid_orders(flagged_orders_df))
    assert [(r.order_id, r.order_date, r._version) for r in valid_df.collect()] == [(1, D1, T1)]


def _order(order_id, status, updated):
    return (order_id, ALICE, status, 2, T1, updated, D1)


def _line(order_id, line_no, quantity, updated):
    return (order_id, line_no, TOP, quantity, Decimal("10.00"), Decimal(10 * quantity).quantize(Decimal("0.01")), updated, D1)


def _incoming_orders(spark, rows_with_versions):
    """Valid incoming orders as the extract hands them to the merge: curated, with `_version`."""
    schema = StructType(ORDERS_SCHEMA.fields + [StructField("_version", TimestampType())])
    return spark.createDataFrame([(*row, version) for row, version in rows_with_versions], schema)


def _source_lines(spark, lines):
    """Incoming lines as read from the database (no amount, no partition)."""
    return spark.createDataFrame([(o, n, a, q, p, u) for o, n, a, q, p, _, u, _ in lines], SOURCE_ORDER_ITEMS_SCHEMA)


def test_merge_keeps_the_newest_image_of_each_order_whole(spark):
    existing_orders = spark.createDataFrame([
        _order(1, "placed", T1),    # will be replaced by a newer incoming image
        _order(2, "returned", T3),  # newer than what arrives: a backfill must not undo it
        _order(3, "paid", T2),      # not in this run at all
    ], ORDERS_SCHEMA)
    existing_items = spark.createDataFrame([
        _line(1, 1, 1, T1), _line(1, 2, 1, T1),   # line 2 was removed in the shop since
        _line(2, 1, 1, T1), _line(3, 1, 2, T2),
    ], ORDER_ITEMS_SCHEMA)
    # An image's version is its order's or its newest line's change: order 1 is newer by its line.
    incoming_orders = _incoming_orders(spark, [(_order(1, "placed", T1), T2), (_order(2, "paid", T2), T2),
                                               (_order(4, "placed", T3), T3)])
    incoming_items = _source_lines(spark, [_line(1, 1, 3, T2), _line(2, 1, 1, T2), _line(4, 1, 1, T3)])

    merged_orders, merged_items = merge_latest_orders(existing_orders, existing_items, incoming_orders, incoming_items)

    expected_orders = spark.createDataFrame([_order(1, "placed", T1), _order(2, "returned", T3), _order(3, "paid", T2), _order(4, "placed", T3)], ORDERS_SCHEMA)
    expected_items = spark.createDataFrame([_line(1, 1, 3, T2), _line(2, 1, 1, T1), _line(3, 1, 2, T2), _line(4, 1, 1, T3)], ORDER_ITEMS_SCHEMA)
    assert_df_equality(filter_newest(merged_orders, ORDERS_SCHEMA.fieldNames()), expected_orders,
                       ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(filter_newest(merged_items, ORDER_ITEMS_SCHEMA.fieldNames()), expected_items,
                       ignore_row_order=True, ignore_nullable=True)
    outcomes = {(r.order_id, r._source): r._newest for r in merged_orders.collect()}
    assert outcomes[(1, "incoming")] and (1, "existing") not in outcomes  # the replaced image is gone
    assert outcomes[(2, "existing")] and not outcomes[(2, "incoming")]  # arrived superseded


def test_merging_the_same_image_again_keeps_one_copy(spark):
    orders = spark.createDataFrame([_order(1, "paid", T2)], ORDERS_SCHEMA)
    items = spark.createDataFrame([_line(1, 1, 1, T2)], ORDER_ITEMS_SCHEMA)
    merged_orders, merged_items = merge_latest_orders(
        orders, items, _incoming_orders(spark, [(_order(1, "paid", T2), T2)]), _source_lines(spark, [_line(1, 1, 1, T2)]))
    kept = merged_orders.filter("_newest").collect()
    assert [(r.order_id, r._source) for r in kept] == [(1, "incoming")]
    assert merged_items.filter("_newest").count() == 1
