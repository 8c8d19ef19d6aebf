"""partition_raw as an EMR step runs it (a fresh `spark-submit`) against DuckDB doing the same
conversion, on the same landed files, in the same benchmark run.

    .venv/bin/python bench/partition_raw.py --scale medium --runs 3   # generates the data if needed
    .venv/bin/python bench/partition_raw.py --data DIR --runs 3       # any H&M-schema directory

Each run times, from process start to exit:
- Spark: `.venv/bin/spark-submit jobs/partition_raw.py --env local --raw-root ... --lake-root ...`
  as a user with the venv active runs it (bash launcher, launcher JVM, driver JVM and session
  start, the job, the Python driver's exit; nothing is set in the environment for it);
- DuckDB: a new Python process that imports duckdb, opens a connection and runs the same
  conversion (formats, domains, ranges, known ids; zstd Parquet, transactions partitioned by
  year_month and sorted by day; rejected rows to a quarantine).
The two alternate within a run, and the ratio is of the medians. Afterwards, unless --no-warm,
the job runs twice in one in-process session: the second run is the warm-JVM figure, extra
information only (an EMR step never gets a warm JVM).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

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
DUCKDB_CHILD = "duckdb-child"


def duckdb_child(data_dir: str, out_dir: str, min_date: str, max_date: str, max_price: str) -> None:
    """What the DuckDB process does, from import to the last file written; prints rows written."""
    import duckdb

    out = Path(out_dir)
    (out / "curated").mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    data = Path(data_dir)
    connection.execute(DUCKDB_SQL.format(
        articles=data / "articles.csv", customers=data / "customers.csv",
        transactions=data / "transactions_train.csv", out=out,
        min_date=min_date, max_date=max_date, max_price=max_price,
    ))
    written = connection.execute("SELECT count(*) FROM flagged WHERE _reject_reason IS NULL").fetchone()[0]
    print(json.dumps({"rows_written": written}))


def activated_venv_environment() -> dict[str, str]:
    """The environment of a shell with the venv active, and nothing Spark-specific added: what the
    job gets must come from the project's Spark configuration, as for a user."""
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP", "SPARK_CONF_DIR", "SPARK_HOME"}}
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    return env


def time_spark_submit(raw_root: Path, lake_root: Path, log_dir: Path, run: int) -> tuple[float, dict]:
    command = [
        str(Path(sys.executable).parent / "spark-submit"), str(ROOT / "jobs" / "partition_raw.py"),
        "--env", "local", "--raw-root", str(raw_root), "--lake-root", str(lake_root),
    ]
    stdout_path, stderr_path = log_dir / f"spark-{run}.out", log_dir / f"spark-{run}.err"
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        started = time.perf_counter()
        code = subprocess.call(command, env=activated_venv_environment(), stdout=stdout, stderr=stderr, cwd=ROOT)
        seconds = time.perf_counter() - started
    if code != 0:
        sys.exit(f"spark-submit failed with exit {code}; see {stderr_path}:\n{stderr_path.read_text()[-3000:]}")
    reports = sorted((lake_root / "_reports" / "partition_raw").glob("*.json"))
    report = json.loads(reports[-1].read_text())
    info_lines = sum(" INFO " in line for line in stderr_path.read_text(errors="replace").splitlines())
    return seconds, {"report": report, "stderr_info_lines": info_lines}


def time_duckdb(data_dir: Path, out_dir: Path, validation) -> tuple[float, int]:
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [
        sys.executable, str(Path(__file__).resolve()), DUCKDB_CHILD, str(data_dir), str(out_dir),
        str(validation.min_date), str(validation.max_date), str(validation.max_price),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"DuckDB failed with exit {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])["rows_written"]


def time_warm_in_process(config) -> tuple[float, float, float]:
    """Session start, first run and second run of the job in this process (one JVM)."""
    from fashion_pipeline.pipelines.partition_raw import run_partition_raw
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.storage import storage_for

    started = time.perf_counter()
    spark = build_spark("bench", config)
    session_seconds = time.perf_counter() - started
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        run_partition_raw(spark, config, storage_for(config))  # a re-run replaces: same lake each time
        seconds.append(time.perf_counter() - started)
    spark.stop()
    return session_seconds, seconds[0], seconds[1]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def rows_written(report: dict) -> int:
    return next(t for t in report["tables"] if t["table"] == "transactions")["rows_written"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [DUCKDB_CHILD]:
        duckdb_child(*argv[1:])
        return
    from fashion_pipeline.config import load_config
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.storage import storage_for

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=["tiny", "small", "medium", "hm"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="existing H&M-schema directory (skips generation)")
    parser.add_argument("--runs", type=int, default=3, help="cold Spark and DuckDB runs, alternating")
    parser.add_argument("--no-warm", action="store_true", help="skip the in-process warm-JVM figure")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out", help="scratch directory")
    parser.add_argument("--keep", action="store_true", help="keep the lakes and logs (printed path)")
    args = parser.parse_args(argv)

    data_dir = args.data or args.work / f"data-{args.scale}-{args.seed}"
    if args.data is None and not (data_dir / "transactions_train.csv").is_file():
        from fashion_pipeline.generate import generate_hm

        print(generate_hm(args.scale, args.seed, data_dir, progress=True).summary())
    csv_mb = sum((data_dir / f).stat().st_size for f in ("articles.csv", "customers.csv", "transactions_train.csv")) / 1e6

    args.work.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-partition-raw-", dir=args.work))
    raw_root, lake_root = run_dir / "raw", run_dir / "lake"
    config = load_config("local", overrides={
        "paths.raw_root": str(raw_root), "paths.lake_root": str(lake_root), "paths.state_dir": str(run_dir / "state"),
    })
    land_directory(data_dir, str(raw_root), date(2020, 9, 23), storage_for(config))
    print(f"input: {data_dir} ({csv_mb:,.0f} MB of CSV); load average (1/5 min) at start {load_average()}", flush=True)

    spark_seconds, duck_seconds, loads = [], [], []
    try:
        for run in range(1, args.runs + 1):
            seconds, outcome = time_spark_submit(raw_root, lake_root, run_dir, run)
            spark_seconds.append(seconds)
            spark_rows = rows_written(outcome["report"])
            duck, duck_rows = time_duckdb(data_dir, run_dir / "duckdb", config.validation)
            duck_seconds.append(duck)
            loads.append(load_average())
            print(f"run {run}: spark-submit {seconds:6.1f} s   DuckDB {duck:5.1f} s   ratio {seconds / duck:4.2f}x"
                  f"   (load {loads[-1]}; INFO lines on spark-submit's stderr: {outcome['stderr_info_lines']})",
                  flush=True)
            if spark_rows != duck_rows:
                print(f"WARNING: the engines disagree on rows written ({spark_rows:,} vs {duck_rows:,})")
        table_seconds = {t["table"]: t["seconds"] for t in outcome["report"]["tables"]}
        warm = None if args.no_warm else time_warm_in_process(config)
    finally:
        if args.keep:
            print(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)

    spark_median, duck_median = statistics.median(spark_seconds), statistics.median(duck_seconds)
    print(f"\n{'what (median of ' + str(args.runs) + ' runs, process start to exit)':<58} {'seconds':>8} {'MB/s':>6}")
    print(f"{'spark-submit jobs/partition_raw.py (fresh JVM, as on EMR)':<58} {spark_median:>8.1f} {csv_mb / spark_median:>6.0f}")
    print(f"{'DuckDB, same conversion (fresh Python process)':<58} {duck_median:>8.1f} {csv_mb / duck_median:>6.0f}")
    print(f"Spark / DuckDB: {spark_median / duck_median:.2f}x cold"
          f"   (runs: {', '.join(f'{s:.1f}' for s in spark_seconds)} s vs {', '.join(f'{d:.1f}' for d in duck_seconds)} s;"
          f" rows written {spark_rows:,} / {duck_rows:,}; load {', '.join(loads)})")
    print("inside the last spark-submit run, per table: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in table_seconds.items()))
    if warm:
        session, first, second = warm
        print(f"in-process, extra: session start {session:.1f} s, first run {first:.1f} s, "
              f"warm JVM {second:.1f} s = {second / duck_median:.2f}x DuckDB")


if __name__ == "__main__":
    main()
