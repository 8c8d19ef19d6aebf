"""The DAG files as Airflow parses them: no import errors or warnings, neither pyspark (MWAA has
none) nor mlflow imported on the Airflow side, the schedule and one-run-at-a-time of the night, and
both targets' graphs built from the same job list."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_pipeline.orchestration.steps import NIGHTLY_JOBS

ROOT = Path(__file__).resolve().parents[2]
# Parses dags/ in a fresh interpreter (Airflow reads AIRFLOW_HOME once, at import) with pyspark
# and mlflow (the recs jobs' run tracking) made unimportable, and prints what the tests check.
PARSE = r"""
import importlib.abc, json, sys, warnings
class NoSpark(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("pyspark", "mlflow"):
            raise ImportError(f"{name} must not be imported when Airflow parses the DAGs")
sys.meta_path.insert(0, NoSpark())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
ours = [str(w.message) for w in caught if "fashion_pipeline" in str(w.filename) or "/dags/" in str(w.filename)]
dags = {}
for dag in bag.dags.values():
    dags[dag.dag_id] = {
        "schedule": str(getattr(dag.timetable, "_expression", None) or getattr(dag.timetable, "expression", None) or dag.timetable),
        "max_active_runs": dag.max_active_runs, "catchup": dag.catchup,
        "deadline": bool(dag.deadline),
        "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
                              "retries": t.retries} for t in dag.tasks},
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "warnings": ours, "dags": dags}))
"""


def _parse(tmp_path, env: dict[str, str]) -> dict:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FASHION", "AIRFLOW"))}
    environment = {**inherited, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env}
    completed = subprocess.run([sys.executable, "-c", PARSE, str(ROOT / "dags")], env=environment,
                               capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def emr_dags(tmp_path_factory):
    return _parse(tmp_path_factory.mktemp("emr"), {"FASHION_ENV": "emr", "FASHION_BUCKET": "store-lake"})


@pytest.fixture(scope="module")
def local_dags(tmp_path_factory):
    return _parse(tmp_path_factory.mktemp("local"), {})


def test_dag_files_import_without_errors_warnings_or_pyspark(emr_dags, local_dags):
    for parsed in (emr_dags, local_dags):
        assert parsed["errors"] == {} and parsed["warnings"] == []
        assert "nightly_batch" in parsed["dags"]


def test_the_night_runs_at_0001_utc_one_at_a_time_with_backfills_and_a_deadline(emr_dags):
    night = emr_dags["dags"]["nightly_batch"]
    assert night["schedule"] == "1 0 * * *"
    assert night["max_active_runs"] == 1 and night["catchup"] is True and night["deadline"] is True


def test_emr_graph_steps_follow_the_job_dependencies_and_always_tear_down(emr_dags):
    tasks = emr_dags["dags"]["nightly_batch"]["tasks"]
    for job in NIGHTLY_JOBS:
        submit, sensor = tasks[f"submit_{job.name}"], tasks[job.name]
        assert sensor["upstream"] == [f"submit_{job.name}"] and sensor["retries"] == 0
        assert set(job.upstream) <= set(submit["upstream"])
        assert "create_cluster" in submit["upstream"] and submit["trigger_rule"] == "none_failed"
    assert tasks["submit_partition_raw"]["upstream"] == ["create_cluster", "raw_files_pending"]
    terminate = tasks["terminate_cluster"]
    assert terminate["trigger_rule"] == "all_done"
    assert {job.name for job in NIGHTLY_JOBS} <= set(terminate["upstream"])
    # The outcome runs after everything, whatever happened, and is what fails a bad night.
    outcome = tasks["night_outcome"]
    assert outcome["trigger_rule"] == "all_done"
    assert set(outcome["upstream"]) >= {"terminate_cluster", "athena_checks", *(j.name for j in NIGHTLY_JOBS)}
    assert tasks["daily_summary"]["upstream"] == ["night_outcome"]
    athena = [t for t in tasks if t.startswith("athena_") and t != "athena_checks"]
    assert len(athena) == 11 and all(tasks[t]["upstream"] == ["data_quality"] for t in athena)
    assert sorted(tasks["athena_checks"]["upstream"]) == sorted(athena)
    assert tasks["submit_extract_rds"]["retries"] == 2


def test_local_graph_runs_the_same_jobs_without_a_cluster(local_dags):
    tasks = local_dags["dags"]["nightly_batch"]["tasks"]
    assert not any(t.startswith(("submit_", "create_", "terminate_")) for t in tasks)
    for job in NIGHTLY_JOBS:
        assert set(job.upstream) <= set(tasks[job.name]["upstream"])
    assert tasks["athena_checks"]["upstream"] == ["data_quality"]


def test_clickstream_5min_checks_health_and_compacts_every_five_minutes(emr_dags, local_dags):
    emr = emr_dags["dags"]["clickstream_5min"]
    assert emr["schedule"] == "*/5 * * * *" and emr["max_active_runs"] == 1 and emr["catchup"] is False
    assert emr["tasks"]["stream_health"]["upstream"] == []
    assert emr["tasks"]["compact_clickstream"]["upstream"] == ["submit_compact_clickstream"]
    assert emr["tasks"]["submit_compact_clickstream"]["upstream"] == ["plan_compaction"]
    assert set(local_dags["dags"]["clickstream_5min"]["tasks"]) == {"stream_health", "compact_clickstream"}
