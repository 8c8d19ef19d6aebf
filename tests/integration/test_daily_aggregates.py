"""daily_aggregates' restatement window, its re-runs, and what a failed run leaves behind."""
from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fashion_pipeline.lake import read_table
from fashion_pipeline.pipelines import daily_aggregates
from fashion_pipeline.pipelines.daily_aggregates import run_daily_aggregates
from fashion_pipeline.pipelines.extract_rds import run_extract_rds
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import CUSTOMER_RFM_TABLE, SALES_DAILY_TABLE, TOP_SELLERS_TABLE, TREND_MOVERS_TABLE
from tests.store_rows import ARTICLE_IDS, CUSTOMERS, at, insert_order, seed_reference_rows, set_status

RUN = date(2020, 9, 21)
WINDOW_DAYS = 3  # restated: RUN - 2 .. RUN
AGGREGATE_TABLES = (SALES_DAILY_TABLE, CUSTOMER_RFM_TABLE, TOP_SELLERS_TABLE, TREND_MOVERS_TABLE)


def _day(offset: int) -> date:
    return RUN + timedelta(days=offset)


def _sales_units_by_day(spark, config) -> dict[date, int]:
    rows = (read_table(spark, SALES_DAILY_TABLE.uri(config)).filter(F.col("dimension") == "channel")
            .groupBy("sales_date").agg(F.sum("units").alias("units")).collect())
    return {row.sales_date: row.units for row in rows}


def _lake_snapshot(spark, config) -> dict:
    """Every row of the four aggregate tables, and their partition folders."""
    snapshot = {}
    for table in AGGREGATE_TABLES:
        folder = Path(table.uri(config))
        snapshot[table.name] = (
            sorted(tuple(str(v) for v in row) for row in read_table(spark, str(folder)).collect()),
            sorted(p.name for p in folder.iterdir() if p.is_dir()),
        )
    return snapshot


@pytest.fixture
def shop(spark, store_config):
    config = store_config.with_overrides({"analytics.restatement_days": WINDOW_DAYS})
    seed_reference_rows(config)
    storage = storage_for(config)
    insert_order(config, 1, CUSTOMERS[0], at(str(_day(-5)), 9), [(ARTICLE_IDS[0], 2)])  # before the window
    insert_order(config, 2, CUSTOMERS[1], at(str(_day(-1)), 10), [(ARTICLE_IDS[1], 1)])  # inside it
    insert_order(config, 3, CUSTOMERS[2], at(str(RUN), 11), [(ARTICLE_IDS[2], 3)])
    for day in (_day(-5), _day(-1), RUN):
        run_extract_rds(spark, config, storage, day)
    run_daily_aggregates(spark, config, storage, _day(-5))
    report = run_daily_aggregates(spark, config, storage, RUN)
    return config, storage, report


def test_only_the_window_is_restated_and_a_day_without_sales_loses_its_partition(spark, shop):
    config, storage, report = shop
    assert report.restated_sales_dates == [str(_day(-1)), str(RUN)]
    assert _sales_units_by_day(spark, config) == {_day(-5): 2, _day(-1): 1, RUN: 3}

    # The next day both older orders are cancelled: the one inside the window is restated away,
    # the one before it keeps its (now stale) row: restatement reaches back WINDOW_DAYS only.
    set_status(config, 2, "cancelled", at(str(_day(1)), 8))
    set_status(config, 1, "cancelled", at(str(_day(1)), 9))
    run_extract_rds(spark, config, storage, _day(1))
    report = run_daily_aggregates(spark, config, storage, _day(1))

    assert report.restated_sales_dates == [str(RUN)]
    assert _sales_units_by_day(spark, config) == {_day(-5): 2, RUN: 3}
    partitions = sorted(p.name for p in Path(SALES_DAILY_TABLE.uri(config)).iterdir() if p.is_dir())
    assert partitions == [f"sales_date={_day(-5)}", f"sales_date={RUN}"]


def test_running_a_day_again_leaves_the_same_tables(spark, shop):
    config, storage, _ = shop
    before = _lake_snapshot(spark, config)
    run_daily_aggregates(spark, config, storage, RUN)
    assert _lake_snapshot(spark, config) == before
    assert not Path(config.paths.lake("_staging", "daily_aggregates")).exists() or not any(
        Path(config.paths.lake("_staging", "daily_aggregates")).iterdir())


@pytest.mark.parametrize("failing_step", ["write_table", "replace_partitions"])
def test_a_run_that_fails_part_way_leaves_no_hole(spark, shop, monkeypatch, failing_step):
    config, storage, _ = shop
    before = _lake_snapshot(spark, config)
    # The next day's run dies: while computing its tables, or as it starts to swap them in.
    set_status(config, 2, "cancelled", at(str(_day(1)), 8))
    run_extract_rds(spark, config, storage, _day(1))
    real = getattr(daily_aggregates, failing_step)
    calls = []

    def dies_on_the_third_call(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(daily_aggregates, failing_step, dies_on_the_third_call)
    with pytest.raises(RuntimeError, match="killed"):
        run_daily_aggregates(spark, config, storage, _day(1))
    after = _lake_snapshot(spark, config)
    if failing_step == "write_table":
        assert after == before  # nothing was published
    else:
        # Swaps done before the failure are whole; every other table is as it was. No day lost.
        assert after[TOP_SELLERS_TABLE.name] == before[TOP_SELLERS_TABLE.name]
        assert after[TREND_MOVERS_TABLE.name] == before[TREND_MOVERS_TABLE.name]
        assert set(_sales_units_by_day(spark, config)) == {_day(-5), RUN}

    monkeypatch.setattr(daily_aggregates, failing_step, real)
    run_daily_aggregates(spark, config, storage, _day(1))
    assert _sales_units_by_day(spark, config) == {_day(-5): 2, RUN: 3}
