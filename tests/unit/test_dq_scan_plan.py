"""The data-quality checks' reads grouped by table slice (quality/scan_plan.py), on the shipped
files and on hand-written checks that must not be narrowed."""
from datetime import date

from fashion_pipeline.quality.checks import SqlCheck, load_sql_checks
from fashion_pipeline.quality.scan_plan import plan_shared_scans
from fashion_pipeline.tables import LAKE_TABLES

RUN_DATE = date(2020, 9, 23)
PARTITION_KEYS = {t.name: t.partition_keys for t in LAKE_TABLES}
DAY = "CAST('2020-09-23' AS DATE)"


def _check(sql: str, name: str = "probe") -> SqlCheck:
    return SqlCheck(name, True, "a probe", sql)


def _slices(sql: str) -> set[tuple[str, str | None]]:
    plan = plan_shared_scans([_check(sql)], RUN_DATE, PARTITION_KEYS)
    return {(s.table, s.partition_filter) for s in plan.slices}


def test_the_shipped_checks_share_the_days_orders_and_lines():
    plan = plan_shared_scans(load_sql_checks(), RUN_DATE, PARTITION_KEYS)
    by_slice = {(s.table, s.partition_filter): set(plan.readers(s)) for s in plan.slices}
    assert by_slice == {
        ("orders", f"order_date = {DAY}"): {
            "duplicate_orders", "order_items_fk_orders", "orders_fk_customers", "orders_have_items",
            "orders_pk_unique", "orders_valid_values", "sales_daily_matches_orders"},
        ("order_items", f"order_date = {DAY}"): {
            "order_items_fk_articles", "order_items_fk_orders", "order_items_pk_unique",
            "order_items_valid_values", "orders_have_items", "sales_daily_matches_orders"},
        ("store_articles", f"snapshot_date = {DAY}"): {"order_items_fk_articles"},
        ("store_customers", f"snapshot_date = {DAY}"): {"orders_fk_customers"},
        ("orders", f"order_date BETWEEN {DAY} - INTERVAL '60' DAY AND {DAY}"): {"orders_freshness"},
        ("orders", None): {"orders_pk_unique"},  # "no copy in another partition" needs them all
        ("sales_daily", f"sales_date = {DAY}"): {"sales_daily_matches_orders"},
    }
    assert [s.table for s in plan.slices if plan.is_shared(s)] == ["orders", "order_items"]
    assert [p.check.name for p in plan.checks] == [c.name for c in load_sql_checks()]


def test_rewritten_checks_read_only_slice_views_and_keep_their_own_conditions():
    plan = plan_shared_scans(load_sql_checks(), RUN_DATE, PARTITION_KEYS)
    views = {s.view for s in plan.slices}
    for planned in plan.checks:
        assert set(planned.views) <= views
        assert "?" not in planned.spark_sql and "'2020-09-23'" in planned.spark_sql
        for table in ("FROM orders", "FROM order_items", "JOIN orders", "FROM store_", "FROM sales_daily"):
            assert table not in planned.spark_sql, (planned.check.name, table)
    fk = next(p for p in plan.checks if p.check.name == "orders_fk_customers").spark_sql
    assert "AS o LEFT JOIN" in fk and f"WHERE o.order_date = {DAY}" in fk  # alias and condition kept


def test_conditions_that_do_not_narrow_a_table_leave_it_whole():
    # OR: either side may keep any partition.
    assert _slices("SELECT COUNT(*) FROM orders WHERE order_date = CAST(? AS DATE) OR status = 'paid'") == {("orders", None)}
    # A condition on a column that is not a partition column.
    assert _slices("SELECT COUNT(*) FROM orders WHERE status = 'paid'") == {("orders", None)}
    # NOT is true for some NULL-free rows of other partitions, and IS NULL keeps NULL-extended rows.
    assert _slices("SELECT COUNT(*) FROM orders WHERE NOT order_date = CAST(? AS DATE)") == {("orders", None)}
    # Unqualified column with two tables in the SELECT: it could belong to either.
    assert _slices("SELECT COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.order_id "
                   "WHERE order_date = CAST(? AS DATE)") == {("orders", None), ("order_items", None)}
    # A condition in ON does not filter the preserved side of a LEFT JOIN.
    assert _slices("SELECT COUNT(*) FROM orders o LEFT JOIN order_items i ON i.order_id = o.order_id "
                   "AND i.order_date = CAST(? AS DATE)") == {("orders", None), ("order_items", None)}
    # A condition comparing two tables' partition columns names no partition.
    assert _slices("SELECT COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.order_id "
                   "WHERE i.order_date = o.order_date") == {("orders", None), ("order_items", None)}


def test_each_table_of_a_join_gets_its_own_conditions():
    assert _slices(
        "SELECT COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.order_id "
        "WHERE o.order_date = CAST(? AS DATE) AND i.order_date >= CAST(? AS DATE) AND o.status = 'paid'"
    ) == {("orders", f"order_date = {DAY}"), ("order_items", f"order_date >= {DAY}")}


def test_a_cte_named_like_nothing_in_the_lake_is_not_a_table():
    plan = plan_shared_scans([_check(
        "WITH day AS (SELECT order_id FROM orders WHERE order_date = CAST(? AS DATE)) SELECT COUNT(*) FROM day")],
        RUN_DATE, PARTITION_KEYS)
    assert [(s.table, s.partition_filter) for s in plan.slices] == [("orders", f"order_date = {DAY}")]
    assert "FROM day" in plan.checks[0].spark_sql
