"""What the nightly DAG's own tasks do, without Airflow: run a job locally, turn the Athena check
results into verdicts, decide the night's outcome, and write the daily summary. dags.py wraps
these in operators; tests call them directly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Mapping

from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.lake_paths import reports_uri
from fashion_pipeline.orchestration.steps import NightlyJob, local_submit_command
from fashion_pipeline.quality.checks import CheckResult, SqlCheck
from fashion_pipeline.storage import Storage

FAILED_STATES = {"failed", "upstream_failed"}


class StepFailed(PipelineError):
    """A nightly job exited non-zero."""


class StreamUnhealthy(PipelineError):
    """The streaming job is behind or has stopped."""


class NightFailed(PipelineError):
    """At least one task of the night failed: the run must end failed, whatever ran after it."""


def run_local_job(job: NightlyJob, config: Config, run_date: date | str,
                  echo: Callable[[str], None] = print, popen=subprocess.Popen) -> None:
    """spark-submit the job on this machine, as an EMR step would on the cluster; its output goes
    to the task's log line by line, and a failure is its last line (the job's one-line cause)."""
    command = local_submit_command(job, config, run_date)
    echo("$ " + " ".join(command))
    last_line = "no output"
    with popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
               env=spark_submit_environment()) as process:
        for line in process.stdout:
            line = line.rstrip("\n")
            echo(line)
            if line.strip():
                last_line = line.strip()
        returncode = process.wait()
    if returncode != 0:
        raise StepFailed(f"{job.name} exited {returncode}: {last_line}")


# What an in-process Spark session of the parent (or a developer's shell) leaves in the environment,
# which would make spark-submit reuse that session's settings instead of reading conf/spark.
_SESSION_VARIABLES = ("PYSPARK_SUBMIT_ARGS", "SPARK_ENV_LOADED", "PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")


def spark_submit_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The venv's spark-submit as from a shell with the venv active: its launcher runs `python3`
    from PATH to find Spark, which must be the venv's (the one with pyspark), whoever started us."""
    environ = os.environ if environ is None else environ
    environment = {k: v for k, v in environ.items() if k not in _SESSION_VARIABLES}
    venv_bin = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([venv_bin, environment.get("PATH", "")])
    environment["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    return environment


def athena_check_query(check: SqlCheck, run_date_text: str) -> str:
    """The check's SQL with its `?` placeholders as the run date literal: AthenaOperator has no
    ExecutionParameters, and `run_date_text` may be Airflow's `{{ ds }}` (rendered later)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(check.sql, read="athena")
    tree = tree.transform(lambda node: exp.Literal.string(run_date_text) if isinstance(node, exp.Placeholder) else node)
    return tree.sql(dialect="athena")


def check_result_from_rows(check: SqlCheck, run_date: str, rows: list[list[str | None]]) -> CheckResult:
    """A check's verdict from its result rows (header first, as Athena's GetQueryResults gives
    them). No row is a failure of the check itself, not a pass: a check must answer."""
    if len(rows) < 2:
        raise PipelineError(f"data-quality check {check.name} returned no row for {run_date}")
    header, values = rows[0], rows[1]
    row = dict(zip(header, values))
    return CheckResult(check.name, check.blocking, check.description, run_date,
                       _count(row.get("checked_rows")), _count(row.get("failed_rows")))


def _count(cell: str | None) -> int:
    # Athena answers "12"; a pandas frame from DuckDB may give a SUM as "12.0".
    return int(Decimal(cell)) if cell not in (None, "") else 0


def athena_rows(get_query_results_pages: Iterable[Mapping]) -> list[list[str | None]]:
    """GetQueryResults pages -> rows of cell values (header row included)."""
    rows = []
    for page in get_query_results_pages:
        for row in page["ResultSet"]["Rows"]:
            rows.append([cell.get("VarCharValue") for cell in row["Data"]])
    return rows


def blocking_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.blocking and not result.passed]


@dataclass(frozen=True)
class NightOutcome:
    failed_tasks: list[str]

    @property
    def succeeded(self) -> bool:
        return not self.failed_tasks

    def message(self, dag_id: str, run_date: str) -> str:
        if self.succeeded:
            return f"{dag_id} {run_date}: every step succeeded"
        return f":rotating_light: {dag_id} {run_date} failed: {', '.join(self.failed_tasks)}"


def night_outcome(task_states: Mapping[str, str | None], ignore: Iterable[str] = ()) -> NightOutcome:
    """The night failed when any task failed or could not run because one failed; a task skipped
    on purpose (no new raw files) is not a failure."""
    ignored = set(ignore)
    return NightOutcome(sorted(task for task, state in task_states.items()
                               if task not in ignored and (state or "") in FAILED_STATES))


def daily_summary(config: Config, storage: Storage, run_date: date | str) -> list[str]:
    """The marketing and data team's morning lines: what the night read and wrote, the checks,
    and how good the recommendations are, from the reports each job wrote to the lake."""
    run_date = str(run_date)
    lines = [f"fashion-pipeline night of {run_date}"]
    extract = _read_json(storage, reports_uri(config, "extract_rds", f"run_date={run_date}.json"))
    if extract:
        published, quarantined = extract.get("published", {}), extract.get("quarantined", {})
        lines.append(f"store orders: {published.get('orders', 0):,} orders ({published.get('items', 0):,} lines, "
                     f"{published.get('amount', '0.00')}) published, {quarantined.get('orders', 0):,} orders and "
                     f"{quarantined.get('items', 0):,} lines quarantined")
    aggregates = _read_json(storage, reports_uri(config, "daily_aggregates", f"run_date={run_date}.json"))
    if aggregates:
        lines.append("aggregates: " + ", ".join(f"{table} {rows:,} rows"
                                                for table, rows in aggregates.get("rows_written", {}).items()))
    checks = [json.loads(storage.read_text(uri)) for uri in
              storage.list_files(reports_uri(config, "dq", f"run_date={run_date}"), suffix=".json")]
    if checks:
        failing = [c["name"] for c in checks if c.get("status") != "pass"]
        lines.append(f"data quality: {len(checks) - len(failing)} of {len(checks)} checks pass"
                     + (f"; not passing: {', '.join(sorted(failing))}" if failing else ""))
    train = _read_json(storage, reports_uri(config, "recs", f"train_als-{run_date}.json"))
    if train:
        lines.append(f"recommendations: model {train.get('model_version')}, "
                     f"{train.get('users_with_history', 0):,} customers scored, "
                     f"{train.get('cold_start_users', 0):,} cold-start")
    evaluations = sorted(storage.list_files(reports_uri(config, "recs"), suffix=".json"))
    evaluations = [uri for uri in evaluations if f"/evaluation-{run_date}-" in uri]
    if evaluations:
        report = json.loads(storage.read_text(evaluations[-1]))
        lines.append("MAP@12: " + ", ".join(f"{r['strategy']} {r['map_at_12']:.4f}" for r in report.get("results", [])))
    if len(lines) == 1:
        lines.append("no job wrote a report for this day")
    return lines


def _read_json(storage: Storage, uri: str) -> dict | None:
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else None
