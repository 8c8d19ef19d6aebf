"""bench/nightly.py times the night the DAG's local target runs: the same jobs, in the same order,
with the same command lines, changed only by what the bench says it adds."""
from __future__ import annotations

import importlib.util
import json
import sys
from datetime import date
from pathlib import Path

import pytest

from fashion_pipeline.orchestration.steps import NIGHTLY_JOB_NAMES, NIGHTLY_JOBS, local_submit_command

BENCH = Path(__file__).resolve().parents[2] / "bench" / "nightly.py"
RUN_DATE = date(2020, 9, 23)


@pytest.fixture(scope="module")
def nightly():
    spec = importlib.util.spec_from_file_location("bench_nightly", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_each_step_is_the_dags_local_command_plus_driver_memory_and_the_bench_roots(nightly, config, tmp_path):
    plan = nightly.night_plan(config, RUN_DATE, "12g", tmp_path / "load-lake")

    assert [step.job for step in plan] == list(NIGHTLY_JOB_NAMES)
    for step, job in zip(plan, NIGHTLY_JOBS):
        dag_command = local_submit_command(job, config, RUN_DATE)
        lake_root = str(tmp_path / "load-lake") if job.name == "load_recommendations" else config.paths.lake_root
        assert step.command == [dag_command[0], "--driver-memory", "12g", *dag_command[1:],
                                "--raw-root", config.paths.raw_root, "--lake-root", lake_root]
    assert [step.job for step in plan if step.apart] == ["load_recommendations"]


def test_without_a_driver_memory_the_command_is_the_dags_own(nightly, config, tmp_path):
    plan = nightly.night_plan(config, RUN_DATE, None, tmp_path / "load-lake")

    extract = next(step for step in plan if step.job == "extract_rds")
    assert extract.command[:-4] == local_submit_command(NIGHTLY_JOBS[0], config, RUN_DATE)


def test_the_profile_counts_how_many_tasks_ran_at_once(nightly, tmp_path):
    # App 0-10 s; tasks 1-3 s and 2-4 s overlap for 1 s; one-task stages of 2 s (its call site
    # named) and 1.5 s (run from adaptive execution's thread pool: named by its query).
    events = [
        {"Event": "SparkListenerApplicationStart", "Timestamp": 0},
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 7,
         "description": "parquet at NativeMethodAccessorImpl.java:0",
         "details": "org.apache.spark.sql.DataFrameWriter.parquet(DataFrameWriter.scala:369)\nmore"},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [4], "Properties": {"spark.sql.execution.id": "7"}},
        {"Event": "SparkListenerStageCompleted", "Stage Info": {
            "Stage ID": 4, "Number of Tasks": 1, "Submission Time": 8000, "Completion Time": 9500,
            "Stage Name": "$anonfun$withThreadLocalCaptured$2 at CompletableFuture.java:1768"}},
        {"Event": "SparkListenerTaskEnd", "Task Info": {"Launch Time": 1000, "Finish Time": 3000}},
        {"Event": "SparkListenerTaskEnd", "Task Info": {"Launch Time": 2000, "Finish Time": 4000}},
        {"Event": "SparkListenerStageCompleted", "Stage Info": {
            "Stage ID": 3, "Number of Tasks": 1, "Submission Time": 5000, "Completion Time": 7000,
            "Stage Name": "collect at /lib/x.py:1"}},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 10000},
    ]
    log = tmp_path / "events"
    log.write_text("\n".join(json.dumps(event) for event in events) + "\n")

    profile = nightly.event_log_profile(log)

    assert (profile["no_task_seconds"], profile["one_task_seconds"], profile["two_plus_tasks_seconds"]) == (7, 2, 1)
    assert profile["task_seconds"] == 4
    assert profile["single_task_stage_seconds"] == 3.5
    assert profile["single_task_stages"] == [{"seconds": 2, "stage": "collect at x.py:1"},
                                             {"seconds": 1.5, "stage": "query 7 (DataFrameWriter.parquet)"}]
