"""partition_raw on the generator's tiny data: clean input goes through whole, and damage to it
ends in quarantine with reconciled counts."""
from datetime import date

import pytest

from fashion_pipeline.generate import generate_hm
from fashion_pipeline.lake import read_table
from fashion_pipeline.landing import land_directory
from fashion_pipeline.pipelines.partition_raw import run_partition_raw
from fashion_pipeline.storage import storage_for


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    generate_hm("tiny", seed=11, out_dir=out, progress=False)
    return out


def _data_lines(path):
    return sum(1 for _ in open(path, encoding="utf-8")) - 1


def _tables(report):
    return {t.table: t for t in report.tables}


def test_generated_data_goes_through_whole(spark, config, tiny_dir):
    storage = storage_for(config)
    land_directory(tiny_dir, config.paths.raw_root, date(2020, 9, 23), storage)
    tables = _tables(run_partition_raw(spark, config, storage))

    expected_transactions = _data_lines(tiny_dir / "transactions_train.csv")
    assert tables["transactions"].rows_read == tables["transactions"].rows_written == expected_transactions
    assert tables["transactions"].rows_quarantined == 0
    assert tables["customers"].rows_written == _data_lines(tiny_dir / "customers.csv")

    curated = read_table(spark, tables["transactions"].output)
    months = curated.select("year_month").distinct().count()
    assert months == 25  # 2018-09 .. 2020-09
    first, last = curated.agg({"t_dat": "min"}).first()[0], curated.agg({"t_dat": "max"}).first()[0]
    assert date(2018, 9, 20) <= first and last <= date(2020, 9, 22)


def test_damaged_rows_are_quarantined_and_counts_reconcile(spark, config, tiny_dir, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("articles.csv", "customers.csv"):
        (damaged / name).write_bytes((tiny_dir / name).read_bytes())
    lines = (tiny_dir / "transactions_train.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    # damage every 100th row in one of four ways
    damage = [
        lambda r: r.replace(",", ";", 1),                    # malformed: too few fields
        lambda r: r.rsplit(",", 1)[0] + ",7",                # invalid_sales_channel_id
        lambda r: r.replace(r.split(",")[2], "0000000000"),  # unknown_article_id
        lambda r: "2020-02-31" + r[10:],                     # invalid_t_dat
    ]
    damaged_rows = [damage[(i // 100) % 4](r) if i % 100 == 0 else r for i, r in enumerate(rows)]
    (damaged / "transactions_train.csv").write_text("\n".join([header, *damaged_rows]) + "\n", encoding="utf-8")

    storage = storage_for(config)
    land_directory(damaged, config.paths.raw_root, date(2020, 9, 23), storage)
    transactions = _tables(run_partition_raw(spark, config, storage))["transactions"]

    expected_bad = len(range(0, len(rows), 100))
    assert transactions.rows_read == len(rows)
    assert transactions.rows_quarantined == expected_bad
    assert transactions.rows_written == len(rows) - expected_bad
    assert set(transactions.quarantined_by_reason) == {
        "malformed_line", "invalid_sales_channel_id", "unknown_article_id", "invalid_t_dat"
    }
