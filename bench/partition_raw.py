"""partition_raw (Spark) against DuckDB doing the same conversion, on the same landed files.

    .venv/bin/python bench/partition_raw.py --scale medium            # generates if needed
    .venv/bin/python bench/partition_raw.py --data DIR                # any H&M-schema directory

Both sides read the CSVs as text, apply the same rules (the ones SQL can express: formats, domains,
ranges, known ids), write curated transactions as zstd Parquet partitioned by year_month and the
rejected rows to a quarantine. Spark's time excludes the JVM start, which an EMR step pays once.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.landing import land_directory  # noqa: E402
from fashion_pipeline.storage import storage_for  # noqa: E402

DUCKDB_SQL = """
COPY (SELECT * REPLACE (TRY_CAST(age AS INTEGER) AS age), FN IS NOT NULL AS fn, Active IS NOT NULL AS active
      FROM read_csv('{customers}', header=true, all_varchar=true)
      WHERE regexp_full_match(customer_id, '[0-9a-f]{{64}}'))
  TO '{out}/customers.parquet' (FORMAT parquet, COMPRESSION zstd);
COPY (SELECT * REPLACE (CAST(product_code AS INTEGER) AS product_code, CAST(product_type_no AS INTEGER) AS product_type_no)
      FROM read_csv('{articles}', header=true, all_varchar=true)
      WHERE regexp_full_match(article_id, '[0-9]{{10}}'))
  TO '{out}/articles.parquet' (FORMAT parquet, COMPRESSION zstd);
CREATE OR REPLACE TABLE known_articles AS
  SELECT article_id FROM read_csv('{articles}', header=true, all_varchar=true)
  WHERE regexp_full_match(article_id, '[0-9]{{10}}');
CREATE OR REPLACE TABLE known_customers AS
  SELECT customer_id FROM read_csv('{customers}', header=true, all_varchar=true)
  WHERE regexp_full_match(customer_id, '[0-9a-f]{{64}}');
CREATE OR REPLACE TABLE flagged AS
SELECT r.*, CASE
    WHEN r.t_dat IS NULL THEN 'missing_t_dat'
    WHEN r.customer_id IS NULL THEN 'missing_customer_id'
    WHEN r.article_id IS NULL THEN 'missing_article_id'
    WHEN r.price IS NULL THEN 'missing_price'
    WHEN r.sales_channel_id IS NULL THEN 'missing_sales_channel_id'
    WHEN NOT regexp_full_match(r.t_dat, '\\d{{4}}-\\d{{2}}-\\d{{2}}') OR TRY_CAST(r.t_dat AS DATE) IS NULL THEN 'invalid_t_dat'
    WHEN TRY_CAST(r.t_dat AS DATE) NOT BETWEEN DATE '{min_date}' AND DATE '{max_date}' THEN 't_dat_out_of_range'
    WHEN NOT regexp_full_match(r.customer_id, '[0-9a-f]{{64}}') THEN 'invalid_customer_id'
    WHEN NOT regexp_full_match(r.article_id, '[0-9]{{10}}') THEN 'invalid_article_id'
    WHEN TRY_CAST(r.price AS DOUBLE) IS NULL OR isnan(TRY_CAST(r.price AS DOUBLE))
         OR TRY_CAST(r.price AS DOUBLE) <= 0 OR TRY_CAST(r.price AS DOUBLE) > {max_price} THEN 'invalid_price'
    WHEN r.sales_channel_id NOT IN ('1', '2') THEN 'invalid_sales_channel_id'
    WHEN c.customer_id IS NULL THEN 'unknown_customer_id'
    WHEN a.article_id IS NULL THEN 'unknown_article_id'
  END AS _reject_reason
FROM read_csv('{transactions}', header=true, all_varchar=true, filename=true) r
LEFT JOIN known_customers c USING (customer_id)
LEFT JOIN known_articles a USING (article_id);
COPY (
  SELECT CAST(t_dat AS DATE) AS t_dat, customer_id, article_id, CAST(price AS DOUBLE) AS price,
         CAST(sales_channel_id AS INTEGER) AS sales_channel_id, strftime(CAST(t_dat AS DATE), '%Y-%m') AS year_month
  FROM flagged WHERE _reject_reason IS NULL
  ORDER BY year_month, t_dat
) TO '{out}/curated/transactions' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year_month), OVERWRITE_OR_IGNORE);
COPY (SELECT * FROM flagged WHERE _reject_reason IS NOT NULL) TO '{out}/quarantine_transactions.parquet' (FORMAT parquet);
"""


def run_duckdb(data_dir: Path, out_dir: Path, config) -> tuple[float, int]:
    import duckdb

    started = time.perf_counter()
    (out_dir / "curated").mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    sql = DUCKDB_SQL.format(
        articles=data_dir / "articles.csv", customers=data_dir / "customers.csv",
        transactions=data_dir / "transactions_train.csv", out=out_dir,
        min_date=config.validation.min_date, max_date=config.validation.max_date,
        max_price=config.validation.max_price,
    )
    connection.execute(sql)
    seconds = time.perf_counter() - started
    written = connection.execute(
        f"SELECT count(*) FROM read_parquet('{out_dir}/curated/transactions/*/*.parquet')"
    ).fetchone()[0]
    return seconds, written


def run_spark(data_dir: Path, work_dir: Path, config, runs: int) -> tuple[float, list[float], int]:
    from fashion_pipeline.pipelines.partition_raw import run_partition_raw
    from fashion_pipeline.spark import build_spark

    storage = storage_for(config)
    land_directory(data_dir, config.paths.raw_root, date(2020, 9, 23), storage)
    started = time.perf_counter()
    spark = build_spark("bench", config)
    session_seconds = time.perf_counter() - started
    seconds = []
    for run in range(runs):
        started = time.perf_counter()
        report = run_partition_raw(spark, config, storage)  # a re-run replaces: same lake each time
        seconds.append(time.perf_counter() - started)
        print(f"Spark run {run + 1} ({'cold JVM' if run == 0 else 'warm JVM'}): {seconds[-1]:.1f} s", flush=True)
        print(report.summary(), flush=True)
    spark.stop()
    transactions = next(t for t in report.tables if t.table == "transactions")
    return session_seconds, seconds, transactions.rows_written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=["tiny", "small", "medium", "hm"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="existing H&M-schema directory (skips generation)")
    parser.add_argument("--runs", type=int, default=2, help="Spark runs in one JVM: the first is cold")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out", help="scratch directory")
    args = parser.parse_args()

    data_dir = args.data or args.work / f"data-{args.scale}-{args.seed}"
    if args.data is None and not (data_dir / "transactions_train.csv").is_file():
        from fashion_pipeline.generate import generate_hm

        print(generate_hm(args.scale, args.seed, data_dir, progress=True).summary())
    csv_mb = sum((data_dir / f).stat().st_size for f in ("articles.csv", "customers.csv", "transactions_train.csv")) / 1e6

    run_dir = Path(tempfile.mkdtemp(prefix="bench-partition-raw-", dir=args.work))
    try:
        config = load_config("local", overrides={
            "paths.raw_root": str(run_dir / "raw"), "paths.lake_root": str(run_dir / "lake"),
            "paths.state_dir": str(run_dir / "state"),
        })
        session_s, spark_runs, spark_rows = run_spark(data_dir, run_dir, config, args.runs)
        duck_s, duck_rows = run_duckdb(data_dir, run_dir / "duckdb", config)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)

    print(f"\ninput: {data_dir} ({csv_mb:,.0f} MB of CSV)")
    print(f"{'engine':<30} {'seconds':>8} {'MB/s':>7} {'rows written':>14}")
    cold, warm = spark_runs[0], min(spark_runs[1:], default=spark_runs[0])
    print(f"{'Spark partition_raw, cold JVM':<30} {cold:>8.1f} {csv_mb / cold:>7.0f} {spark_rows:>14,}")
    print(f"{'Spark partition_raw, warm JVM':<30} {warm:>8.1f} {csv_mb / warm:>7.0f} {spark_rows:>14,}")
    print(f"{'DuckDB same conversion':<30} {duck_s:>8.1f} {csv_mb / duck_s:>7.0f} {duck_rows:>14,}")
    print(f"Spark / DuckDB time ratio: {cold / duck_s:.2f}x cold, {warm / duck_s:.2f}x warm"
          f"   (Spark session start, not counted: {session_s:.1f} s)")
    if spark_rows != duck_rows:
        print(f"WARNING: the engines disagree on rows written ({spark_rows} vs {duck_rows})")


if __name__ == "__main__":
    main()
