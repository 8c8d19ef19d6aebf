"""extract -> aggregates -> data quality on hand-made orders, the Athena SQL run by Spark and by
DuckDB with equal answers, then broken data that the checks must catch (and alert on)."""
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fashion_pipeline.catalog.local_query import run_athena_file, run_athena_sql
from fashion_pipeline.lake import read_table, write_table
from fashion_pipeline.pipelines.daily_aggregates import run_daily_aggregates
from fashion_pipeline.pipelines.data_quality import DataQualityFailure, run_data_quality
from fashion_pipeline.pipelines.extract_rds import run_extract_rds
from fashion_pipeline.quality.alerts import WEBHOOK_VARIABLE
from fashion_pipeline.quality.checks import load_sql_checks
from fashion_pipeline.storage import storage_for
from fashion_pipeline.store.schemas import ORDERS_SCHEMA, SALES_DAILY_SCHEMA, TOP_SELLERS_SCHEMA
from fashion_pipeline.tables import ORDERS_TABLE, SALES_DAILY_TABLE, TOP_SELLERS_TABLE
from tests.store_rows import ARTICLE_IDS, CUSTOMERS, at, insert_order, seed_reference_rows, set_status

RUN_DAY = "2020-09-21"
RUN_DATE = date.fromisoformat(RUN_DAY)
ANALYST_SQL = Path(__file__).resolve().parents[2] / "lib" / "fashion_pipeline" / "sql" / "analyst"


def _columns(schema):
    return [(f.name, f.dataType) for f in schema.fields]


@pytest.fixture
def slack(monkeypatch, slack_webhook):
    """The project's own alert path (data_quality posts to the webhook in the environment)."""
    monkeypatch.setenv(WEBHOOK_VARIABLE, slack_webhook.url)
    return slack_webhook.received


@pytest.fixture
def nightly(spark, store_config):
    config = store_config
    seed_reference_rows(config)
    # A week before: order 10 of two tops; the run day: tops sell three times, trousers once.
    insert_order(config, 10, CUSTOMERS[0], at("2020-09-14", 9), [(ARTICLE_IDS[0], 2)])
    insert_order(config, 1, CUSTOMERS[0], at(RUN_DAY, 9), [(ARTICLE_IDS[0], 1), (ARTICLE_IDS[1], 2)])
    insert_order(config, 2, CUSTOMERS[1], at(RUN_DAY, 10), [(ARTICLE_IDS[2], 1), (ARTICLE_IDS[0], 2)], channel=1)
    insert_order(config, 3, CUSTOMERS[2], at(RUN_DAY, 11), [(ARTICLE_IDS[0], 3)])
    insert_order(config, 4, CUSTOMERS[2], at(RUN_DAY, 12), [(ARTICLE_IDS[1], 1)])
    set_status(config, 4, "cancelled", at(RUN_DAY, 13))   # not a sale
    storage = storage_for(config)
    run_extract_rds(spark, config, storage, date(2020, 9, 14))
    run_extract_rds(spark, config, storage, RUN_DATE)
    run_daily_aggregates(spark, config, storage, RUN_DATE)
    return config


def test_nightly_tables_checks_and_alerts(spark, nightly, slack):
    config = nightly
    lake = config.paths.lake
    storage = storage_for(config)

    # ---- aggregates: declared schemas, net sales only
    sales = read_table(spark, SALES_DAILY_TABLE.uri(config))
    assert _columns(sales.schema) == _columns(SALES_DAILY_SCHEMA)
    assert _columns(read_table(spark, TOP_SELLERS_TABLE.uri(config)).schema) == _columns(TOP_SELLERS_SCHEMA)
    by_channel = {r.dimension_value: (r.units, r.revenue, r.orders, r.customers)
                  for r in sales.filter((F.col("sales_date") == RUN_DATE) & (F.col("dimension") == "channel")).collect()}
    assert by_channel == {
        "online": (6, Decimal("19.99") * 4 + Decimal("9.99") * 2, 2, 2),   # orders 1 and 3
        "store": (3, Decimal("24.99") + Decimal("39.98"), 1, 1),           # order 2
    }
    colours = {r.dimension_value: r.units for r in sales.filter(
        (F.col("sales_date") == RUN_DATE) & (F.col("dimension") == "colour")).collect()}
    assert colours == {"Black": 7, "White": 2}

    # ---- the same checks in Spark and in DuckDB give the same numbers, all passing
    report = run_data_quality(spark, config, storage, RUN_DATE)
    assert report.blocking_failures == [] and slack == []
    spark_counts = {r.name: (r.checked_rows, r.failed_rows) for r in report.results}
    for check in load_sql_checks():
        row = run_athena_sql(config, check.sql, check.parameters(RUN_DATE)).iloc[0]
        assert (int(row.checked_rows), int(row.failed_rows)) == spark_counts[check.name], check.name
    reconciliation = next(r for r in report.results if r.name == "reconcile_with_source")
    assert reconciliation.details["source_orders"] == 4 and reconciliation.details["missing_in_lake"] == 0
    saved = json.loads(Path(lake("_reports", "dq", f"run_date={RUN_DAY}", "orders_pk_unique.json")).read_text())
    assert saved["status"] == "pass" and saved["checked_rows"] == 4

    # ---- every analyst query runs locally on these tiny tables
    answers = {path.stem: run_athena_file(config, path) for path in sorted(ANALYST_SQL.glob("*.sql"))}
    assert set(answers) == {"daily_revenue_trend", "top_categories_this_week", "trend_movers", "rfm_mix", "colour_mix_this_week",
                            "clickstream_funnel_by_hour"}
    assert answers["clickstream_funnel_by_hour"].empty  # no clicks streamed here: an empty table, not an error
    last_day = answers["daily_revenue_trend"].iloc[-1]
    assert str(last_day.sales_date)[:10] == RUN_DAY
    assert float(last_day.revenue) == pytest.approx(19.99 * 4 + 9.99 * 2 + 24.99 + 39.98)
    assert answers["top_categories_this_week"].iloc[0].product_type == "Vest top"
    assert set(answers["rfm_mix"].segment) and answers["rfm_mix"].customers.sum() == 3

    # ---- break the lake: a copy of order 1 in another partition, an order for a stranger
    orders = read_table(spark, ORDERS_TABLE.uri(config), ORDERS_SCHEMA)
    copy = orders.filter("order_id = 1").withColumn("order_date", F.lit(date(2020, 9, 20)))
    stranger = orders.filter("order_id = 3").withColumn("order_id", F.lit(99).cast("long")).withColumn("customer_id", F.lit("e" * 64))
    write_table(copy.unionByName(stranger.withColumn("order_date", F.lit(date(2020, 9, 20)))), ORDERS_TABLE.uri(config), ("order_date",))
    write_table(orders.filter("order_date = DATE'2020-09-21' AND order_id <> 2").unionByName(
        stranger.withColumn("status", F.lit("lost"))), ORDERS_TABLE.uri(config), ("order_date",))

    with pytest.raises(DataQualityFailure) as failure:
        run_data_quality(spark, config, storage, RUN_DATE)
    failed = set(str(failure.value).split("failed: ")[1].split(";")[0].split(", "))
    assert failed == {"orders_pk_unique", "orders_fk_customers", "orders_valid_values", "orders_have_items",
                      "order_items_fk_orders", "sales_daily_matches_orders", "reconcile_with_source"}
    assert len(slack) == 1 and "orders_pk_unique" in slack[0]["text"]
    summary = Path(lake("_reports", "dq", f"run_date={RUN_DAY}", "summary.txt")).read_text()
    assert "FAILED" in summary and "hooks.slack" not in summary and "/services/T000" not in summary
