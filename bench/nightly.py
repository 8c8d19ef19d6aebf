"""The whole nightly batch, as the Airflow DAG's local target runs it, at a chosen scale: one
benchmark of the night a user pays for.

    .venv/bin/python bench/nightly.py --scale small              # builds its inputs the first time
    .venv/bin/python bench/nightly.py --scale hm --seed 7        # H&M size; driver memory 12g
    .venv/bin/python bench/nightly.py --scale small --event-logs # + where each step's time went
    .venv/bin/python bench/nightly.py --scale small --clean      # forget the built inputs

Inputs, built once per scale and seed under bench/out/nightly-<scale>-<seed>/ (a rerun says it
reuses them):
- the generator's H&M-schema CSVs (bench/out/data-<scale>-<seed>, shared with
  bench/partition_raw.py, or `--csv DIR` for ones generated elsewhere with the same scale and seed), landed into the bench's raw root on the run date;
- the store's PostgreSQL (`PostgresService`, as `fashion services up` starts it), holding the
  generator's customers and articles (`seed_reference_data`) and two years of orders: the
  generator's transactions grouped into baskets (a customer's sales of one day and channel are an
  order, an article's units one line), priced at the shop's prices, each with a status and last
  change as of the night before the run date; loaded with COPY;
- the lake those two years of nightly extracts would have left: the same orders in the curated
  `orders`/`order_items` tables (DuckDB writes them, partitioned by order_date);
- then the run date's store activity, `simulate_day` at H&M's daily volume for the scale
  (transactions / 734 days; 43k order lines at hm), with its late changes to the previous two
  weeks' orders.

The night: every job of NIGHTLY_JOBS in the DAG's order, each its own `spark-submit` from
`local_submit_command` (the DAG's local target), with the bench's raw and lake roots added as the
jobs' own --raw-root/--lake-root and, at hm, the driver memory a user of this 2-core 23 GB machine
sets for spark-submit (`--driver-memory 12g`: spark.driver_memory in conf/*.yaml only applies to a
session started in-process). moto runs throughout, as `fashion services up` leaves it.
partition_raw runs when `raw_files_pending` says so; a rerun of the bench first removes the report
of its own earlier run, so every night measured is one on which raw files landed. The DAG's local
`athena_checks` (the DQ SQL on DuckDB, in the Airflow worker) is timed after data_quality.
load_recommendations writes to DynamoDB, which moto serves far slower than AWS, so it runs apart,
on a sample of at most --load-sample rows of each table copied to a lake of its own, and is left
out of the total.

Wall seconds are process start to exit (what an EMR step pays); peak memory is the largest sum of
PSS over the spark-submit process tree (driver JVM, Python driver and workers: PSS shares the
forked workers' common pages out instead of counting them per worker), sampled every 0.5 s, and
the JVM's largest RSS. Rows come from each job's report under the lake's `_reports`. With
--event-logs each job also writes a Spark event log, and the bench prints how long the driver ran
alone, one task, or two and more, and the longest single-task stages.
Results go to bench/out/nightly-<scale>-<seed>-<UTC time>.json. Re-running replaces the day:
the store day is simulated once, and every job replaces what it wrote for the run date.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

RUN_DATE = date(2020, 9, 23)  # the shop's first day after H&M's history, as in the demo
OUT = ROOT / "bench" / "out"
SCALES = ("tiny", "small", "medium", "hm")
# What a user of this 2-core, 23 GB machine gives the driver (local mode: all Spark has) for a
# scale; None keeps conf/spark/spark-defaults.conf's 6g.
DRIVER_MEMORY = {"hm": "12g"}
GOAL_SECONDS = 15 * 60
LOAD_SAMPLE_ROWS = 100_000
LOAD_JOB = "load_recommendations"
SAMPLE_INTERVAL_S = 0.5
# The history's order statuses as of the night before the run date: older orders are settled.
SETTLED_CANCELLED, SETTLED_RETURNED = 40, 140  # per mille, by a hash of the order
RECENT_CANCELLED = 30
HISTORY_SQL = """
SET preserve_insertion_order = false;
SET TimeZone = 'UTC';
CREATE OR REPLACE TABLE sale_lines AS
SELECT CAST(t_dat AS DATE) AS order_date, customer_id, CAST(sales_channel_id AS INTEGER) AS sales_channel_id,
       article_id, CAST(count(*) AS INTEGER) AS quantity
FROM read_csv('{transactions}', header = true, all_varchar = true)
GROUP BY ALL;
CREATE OR REPLACE TABLE history_orders AS
WITH baskets AS (
    SELECT order_date, customer_id, sales_channel_id,
           CAST(order_date AS TIMESTAMPTZ) + INTERVAL {opening_hour} HOUR
               + to_seconds(CAST(hash(customer_id, order_date, sales_channel_id) % {open_seconds} AS BIGINT)) AS created_at,
           DATE '{run_date}' - order_date AS age_days,
           hash(customer_id, order_date, sales_channel_id, 'status') % 1000 AS draw
    FROM (SELECT DISTINCT order_date, customer_id, sales_channel_id FROM sale_lines)
), with_status AS (
    SELECT *, CASE
        WHEN age_days > {late_days} THEN CASE WHEN draw < {settled_cancelled} THEN 'cancelled'
                                              WHEN draw < {settled_returned} THEN 'returned' ELSE 'delivered' END
        WHEN draw < {recent_cancelled} THEN 'cancelled'
        WHEN age_days >= 7 THEN 'delivered'
        WHEN age_days >= 4 THEN 'shipped'
        WHEN age_days >= 2 THEN 'paid'
        ELSE 'placed' END AS status
    FROM baskets
)
SELECT row_number() OVER (ORDER BY created_at, customer_id, sales_channel_id) AS order_id,
       customer_id, status, sales_channel_id, created_at,
       -- the last change, always before the run date: the run date's window holds only its own
       created_at + to_days(CAST(least(age_days - 1, CASE status WHEN 'placed' THEN 0 WHEN 'paid' THEN 1
           WHEN 'shipped' THEN 2 WHEN 'cancelled' THEN 1 WHEN 'delivered' THEN 5 ELSE 12 END) AS INTEGER)) AS updated_at,
       order_date
FROM with_status;
CREATE OR REPLACE TABLE history_order_items AS
SELECT o.order_id,
       CAST(row_number() OVER (PARTITION BY o.order_id ORDER BY l.article_id) AS INTEGER) AS line_no,
       l.article_id, l.quantity, p.unit_price, o.created_at AS updated_at, o.order_date
FROM sale_lines l
JOIN history_orders o USING (order_date, customer_id, sales_channel_id)
JOIN shop_prices p USING (article_id);
DROP TABLE sale_lines;
"""


# ---- where things are ----------------------------------------------------------------------

@dataclass(frozen=True)
class BenchPaths:
    scale: str
    seed: int

    @property
    def root(self) -> Path:
        return OUT / f"nightly-{self.scale}-{self.seed}"

    @property
    def raw_root(self) -> Path:
        return self.root / "raw"

    @property
    def lake_root(self) -> Path:
        return self.root / "lake"

    @property
    def load_lake_root(self) -> Path:
        return self.root / "load-lake"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def history_db(self) -> Path:
        return self.root / "store-history.duckdb"

    @property
    def lake_history_done(self) -> Path:
        return self.root / "lake-history.done"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"


def csv_dir(scale: str, seed: int, given: Path | None = None) -> Path:
    return given or OUT / f"data-{scale}-{seed}"


def bench_config(paths: BenchPaths, postgres_port: int, moto_port: int, orders_per_day: int):
    """The configuration every in-process step of the bench uses; the jobs get the same through
    their command line and FASHION_* variables (see job_environment)."""
    from fashion_pipeline.config import load_config

    return load_config("local", overrides={
        "paths.raw_root": str(paths.raw_root), "paths.lake_root": str(paths.lake_root),
        "paths.state_dir": str(paths.state_dir),
        "rds.port": postgres_port, "services.postgres_port": postgres_port,
        "aws.endpoint_url": f"http://127.0.0.1:{moto_port}", "services.moto_port": moto_port,
        "store.scale": paths.scale, "store.seed": paths.seed, "store.orders_per_day": orders_per_day,
    })


def daily_orders(scale: str) -> int:
    """Orders a day for H&M's daily volume at `scale`: its transactions over H&M's 734 days,
    divided by the mean basket `simulate_day` draws (geometric lines, capped)."""
    from fashion_pipeline.generate import scale_spec
    from fashion_pipeline.generate.calendar import N_DAYS
    from fashion_pipeline.store.simulate import BASKET_LINES_P, MAX_LINES

    lines_per_day = scale_spec(scale).n_transactions / N_DAYS
    mean_lines = sum((1 - BASKET_LINES_P) ** k for k in range(MAX_LINES))
    return max(1, round(lines_per_day / mean_lines))


# ---- the night's steps, as the DAG's local target submits them -------------------------------

@dataclass(frozen=True)
class PlannedStep:
    job: str
    command: list[str]
    apart: bool  # timed apart from the night's total (load_recommendations)


def night_plan(config, run_date: date, driver_memory: str | None, load_lake_root: Path) -> list[PlannedStep]:
    """Each nightly job's command: the DAG's local target's (`local_submit_command`), plus the
    driver memory (a spark-submit option, before the job file) and the bench's roots (the jobs'
    own options, after its arguments)."""
    from fashion_pipeline.orchestration.steps import NIGHTLY_JOBS, local_submit_command

    plan = []
    for job in NIGHTLY_JOBS:
        command = local_submit_command(job, config, run_date)
        if driver_memory:
            command[1:1] = ["--driver-memory", driver_memory]
        lake_root = load_lake_root if job.name == LOAD_JOB else config.paths.lake_root
        command += ["--raw-root", config.paths.raw_root, "--lake-root", str(lake_root)]
        plan.append(PlannedStep(job.name, command, apart=job.name == LOAD_JOB))
    return plan


def job_environment(config, credentials: dict) -> dict[str, str]:
    """What the Airflow worker's environment gives a job: the bench's roots, the services' ports,
    the store's credentials as an operator sets them, the venv's spark-submit on PATH, and this
    checkout's package first on the Python path (the venv's editable install may be another
    checkout's; the tests run with PYTHONPATH=$PWD/lib for the same reason)."""
    from fashion_pipeline.orchestration.nightly_tasks import spark_submit_environment
    from fashion_pipeline.store.credentials import PASSWORD_VARIABLE, USER_VARIABLE

    return spark_submit_environment({
        **os.environ,
        "FASHION_RAW_ROOT": config.paths.raw_root, "FASHION_LAKE_ROOT": config.paths.lake_root,
        "FASHION_STATE_DIR": config.paths.state_dir,
        "FASHION_POSTGRES_PORT": str(config.rds.port), "FASHION_MOTO_PORT": str(config.services.moto_port),
        USER_VARIABLE: credentials["username"], PASSWORD_VARIABLE: credentials["password"],
        # The athena_checks child imports Airflow, which keeps its home there.
        "AIRFLOW_HOME": str(Path(config.paths.state_dir) / "airflow"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "lib"), os.environ.get("PYTHONPATH")) if p),
    })


# ---- measuring a process -------------------------------------------------------------------

@dataclass
class StepResult:
    job: str
    command: list[str]
    seconds: float = 0.0
    exit_code: int | None = None
    peak_tree_pss: int = 0
    peak_parts: dict = field(default_factory=dict)  # PSS by process name at the peak
    peak_jvm_rss: int = 0
    jvm_heap: str = ""
    load_before: str = ""
    load_after: str = ""
    rows_in: str = ""
    rows_out: str = ""
    details: dict = field(default_factory=dict)
    log: str = ""
    apart: bool = False


def proportional_set_size(pid: int) -> int | None:
    """A process's PSS in bytes: its pages, shared ones divided among their sharers, so forked
    Python workers are not counted once per worker (RSS would)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class TreeMemorySampler(threading.Thread):
    """The largest memory of a process and its descendants together (PSS, summed), what it was
    made of at that moment, and the largest RSS of its java child (the driver JVM)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_tree = 0
        self.peak_parts: dict[str, int] = {}
        self.peak_jvm = 0
        self.jvm_heap = ""  # the driver JVM's -Xmx: which driver memory the step really ran with
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            parts: dict[str, int] = {}
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    name, rss = process.name(), process.memory_info().rss
                    pss = proportional_set_size(process.pid)
                    # None: gone since the listing, e.g. a JVM thread's fork before its exec
                    # (named after the thread), whose RSS would count the JVM's pages twice.
                    if pss is not None:
                        parts[name] = parts.get(name, 0) + pss
                    if name == "java":
                        self.peak_jvm = max(self.peak_jvm, rss)
                        heap = [arg for arg in process.cmdline() if arg.startswith("-Xmx")]
                        self.jvm_heap = heap[-1][4:] if heap else self.jvm_heap
            if sum(parts.values()) > self.peak_tree:
                self.peak_tree, self.peak_parts = sum(parts.values()), parts
            self._done.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def run_measured(job: str, command: list[str], env: dict[str, str], log_path: Path) -> StepResult:
    result = StepResult(job, command, load_before=load_average(), log=str(log_path))
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        sampler = TreeMemorySampler(process.pid)
        sampler.start()
        result.exit_code = process.wait()
        result.seconds = time.perf_counter() - started
        sampler.stop()
    result.peak_tree_pss, result.peak_parts, result.peak_jvm_rss = sampler.peak_tree, sampler.peak_parts, sampler.peak_jvm
    result.jvm_heap = sampler.jvm_heap
    result.load_after = load_average()
    return result


def last_line(log_path: str) -> str:
    lines = [line.strip() for line in Path(log_path).read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# ---- inputs --------------------------------------------------------------------------------

def say(text: str) -> None:
    print(text, flush=True)


def claim_inputs(paths: BenchPaths, run_date: date) -> None:
    """The inputs are of one run date (the history's statuses are as of the night before it, the
    store's day is that date): a cache built for another is refused, not silently reused."""
    record = paths.root / "inputs.json"
    if record.is_file():
        built_for = json.loads(record.read_text())["run_date"]
        if built_for != str(run_date):
            raise SystemExit(f"the inputs in {paths.root} are for run date {built_for}: run with --run-date "
                             f"{built_for}, or --clean first to build them for {run_date}")
        return
    paths.root.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"scale": paths.scale, "seed": paths.seed, "run_date": str(run_date)}) + "\n")


def ensure_csv(scale: str, seed: int, given: Path | None) -> Path:
    folder = csv_dir(scale, seed, given)
    if (folder / "_truth" / "manifest.json").is_file():
        say(f"inputs: H&M-schema CSVs reused from {folder}")
        return folder
    if given:
        raise SystemExit(f"--csv {given}: no generator output there (its _truth/manifest.json is missing)")
    from fashion_pipeline.generate import generate_hm

    started = time.perf_counter()
    result = generate_hm(scale, seed, folder, progress=False)
    say(f"inputs: {result.summary()} [{time.perf_counter() - started:.0f} s]")
    return folder


def ensure_landed(folder: Path, config, run_date: date) -> None:
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.storage import storage_for

    started = time.perf_counter()
    outcomes = land_directory(folder, config.paths.raw_root, run_date, storage_for(config))
    landed = [o.table for o in outcomes if o.landed]
    say(f"inputs: raw files {'landed: ' + ', '.join(landed) if landed else 'already landed (reused)'} in "
        f"{config.paths.raw_root} [{time.perf_counter() - started:.0f} s]")


def build_history_tables(paths: BenchPaths, folder: Path, model, run_date: date, late_days: int) -> None:
    """The two years of store orders, in a DuckDB file both the database and the lake load from."""
    import duckdb
    import pyarrow as pa

    from fashion_pipeline.generate.frames import article_id_array
    from fashion_pipeline.store.simulate import CLOSING_HOUR, OPENING_HOUR, shop_price

    started = time.perf_counter()
    partial = paths.history_db.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    connection = duckdb.connect(str(partial))
    connection.execute("SET threads = 2")
    connection.execute("SET memory_limit = '4GB'")
    connection.execute(f"SET temp_directory = '{paths.root / 'duckdb-tmp'}'")
    shop_prices = pa.table({  # noqa: F841 (DuckDB reads it by name)
        "article_id": article_id_array(model.catalogue),
        "unit_price": pa.array([shop_price(int(p)) for p in model.catalogue.price_point], pa.decimal128(10, 2)),
    })
    connection.execute("CREATE TABLE shop_prices AS SELECT * FROM shop_prices")
    connection.execute(HISTORY_SQL.format(
        transactions=folder / "transactions_train.csv", run_date=run_date, late_days=late_days,
        opening_hour=OPENING_HOUR, open_seconds=(CLOSING_HOUR - OPENING_HOUR) * 3600,
        settled_cancelled=SETTLED_CANCELLED, settled_returned=SETTLED_RETURNED, recent_cancelled=RECENT_CANCELLED,
    ))
    orders, lines = connection.execute(
        "SELECT (SELECT count(*) FROM history_orders), (SELECT count(*) FROM history_order_items)").fetchone()
    connection.close()
    partial.rename(paths.history_db)
    say(f"inputs: store history built: {orders:,} orders, {lines:,} lines [{time.perf_counter() - started:.0f} s]")


def history_connection(paths: BenchPaths):
    import duckdb

    connection = duckdb.connect(str(paths.history_db), read_only=True)
    connection.execute("SET threads = 2")
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def database_has_history(service, run_date: date) -> bool:
    import psycopg

    with psycopg.connect(service.admin_dsn(service.database)) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM orders WHERE created_at < %s)", (run_date,)).fetchone()[0]


def load_database(paths: BenchPaths, service, model, seed: int) -> None:
    """Customers and articles (the simulator's own seeding), then the history by COPY, in one
    transaction. As the cluster's owner with session_replication_role=replica, as pg_restore
    loads: the rows are consistent by construction, so 30M foreign-key checks and the
    lines-touch-their-order trigger (a no-op for lines as old as their order) are skipped."""
    import psycopg

    from fashion_pipeline.store.simulate import seed_reference_data

    started = time.perf_counter()
    export_dir = paths.root / "store-history-csv"
    shutil.rmtree(export_dir, ignore_errors=True)
    export_dir.mkdir()
    history = history_connection(paths)
    exports = {
        "orders": ("order_id, customer_id, status, sales_channel_id, created_at, updated_at", "order_id"),
        "order_items": ("order_id, line_no, article_id, quantity, unit_price, updated_at", "order_id, line_no"),
    }
    for table, (columns, order) in exports.items():
        history.execute(f"COPY (SELECT {columns} FROM history_{table} ORDER BY {order}) "
                        f"TO '{export_dir / table}.csv' (FORMAT csv, HEADER false)")
    history.close()
    counts = {}
    with psycopg.connect(service.admin_dsn(service.database)) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        with conn.transaction():
            counts.update(seed_reference_data(conn, model, seed))
            for table, (columns, _) in exports.items():
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    with open(export_dir / f"{table}.csv", "rb") as source:
                        while block := source.read(1 << 20):
                            copy.write(block)
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with psycopg.connect(service.admin_dsn(service.database), autocommit=True) as conn:
        conn.execute("ANALYZE")
    shutil.rmtree(export_dir)
    say("inputs: store database loaded by COPY: " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
        + f" [{time.perf_counter() - started:.0f} s]")


def write_lake_history(paths: BenchPaths, config) -> None:
    """The curated orders and lines the previous nights' extracts left, partitioned by order_date."""
    from fashion_pipeline.tables import ORDER_ITEMS_TABLE, ORDERS_TABLE

    started = time.perf_counter()
    history = history_connection(paths)
    line_amount = ", CAST(quantity * unit_price AS DECIMAL(20,2)) AS line_amount"
    for table, extra in ((ORDERS_TABLE, ""), (ORDER_ITEMS_TABLE, line_amount)):
        target = Path(table.uri(config))
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        columns = ", ".join(table.schema.fieldNames())
        history.execute(
            f"COPY (SELECT {columns} FROM (SELECT *{extra} FROM history_{table.name})) TO '{partial}' "
            f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({', '.join(table.partition_keys)}))")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    history.close()
    paths.lake_history_done.write_text(datetime.now(timezone.utc).isoformat() + "\n")
    say(f"inputs: lake history written (curated orders, order_items) [{time.perf_counter() - started:.0f} s]")


def ensure_store(paths: BenchPaths, folder: Path, config, postgres, run_date: date) -> None:
    from fashion_pipeline.generate import TasteModel, scale_spec
    from fashion_pipeline.store.credentials import resolve_rds_connection
    from fashion_pipeline.store.database import apply_migrations
    from fashion_pipeline.store.simulate import simulate_day

    connection = resolve_rds_connection(config)
    apply_migrations(connection)
    need_database = not database_has_history(postgres, run_date)
    need_lake = not paths.lake_history_done.is_file()
    if need_database or need_lake:
        model = TasteModel.build(scale_spec(paths.scale), paths.seed)
        if not paths.history_db.is_file():
            build_history_tables(paths, folder, model, run_date, config.store.late_change_days)
        if need_database:
            load_database(paths, postgres, model, paths.seed)
        if need_lake:
            write_lake_history(paths, config)
        paths.history_db.unlink()
        shutil.rmtree(paths.root / "duckdb-tmp", ignore_errors=True)
    else:
        say("inputs: store database and lake history reused")
    started = time.perf_counter()
    day = simulate_day(config, connection, run_date)
    say(f"inputs: {day.summary()} [{time.perf_counter() - started:.0f} s]"
        + (" (reused)" if day.skipped else f" (store.orders_per_day {config.store.orders_per_day:,})"))


@contextlib.contextmanager
def services(paths: BenchPaths):
    """The project's PostgreSQL (its cluster kept between runs) and moto, on free ports, stopped
    on the way out; a server an interrupted run left behind is stopped first."""
    from fashion_pipeline.services import MotoService, PostgresService, free_port

    paths.state_dir.mkdir(parents=True, exist_ok=True)
    postgres = PostgresService(paths.state_dir, free_port())
    moto = MotoService(paths.state_dir, free_port())
    for service in (postgres, moto):
        service.down()
    try:
        for service in (postgres, moto):
            say(f"services: {service.up()}")
        yield postgres, moto
    finally:
        for service in (moto, postgres):
            say(f"services: {service.down()}")


# ---- the steps' own figures ----------------------------------------------------------------

def _report(config, *parts: str) -> dict | None:
    from fashion_pipeline.lake_paths import reports_uri

    path = Path(reports_uri(config, *parts))
    return json.loads(path.read_text()) if path.is_file() else None


def _lines_in_window(config, run_date: date) -> int:
    """Order lines in the lake over the window daily_aggregates reads (Parquet footers only)."""
    import pyarrow.parquet as pq

    from fashion_pipeline.tables import ORDER_ITEMS_TABLE
    from fashion_pipeline.transforms.marketing import TREND_WINDOW_DAYS

    analytics = config.analytics
    days = max(analytics.rfm_lookback_days, analytics.restatement_days, 2 * TREND_WINDOW_DAYS)
    first = run_date - timedelta(days=days - 1)
    rows = 0
    for folder in Path(ORDER_ITEMS_TABLE.uri(config)).glob("order_date=*"):
        if first <= date.fromisoformat(folder.name.split("=", 1)[1]) <= run_date:
            rows += sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
    return rows


def step_figures(result: StepResult, config, run_date: date, partition_raw_report: str | None) -> None:
    """rows in / rows out of a finished step, from its report (or, for the load, its summary)."""
    job, day = result.job, f"run_date={run_date}"
    if job == "extract_rds" and (report := _report(config, "extract_rds", f"{day}.json")):
        read, published, quarantined = report["read"], report["published"], report["quarantined"]
        result.rows_in = f"{read['orders']:,} orders / {read['items']:,} lines"
        result.rows_out = (f"{published['items']:,} lines published, {quarantined['items']:,} quarantined, "
                           f"{len(report['rewritten_order_dates'])} order dates rewritten")
        result.details = report
    elif job == "partition_raw" and partition_raw_report and Path(partition_raw_report).is_file():
        report = json.loads(Path(partition_raw_report).read_text())
        result.rows_in = f"{sum(t['rows_read'] for t in report['tables']):,} rows"
        result.rows_out = (f"{sum(t['rows_written'] for t in report['tables']):,} written, "
                           f"{sum(t['rows_quarantined'] for t in report['tables']):,} quarantined")
        result.details = report
    elif job == "daily_aggregates" and (report := _report(config, "daily_aggregates", f"{day}.json")):
        result.rows_in = f"{_lines_in_window(config, run_date):,} order lines (window)"
        result.rows_out = f"{sum(report['rows_written'].values()):,} rows in {len(report['rows_written'])} tables"
        result.details = report
    elif job == "train_als" and (report := _report(config, "recs", f"train_als-{run_date}.json")):
        result.rows_in = f"{report['interactions']:,} interactions"
        result.rows_out = (f"{report['users_with_history'] + report['cold_start_users']:,} customers "
                           f"({report.get('served_strategy', 'blend')}), "
                           f"{report['articles_with_neighbors']:,} articles' neighbours")
        result.details = report
    elif job == "data_quality":
        folder = Path(config.paths.lake_root) / "_reports" / "dq" / day
        checks = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        if checks:
            result.rows_in = f"{max(c['checked_rows'] for c in checks):,} rows (largest check)"
            result.rows_out = f"{sum(c['status'] == 'pass' for c in checks)} of {len(checks)} checks pass"
            result.details = {"checks": checks}
    elif job == LOAD_JOB:
        tables = {}
        for line in Path(result.log).read_text(errors="replace").splitlines():
            name, sep, rest = line.partition(": ")
            if sep and " rows -> " in rest and " items in " in rest:
                rows_text, _, items_text = rest.partition(" rows -> ")
                tables[name] = {"rows": int(rows_text.replace(",", "")),
                                "items": int(items_text.split(" items")[0].replace(",", ""))}
        if tables:
            items = sum(t["items"] for t in tables.values())
            result.rows_in = f"{sum(t['rows'] for t in tables.values()):,} rows"
            result.rows_out = f"{items:,} items, {items / result.seconds:,.0f} items/s"
            result.details = {"tables": tables, "items_per_s": items / result.seconds}


# ---- the night -----------------------------------------------------------------------------

def prepare_partition_raw(config) -> str:
    """partition_raw's report path for the landed files; the report of an earlier run of the
    bench is removed so that the DAG's raw_files_pending says yes, as on a night files landed."""
    from fashion_pipeline.orchestration.raw_inputs import (
        inputs_fingerprint,
        partition_raw_inputs,
        partition_raw_report_uri,
        raw_files_pending,
    )
    from fashion_pipeline.storage import storage_for

    storage = storage_for(config)
    report = partition_raw_report_uri(config, inputs_fingerprint(partition_raw_inputs(config.paths.raw_root, storage)))
    if not raw_files_pending(config, storage):
        Path(report).unlink()
        say("partition_raw: these raw files were partitioned by an earlier run; its report removed so the "
            "night partitions them again, as on a night they land")
    if not raw_files_pending(config, storage):
        raise SystemExit("raw_files_pending still says no: nothing landed in " + config.paths.raw_root)
    return report


def sample_for_load(config, run_date: date, load_lake_root: Path, rows: int) -> dict[str, int]:
    """The first `rows` rows of the run date's recommendations and item neighbours, as a lake of
    their own for load_recommendations (pyarrow keeps Spark's schema)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from fashion_pipeline.tables import ITEM_NEIGHBORS_TABLE, RECOMMENDATIONS_TABLE

    shutil.rmtree(load_lake_root, ignore_errors=True)
    sampled = {}
    for table in (RECOMMENDATIONS_TABLE, ITEM_NEIGHBORS_TABLE):
        source = Path(table.uri(config, run_date=run_date))
        target = load_lake_root / table.location / source.name
        target.mkdir(parents=True)
        sample = ds.dataset(sorted(source.glob("*.parquet")), format="parquet").head(rows)
        pq.write_table(sample, target / "part-00000-sample.parquet", compression="zstd")
        sampled[table.name] = sample.num_rows
    return sampled


def time_athena_checks(env: dict[str, str], run_date: date, log_path: Path) -> StepResult:
    """The DAG's local `athena_checks` task (the DQ SQL on DuckDB), its callable timed inside a
    fresh process as the Airflow worker calls it (the worker has Airflow imported already)."""
    child = [sys.executable, str(Path(__file__).resolve()), ATHENA_CHILD, run_date.isoformat()]
    result = run_measured("athena_checks", child, env, log_path)
    lines = Path(log_path).read_text(errors="replace").strip().splitlines()
    if result.exit_code == 0 and lines:
        outcome = json.loads(lines[-1])
        result.details = {"process_seconds": result.seconds, **outcome}
        result.seconds = outcome["seconds"]
        result.rows_out = f"{sum(c['failed_rows'] == 0 for c in outcome['checks'])} of {len(outcome['checks'])} checks pass"
    return result


ATHENA_CHILD = "athena-checks-child"


def athena_checks_child(run_date: str) -> None:
    from fashion_pipeline.orchestration.dags import _run_checks_on_duckdb

    started = time.perf_counter()
    checks = _run_checks_on_duckdb("local", run_date)
    print(json.dumps({"seconds": time.perf_counter() - started, "checks": checks}, default=str))


def run_night(plan: list[PlannedStep], env: dict[str, str], config, run_date: date, run_dir: Path,
              load_rows: int, skip_load: bool) -> list[StepResult]:
    results = []
    partition_raw_report = None
    for step in plan:
        if step.apart:
            continue
        if step.job == "partition_raw":
            partition_raw_report = prepare_partition_raw(config)
        say(f"\n{step.job}: $ {' '.join(step.command)}")
        result = run_measured(step.job, step.command, env, run_dir / f"{step.job}.log")
        step_figures(result, config, run_date, partition_raw_report)
        results.append(result)
        if result.exit_code != 0:
            raise SystemExit(f"{step.job} exited {result.exit_code} after {result.seconds:.0f} s: "
                             f"{last_line(result.log)} (log: {result.log})")
        say(f"{step.job}: {result.seconds:.1f} s, peak memory {gib(result.peak_tree_pss)} "
            f"(JVM RSS {gib(result.peak_jvm_rss)}, -Xmx{result.jvm_heap or '?'}); "
            f"in {result.rows_in or '-'}; out {result.rows_out or '-'}")
        if step.job == "data_quality":
            checks = time_athena_checks(env, run_date, run_dir / "athena_checks.log")
            checks.apart = True
            results.append(checks)
            say(f"athena_checks (DuckDB, in the worker): {checks.seconds:.1f} s; {checks.rows_out or last_line(checks.log)}")
    load = next(step for step in plan if step.apart)
    if skip_load:
        say(f"\n{LOAD_JOB}: skipped (--skip-load)")
        return results
    sampled = sample_for_load(config, run_date, Path(load.command[load.command.index("--lake-root") + 1]), load_rows)
    say(f"\n{LOAD_JOB} (apart, on a sample: " + ", ".join(f"{t} {n:,} rows" for t, n in sampled.items())
        + f"): $ {' '.join(load.command)}")
    result = run_measured(LOAD_JOB, load.command, env, run_dir / f"{LOAD_JOB}.log")
    result.apart = True
    step_figures(result, config, run_date, None)
    results.append(result)
    if result.exit_code != 0:
        raise SystemExit(f"{LOAD_JOB} exited {result.exit_code}: {last_line(result.log)} (log: {result.log})")
    return results


# ---- where a step's time went (Spark event logs) ---------------------------------------------

def event_log_lines(path: Path):
    """The events of one application: Spark 4 writes a folder of rolled, zstd-compressed files."""
    import pyarrow as pa

    files = sorted(path.glob("events_*"), key=lambda f: int(f.name.split("_")[1])) if path.is_dir() else [path]
    for file in files:
        stream = pa.OSFile(str(file))
        if file.suffix == ".zstd":
            stream = pa.CompressedInputStream(stream, "zstd")
        pending = b""
        while block := stream.read(1 << 20):
            *lines, pending = (pending + block).split(b"\n")
            yield from lines
        if pending.strip():
            yield pending


def event_log_profile(path: Path) -> dict:
    """From one application's event log: its span; how long no task, one task and two or more
    ran at once (no task: the driver alone, planning, listing, collecting, its Python); and the
    stages that ran as a single task for a second or more, named by their call site, or by the SQL
    query they belong to when the call site is Spark's own thread pool (adaptive execution)."""
    app_start = app_end = None
    tasks, stages, stage_query, queries = [], [], {}, {}
    for line in event_log_lines(path):
        event = json.loads(line)
        kind = event.get("Event", "")
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"]
        elif kind == "SparkListenerApplicationEnd":
            app_end = event["Timestamp"]
        elif kind == "SparkListenerTaskEnd":
            info = event["Task Info"]
            tasks.append((info["Launch Time"], info["Finish Time"]))
        elif kind == "SparkListenerJobStart":
            query = (event.get("Properties") or {}).get("spark.sql.execution.id")
            for stage_id in event.get("Stage IDs", []):
                stage_query[stage_id] = query
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            details = (event.get("details") or "").splitlines()
            where = details[0].split("(")[0].rsplit(".", 2)[-2:] if details else []
            queries[str(event["executionId"])] = ".".join(where) or event.get("description", "")
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            if info.get("Submission Time") and info.get("Completion Time"):
                stages.append((info["Number of Tasks"], info["Completion Time"] - info["Submission Time"],
                               info["Stage ID"], info["Stage Name"]))
    if app_start is None:
        return {}
    app_end = app_end or max((end for _, end in tasks), default=app_start)
    changes = sorted([(start, 1) for start, _ in tasks] + [(end, -1) for _, end in tasks])
    running, last, by_level = 0, app_start, {0: 0, 1: 0, 2: 0}
    for moment, delta in changes:
        by_level[min(running, 2)] += max(0, moment - last)
        running, last = running + delta, moment
    by_level[0] += max(0, app_end - last)

    def stage_label(stage_id: int, name: str) -> str:
        query = stage_query.get(stage_id)
        if ".py:" in name or query is None:
            return name.split(" at ")[0] + " at " + Path(name.split(" at ")[-1]).name if " at " in name else name
        return f"query {query} ({queries.get(query, '?')})"

    single = sorted(((ms, stage_label(i, name)) for n, ms, i, name in stages if n == 1), reverse=True)
    return {
        "app_seconds": (app_end - app_start) / 1000,
        "no_task_seconds": by_level[0] / 1000, "one_task_seconds": by_level[1] / 1000,
        "two_plus_tasks_seconds": by_level[2] / 1000,
        "task_seconds": sum(end - start for start, end in tasks) / 1000, "tasks": len(tasks),
        "single_task_stage_seconds": sum(ms for ms, _ in single) / 1000,
        "single_task_stages": [{"seconds": ms / 1000, "stage": label} for ms, label in single[:5] if ms >= 1000],
    }


def attach_event_logs(results: list[StepResult], events_dir: Path) -> None:
    logs = sorted(events_dir.iterdir(), key=lambda p: p.name.rsplit("local-", 1)[-1])
    spark_steps = [r for r in results if r.job != "athena_checks"]
    for result, log in zip(spark_steps, logs):
        result.details["event_log"] = {"file": str(log), **event_log_profile(log)}


# ---- output --------------------------------------------------------------------------------

def gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes else "-"


def print_table(results: list[StepResult], scale: str) -> float:
    header = (f"{'step':<22} {'wall s':>7}  {'rows in':<34} {'rows out':<58} {'peak mem':>9} {'JVM RSS':>9}"
              f"  {'load 1/5':>9}")
    rule = "-" * len(header)

    def row(result: StepResult) -> str:
        return (f"{result.job:<22} {result.seconds:>7.1f}  {result.rows_in or '-':<34} {result.rows_out or '-':<58} "
                f"{gib(result.peak_tree_pss):>9} {gib(result.peak_jvm_rss):>9}  {result.load_before:>9}")

    night = [r for r in results if not r.apart]
    total = sum(r.seconds for r in night)
    say("\n" + header + "\n" + rule)
    for result in night:
        say(row(result))
    say(rule + f"\n{'total (the night)':<22} {total:>7.1f}\n" + rule)
    apart = [r for r in results if r.apart]
    if apart:
        say("not in the total:")
        for result in apart:
            say(row(result))
    verdict = "met" if total <= GOAL_SECONDS else "NOT met"
    say(f"\ngoal: the night (every DAG job but {LOAD_JOB}) <= {GOAL_SECONDS // 60} min on this machine at hm scale: "
        f"{total / 60:.1f} min at {scale}: {verdict}" + ("" if scale == "hm" else " (not the hm figure)"))
    return total


def print_profiles(results: list[StepResult]) -> None:
    profiled = [r for r in results if r.details.get("event_log", {}).get("app_seconds")]
    if not profiled:
        return
    say("\nwhere the time went, seconds (Spark event logs). outside: launcher, JVM and Python start and exit;"
        "\nno task: the driver alone; 1-task stages: their summed length (they may overlap other work)")
    say(f"{'step':<22} {'wall':>6} {'outside':>8} {'no task':>8} {'1 task':>7} {'2+ tasks':>9} {'1-task stages':>14}"
        "  longest single-task stages")
    for result in profiled:
        p = result.details["event_log"]
        stages = "; ".join(f"{s['stage']} {s['seconds']:.0f} s" for s in p["single_task_stages"][:2]) or "-"
        say(f"{result.job:<22} {result.seconds:>6.0f} {result.seconds - p['app_seconds']:>8.0f} "
            f"{p['no_task_seconds']:>8.0f} {p['one_task_seconds']:>7.0f} {p['two_plus_tasks_seconds']:>9.0f} "
            f"{p['single_task_stage_seconds']:>14.0f}  {stages}")


# ---- main ----------------------------------------------------------------------------------

def clean(paths: BenchPaths, given_csv: Path | None) -> None:
    from fashion_pipeline.services import MotoService, PostgresService

    postgres = PostgresService(paths.state_dir, 0)
    for service in (MotoService(paths.state_dir, 0), postgres):
        say(service.down())
    if paths.state_dir.is_dir():
        say(postgres.remove_data())
    shutil.rmtree(paths.root, ignore_errors=True)
    say(f"removed {paths.root} (the CSVs in {csv_dir(paths.scale, paths.seed, given_csv)} are kept)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [ATHENA_CHILD]:
        athena_checks_child(*argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=SCALES)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-date", type=date.fromisoformat, default=RUN_DATE, help="the night's {{ ds }}")
    parser.add_argument("--driver-memory", help="spark-submit --driver-memory for every job "
                        "(default: 12g at hm, else conf/spark's 6g)")
    parser.add_argument("--load-sample", type=int, default=LOAD_SAMPLE_ROWS,
                        help="rows of each table load_recommendations loads (apart from the night)")
    parser.add_argument("--skip-load", action="store_true", help="do not run load_recommendations")
    parser.add_argument("--event-logs", action="store_true",
                        help="add spark.eventLog.* to every job and print where each step's time went")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the inputs, run nothing")
    parser.add_argument("--clean", action="store_true", help="stop the services and delete the built inputs")
    parser.add_argument("--csv", type=Path, help="the generator's CSVs of this scale and seed, made elsewhere "
                        "(default: bench/out/data-<scale>-<seed>, generated when missing)")
    args = parser.parse_args(argv)
    # A `kill` ends the bench through its `finally`s, so PostgreSQL and moto are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    from fashion_pipeline.store.credentials import PASSWORD_VARIABLE, USER_VARIABLE

    paths = BenchPaths(args.scale, args.seed)
    if args.clean:
        clean(paths, args.csv)
        return 0
    driver_memory = args.driver_memory or DRIVER_MEMORY.get(args.scale)
    paths.root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = paths.runs_dir / stamp
    say(f"nightly bench: scale {args.scale}, seed {args.seed}, run date {args.run_date}, driver memory "
        f"{driver_memory or 'conf/spark default (6g)'}; {os.cpu_count()} cores; load average {load_average()}")
    build_started = time.perf_counter()
    claim_inputs(paths, args.run_date)
    folder = ensure_csv(args.scale, args.seed, args.csv)
    with services(paths) as (postgres, moto):
        config = bench_config(paths, postgres.port, moto.port, daily_orders(args.scale))
        # The bench's own steps (migrations, the simulator) find the store as the jobs do.
        credentials = postgres.app_credentials()
        os.environ[USER_VARIABLE], os.environ[PASSWORD_VARIABLE] = credentials["username"], credentials["password"]
        ensure_landed(folder, config, args.run_date)
        ensure_store(paths, folder, config, postgres, args.run_date)
        build_seconds = time.perf_counter() - build_started
        if args.build_only:
            say(f"inputs ready in {build_seconds:.0f} s; the night not run (--build-only)")
            return 0

        run_dir.mkdir(parents=True)
        say(f"the night: logs in {run_dir}")
        plan = night_plan(config, args.run_date, driver_memory, paths.load_lake_root)
        if args.event_logs:
            events_dir = run_dir / "events"
            events_dir.mkdir()
            for step in plan:
                step.command[1:1] = ["--conf", "spark.eventLog.enabled=true",
                                     "--conf", f"spark.eventLog.dir=file://{events_dir}"]
        env = job_environment(config, postgres.app_credentials())
        results = run_night(plan, env, config, args.run_date, run_dir, args.load_sample, args.skip_load)
    if args.event_logs:
        attach_event_logs(results, events_dir)
    total = print_table(results, args.scale)
    print_profiles(results)
    out = OUT / f"nightly-{args.scale}-{args.seed}-{stamp}.json"
    out.write_text(json.dumps({
        "scale": args.scale, "seed": args.seed, "run_date": str(args.run_date),
        "driver_memory": driver_memory or "6g (conf/spark/spark-defaults.conf)",
        "machine": {"cores": os.cpu_count(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "inputs_seconds": round(build_seconds, 1), "csv": str(folder),
        "night_seconds": round(total, 1), "goal_seconds": GOAL_SECONDS,
        "steps": [asdict(r) for r in results],
    }, indent=2, default=str) + "\n")
    say(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
