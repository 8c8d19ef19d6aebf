"""extract_rds against a real PostgreSQL with hand-made orders whose every fate is known."""
import contextlib
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fashion_pipeline.errors import describe_failure
from fashion_pipeline.lake import read_table
from fashion_pipeline.lake_lock import LakeLease, LeaseHeldError, lease_uri
from fashion_pipeline.pipelines.extract_rds import Totals, run_extract_rds
from fashion_pipeline.storage import storage_for
from fashion_pipeline.store.credentials import PASSWORD_VARIABLE
from fashion_pipeline.store.database import StoreUnavailableError
from fashion_pipeline.tables import (
    ORDER_ITEMS_QUARANTINE_TABLE,
    ORDER_ITEMS_TABLE,
    ORDERS_QUARANTINE_TABLE,
    ORDERS_TABLE,
    STORE_CUSTOMERS_TABLE,
)
from tests.store_rows import ARTICLE_IDS, CUSTOMERS, at, insert_order, seed_reference_rows, set_quantity, set_status

DAY_1, DAY_3 = "2020-09-21", "2020-09-23"


@pytest.fixture
def store_with_day_one(store_config):
    seed_reference_rows(store_config)
    insert_order(store_config, 1, CUSTOMERS[0], at(DAY_1, 9), [(ARTICLE_IDS[0], 1), (ARTICLE_IDS[1], 2)])
    insert_order(store_config, 2, CUSTOMERS[1], at(DAY_1, 10), [(ARTICLE_IDS[2], 1)], channel=1)
    insert_order(store_config, 3, None, at(DAY_1, 11), [(ARTICLE_IDS[0], 1)])  # guest checkout
    insert_order(store_config, 4, CUSTOMERS[2], at(DAY_1, 12), [(ARTICLE_IDS[0], -1), (ARTICLE_IDS[1], 1)])
    insert_order(store_config, 9, CUSTOMERS[2], at("2020-09-20", 23, 59), [(ARTICLE_IDS[0], 1)])  # the day before
    return store_config


def _extract(spark, config, day: str):
    return run_extract_rds(spark, config, storage_for(config), date.fromisoformat(day))


def _rows(spark, config, table):
    return read_table(spark, table.uri(config))


def _lake_state(spark, config):
    state = {}
    for table in (ORDERS_TABLE, ORDER_ITEMS_TABLE, ORDERS_QUARANTINE_TABLE, ORDER_ITEMS_QUARANTINE_TABLE,
                  STORE_CUSTOMERS_TABLE):
        state[table.name] = sorted(tuple(str(v) for v in r) for r in _rows(spark, config, table).collect())
    files = sorted(str(p.relative_to(config.paths.lake_root)).rsplit("/", 1)[0]
                   for p in Path(config.paths.lake_root, "curated").rglob("*.parquet"))
    return state, files


def test_late_changes_land_once_with_the_newest_version_and_re_runs_change_nothing(spark, store_with_day_one):
    config = store_with_day_one
    report = _extract(spark, config, DAY_1)

    assert (report.read.orders, report.read.items) == (4, 6)
    assert (report.published.orders, report.published.items) == (2, 3)
    assert (report.quarantined.orders, report.quarantined.items) == (2, 3)
    assert Decimal(report.read.amount) == Decimal("74.95")  # 39.97 + 24.99 + 19.99 + (-19.99 + 9.99)
    assert Decimal(report.published.amount) == Decimal("64.96")
    assert report.quarantined_by_reason == {
        "orders": {"missing_customer_id": 1, "has_rejected_item": 1},
        "order_items": {"in_rejected_order": 2, "non_positive_quantity": 1},
    }
    assert report.reconciles and report.rewritten_order_dates == [DAY_1]
    orders = _rows(spark, config, ORDERS_TABLE).collect()
    assert sorted(r.order_id for r in orders) == [1, 2]  # order 9 changed the day before: not this run's
    assert {str(r.order_date) for r in orders} == {DAY_1}
    items = _rows(spark, config, ORDER_ITEMS_TABLE).filter(F.col("order_id") == 1).orderBy("line_no").collect()
    assert [(r.article_id, r.quantity, r.line_amount) for r in items] == [
        (ARTICLE_IDS[0], 1, Decimal("19.99")), (ARTICLE_IDS[1], 2, Decimal("19.98"))]
    quarantine = _rows(spark, config, ORDERS_QUARANTINE_TABLE).collect()
    assert {(r.order_id, r._reject_reason, str(r.run_date)) for r in quarantine} == {
        (3, "missing_customer_id", DAY_1), (4, "has_rejected_item", DAY_1)}
    snapshot = _rows(spark, config, STORE_CUSTOMERS_TABLE)
    assert snapshot.count() == 3 and "email" not in snapshot.columns  # no direct identifiers in the lake
    report_file = Path(config.paths.lake("_reports", "extract_rds", f"run_date={DAY_1}.json"))
    assert '"reconciles": true' in report_file.read_text()

    # Two days later: order 1 is returned, a line of order 2 changes (which touches order 2, by
    # the database's trigger), and a new order arrives.
    set_status(config, 1, "returned", at(DAY_3, 8))
    set_quantity(config, 2, 1, 3, at(DAY_3, 9))
    insert_order(config, 5, CUSTOMERS[0], at(DAY_3, 10), [(ARTICLE_IDS[1], 1)])
    report = _extract(spark, config, DAY_3)
    assert report.rewritten_order_dates == [DAY_1, DAY_3]
    assert (report.read.orders, report.published.orders, report.superseded.orders) == (3, 3, 0)
    orders = _rows(spark, config, ORDERS_TABLE)
    assert orders.groupBy("order_id").count().filter("count > 1").count() == 0
    by_id = {r.order_id: r for r in orders.collect()}
    assert sorted(by_id) == [1, 2, 5]
    assert by_id[1].status == "returned" and str(by_id[1].order_date) == DAY_1
    assert str(by_id[5].order_date) == DAY_3
    items = {(r.order_id, r.line_no): r for r in _rows(spark, config, ORDER_ITEMS_TABLE).collect()}
    assert len(items) == 4 and items[(2, 1)].quantity == 3 and items[(2, 1)].line_amount == Decimal("74.97")
    after_day_three = _lake_state(spark, config)

    again = _extract(spark, config, DAY_3)
    assert _lake_state(spark, config) == after_day_three
    assert again.reconciles and again.published == report.published

    # Replaying day one reads what is still last changed that day (the quarantined orders 3 and
    # 4): order 1's return and order 2's new line stay as they are.
    replay = _extract(spark, config, DAY_1)
    assert _lake_state(spark, config) == after_day_three
    assert replay.read.orders == 2 and replay.published.orders == 0 and replay.reconciles


def test_orders_and_lines_that_changed_between_the_two_reads_are_held_back_and_counts_reconcile(
        spark, store_with_day_one, monkeypatch):
    import fashion_pipeline.pipelines.extract_rds as extract_rds

    # As if order 2 left the window before the orders were read and order 1 before its lines were.
    queries = extract_rds.changed_orders_sql

    def between_changes(run_date):
        sql = queries(run_date)
        return {**sql, "orders": sql["orders"] + " AND order_id <> 2",
                "order_items": sql["order_items"] + " AND o.order_id <> 1"}

    monkeypatch.setattr(extract_rds, "changed_orders_sql", between_changes)
    config = store_with_day_one
    report = _extract(spark, config, DAY_1)

    assert (report.read.orders, report.read.items) == (3, 4)
    assert report.quarantined_by_reason == {
        "orders": {"order_without_items": 1, "missing_customer_id": 1, "has_rejected_item": 1},
        "order_items": {"orphan_item": 1, "in_rejected_order": 2, "non_positive_quantity": 1},
    }
    assert report.published == report.superseded == Totals() and report.rewritten_order_dates == []
    assert report.reconciles and Decimal(report.quarantined.amount) == Decimal(report.read.amount)
    lines = {(r.order_id, r.line_no): r._reject_reason for r in _rows(spark, config, ORDER_ITEMS_QUARANTINE_TABLE).collect()}
    assert lines == {(2, 1): "orphan_item", (3, 1): "in_rejected_order", (4, 1): "non_positive_quantity",
                     (4, 2): "in_rejected_order"}
    assert not Path(ORDERS_TABLE.uri(config)).exists()

    # The next run reads both whole: the day is complete.
    monkeypatch.setattr(extract_rds, "changed_orders_sql", queries)
    report = _extract(spark, config, DAY_1)
    assert (report.published.orders, report.published.items) == (2, 3) and report.reconciles


def test_wrong_password_is_one_line_and_writes_nothing(spark, store_with_day_one, monkeypatch):
    config = store_with_day_one
    monkeypatch.setenv(PASSWORD_VARIABLE, "not-the-password")
    with pytest.raises(StoreUnavailableError) as failure:
        _extract(spark, config, DAY_1)
    message = str(failure.value)
    assert "password authentication failed" in message and "\n" not in message
    assert "not-the-password" not in message
    assert list(Path(config.paths.lake_root).rglob("*.parquet")) == []
    assert not Path(config.paths.lake("_reports", "extract_rds", f"run_date={DAY_1}.json")).exists()
    assert not Path(lease_uri(config, "extract_rds")).exists()  # released on the way out


def test_a_second_run_while_the_lease_is_held_fails_in_one_line_before_reading(spark, store_with_day_one, monkeypatch):
    import fashion_pipeline.pipelines.extract_rds as extract_rds

    config = store_with_day_one
    holder = LakeLease(storage_for(config), lease_uri(config, "extract_rds"), "extract_rds", f"run_date={DAY_3}",
                       config.rds.extract_lease_s)
    holder.acquire()

    def no_reading(*args, **kwargs):
        raise AssertionError("a refused run must not reach the database")

    monkeypatch.setattr(extract_rds, "resolve_rds_connection", no_reading)
    with pytest.raises(LeaseHeldError) as refused:
        _extract(spark, config, DAY_1)
    message = describe_failure(refused.value)
    assert "\n" not in message and message.startswith(f"extract_rds run_date={DAY_1}: extract_rds run_date={DAY_3} (run ")
    assert f"since {holder.lease.acquired_at}" in message and message.endswith("re-run with --break-lock")
    assert not Path(config.paths.lake("_staging")).exists() and not Path(config.paths.lake("curated")).exists()
    assert holder.release() is True  # the refused run left the holder's lease alone


def test_unreachable_database_fails_the_job_with_one_line(store_config, capsys):
    from fashion_pipeline.cli import main
    from fashion_pipeline.services import free_port

    code = main(["extract-rds", "--env", "local", "--lake-root", store_config.paths.lake_root, "--run-date", DAY_1,
                 "--set", f"rds.port={free_port()}", "--set", f"rds.database={store_config.rds.database}",
                 "--set", "spark.shuffle_partitions=2", "--set", "rds.connect_timeout_s=2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("fashion extract-rds: cannot read from PostgreSQL") and "refused" in err[0]
    assert err[0].endswith("start the local services with `fashion services up`")
    assert not Path(store_config.paths.lake("curated")).exists()


def test_credentials_come_from_secrets_manager_and_stay_out_of_plans(spark, store_config, aws_config, postgres_service, monkeypatch):
    from fashion_pipeline.services.postgres import publish_local_rds_secret
    from fashion_pipeline.store.credentials import USER_VARIABLE, resolve_rds_connection
    from fashion_pipeline.store.jdbc import JdbcSource
    from fashion_pipeline.store.schemas import SOURCE_ORDERS_SCHEMA

    config = store_config.with_overrides({"aws.endpoint_url": aws_config.aws.endpoint_url})
    monkeypatch.delenv(USER_VARIABLE)
    monkeypatch.delenv(PASSWORD_VARIABLE)
    publish_local_rds_secret(config, postgres_service)
    connection = resolve_rds_connection(config)
    assert connection.password == postgres_service.app_credentials()["password"]
    assert connection.password not in repr(connection) and connection.password not in connection.jdbc_url

    orders_df = JdbcSource.from_config(config, connection).read_by_key_range(
        spark, "SELECT * FROM orders", "order_id", 1, 100, SOURCE_ORDERS_SCHEMA)
    assert orders_df.count() == 0  # the credentials work
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        orders_df.explain(mode="extended")
        orders_df.explain(mode="formatted")
    plans = printed.getvalue()
    assert "JDBCRelation" in plans
    assert connection.password not in plans


def test_spark_submit_without_the_jdbc_driver_says_which_jar_to_pass(config):
    from fashion_pipeline.config import PROJECT_ROOT
    from tests.spark_submit import spark_submit

    # conf/spark puts Debian's jar on the driver's class path; an empty one is a cluster without it.
    done = spark_submit(
        "--conf", "spark.driver.extraClassPath=", str(PROJECT_ROOT / "jobs" / "extract_rds.py"),
        "--env", "local", "--run-date", "2020-09-21", "--lake-root", config.paths.lake_root,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert len(lines) == 1, output[-3000:]
    assert "the JDBC driver org.postgresql.Driver is not on Spark's class path: pass the PostgreSQL JDBC jar with --jars" in lines[0]
