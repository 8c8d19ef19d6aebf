"""partition_raw end to end on hand-written files whose every row's fate is known."""
import json
from datetime import date
from pathlib import Path

import pytest

from fashion_pipeline.lake import read_table
from fashion_pipeline.landing import land_directory
from fashion_pipeline.pipelines.partition_raw import NothingLandedError, run_partition_raw
from fashion_pipeline.schemas import TRANSACTIONS_COLUMNS
from fashion_pipeline.storage import storage_for
from tests.handmade import ARTICLE_IDS, CUSTOMER_IDS, transaction_line, write_hm_files
from tests.spark_submit import info_lines, spark_submit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOOD = transaction_line()
HOSTILE_TRANSACTIONS = [
    GOOD, GOOD, GOOD,  # three identical units of one sale: all kept
    transaction_line(t_dat="2019-12-31", customer=CUSTOMER_IDS[1], article=ARTICLE_IDS[1], channel="1"),
    transaction_line(t_dat="2020-09-01", customer=CUSTOMER_IDS[2], article=ARTICLE_IDS[2]),
    GOOD + ",surplus,fields",                                 # malformed_line
    "2020-09-01," + CUSTOMER_IDS[0],                          # malformed_line
    transaction_line(price="0,05"),                           # a comma inside an unquoted field: malformed_line
    transaction_line(price="cheap"),                          # invalid_price
    transaction_line(price="0"),                              # invalid_price
    transaction_line(channel="9"),                            # invalid_sales_channel_id
    transaction_line(t_dat="2020-02-30"),                     # invalid_t_dat
    transaction_line(t_dat="2030-01-01"),                     # t_dat_out_of_range
    transaction_line(customer="Ωmega"),                       # invalid_customer_id
    transaction_line(customer="f" * 64),                      # unknown_customer_id
    transaction_line(article="0999999001"),                   # unknown_article_id
    transaction_line(customer=""),                            # missing_customer_id
]
EXPECTED_REASONS = {
    "malformed_line": 3,
    "invalid_price": 2,
    "invalid_sales_channel_id": 1,
    "invalid_t_dat": 1,
    "t_dat_out_of_range": 1,
    "invalid_customer_id": 1,
    "unknown_customer_id": 1,
    "unknown_article_id": 1,
    "missing_customer_id": 1,
}


@pytest.fixture
def landed_config(tmp_path, config):
    source = write_hm_files(tmp_path / "src", HOSTILE_TRANSACTIONS)
    land_directory(source, config.paths.raw_root, date(2020, 9, 23), storage_for(config))
    return config


def _table_report(report, name):
    return next(t for t in report.tables if t.table == name)


def test_every_row_is_written_or_quarantined_with_a_reason(spark, landed_config):
    report = run_partition_raw(spark, landed_config, storage_for(landed_config))

    transactions = _table_report(report, "transactions")
    assert transactions.rows_read == len(HOSTILE_TRANSACTIONS)
    assert transactions.rows_written == 5
    assert transactions.quarantined_by_reason == EXPECTED_REASONS
    assert transactions.reconciles

    articles = _table_report(report, "articles")
    assert (articles.rows_read, articles.rows_written, articles.rows_quarantined) == (3, 3, 0)

    curated = read_table(spark, transactions.output)
    assert sorted(r.year_month for r in curated.select("year_month").distinct().collect()) == ["2019-12", "2020-09"]
    assert curated.filter(curated.article_id == ARTICLE_IDS[0]).count() == 3
    names = {r.prod_name for r in read_table(spark, articles.output).collect()}
    assert "Tröja «Ünïcødé» 毛衣" in names

    quarantine = read_table(spark, transactions.quarantine)
    assert set(TRANSACTIONS_COLUMNS) <= set(quarantine.columns)
    bad_price = quarantine.filter(quarantine._reject_reason == "invalid_price").select("price").collect()
    assert sorted(r.price for r in bad_price) == ["0", "cheap"]  # the original values, untouched
    assert all(r._source_file.endswith(".csv") and r._ingest_date == "2020-09-23" for r in quarantine.collect())

    written_reports = list(Path(landed_config.paths.lake("_reports", "partition_raw")).glob("*.json"))
    assert len(written_reports) == 1
    saved = json.loads(written_reports[0].read_text())
    assert saved["tables"][2]["quarantined_by_reason"] == EXPECTED_REASONS


def _lake_snapshot(spark, lake_root: str):
    tables = {}
    for name in ("articles", "customers", "transactions"):
        for zone in ("curated", "quarantine"):
            rows = read_table(spark, f"{lake_root}/{zone}/{name}").collect()
            tables[f"{zone}/{name}"] = sorted(tuple(str(v) for v in r) for r in rows)
    files = sorted(
        str(p.relative_to(lake_root)).rsplit("/", 1)[0]
        for p in Path(lake_root).rglob("*.parquet")
    )
    return tables, files


def test_running_twice_gives_the_same_lake_as_once(spark, landed_config):
    storage = storage_for(landed_config)
    run_partition_raw(spark, landed_config, storage)
    once = _lake_snapshot(spark, landed_config.paths.lake_root)
    run_partition_raw(spark, landed_config, storage)
    assert _lake_snapshot(spark, landed_config.paths.lake_root) == once


def test_landing_the_same_files_again_doubles_nothing(tmp_path, spark, landed_config):
    storage = storage_for(landed_config)
    first = run_partition_raw(spark, landed_config, storage)
    land_directory(tmp_path / "src", landed_config.paths.raw_root, date(2020, 10, 1), storage)
    # plus a new, header-only transactions file: lands, adds nothing
    empty = write_hm_files(tmp_path / "empty", [])
    land_directory(empty, landed_config.paths.raw_root, date(2020, 10, 2), storage)
    second = run_partition_raw(spark, landed_config, storage)
    assert _table_report(second, "transactions").rows_written == _table_report(first, "transactions").rows_written
    assert len(_table_report(second, "transactions").inputs) == 2


def test_nothing_landed_is_a_clear_error(spark, config):
    with pytest.raises(NothingLandedError, match="run `fashion land` first"):
        run_partition_raw(spark, config, storage_for(config))


def test_spark_submit_entry_point(landed_config):
    done = spark_submit(
        "--master", "local[2]", str(PROJECT_ROOT / "jobs" / "partition_raw.py"),
        "--env", "local", "--raw-root", landed_config.paths.raw_root, "--lake-root", landed_config.paths.lake_root,
        "--set", "spark.shuffle_partitions=2",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "transactions" in done.stdout and "malformed_line=3" in done.stdout
    assert info_lines(done.stderr) == []


def test_job_exits_non_zero_with_one_line_when_nothing_landed(config, capsys):
    from fashion_pipeline.cli import main

    code = main(["partition-raw", "--env", "local", "--raw-root", config.paths.raw_root,
                 "--lake-root", config.paths.lake_root, "--set", "spark.shuffle_partitions=2"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("fashion partition-raw: no articles landed under") and err.endswith("run `fashion land` first\n")
    assert err.count("\n") == 1


def test_spark_submit_of_a_failing_job_prints_one_line(config):
    done = spark_submit(
        str(PROJECT_ROOT / "jobs" / "partition_raw.py"),
        "--env", "local", "--raw-root", config.paths.raw_root, "--lake-root", config.paths.lake_root,
    )
    assert done.returncode == 1
    # spark-submit hands the Python driver's stderr to its own stdout; the JVM itself announces the
    # incubator module Spark 4 enables, before any of our code runs.
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert len(lines) == 1, output[-3000:]
    assert "no articles landed under" in lines[0] and lines[0].endswith("run `fashion land` first")
    assert "Traceback" not in done.stdout + done.stderr
