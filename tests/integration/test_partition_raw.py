"""partition_raw end to end on hand-written files whose every row's fate is known."""
import json
from datetime import date
from pathlib import Path

import pytest

from fashion_pipeline.catalog.local_query import run_athena_sql
from fashion_pipeline.lake import read_table
from fashion_pipeline.landing import land_directory
from fashion_pipeline.pipelines.partition_raw import NothingLandedError, run_partition_raw
from fashion_pipeline.schemas import TRANSACTIONS_COLUMNS
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import ATTRIBUTE_ISSUES_TABLE, read_lake_table
from tests.handmade import ARTICLE_IDS, CUSTOMER_IDS, article_line, transaction_line, write_hm_files
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
    assert articles.attribute_values_nulled == 0 and articles.nulled_by_column_and_reason == {}
    assert report.summary().endswith("attribute values nulled, rows kept (see attribute_issues): none")

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
    for name in ("articles", "customers", "transactions", "attribute_issues"):
        for zone in ("curated", "quarantine"):
            if name == "attribute_issues" and zone == "curated":
                continue
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


YOUNG_CUSTOMER = "0123456789abcdef" * 4
CUSTOMERS_WITH_BAD_ATTRIBUTES = [
    f"{CUSTOMER_IDS[0]},,,ACTIVE,NONE,49,{'d' * 64}",
    f"{CUSTOMER_IDS[1]},1.0,1.0,ACTIVE,Regularly,25,{'d' * 64}",
    f"{CUSTOMER_IDS[2]},,,,,,{'e' * 64}",
    f"{YOUNG_CUSTOMER},1.0,,ACTIVE,NONE,12,{'d' * 64}",    # kept, age nulled: invalid_age
    f"{'ab' * 32},,,MAYBE,NONE,30,{'d' * 64}",             # kept, club_member_status nulled
    f"{'AB' * 32},,,ACTIVE,NONE,12,{'d' * 64}",            # upper-case id: quarantined whole
    f"{CUSTOMER_IDS[0]},,,ACTIVE,NONE,49,{'d' * 64}",      # the same customer again: duplicate_customer_id
]
ARTICLES_WITH_BAD_ATTRIBUTES = [
    article_line(ARTICLE_IDS[0]),
    article_line(ARTICLE_IDS[1], prod_name=" "),                # kept, prod_name nulled: missing_prod_name
    # kept, product_code nulled: product_code_mismatch
    article_line(ARTICLE_IDS[2]).replace(f",{ARTICLE_IDS[2][:7]},", ",0110066,", 1),
]


@pytest.fixture
def bad_attributes_config(tmp_path, config):
    transactions = [
        transaction_line(customer=YOUNG_CUSTOMER),
        transaction_line(customer=YOUNG_CUSTOMER, t_dat="2020-09-02", article=ARTICLE_IDS[2]),
        transaction_line(customer="ab" * 32, article=ARTICLE_IDS[1]),
        transaction_line(customer="AB" * 32),  # its customer was quarantined: invalid_customer_id
        GOOD,
    ]
    source = write_hm_files(tmp_path / "src", transactions, ARTICLES_WITH_BAD_ATTRIBUTES, CUSTOMERS_WITH_BAD_ATTRIBUTES)
    land_directory(source, config.paths.raw_root, date(2020, 9, 23), storage_for(config))
    return config


def test_a_bad_attribute_is_nulled_and_its_rows_sales_are_kept(spark, bad_attributes_config):
    config = bad_attributes_config
    report = run_partition_raw(spark, config, storage_for(config))
    assert all(t.reconciles for t in report.tables)

    customers = _table_report(report, "customers")
    assert (customers.rows_read, customers.rows_written, customers.rows_quarantined) == (7, 5, 2)
    assert customers.quarantined_by_reason == {"invalid_customer_id": 1, "duplicate_customer_id": 1}
    assert customers.attribute_values_nulled == 2
    assert customers.nulled_by_column_and_reason == {"age": {"invalid_age": 1},
                                                     "club_member_status": {"invalid_club_member_status": 1}}
    young = read_table(spark, customers.output).filter(f"customer_id = '{YOUNG_CUSTOMER}'").collect()
    assert [(r.age, r.fn, r.club_member_status) for r in young] == [(None, True, "ACTIVE")]

    articles = _table_report(report, "articles")
    assert (articles.rows_read, articles.rows_written, articles.rows_quarantined) == (3, 3, 0)
    assert articles.nulled_by_column_and_reason == {"prod_name": {"missing_prod_name": 1},
                                                    "product_code": {"product_code_mismatch": 1}}

    transactions = _table_report(report, "transactions")
    assert (transactions.rows_written, transactions.quarantined_by_reason) == (4, {"invalid_customer_id": 1})
    sold_to_young = read_table(spark, transactions.output).filter(f"customer_id = '{YOUNG_CUSTOMER}'").count()
    assert sold_to_young == 2

    issues = read_lake_table(spark, config, ATTRIBUTE_ISSUES_TABLE).collect()
    assert sorted((r.table_name, r.key, r.column_name, r.original_value, r.reason, r._ingest_date) for r in issues) == [
        ("articles", ARTICLE_IDS[1], "prod_name", " ", "missing_prod_name", "2020-09-23"),
        ("articles", ARTICLE_IDS[2], "product_code", "0110066", "product_code_mismatch", "2020-09-23"),
        ("customers", YOUNG_CUSTOMER, "age", "12", "invalid_age", "2020-09-23"),
        ("customers", "ab" * 32, "club_member_status", "MAYBE", "invalid_club_member_status", "2020-09-23"),
    ]
    landed_customers_file = Path(customers.inputs[0]).name
    assert all(r._source_file.endswith(landed_customers_file) for r in issues if r.table_name == "customers")
    summary = report.summary().splitlines()
    assert summary[-1] == (
        "attribute values nulled, rows kept (see attribute_issues): articles.prod_name missing_prod_name=1, "
        "articles.product_code product_code_mismatch=1, customers.age invalid_age=1, "
        "customers.club_member_status invalid_club_member_status=1"
    )

    # Analysts see the same rows through the catalogue's view of the table.
    by_table = run_athena_sql(config, "SELECT table_name, COUNT(*) AS n FROM attribute_issues GROUP BY 1 ORDER BY 1")
    assert by_table.values.tolist() == [["articles", 2], ["customers", 2]]

    once = _lake_snapshot(spark, config.paths.lake_root)
    again = run_partition_raw(spark, config, storage_for(config))
    assert _lake_snapshot(spark, config.paths.lake_root) == once  # attribute_issues included: no duplicates
    assert read_lake_table(spark, config, ATTRIBUTE_ISSUES_TABLE).count() == 4
    assert _table_report(again, "customers").nulled_by_column_and_reason == customers.nulled_by_column_and_reason


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
