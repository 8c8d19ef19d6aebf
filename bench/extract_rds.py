"""The nightly extract's read from PostgreSQL: Spark JDBC (partitioned, fetch size set) against
PostgreSQL's own `COPY (...) TO STDOUT` through psycopg, on the same query, in one run.

    .venv/bin/python bench/extract_rds.py                       # 1.2M order lines, 2 JDBC partitions, fetch 50000
    .venv/bin/python bench/extract_rds.py --items 2000000 --partitions 8 --fetch-size 20000

Starts its own PostgreSQL (a temporary cluster on a free port), loads one day of orders with
COPY, then times, on that day's change window:
  jdbc read   Spark reads the order lines the extract reads (same SQL), to a no-op sink;
  copy        psycopg streams the same query through COPY ... TO STDOUT (text), every byte read;
  extract     the whole extract_rds job for the day (read, validate, merge, stage, publish) in the
              same session, on an empty lake: like the jdbc read, without the session's start;
  re-run      (--runs N) the same day again, N-1 times, against the lake the first run wrote;
  spark-submit (--spark-submit) `spark-submit jobs/extract_rds.py` for the day on an empty lake,
              as the nightly runs it: from process start to exit (JVM, session, imports).
Spark's in-process times exclude the JVM start, which an EMR step pays once.

    .venv/bin/python bench/extract_rds.py --runs 2 --spark-submit   # what bench/RESULTS.md records

    .venv/bin/python bench/extract_rds.py --profile               # where the job's time goes

--profile times each I/O call of the pipeline module (writes, reads back, publishing) and, from
the session's event log, the Spark jobs each one started and their tasks' CPU time (less
sensitive than wall time to other users of the machine).
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.services import free_port  # noqa: E402
from fashion_pipeline.services.postgres import PostgresService  # noqa: E402
from fashion_pipeline.store.credentials import PASSWORD_VARIABLE, USER_VARIABLE, resolve_rds_connection  # noqa: E402
from fashion_pipeline.store.database import apply_migrations, connect  # noqa: E402

RUN_DATE = date(2020, 9, 23)
N_CUSTOMERS, N_ARTICLES = 20_000, 5_000


def _copy_text(conn, table: str, columns: str, lines: list[str]) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write("".join(lines))


def load_day(connection, n_items: int, seed: int = 7) -> int:
    """Customers, articles and one day of orders with `n_items` lines (about 2.6 per order)."""
    rng = np.random.default_rng(seed)
    customers = [f"{i:064x}" for i in range(1, N_CUSTOMERS + 1)]
    articles = [f"{108775000 + i:010d}" for i in range(N_ARTICLES)]
    lines_per_order = np.minimum(rng.geometric(0.38, n_items), 8)
    lines_per_order = lines_per_order[np.cumsum(lines_per_order) <= n_items]
    if lines_per_order.sum() < n_items:
        lines_per_order = np.append(lines_per_order, n_items - lines_per_order.sum())
    n_orders = len(lines_per_order)
    start = datetime.combine(RUN_DATE, datetime.min.time(), tzinfo=timezone.utc)
    seconds = np.sort(rng.integers(0, 86_000, n_orders))
    with connect(connection) as conn:
        with conn.transaction():
            _copy_text(conn, "customers", "customer_id, first_name, last_name, email",
                       [f"{c}\tA\tB\tb{i}@example.com\n" for i, c in enumerate(customers)])
            _copy_text(conn, "articles", "article_id, product_code, prod_name, product_type_name, product_group_name, "
                       "colour_group_name, department_name, index_name, index_group_name, garment_group_name, price, stock",
                       [f"{a}\t{a[:7]}\tItem\tT-shirt\tGarment Upper body\tBlack\tJersey\tLadieswear\tLadieswear\tJersey\t9.99\t100\n"
                        for a in articles])
            order_customer = rng.integers(0, N_CUSTOMERS, n_orders)
            buffer = io.StringIO()
            for order_id in range(n_orders):
                moment = (start + timedelta(seconds=int(seconds[order_id]))).isoformat()
                buffer.write(f"{order_id + 1}\t{customers[order_customer[order_id]]}\tplaced\t2\t{moment}\t{moment}\n")
            _copy_text(conn, "orders", "order_id, customer_id, status, sales_channel_id, created_at, updated_at", [buffer.getvalue()])
            item_article = rng.integers(0, N_ARTICLES, int(lines_per_order.sum()))
            buffer = io.StringIO()
            k = 0
            for order_id in range(n_orders):
                moment = (start + timedelta(seconds=int(seconds[order_id]))).isoformat()
                for line_no in range(1, lines_per_order[order_id] + 1):
                    buffer.write(f"{order_id + 1}\t{line_no}\t{articles[item_article[k]]}\t1\t9.99\t{moment}\n")
                    k += 1
            _copy_text(conn, "order_items", "order_id, line_no, article_id, quantity, unit_price, updated_at", [buffer.getvalue()])
        conn.execute("ANALYZE")
    return k


def time_copy(connection, sql: str) -> tuple[float, int]:
    with connect(connection) as conn:
        started = time.perf_counter()
        rows = 0
        with conn.cursor().copy(f"COPY ({sql}) TO STDOUT") as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
        return time.perf_counter() - started, rows


# The pipeline module's calls that run Spark jobs or touch the lake, timed by --profile.
PROFILED_CALLS = ("_read_source", "write_table", "_totals_by", "_existing_partitions", "delete_path",
                  "path_exists", "replace_partitions", "_census", "_publish", "_stage_outputs")


class CallTimer:
    """Wraps the named functions of a module with wall-clock timers (bench only)."""

    def __init__(self, module, names):
        self.calls: list[tuple[str, float, float]] = []  # label, start, end (epoch seconds)
        for name in names:
            original = getattr(module, name, None)
            if callable(original):
                setattr(module, name, self._timed(name, original))

    def _timed(self, name, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            target = next((a for a in args[1:] if isinstance(a, str)), "")
            started = time.time()
            try:
                return function(*args, **kwargs)
            finally:
                self.calls.append((f"{name} {'/'.join(target.split('/')[-2:])}".strip(), started, time.time()))
        return timed

    def print(self, origin: float, jobs: list[dict]) -> None:
        """Each call (nested ones indented) with its wall time, and the Spark jobs that started
        inside it: how many, and their tasks' CPU time."""
        print("\ncalls of the pipeline module: start offset, wall, Spark jobs started inside, their task CPU time")
        for label, started, ended in sorted(self.calls, key=lambda c: (c[1], -c[2])):
            depth = sum(1 for _, s, e in self.calls if s <= started and e >= ended) - 1
            inside = [j for j in jobs if started <= j["start"] <= ended]
            cpu = sum(j["cpu_s"] for j in inside)
            print(f"  {started - origin:7.2f} s {ended - started:7.2f} s {len(inside):4d} jobs {cpu:6.2f} s cpu  "
                  f"{'  ' * depth}{label}")
        outside = [j for j in jobs if j["start"] >= origin and not any(s <= j["start"] <= e for _, s, e in self.calls)]
        print(f"  elsewhere (collects, plans):  {len(outside):4d} jobs {sum(j['cpu_s'] for j in outside):6.2f} s cpu")


def spark_jobs(event_dir: Path) -> list[dict]:
    """Every Spark job of the session from its event log: start (epoch s), wall, task CPU time."""
    logs = sorted(p for p in event_dir.iterdir() if p.is_file())
    jobs, stage_cpu_ns = {}, {}
    for line in (logs[-1].read_text().splitlines() if logs else []):
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            jobs[event["Job ID"]] = {"start": event["Submission Time"] / 1000, "stages": event["Stage IDs"]}
        elif kind == "SparkListenerJobEnd":
            jobs[event["Job ID"]]["end"] = event["Completion Time"] / 1000
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            stage_cpu_ns[info["Stage ID"]] = sum(a.get("Value", 0) for a in info.get("Accumulables", [])
                                                 if a.get("Name") == "internal.metrics.executorCpuTime")
    return [{"id": job_id, "start": job["start"], "wall_s": job.get("end", job["start"]) - job["start"],
             "cpu_s": sum(stage_cpu_ns.get(s, 0) for s in job["stages"]) / 1e9}
            for job_id, job in sorted(jobs.items())]


def time_spark_submit(config, lake_root: Path) -> float:
    """`spark-submit jobs/extract_rds.py` for the day, as the nightly's local target runs it (the
    venv's launcher, conf/spark), on an empty lake; seconds from process start to exit."""
    from fashion_pipeline.orchestration.nightly_tasks import spark_submit_environment

    command = [str(Path(sys.executable).parent / "spark-submit"), str(ROOT / "jobs" / "extract_rds.py"),
               "--env", "local", "--run-date", RUN_DATE.isoformat(), "--lake-root", str(lake_root),
               "--set", f"paths.state_dir={config.paths.state_dir}", "--set", f"rds.port={config.rds.port}",
               "--set", f"rds.database={config.rds.database}", "--set", f"rds.num_partitions={config.rds.num_partitions}",
               "--set", f"rds.fetch_size={config.rds.fetch_size}",
               "--set", f"spark.shuffle_partitions={config.spark.shuffle_partitions}"]
    environment = spark_submit_environment()
    # This checkout's package, whichever one the venv was made from.
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "lib"), environment.get("PYTHONPATH")) if p)
    started = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "reconciles: yes" not in done.stdout:
        raise SystemExit(f"spark-submit failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_200_000, help="order lines in the day (>= 1M for the record)")
    parser.add_argument("--partitions", type=int, default=2, help="JDBC numPartitions")
    parser.add_argument("--fetch-size", type=int, default=50_000, help="JDBC fetchsize")
    parser.add_argument("--skip-extract", action="store_true", help="time only the reads")
    parser.add_argument("--runs", type=int, default=1, help="in-process runs of the job; the 2nd on are re-runs")
    parser.add_argument("--spark-submit", action="store_true",
                        help="also time `spark-submit jobs/extract_rds.py` from process start to exit")
    parser.add_argument("--profile", action="store_true",
                        help="time the pipeline's calls and list Spark's jobs and stages (event log)")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="fashion-bench-rds-"))
    workdir.chmod(0o711)  # the postgres user must reach its data dir
    service = PostgresService(workdir / "state", free_port(), database="bench")
    try:
        (workdir / "state").mkdir()
        (workdir / "state").chmod(0o711)
        service.up()
        credentials = service.app_credentials()
        os.environ[USER_VARIABLE], os.environ[PASSWORD_VARIABLE] = credentials["username"], credentials["password"]
        config = load_config("local", overrides={
            "paths.lake_root": str(workdir / "lake"), "paths.state_dir": str(workdir / "state"),
            "rds.port": service.port, "rds.database": "bench", "rds.num_partitions": args.partitions,
            "rds.fetch_size": args.fetch_size, "spark.shuffle_partitions": 4,
        })
        event_dir = workdir / "events"
        if args.profile:
            event_dir.mkdir()
            config = config.with_overrides({"spark.extra": {
                **config.spark.extra, "spark.eventLog.enabled": "true", "spark.eventLog.dir": str(event_dir),
                # One plain JSON file (Spark 4 rolls and compresses by default).
                "spark.eventLog.rolling.enabled": "false", "spark.eventLog.compress": "false"}})
        connection = resolve_rds_connection(config)
        apply_migrations(connection)
        started = time.perf_counter()
        n_items = load_day(connection, args.items)
        print(f"loaded {n_items:,} order lines in {time.perf_counter() - started:.1f} s "
              f"(PostgreSQL on 127.0.0.1:{service.port}, {workdir})", flush=True)

        from fashion_pipeline.pipelines.extract_rds import changed_orders_sql, run_extract_rds
        from fashion_pipeline.spark import build_spark
        from fashion_pipeline.storage import storage_for
        from fashion_pipeline.store.jdbc import JdbcSource
        from fashion_pipeline.store.schemas import SOURCE_ORDER_ITEMS_SCHEMA

        items_sql = changed_orders_sql(RUN_DATE)["order_items"]
        copy_s, copy_rows = time_copy(connection, items_sql)

        spark = build_spark("bench-extract-rds", config)
        source = JdbcSource.from_config(config, connection)
        bounds = source.query_one_row(spark, changed_orders_sql(RUN_DATE)["bounds"])
        started, jdbc_epoch = time.perf_counter(), (time.time(), 0.0)
        source.read_by_key_range(spark, items_sql, "order_id", int(bounds["lower"]), int(bounds["upper"]),
                                 SOURCE_ORDER_ITEMS_SCHEMA).write.format("noop").mode("overwrite").save()
        jdbc_s = time.perf_counter() - started
        jdbc_epoch = (jdbc_epoch[0], time.time())
        copy_again_s, _ = time_copy(connection, items_sql)  # after Spark: the same cache state for both

        print(f"\n{'order lines':<44} {n_items:>12,}")
        print(f"{'jdbc read (Spark, %d partitions, fetch %d)' % (args.partitions, args.fetch_size):<44} "
              f"{jdbc_s:>8.1f} s {n_items / jdbc_s:>12,.0f} rows/s")
        copy_best = min(copy_s, copy_again_s)
        print(f"{'copy to stdout (psycopg), best of 2':<44} {copy_best:>8.1f} s {copy_rows / copy_best:>12,.0f} rows/s")
        print(f"{'jdbc / copy':<44} {copy_best / jdbc_s:>10.2f}x")
        timer = None
        if not args.skip_extract:
            import fashion_pipeline.pipelines.extract_rds as pipeline
            timer = CallTimer(pipeline, PROFILED_CALLS) if args.profile else None
            started, started_epoch = time.perf_counter(), time.time()
            report = run_extract_rds(spark, config, storage_for(config), RUN_DATE, connection)
            extract_s = time.perf_counter() - started
            assert report.reconciles and report.published.items == n_items
            print(f"{'extract_rds job, in-process, empty lake':<44} {extract_s:>8.1f} s "
                  f"{n_items / extract_s:>12,.0f} rows/s {extract_s / jdbc_s:>6.1f}x the jdbc read")
            for _ in range(args.runs - 1):
                rerun_started = time.perf_counter()
                again = run_extract_rds(spark, config, storage_for(config), RUN_DATE, connection)
                rerun_s = time.perf_counter() - rerun_started
                assert again.reconciles and again.published == report.published
                print(f"{'extract_rds re-run of the day, in-process':<44} {rerun_s:>8.1f} s "
                      f"{n_items / rerun_s:>12,.0f} rows/s {rerun_s / jdbc_s:>6.1f}x the jdbc read")
        spark.stop()
        if args.spark_submit:
            submit_s = time_spark_submit(config, workdir / "submitted-lake")
            print(f"{'spark-submit jobs/extract_rds.py, start to exit':<44} {submit_s:>8.1f} s "
                  f"{n_items / submit_s:>12,.0f} rows/s {submit_s / jdbc_s:>6.1f}x the jdbc read")
        print(f"load average (1 min) at the start {load_at_start:.1f}, at the end {os.getloadavg()[0]:.1f}")
        if timer:
            jobs = spark_jobs(event_dir)
            timer.print(started_epoch, jobs)
            cpu = sum(j["cpu_s"] for j in jobs if j["start"] >= started_epoch)
            print(f"  the job: {extract_s:.1f} s wall, {cpu:.1f} s of task CPU time")
            jdbc_cpu = sum(j["cpu_s"] for j in jobs if jdbc_epoch[0] <= j["start"] <= jdbc_epoch[1])
            print(f"  the jdbc read alone: {jdbc_s:.1f} s wall, {jdbc_cpu:.1f} s of task CPU time")
    finally:
        service.down()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
