"""`fashion store simulate` on the tiny model: days of orders and late changes in PostgreSQL."""
from datetime import date, datetime, timezone

import pytest

from fashion_pipeline.generate import TasteModel, scale_spec
from fashion_pipeline.generate.frames import article_id_array, customer_id_array
from fashion_pipeline.store.credentials import resolve_rds_connection
from fashion_pipeline.store.database import apply_migrations, connect
from fashion_pipeline.store.simulate import shop_price, simulate_day

DAYS = [date(2020, 9, 21), date(2020, 9, 22), date(2020, 9, 23)]


@pytest.fixture
def simulated(store_config):
    config = store_config.with_overrides({
        "store.scale": "tiny", "store.orders_per_day": 60, "store.late_change_share": 0.5,
        "store.guest_order_share": 0.05, "store.bad_quantity_share": 0.05,
    })
    results = [simulate_day(config, resolve_rds_connection(config), day) for day in DAYS]
    return config, results


def _query(config, sql, *params):
    with connect(resolve_rds_connection(config)) as conn:
        return conn.execute(sql, params).fetchall()


def test_days_of_orders_from_the_taste_model_with_late_changes(simulated):
    config, results = simulated
    assert results[0].seeded == {"customers": 1000, "articles": 1000}
    assert results[1].seeded == {}
    for day, result in zip(DAYS, results):
        placed = _query(config, "SELECT count(*) FROM orders WHERE created_at::date = %s", day)[0][0]
        assert placed == result.orders > 20
    assert sum(r.guest_orders for r in results) > 0 and sum(r.bad_lines for r in results) > 0

    # Day three changed orders placed on earlier days: the extract's late work.
    late = _query(config, "SELECT count(*) FROM orders WHERE created_at < %s AND updated_at >= %s",
                  datetime(2020, 9, 23, tzinfo=timezone.utc), datetime(2020, 9, 23, tzinfo=timezone.utc))[0][0]
    assert late == sum(results[2].changes.get(k, 0) for k in ("paid", "shipped", "delivered", "cancelled", "returned", "line_reduced")) > 0

    model = TasteModel.build(scale_spec("tiny"), config.store.seed)
    ids = customer_id_array(model.customers).to_pylist()
    known = {row[0] for row in _query(config, "SELECT DISTINCT customer_id FROM orders WHERE customer_id IS NOT NULL")}
    assert known <= set(ids)
    article, price_point = article_id_array(model.catalogue)[0].as_py(), int(model.catalogue.price_point[0])
    assert _query(config, "SELECT price FROM articles WHERE article_id = %s", article)[0][0] == shop_price(price_point)
    person = _query(config, "SELECT first_name, email FROM customers WHERE customer_id = %s", ids[0])[0]
    assert person[0] and person[1].endswith("@example.com")


def test_simulating_a_day_again_changes_nothing(simulated):
    config, results = simulated
    before = _query(config, "SELECT count(*), max(updated_at) FROM orders")
    again = simulate_day(config, resolve_rds_connection(config), DAYS[1])
    assert again.skipped and "already simulated" in again.summary()
    assert _query(config, "SELECT count(*), max(updated_at) FROM orders") == before


def test_the_same_days_give_the_same_rows(simulated, postgres_service):
    config, _ = simulated
    twin = config.with_overrides({"rds.database": config.rds.database + "_twin"})
    postgres_service.create_database(twin.rds.database)
    try:
        apply_migrations(resolve_rds_connection(twin))
        for day in DAYS:
            simulate_day(twin, resolve_rds_connection(twin), day)
        rows = "SELECT order_id, customer_id, status, created_at, updated_at FROM orders ORDER BY order_id"
        assert _query(twin, rows) == _query(config, rows)
    finally:
        postgres_service.drop_database(twin.rds.database)
