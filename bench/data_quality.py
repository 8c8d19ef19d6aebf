"""data_quality at H&M scale (or the demo's size): builds what the job reads, then times it as a
fresh spark-submit, the checks the old way (one query per check over whole tables,
`--per-check-queries`) against the shared reads, and checks that both give the same results.

    .venv/bin/python bench/data_quality.py build --scale hm      # once: ~30-40 min on 2 busy cores
    .venv/bin/python bench/data_quality.py time --scale hm --repeat 3
    .venv/bin/python bench/data_quality.py build --scale demo && .venv/bin/python bench/data_quality.py time --scale demo

What data_quality reads for a run date D, and how `build` makes it (every step is skipped when
done, so an interrupted build resumes):
- the store's PostgreSQL (reconciliation: orders last changed on D): a private cluster under
  <root>/state on its own port, `fashion store simulate` for D-14..D (late changes reach back
  14 days), hm: store.scale=hm, seed 7 (the H&M files' shoppers and catalogue) and ~16,800 orders
  a day, about 43k lines (H&M: 31.8M transactions over 734 days);
- orders / order_items of D and the whole orders table (orders_pk_unique), D-60..D
  (orders_freshness): extract_rds for each simulated day, and for hm the two years before them as
  history, one order per (customer, day, channel) of the curated H&M transactions
  (<hm lake>/curated/transactions, from partition-raw), ids from 10^9 up (the shop's own start at 1);
- store_customers / store_articles snapshots of D: written by extract_rds (1.37M customers);
- sales_daily of D: daily_aggregates for D (it reads a year of orders);
- the other catalog tables the old path lists: hm links the H&M curated tables into the lake.

`time` runs `spark-submit jobs/data_quality.py` (this checkout's lib first on PYTHONPATH),
alternating old and new, plus a bare session start for reference, and prints each run's steps from
the job's scan_plan.txt, the load average around each run and, once, each new-path check alone
over the cached slices (in this process). Results of both paths are compared on every run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from fashion_pipeline.config import load_config  # noqa: E402
from fashion_pipeline.services import free_port  # noqa: E402
from fashion_pipeline.services.postgres import PostgresService  # noqa: E402
from fashion_pipeline.store.credentials import PASSWORD_VARIABLE, USER_VARIABLE  # noqa: E402

SCALES = {
    # run date, simulated days up to it, orders a day, store model scale and seed, H&M history
    "hm": {"run_date": date(2020, 10, 7), "days": 15, "orders_per_day": 16_800, "store_scale": "hm", "seed": 7,
           "history": True, "root": ROOT / "bench" / "out" / "dq-hm"},
    "demo": {"run_date": date(2020, 9, 25), "days": 3, "orders_per_day": 300, "store_scale": "small", "seed": 42,
             "history": False, "root": ROOT / "bench" / "out" / "dq-demo"},
}
# The H&M tables partition-raw made at hm scale, seed 7 (the commands in bench/RESULTS.md).
HM_LAKE = ROOT / "bench" / "out" / "hm-lake"
HM_CURATED = ("articles", "customers", "transactions")
HISTORY_FIRST_ID = 1_000_000_000
HISTORY_STATUSES_RETURNED_PERCENT = 3
DRIVER_MEMORY = "5g"  # the machine is shared: a 12g heap got the JVM killed by the OOM killer


class Bench:
    def __init__(self, scale: str, root: str | None, hm_lake: Path = HM_LAKE):
        self.scale = scale
        self.spec = SCALES[scale]
        self.root = Path(root or self.spec["root"])
        self.hm_lake = hm_lake
        self.run_date: date = self.spec["run_date"]
        self.lake = self.root / "lake"

    # ---- the store's database ----------------------------------------------------------------
    def postgres(self) -> PostgresService:
        port_file = self.root / "postgres-port"
        if not port_file.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            port_file.write_text(str(free_port()))
        state = self.root / "state"
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o711)  # the postgres user must reach its data dir
        return PostgresService(state, int(port_file.read_text()), database="store")

    def start_postgres(self) -> PostgresService:
        service = self.postgres()
        print(service.up(), flush=True)
        credentials = service.app_credentials()
        os.environ[USER_VARIABLE], os.environ[PASSWORD_VARIABLE] = credentials["username"], credentials["password"]
        return service

    def overrides(self) -> dict:
        return {
            "paths.lake_root": str(self.lake), "paths.raw_root": str(self.root / "raw"),
            "paths.state_dir": str(self.root / "state"),
            "rds.port": self.postgres().port, "rds.database": "store",
            "store.scale": self.spec["store_scale"], "store.seed": self.spec["seed"],
            "store.orders_per_day": self.spec["orders_per_day"],
        }

    def config(self, **more):
        return load_config("local", overrides={**self.overrides(), **more})

    def days(self) -> list[date]:
        return [self.run_date - timedelta(days=n) for n in range(self.spec["days"] - 1, -1, -1)]

    # ---- build -------------------------------------------------------------------------------
    def build(self) -> None:
        from fashion_pipeline.pipelines.daily_aggregates import run_daily_aggregates
        from fashion_pipeline.pipelines.extract_rds import extract_report_uri, run_extract_rds
        from fashion_pipeline.spark import build_spark
        from fashion_pipeline.storage import storage_for
        from fashion_pipeline.store.credentials import resolve_rds_connection
        from fashion_pipeline.store.database import apply_migrations
        from fashion_pipeline.store.simulate import simulate_day

        service = self.start_postgres()
        try:
            config = self.config(**{"spark.driver_memory": DRIVER_MEMORY, "spark.shuffle_partitions": 16})
            connection = resolve_rds_connection(config)
            for line in apply_migrations(connection):
                print(line, flush=True)
            for day in self.days():
                started = time.perf_counter()
                print(f"{simulate_day(config, connection, day).summary()} [{time.perf_counter() - started:.0f} s]", flush=True)
            spark = build_spark("bench-data-quality-build", config)
            storage = storage_for(config)
            for day in self.days():
                if storage.exists(extract_report_uri(config, day)):
                    continue
                started = time.perf_counter()
                report = run_extract_rds(spark, config, storage, day, connection)
                print(f"extract_rds {day}: {report.published.orders:,} orders, {report.published.items:,} lines "
                      f"published [{time.perf_counter() - started:.0f} s]", flush=True)
            if self.spec["history"]:
                self.link_hm_tables()
                self.write_history(spark, config)
            aggregates_report = self.lake / "_reports" / "daily_aggregates" / f"run_date={self.run_date}.json"
            if not aggregates_report.is_file():
                started = time.perf_counter()
                print(run_daily_aggregates(spark, config, storage, self.run_date).summary(), flush=True)
                print(f"daily_aggregates [{time.perf_counter() - started:.0f} s]", flush=True)
            spark.stop()
        finally:
            print(service.down(), flush=True)

    def link_hm_tables(self) -> None:
        for name in HM_CURATED:
            link = self.lake / "curated" / name
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(self.hm_lake / "curated" / name)

    def write_history(self, spark, config) -> None:
        """Orders and lines before the shop's first simulated day, from the H&M transactions."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        from fashion_pipeline.lake import read_table, write_table
        from fashion_pipeline.schemas import TRANSACTIONS_SCHEMA
        from fashion_pipeline.store.schemas import AMOUNT, MONEY, ORDER_ITEMS_SCHEMA, ORDERS_SCHEMA
        from fashion_pipeline.tables import ORDER_ITEMS_TABLE, ORDERS_TABLE, STORE_ARTICLES_TABLE

        marker = self.root / "history.done"
        if marker.is_file():
            return
        started = time.perf_counter()
        first_store_day = self.days()[0]
        lines_df = read_table(spark, str(self.hm_lake / "curated" / "transactions"), TRANSACTIONS_SCHEMA).filter(
            F.col("t_dat") < F.lit(first_store_day))
        key = [F.col("customer_id"), F.col("t_dat"), F.col("sales_channel_id")]
        with_order_df = lines_df.withColumn(
            "order_id", F.pmod(F.xxhash64(*key), F.lit(4_000_000_000_000_000_000)) + F.lit(HISTORY_FIRST_ID)
        ).withColumn(
            "created_at", (F.col("t_dat").cast("timestamp").cast("long")
                           + F.lit(7 * 3600) + F.pmod(F.hash(*key), F.lit(16 * 3600))).cast("timestamp"))
        prices_df = read_table(spark, STORE_ARTICLES_TABLE.uri(config, snapshot_date=first_store_day)).select(
            "article_id", F.col("price").alias("unit_price"))
        items_df = (
            with_order_df.groupBy("order_id", "article_id", "created_at", F.col("t_dat").alias("order_date"))
            .agg(F.count(F.lit(1)).cast("int").alias("quantity"))
            .join(F.broadcast(prices_df), "article_id", how="left")
            .withColumn("unit_price", F.coalesce("unit_price", F.lit("9.99").cast(MONEY)))
            .withColumn("line_no", F.row_number().over(Window.partitionBy("order_id").orderBy("article_id")).cast("int"))
            .withColumn("line_amount", (F.col("quantity") * F.col("unit_price")).cast(AMOUNT))
            .withColumn("updated_at", F.col("created_at"))
            .select(*ORDER_ITEMS_SCHEMA.fieldNames())
        )
        returned = F.pmod(F.hash("order_id"), F.lit(100)) < HISTORY_STATUSES_RETURNED_PERCENT
        orders_df = (
            with_order_df.groupBy("order_id", "customer_id", "sales_channel_id", "created_at", F.col("t_dat").alias("order_date"))
            .agg(F.count(F.lit(1)).alias("_units"))
            .withColumn("status", F.when(returned, "returned").otherwise("delivered"))
            .withColumn("updated_at", F.col("created_at") + F.expr("INTERVAL 3 DAYS"))
            .select(*ORDERS_SCHEMA.fieldNames())
        )
        write_table(orders_df.repartition("order_date"), ORDERS_TABLE.uri(config), ORDERS_TABLE.partition_keys)
        write_table(items_df.repartition("order_date"), ORDER_ITEMS_TABLE.uri(config), ORDER_ITEMS_TABLE.partition_keys)
        marker.write_text(f"history before {first_store_day} written in {time.perf_counter() - started:.0f} s\n")
        print(marker.read_text().strip(), flush=True)

    # ---- time --------------------------------------------------------------------------------
    def submit(self, label: str, extra: list[str], timeout: int = 1800, checkout: Path = ROOT) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env["PYTHONPATH"] = str(checkout / "lib")
        venv_bin = Path(sys.executable).parent
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        options = []  # the driver's memory is spark-defaults' (spark-submit starts the JVM before the job's config)
        for name, value in self.overrides().items():
            options += ["--set", f"{name}={value}"]
        load_before = os.getloadavg()[0]
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        done = subprocess.run([str(venv_bin / "spark-submit"), *extra, *options], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - started
        # CPU seconds of spark-submit, the JVM and its Python (not PostgreSQL's): less at the mercy
        # of the other engineers' load than the wall time.
        outcome = {"label": label, "wall_s": round(wall, 1), "cpu_s": round(_children_cpu_s() - cpu_before, 1),
                   "rc": done.returncode,
                   "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1)}
        if done.returncode != 0:
            outcome["stderr_tail"] = done.stderr[-2000:]
        return outcome

    def dq_folder(self) -> Path:
        return self.lake / "_reports" / "dq" / f"run_date={self.run_date}"

    def results(self) -> dict:
        keep = ("name", "blocking", "description", "run_date", "checked_rows", "failed_rows", "details", "status")
        return {p.stem: {k: v for k, v in json.loads(p.read_text()).items() if k in keep}
                for p in sorted(self.dq_folder().glob("*.json"))}

    def time(self, repeat: int, baseline: Path | None) -> None:
        service = self.start_postgres()
        job = ["jobs/data_quality.py", "--run-date", str(self.run_date)]
        plans = [("old: one query per check", ROOT, [*job, "--per-check-queries"]), ("new: shared reads", ROOT, job)]
        if baseline:  # the job as it was, from another checkout (`git archive <commit> lib jobs conf`)
            plans.insert(0, (f"before: {baseline.name}", baseline, job))
        runs = []
        try:
            bare = ROOT / "bench" / "out" / "bare_session.py"
            bare.parent.mkdir(parents=True, exist_ok=True)
            bare.write_text("from fashion_pipeline.config import load_config\nfrom fashion_pipeline.spark import build_spark\n"
                            "import sys\nbuild_spark('bare', load_config('local')).range(1).count()\n")
            for n in range(repeat):
                runs.append(self.submit("session start only", [str(bare)]))
                print(json.dumps(runs[-1]), flush=True)
                answers = {}
                for label, checkout, arguments in plans:
                    plan_file = self.dq_folder() / "scan_plan.txt"
                    for earlier in [plan_file, *self.dq_folder().glob("*.json")]:
                        earlier.unlink(missing_ok=True)
                    outcome = self.submit(label, [str(checkout / arguments[0]), *arguments[1:]], checkout=checkout)
                    if not plan_file.is_file() and outcome["rc"] != 0:  # a failed check still writes its results
                        print(json.dumps(outcome, indent=1))
                        raise SystemExit(f"{label}: the job failed")
                    if plan_file.is_file():
                        outcome["steps"] = plan_file.read_text().splitlines()[1:]
                    answers[label] = self.results()
                    runs.append(outcome)
                    print(json.dumps(outcome, indent=1), flush=True)
                same = all(answer == answers["new: shared reads"] for answer in answers.values())
                print(f"repeat {n + 1}: old and new results {'EQUAL' if same else 'DIFFERENT'}", flush=True)
                if not same:
                    print(json.dumps(answers, indent=1))
                    raise SystemExit(1)
            print(json.dumps(answers["new: shared reads"], indent=1))
            self.each_check_alone()
        finally:
            print(service.down(), flush=True)
        out = ROOT / "bench" / "out" / f"data_quality-{self.scale}.json"
        out.write_text(json.dumps(runs, indent=1))
        for label in ("session start only", *(label for label, _, _ in plans)):
            walls = sorted(r["wall_s"] for r in runs if r["label"] == label)
            cpus = sorted(r["cpu_s"] for r in runs if r["label"] == label)
            loads = [r["load_before"] for r in runs if r["label"] == label]
            print(f"{label:<30} wall {walls[0]:.1f} .. {walls[-1]:.1f} s (median {walls[len(walls) // 2]:.1f}), "
                  f"cpu {cpus[0]:.1f} .. {cpus[-1]:.1f} s, load {min(loads):.1f} .. {max(loads):.1f}")

    def each_check_alone(self) -> None:
        """In this process: the new path's slices read and cached, then every check alone."""
        from fashion_pipeline.pipelines.data_quality import read_slice
        from fashion_pipeline.quality.checks import load_sql_checks
        from fashion_pipeline.quality.scan_plan import plan_shared_scans
        from fashion_pipeline.spark import build_spark
        from fashion_pipeline.tables import LAKE_TABLES

        config = self.config(**{"spark.driver_memory": DRIVER_MEMORY})
        spark = build_spark("bench-data-quality-checks", config)
        plan = plan_shared_scans(load_sql_checks(), self.run_date, {t.name: t.partition_keys for t in LAKE_TABLES})
        for table_slice in plan.slices:
            slice_df = read_slice(spark, config, table_slice)
            if plan.is_shared(table_slice):
                slice_df = slice_df.cache()
                slice_df.count()
            slice_df.createOrReplaceTempView(table_slice.view)
        print("each check alone over the slices (shared slices cached), warm session, best of 2:")
        for planned in plan.checks:
            times = []
            for _ in range(2):
                started = time.perf_counter()
                spark.sql(planned.spark_sql).collect()
                times.append(time.perf_counter() - started)
            print(f"  {min(times):6.2f} s  {planned.check.name}")
        spark.stop()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["build", "time"])
    parser.add_argument("--scale", choices=sorted(SCALES), default="hm")
    parser.add_argument("--root", help="where the store's database and lake live (default: per scale)")
    parser.add_argument("--hm-lake", type=Path, default=HM_LAKE,
                        help="a lake where partition-raw wrote the hm/7 H&M tables (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="also time the job of this checkout (lib/ and jobs/ of an older commit)")
    args = parser.parse_args()
    bench = Bench(args.scale, args.root, args.hm_lake)
    if args.action == "build":
        bench.build()
    else:
        bench.time(args.repeat, args.baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
