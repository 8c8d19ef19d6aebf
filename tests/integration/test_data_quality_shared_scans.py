"""The data-quality checks run the shared way (each table slice read once, one query) give exactly
what they give run one query per check over whole tables: on a lake where every check has a
planted failure, on a clean one, and on an empty one. Neighbouring partitions and snapshots hold
rows that would change the answers if a slice took the wrong partitions."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fashion_pipeline.pipelines.data_quality import run_checks_per_query, run_checks_shared
from fashion_pipeline.quality.checks import load_sql_checks
from fashion_pipeline.tables import (
    ORDER_ITEMS_TABLE,
    ORDERS_TABLE,
    SALES_DAILY_TABLE,
    STORE_ARTICLES_TABLE,
    STORE_CUSTOMERS_TABLE,
)
from tests.lake_rows import write_rows

RUN_DATE = date(2020, 9, 23)
DAY_BEFORE, DAY_AFTER, LONG_AGO = RUN_DATE - timedelta(days=1), RUN_DATE + timedelta(days=1), RUN_DATE - timedelta(days=70)
KNOWN, LATE_CUSTOMER, STRANGER = "a" * 64, "b" * 64, "c" * 64
TOP, TROUSERS, WITHDRAWN = "0108775015", "0108775044", "0110065001"
PRICE = {TOP: Decimal("19.99"), TROUSERS: Decimal("9.99"), WITHDRAWN: Decimal("24.99")}


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def _order(order_id, customer, created, updated=None, status="paid", channel=2, order_date=None):
    return {"order_id": order_id, "customer_id": customer, "status": status, "sales_channel_id": channel,
            "created_at": created, "updated_at": updated or created, "order_date": order_date or created.date()}


def _line(order_id, line_no, article, quantity, order_date, unit_price=None, line_amount=None):
    unit_price = PRICE[article] if unit_price is None else unit_price
    return {"order_id": order_id, "line_no": line_no, "article_id": article, "quantity": quantity,
            "unit_price": unit_price, "line_amount": quantity * unit_price if line_amount is None else line_amount,
            "updated_at": _at(order_date, 12), "order_date": order_date}


def _customer(customer_id, day):
    return {"customer_id": customer_id, "age": 30, "city": "Lund", "postal_code": "22100",
            "club_member_status": "ACTIVE", "created_at": _at(day, 0), "updated_at": _at(day, 0), "snapshot_date": day}


def _article(article_id, day):
    return {"article_id": article_id, "product_code": int(article_id[:7]), "prod_name": "x", "product_type_name": "x",
            "product_group_name": "x", "colour_group_name": "Black", "department_name": "x", "index_name": "x",
            "index_group_name": "x", "garment_group_name": "x", "price": PRICE[article_id], "stock": 10,
            "updated_at": _at(day, 0), "snapshot_date": day}


def _sales(revenue, day=RUN_DATE):
    return [{"dimension": "channel", "dimension_value": "online", "units": 1, "revenue": revenue, "orders": 1,
             "customers": 1, "sales_date": day},
            {"dimension": "colour", "dimension_value": "Black", "units": 1, "revenue": Decimal("999.00"), "orders": 1,
             "customers": 1, "sales_date": day}]


def _snapshots(config):
    # The day before knew the late customer and the withdrawn article; the run date does not.
    write_rows(config, STORE_CUSTOMERS_TABLE, [_customer(KNOWN, RUN_DATE), _customer(KNOWN, DAY_BEFORE),
                                               _customer(LATE_CUSTOMER, DAY_BEFORE)])
    write_rows(config, STORE_ARTICLES_TABLE, [_article(TOP, RUN_DATE), _article(TROUSERS, RUN_DATE),
                                              _article(TOP, DAY_BEFORE), _article(WITHDRAWN, DAY_BEFORE)])


def broken_lake(config) -> None:
    """Every check fails, each for its own planted reason."""
    _snapshots(config)
    morning = _at(RUN_DATE, 9)
    # Nothing of the window was changed on the run date (orders_freshness): the day's orders were
    # last touched the next morning; changes dated the run date lie only outside the window.
    next_day = _at(DAY_AFTER, 8)
    write_rows(config, ORDERS_TABLE, [
        _order(1, KNOWN, morning, next_day),
        _order(2, KNOWN, morning, next_day),                         # duplicate_orders: same customer, same instant
        _order(3, LATE_CUSTOMER, _at(RUN_DATE, 10), next_day),        # orders_fk_customers
        _order(4, KNOWN, _at(RUN_DATE, 11), next_day, status="lost"),  # orders_valid_values
        _order(5, KNOWN, _at(RUN_DATE, 12), next_day),                # orders_have_items: no lines
        _order(1, KNOWN, morning, next_day, order_date=DAY_BEFORE),  # orders_pk_unique: a copy elsewhere
        _order(7, KNOWN, _at(LONG_AGO, 9), _at(RUN_DATE, 9)),         # changed on D, but 70 days old
        _order(8, KNOWN, _at(DAY_AFTER, 0), _at(DAY_AFTER, 1), order_date=RUN_DATE + timedelta(days=1)),
    ])
    write_rows(config, ORDER_ITEMS_TABLE, [
        _line(1, 1, TOP, 1, RUN_DATE),
        _line(1, 1, TOP, 1, RUN_DATE),                  # order_items_pk_unique
        _line(2, 1, WITHDRAWN, 1, RUN_DATE),            # order_items_fk_articles (known only the day before)
        _line(3, 1, TROUSERS, 0, RUN_DATE),             # order_items_valid_values
        _line(4, 1, TOP, 2, RUN_DATE, line_amount=Decimal("1.00")),
        _line(99, 1, TOP, 1, RUN_DATE),                 # order_items_fk_orders
        _line(5, 1, TOP, 1, DAY_BEFORE),                # order 5's line in the wrong partition
    ])
    write_rows(config, SALES_DAILY_TABLE, _sales(Decimal("1.00")) + _sales(Decimal("21.00"), DAY_BEFORE))


def clean_lake(config) -> None:
    _snapshots(config)
    write_rows(config, ORDERS_TABLE, [
        _order(1, KNOWN, _at(RUN_DATE, 9)),
        _order(2, KNOWN, _at(RUN_DATE, 10), _at(RUN_DATE, 11), status="cancelled", channel=1),
        _order(3, LATE_CUSTOMER, _at(DAY_BEFORE, 9)),
    ])
    write_rows(config, ORDER_ITEMS_TABLE, [
        _line(1, 1, TOP, 2, RUN_DATE), _line(1, 2, TROUSERS, 1, RUN_DATE), _line(2, 1, TOP, 1, RUN_DATE),
        _line(3, 1, WITHDRAWN, 1, DAY_BEFORE),
    ])
    write_rows(config, SALES_DAILY_TABLE, _sales(Decimal("49.97")) + _sales(Decimal("24.99"), DAY_BEFORE))


def _both_ways(spark, config):
    return run_checks_per_query(spark, config, RUN_DATE), run_checks_shared(spark, config, RUN_DATE)


def test_every_planted_failure_is_found_the_same_way_by_both_plans(spark, config):
    broken_lake(config)
    per_query, shared = _both_ways(spark, config)
    assert shared == per_query
    assert [r.name for r in shared] == [c.name for c in load_sql_checks()]
    failed = {r.name: r.failed_rows for r in shared}
    assert failed == {
        "duplicate_orders": 1, "order_items_fk_articles": 1, "order_items_fk_orders": 1, "order_items_pk_unique": 1,
        "order_items_valid_values": 2, "orders_fk_customers": 1, "orders_freshness": 1, "orders_have_items": 1,
        "orders_pk_unique": 1, "orders_valid_values": 1, "sales_daily_matches_orders": 1,
    }
    assert {r.name: r.status for r in shared}["duplicate_orders"] == "warn"  # its non-blocking severity kept


def test_a_clean_day_passes_the_same_way_by_both_plans(spark, config):
    clean_lake(config)
    per_query, shared = _both_ways(spark, config)
    assert shared == per_query
    assert all(r.passed for r in shared), [r.line() for r in shared if not r.passed]
    assert {r.name: r.checked_rows for r in shared}["order_items_valid_values"] == 3


def test_an_empty_lake_gives_the_same_answers_by_both_plans(spark, config):
    per_query, shared = _both_ways(spark, config)
    assert shared == per_query
    assert [r.name for r in shared if not r.passed] == ["orders_freshness"]


@pytest.mark.parametrize("run_date", [DAY_BEFORE, RUN_DATE + timedelta(days=5)])
def test_other_run_dates_of_the_broken_lake_agree_too(spark, config, run_date):
    broken_lake(config)
    assert run_checks_shared(spark, config, run_date) == run_checks_per_query(spark, config, run_date)
