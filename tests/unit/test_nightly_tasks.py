"""The DAG's own task logic without Airflow: the Athena form of a check, verdicts from result rows,
the night's outcome, and the morning summary from the jobs' reports."""
import json

import pytest
import sqlglot
from sqlglot import exp

from fashion_pipeline.errors import PipelineError
from fashion_pipeline.orchestration.nightly_tasks import (
    athena_check_query,
    athena_rows,
    check_result_from_rows,
    daily_summary,
    night_outcome,
    spark_submit_environment,
)
from fashion_pipeline.quality.checks import load_sql_checks
from fashion_pipeline.storage import storage_for
from fashion_pipeline.tables import reports_uri

CHECK = next(c for c in load_sql_checks() if c.name == "orders_pk_unique")


def test_athena_query_puts_the_run_date_where_the_placeholders_were():
    query = athena_check_query(CHECK, "{{ ds }}")
    tree = sqlglot.parse_one(query, read="athena")
    assert not list(tree.find_all(exp.Placeholder))
    assert [lit.this for lit in tree.find_all(exp.Literal) if lit.this == "{{ ds }}"] == ["{{ ds }}"] * CHECK.placeholder_count


def test_verdicts_read_athena_and_duckdb_numbers_and_refuse_a_silent_check():
    pages = [{"ResultSet": {"Rows": [
        {"Data": [{"VarCharValue": "check_name"}, {"VarCharValue": "checked_rows"}, {"VarCharValue": "failed_rows"}]},
        {"Data": [{"VarCharValue": "orders_pk_unique"}, {"VarCharValue": "40"}, {"VarCharValue": "2"}]},
    ]}}]
    result = check_result_from_rows(CHECK, "2020-09-23", athena_rows(pages))
    assert (result.checked_rows, result.failed_rows, result.status) == (40, 2, "fail")
    duckdb_rows = [["check_name", "checked_rows", "failed_rows"], ["orders_pk_unique", "259.0", "0.0"]]
    assert check_result_from_rows(CHECK, "2020-09-23", duckdb_rows).passed
    with pytest.raises(PipelineError, match="returned no row"):
        check_result_from_rows(CHECK, "2020-09-23", duckdb_rows[:1])


def test_a_night_fails_on_a_failed_task_or_one_that_could_not_run_but_not_on_a_skip():
    states = {"extract_rds": "success", "partition_raw": "skipped", "train_als": "failed",
              "load_recommendations": "upstream_failed", "night_outcome": "running"}
    outcome = night_outcome(states, ignore=["night_outcome"])
    assert outcome.failed_tasks == ["load_recommendations", "train_als"]
    assert outcome.message("nightly_batch", "2020-09-23").startswith(":rotating_light: nightly_batch 2020-09-23 failed")
    assert night_outcome({"extract_rds": "success", "partition_raw": "skipped"}).succeeded


def test_the_summary_reads_what_the_jobs_reported(config):
    storage = storage_for(config)
    day = "2020-09-23"
    storage.write_text(reports_uri(config, "extract_rds", f"run_date={day}.json"), json.dumps(
        {"published": {"orders": 259, "items": 578, "amount": "1234.50"}, "quarantined": {"orders": 1, "items": 2}}))
    storage.write_text(reports_uri(config, "dq", f"run_date={day}", "a.json"), json.dumps({"name": "a", "status": "pass"}))
    storage.write_text(reports_uri(config, "dq", f"run_date={day}", "b.json"), json.dumps({"name": "b", "status": "warn"}))
    lines = daily_summary(config, storage, day)
    assert lines[0] == f"fashion-pipeline night of {day}"
    assert "store orders: 259 orders (578 lines, 1234.50) published, 1 orders and 2 lines quarantined" in lines
    assert "data quality: 1 of 2 checks pass; not passing: b" in lines
    assert daily_summary(config, storage, "2020-09-24")[1] == "no job wrote a report for this day"


def test_spark_submit_finds_the_venvs_python_whoever_started_it():
    environment = spark_submit_environment({"PATH": "/usr/bin", "PYSPARK_SUBMIT_ARGS": "--master local[1] pyspark-shell"})
    assert environment["PATH"].split(":")[0].endswith("/bin") and environment["PATH"].endswith(":/usr/bin")
    assert "PYSPARK_SUBMIT_ARGS" not in environment
