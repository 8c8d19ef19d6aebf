"""The Airflow DAGs (dags/*.py are one line each: they call these).

`nightly_batch`, at 00:01 UTC for the day that just ended (`{{ ds }}`), one run at a time:

    emr:   plan_night -> create_cluster -> submit_<job> -> <job> (a sensor per step) ... -> terminate_cluster
    local: <job> (spark-submit on this machine) ...

then, on both targets, the Athena data-quality checks (on EMR each SQL file is an AthenaOperator
whose result is read by its query execution id; locally the same files run on DuckDB), and
`night_outcome`, which runs whatever happened and fails the run when any task failed (the
terminate task alone would make a failed night look green), with a Slack message; on success
`daily_summary` posts the night's figures.

The target is the configuration's env: `emr` builds the EMR graph, anything else the local one.
"""
from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
from airflow.sdk import DAG
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.timetables.interval import CronDataIntervalTimetable

from fashion_pipeline.config import Config, load_config
from fashion_pipeline.orchestration.steps import COMPACTION_JOB, NIGHTLY_JOBS, NightlyJob

NIGHTLY_DAG_ID = "nightly_batch"
CLICKSTREAM_DAG_ID = "clickstream_5min"
NIGHTLY_SCHEDULE = "1 0 * * *"
# The first night the DAG may backfill from (catchup): H&M's data ends 2020-09-22.
NIGHTLY_START = datetime(2020, 9, 20, tzinfo=timezone.utc)
OUTCOME_TASK = "night_outcome"
SUMMARY_TASK = "daily_summary"
log = logging.getLogger(__name__)


def dag_config() -> Config:
    """The configuration the DAG files are parsed with: FASHION_ENV (emr on MWAA, where the
    startup script also exports FASHION_BUCKET), local otherwise."""
    return load_config(os.environ.get("FASHION_ENV"))


def nightly_batch_dag(config: Config | None = None) -> DAG:
    config = config or dag_config()
    orchestration = config.orchestration
    with DAG(
        dag_id=NIGHTLY_DAG_ID,
        description="the store's day into the lake, aggregates, checks, recommendations",
        # One run per day that ended: the run of 2020-09-23 00:01 has ds = 2020-09-22.
        schedule=CronDataIntervalTimetable(NIGHTLY_SCHEDULE, timezone="UTC"),
        start_date=NIGHTLY_START,
        catchup=True,
        # extract_rds merges changed orders into order_date partitions: two nights at once would
        # each rewrite a partition from its own read and lose the other's changes.
        max_active_runs=1,
        render_template_as_native_obj=True,
        default_args={
            "retries": orchestration.retries,
            "retry_delay": timedelta(seconds=orchestration.retry_delay_s),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(seconds=orchestration.max_retry_delay_s),
        },
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=orchestration.deadline_minutes),
            callback=AsyncCallback(night_past_deadline, kwargs={"minutes": orchestration.deadline_minutes}),
        ),
        tags=["fashion-pipeline", config.env],
    ) as dag:
        raw_pending = ShortCircuitOperator(
            task_id="raw_files_pending",
            python_callable=_raw_files_pending,
            op_kwargs={"env": config.env},
            # Skips partition_raw alone; later jobs run on the curated tables already there.
            ignore_downstream_trigger_rules=False,
        )
        if config.env == "emr":
            job_tasks, cluster_tasks = _emr_job_tasks(config, raw_pending)
        else:
            job_tasks, cluster_tasks = _local_job_tasks(config, raw_pending), []
        check_entry, checks = _quality_check_tasks(config)
        job_tasks["data_quality"][-1] >> check_entry
        outcome = PythonOperator(
            task_id=OUTCOME_TASK,
            python_callable=_night_outcome,
            op_kwargs={"env": config.env},
            trigger_rule="all_done",
            retries=0,
        )
        summary = PythonOperator(
            task_id=SUMMARY_TASK,
            python_callable=_post_daily_summary,
            op_kwargs={"env": config.env},
            retries=0,
        )
        all_job_tasks = [task for tasks in job_tasks.values() for task in tasks]
        [*all_job_tasks, *checks, *cluster_tasks] >> outcome >> summary
    return dag


def clickstream_5min_dag(config: Config | None = None) -> DAG:
    """Every 5 minutes: is the streaming job alive and keeping up (an alert when not), and the
    closed hours' small clickstream files compacted (compact_clickstream: readers switch to the
    compacted files at one manifest write, never seeing an event twice or not at all)."""
    config = config or dag_config()
    with DAG(
        dag_id=CLICKSTREAM_DAG_ID,
        description="streaming job health, and compaction of the clickstream's closed hours",
        schedule="*/5 * * * *",
        start_date=NIGHTLY_START,
        catchup=False,
        # Two compactions of one hour at once would race on its manifest.
        max_active_runs=1,
        render_template_as_native_obj=True,
        default_args={"retries": 0},
        tags=["fashion-pipeline", config.env],
    ) as dag:
        PythonOperator(task_id="stream_health", python_callable=_check_stream_health,
                       op_kwargs={"env": config.env})
        if config.env == "emr":
            from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator
            from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor

            plan = PythonOperator(task_id="plan_compaction", python_callable=_plan_compaction,
                                  op_kwargs={"env": config.env})
            submit = EmrAddStepsOperator(
                task_id=f"submit_{COMPACTION_JOB.name}",
                job_flow_name=config.emr.streaming_cluster_name,
                cluster_states=["RUNNING", "WAITING"],
                steps="{{ ti.xcom_pull(task_ids='plan_compaction') }}",
                aws_conn_id=config.orchestration.aws_conn_id,
            )
            wait = EmrStepSensor(
                task_id=COMPACTION_JOB.name,
                job_flow_id="{{ ti.xcom_pull(task_ids='" + f"submit_{COMPACTION_JOB.name}" + "', key='job_flow_id') }}",
                step_id="{{ ti.xcom_pull(task_ids='" + f"submit_{COMPACTION_JOB.name}" + "')[0] }}",
                aws_conn_id=config.orchestration.aws_conn_id,
                poke_interval=config.orchestration.step_poke_interval_s,
                timeout=240,
                mode="poke",
            )
            plan >> submit >> wait
        else:
            PythonOperator(task_id=COMPACTION_JOB.name, python_callable=_run_local_job,
                           op_kwargs={"job_name": COMPACTION_JOB.name, "env": config.env, "run_date": "{{ ds }}"})
    return dag


def _emr_job_tasks(config: Config, raw_pending):
    from airflow.providers.amazon.aws.operators.emr import (
        EmrAddStepsOperator,
        EmrCreateJobFlowOperator,
        EmrTerminateJobFlowOperator,
    )
    from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor

    aws_conn_id = config.orchestration.aws_conn_id
    plan = PythonOperator(task_id="plan_night", python_callable=_plan_night, op_kwargs={"env": config.env})
    create = EmrCreateJobFlowOperator(
        task_id="create_cluster",
        job_flow_overrides="{{ ti.xcom_pull(task_ids='plan_night')['cluster'] }}",
        aws_conn_id=aws_conn_id,
    )
    cluster_id = "{{ ti.xcom_pull(task_ids='create_cluster') }}"
    terminate = EmrTerminateJobFlowOperator(
        task_id="terminate_cluster", job_flow_id=cluster_id, aws_conn_id=aws_conn_id, trigger_rule="all_done",
    )
    plan >> create >> raw_pending
    job_tasks: dict[str, list] = {}
    for job in NIGHTLY_JOBS:
        submit = EmrAddStepsOperator(
            task_id=f"submit_{job.name}",
            job_flow_id=cluster_id,
            steps=f"{{{{ ti.xcom_pull(task_ids='plan_night')['steps']['{job.name}'] }}}}",
            aws_conn_id=aws_conn_id,
            trigger_rule="none_failed",
        )
        wait = EmrStepSensor(
            task_id=job.name,
            job_flow_id=cluster_id,
            step_id=f"{{{{ ti.xcom_pull(task_ids='submit_{job.name}')[0] }}}}",
            aws_conn_id=aws_conn_id,
            poke_interval=config.orchestration.step_poke_interval_s,
            timeout=config.emr.step_timeout_s,
            mode="poke",
            # A failed step is not retried by waiting on it again.
            retries=0,
        )
        submit >> wait >> terminate
        create >> submit
        _after_upstream(job, submit, job_tasks, raw_pending)
        job_tasks[job.name] = [submit, wait]
    return job_tasks, [plan, create, terminate]


def _local_job_tasks(config: Config, raw_pending):
    job_tasks: dict[str, list] = {}
    for job in NIGHTLY_JOBS:
        run = PythonOperator(
            task_id=job.name,
            python_callable=_run_local_job,
            op_kwargs={"job_name": job.name, "env": config.env, "run_date": "{{ ds }}"},
            trigger_rule="none_failed",
            retries=0,
        )
        _after_upstream(job, run, job_tasks, raw_pending)
        job_tasks[job.name] = [run]
    return job_tasks


def _after_upstream(job: NightlyJob, first_task, job_tasks: dict[str, list], raw_pending) -> None:
    if job.only_when_raw_landed:
        raw_pending >> first_task
    for upstream in job.upstream:
        job_tasks[upstream][-1] >> first_task


def _quality_check_tasks(config: Config) -> tuple[list, list]:
    """(the tasks that start after data_quality, all check tasks)."""
    from fashion_pipeline.quality.checks import load_sql_checks

    checks = load_sql_checks()
    if config.env != "emr":
        on_duckdb = PythonOperator(task_id="athena_checks", python_callable=_run_checks_on_duckdb,
                                   op_kwargs={"env": config.env, "run_date": "{{ ds }}"}, retries=0)
        return [on_duckdb], [on_duckdb]
    from airflow.providers.amazon.aws.operators.athena import AthenaOperator

    from fashion_pipeline.orchestration.nightly_tasks import athena_check_query

    queries = [
        AthenaOperator(
            task_id=f"athena_{check.name}",
            query=athena_check_query(check, "{{ ds }}"),
            database=config.names.glue_database,
            output_location=f"{config.paths.athena_results_root.rstrip('/')}/dq/{{{{ ds }}}}/",
            workgroup=config.orchestration.athena_workgroup,
            aws_conn_id=config.orchestration.aws_conn_id,
            sleep_time=5,
        )
        for check in checks
    ]
    verdict = PythonOperator(task_id="athena_checks", python_callable=_read_athena_checks,
                             op_kwargs={"env": config.env, "run_date": "{{ ds }}"}, retries=0)
    queries >> verdict
    return queries, [*queries, verdict]


# --- task callables: imported by name from this module on the workers --------------------------

def _config(env: str) -> Config:
    return load_config(env)


def _storage(config: Config):
    from fashion_pipeline.storage import storage_for

    return storage_for(config)


def _plan_night(env: str, ds: str) -> dict:
    from fashion_pipeline.orchestration.release import read_release
    from fashion_pipeline.orchestration.steps import emr_step, run_job_flow_request

    config = _config(env)
    release = read_release(config, _storage(config))
    log.info("release %s", release.version)
    return {
        "release": release.version,
        "cluster": run_job_flow_request(config, release, ds),
        "steps": {job.name: [emr_step(job, config, release, ds)] for job in NIGHTLY_JOBS},
    }


def _plan_compaction(env: str) -> list[dict]:
    from fashion_pipeline.orchestration.release import read_release
    from fashion_pipeline.orchestration.steps import emr_step

    config = _config(env)
    return [emr_step(COMPACTION_JOB, config, read_release(config, _storage(config)), "")]


def _check_stream_health(env: str) -> list[str]:
    from fashion_pipeline.orchestration.nightly_tasks import StreamUnhealthy
    from fashion_pipeline.orchestration.stream_health import check_stream_health

    config = _config(env)
    cloudwatch = None
    if config.env == "emr":
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        cloudwatch = AwsBaseHook(aws_conn_id=config.orchestration.aws_conn_id, client_type="cloudwatch").get_conn()
    health = check_stream_health(config, _storage(config), cloudwatch=cloudwatch)
    for line in health.lines:
        log.info("%s", line)
    if not health.healthy:
        _post_to_slack(config, health.alert_text())
        raise StreamUnhealthy(health.lines[0] if health.lines else "the streaming job is unhealthy")
    return health.lines


def _raw_files_pending(env: str) -> bool:
    from fashion_pipeline.orchestration.raw_inputs import raw_files_pending

    config = _config(env)
    pending = raw_files_pending(config, _storage(config))
    log.info("raw files not yet partitioned: %s", "yes" if pending else "none, partition_raw skipped")
    return pending


def _run_local_job(job_name: str, env: str, run_date: str) -> None:
    from fashion_pipeline.orchestration.nightly_tasks import run_local_job
    from fashion_pipeline.orchestration.steps import nightly_job

    job = COMPACTION_JOB if job_name == COMPACTION_JOB.name else nightly_job(job_name)
    run_local_job(job, _config(env), run_date, echo=log.info)


def _run_checks_on_duckdb(env: str, run_date: str) -> list[dict]:
    from datetime import date

    from fashion_pipeline.catalog.local_query import run_athena_sql
    from fashion_pipeline.orchestration.nightly_tasks import check_result_from_rows
    from fashion_pipeline.quality.checks import load_sql_checks

    config = _config(env)
    results = []
    for check in load_sql_checks():
        frame = run_athena_sql(config, check.sql, check.parameters(date.fromisoformat(run_date)))
        rows = [list(frame.columns), *[[None if v is None else str(v) for v in row] for row in frame.itertuples(index=False)]]
        results.append(check_result_from_rows(check, run_date, rows))
    return _check_verdict(results)


def _read_athena_checks(env: str, run_date: str, ti) -> list[dict]:
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    from fashion_pipeline.orchestration.nightly_tasks import athena_rows, check_result_from_rows
    from fashion_pipeline.quality.checks import load_sql_checks

    config = _config(env)
    hook = AthenaHook(aws_conn_id=config.orchestration.aws_conn_id)
    results = []
    for check in load_sql_checks():
        execution_id = ti.xcom_pull(task_ids=f"athena_{check.name}")
        pages = hook.get_conn().get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
        results.append(check_result_from_rows(check, run_date, athena_rows(pages)))
    return _check_verdict(results)


def _check_verdict(results) -> list[dict]:
    from dataclasses import asdict

    from fashion_pipeline.orchestration.nightly_tasks import blocking_failures
    from fashion_pipeline.quality.checks import DataQualityFailure

    for result in results:
        log.info("%s", result.line())
    failures = blocking_failures(results)
    if failures:
        raise DataQualityFailure("blocking check(s) failed: " + ", ".join(r.name for r in failures))
    return [asdict(result) for result in results]


def _night_outcome(env: str, ti, dag_run, ds: str) -> str:
    from fashion_pipeline.orchestration.nightly_tasks import NightFailed, night_outcome

    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id])
    task_states = states.get(dag_run.run_id, states)
    outcome = night_outcome(task_states, ignore=(OUTCOME_TASK, SUMMARY_TASK))
    message = outcome.message(dag_run.dag_id, ds)
    log.info("%s", message)
    if not outcome.succeeded:
        _post_to_slack(_config(env), message)
        raise NightFailed(message)
    return message


def _post_daily_summary(env: str, ds: str) -> str:
    from fashion_pipeline.orchestration.nightly_tasks import daily_summary

    config = _config(env)
    text = "\n".join(daily_summary(config, _storage(config), ds))
    log.info("%s", text)
    _post_to_slack(config, text)
    return text


def _post_to_slack(config: Config, text: str) -> bool:
    """Through the Airflow connection named by orchestration.slack_conn_id (an incoming webhook);
    without one the message is only logged: a missing alert channel must not fail the night."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    try:
        SlackWebhookHook(slack_webhook_conn_id=config.orchestration.slack_conn_id).send(text=text)
    except AirflowNotFoundException:
        log.warning("no Airflow connection %s: Slack message not sent", config.orchestration.slack_conn_id)
        return False
    return True


async def night_past_deadline(minutes: int, **context) -> None:
    """Deadline alert: the night is still running `minutes` after it was queued."""
    config = dag_config()
    await asyncio.to_thread(_post_to_slack, config, f":hourglass: {NIGHTLY_DAG_ID} still running after {minutes} minutes")
