"""Airflow on this machine, for the local target: `fashion airflow test nightly_batch --run-date D`
runs the real DAG file with Airflow's `dag.test()` (every task in one process, SQLite metadata
under .state/airflow), against the embedded stack.

Airflow reads its settings from the environment when it is first imported, so the run happens in
a child process given that environment; this process only prepares it and reports the result.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path

from fashion_pipeline.aws import EMULATOR_CREDENTIALS, is_local_endpoint
from fashion_pipeline.config import PROJECT_ROOT, Config
from fashion_pipeline.errors import PipelineError

DAGS_FOLDER = PROJECT_ROOT / "dags"
# The child's exit code when the DAG cannot even start (import error, unknown DAG id).
CANNOT_START = 2


class AirflowRunFailed(PipelineError):
    """The DAG run ended failed."""


@dataclass(frozen=True)
class LocalAirflow:
    home: Path
    environment: dict[str, str]

    @classmethod
    def for_config(cls, config: Config, extra_connections: dict[str, dict] | None = None) -> "LocalAirflow":
        home = Path(config.paths.state_dir) / "airflow"
        environment = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False",
            # The DAG files (a child process) load the configuration this command was given.
            "FASHION_ENV": config.env,
            **config_as_environment(config),
        }
        connections = {"aws_default": aws_connection(config), **(extra_connections or {})}
        for conn_id, connection in connections.items():
            environment[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
        return cls(home, environment)

    def child_environment(self) -> dict[str, str]:
        return {**os.environ, **self.environment}

    def migrate(self) -> None:
        """Create or upgrade the SQLite metadata database (seconds; a no-op when current)."""
        self.home.mkdir(parents=True, exist_ok=True)
        stamp = self.home / ".migrated"
        if stamp.is_file():
            return
        completed = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.child_environment(),
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise AirflowRunFailed(f"airflow db migrate failed: {last}")
        stamp.touch()

    def test_dag(self, dag_id: str, run_date: date, timeout_s: float | None = None, quiet: bool = False) -> str:
        """Run `dag_id` for the day `run_date` with dag.test(); returns the run's final state.
        `quiet`: only Airflow's warnings and errors (a failed task's cause) reach the terminal."""
        self.migrate()
        logical = nightly_logical_date(run_date)
        environment = self.child_environment()
        if quiet:
            environment["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
        completed = subprocess.run(
            [sys.executable, "-m", "fashion_pipeline.orchestration.local_airflow", dag_id, logical.isoformat()],
            env=environment, timeout=timeout_s,
        )
        if completed.returncode == CANNOT_START:
            raise AirflowRunFailed(f"cannot run {dag_id}: see the line above (the DAG files are in {DAGS_FOLDER})")
        state = "success" if completed.returncode == 0 else "failed"
        if completed.returncode != 0:
            raise AirflowRunFailed(f"{dag_id} {run_date} ended {state}: see the task logs above "
                                   f"and under {self.home / 'logs'}")
        return state


def config_as_environment(config: Config) -> dict[str, str]:
    """Every scalar setting as a FASHION__SECTION__KEY override, so that the child's
    load_config(env) gives back this configuration, overrides included (lists and maps come from
    the YAML file, which the child reads too)."""
    environment = {}
    for section, values in config.model_dump(mode="json").items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is not None and not isinstance(value, (dict, list)):
                environment[f"FASHION__{section.upper()}__{key.upper()}"] = str(value)
    return environment


def nightly_logical_date(run_date: date) -> datetime:
    """The logical date of the run whose `{{ ds }}` is `run_date`: its data interval starts then."""
    return datetime.combine(run_date, time(0, 1), tzinfo=timezone.utc)


def aws_connection(config: Config) -> dict:
    extra = {"region_name": config.aws.region}
    if config.aws.endpoint_url:
        extra["endpoint_url"] = config.aws.endpoint_url
    # The emulator's placeholder key, as aws_client uses it; on AWS the worker's role signs.
    connection = {"conn_type": "aws", "extra": extra}
    if is_local_endpoint(config.aws.endpoint_url):
        connection.update({"login": EMULATOR_CREDENTIALS["aws_access_key_id"],
                           "password": EMULATOR_CREDENTIALS["aws_secret_access_key"]})
    return connection


def _run_in_child(dag_id: str, logical_date_text: str) -> int:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"cannot import {path}: {str(error).strip().splitlines()[-1]}", file=sys.stderr)
        return CANNOT_START
    dag = bag.get_dag(dag_id)
    if dag is None:
        print(f"no DAG {dag_id} in {DAGS_FOLDER}; DAGs: {', '.join(sorted(bag.dag_ids))}", file=sys.stderr)
        return CANNOT_START
    logical = datetime.fromisoformat(logical_date_text)
    # Airflow 3.3's dag.test() looks the deadline alerts of a finished run up by id but holds the
    # unserialised alerts ('dict' object has no attribute 'hex' as the run ends); the scheduler
    # does not. The deadline is checked by the DAG's own tests instead.
    dag.deadline = None
    dag_run = dag.test(logical_date=logical)
    state = str(getattr(dag_run, "state", "unknown"))
    print(f"{dag_id} {logical.date()}: run {state}", flush=True)
    return 0 if state.endswith("success") else 1


if __name__ == "__main__":
    sys.exit(_run_in_child(sys.argv[1], sys.argv[2]))
