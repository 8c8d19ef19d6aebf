"""The nightly jobs, their order, and the one place their command lines are built: the Airflow DAG,
`fashion emr run` and the local target all submit what these functions return.

A job's name is its file (`jobs/<name>.py`), its EMR step, its Airflow task and its pipeline module.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from fashion_pipeline.config import PROJECT_ROOT, Config, is_remote, join_uri
from fashion_pipeline.orchestration.release import BOOTSTRAP, CONSTRAINTS, JDBC_JAR, WHEEL, Release


@dataclass(frozen=True)
class NightlyJob:
    name: str
    upstream: tuple[str, ...] = ()
    takes_run_date: bool = True
    # Reads the store's PostgreSQL over JDBC: its step carries the driver jar.
    reads_store: bool = False
    # Runs only when raw files landed that no earlier run has partitioned.
    only_when_raw_landed: bool = False


# In dependency order: a job appears after everything it reads.
NIGHTLY_JOBS: tuple[NightlyJob, ...] = (
    NightlyJob("extract_rds", reads_store=True),
    NightlyJob("partition_raw", takes_run_date=False, only_when_raw_landed=True),
    NightlyJob("daily_aggregates", upstream=("extract_rds", "partition_raw")),
    NightlyJob("train_als", upstream=("partition_raw",)),
    NightlyJob("load_recommendations", upstream=("train_als",)),
    NightlyJob("data_quality", upstream=("extract_rds", "daily_aggregates"), reads_store=True),
)
NIGHTLY_JOB_NAMES = tuple(job.name for job in NIGHTLY_JOBS)
# clickstream_5min's job, on the streaming cluster: compacts the closed hours' small files.
COMPACTION_JOB = NightlyJob("compact_clickstream", takes_run_date=False)


def nightly_job(name: str) -> NightlyJob:
    for job in NIGHTLY_JOBS:
        if job.name == name:
            return job
    raise KeyError(f"{name} is not a nightly job; nightly jobs: {', '.join(NIGHTLY_JOB_NAMES)}")


def job_arguments(job: NightlyJob, env: str, run_date: date | str) -> list[str]:
    """What follows the job file on the command line; `run_date` may be Airflow's `{{ ds }}`."""
    arguments = ["--env", env]
    if job.takes_run_date:
        arguments += ["--run-date", str(run_date)]
    return arguments


def cluster_environment(config: Config) -> dict[str, str]:
    """Variables the job's configuration reads, for a driver and executors that YARN starts
    without the submitter's environment."""
    environment = {"FASHION_ENV": config.env}
    bucket = _bucket_of(config.paths.lake_root)
    if bucket:
        environment["FASHION_BUCKET"] = bucket
    environment.update(tracking_environment(config))
    return environment


def tracking_environment(config: Config) -> dict[str, str]:
    """conf/emr.yaml's FASHION_TRACKING_URI (the MLflow server the recs jobs record their runs in),
    as the submitter resolved it. Never a URI carrying a password: step arguments are not secret."""
    uri = config.tracking.uri
    if not uri or urlparse(uri).password:
        return {}
    return {"FASHION_TRACKING_URI": uri}


def emr_step(job: NightlyJob, config: Config, release: Release, run_date: date | str) -> dict:
    """An EMR `AddJobFlowSteps` step running the released `jobs/<job>.py` in cluster mode."""
    submit = ["spark-submit", "--deploy-mode", "cluster"]
    for name, value in sorted(cluster_environment(config).items()):
        submit += ["--conf", f"spark.yarn.appMasterEnv.{name}={value}",
                   "--conf", f"spark.executorEnv.{name}={value}"]
    if job.reads_store:
        submit += ["--jars", release.uri(JDBC_JAR)]
    return {
        "Name": job.name,
        # Airflow decides what runs after a failure; the cluster just stays up for the next step.
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [*submit, release.job_uri(job.name), *job_arguments(job, config.env, run_date)],
        },
    }


def local_submit_command(job: NightlyJob, config: Config, run_date: date | str,
                         jobs_dir: Path = PROJECT_ROOT / "jobs") -> list[str]:
    """The same job for spark-submit on this machine (the venv's, with conf/spark: see
    local_spark.py); the JDBC driver is already on its class path there."""
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    submit = [spark_submit]
    if job.reads_store and config.spark.jdbc_jar:
        submit += ["--jars", config.spark.jdbc_jar]
    return [*submit, str(jobs_dir / f"{job.name}.py"), *job_arguments(job, config.env, run_date)]


def run_job_flow_request(config: Config, release: Release, run_date: date | str) -> dict:
    """RunJobFlow's arguments for the night's cluster: EMR's release, the fleets and
    configurations of conf/<env>.yaml, the release's bootstrap, logs, and an idle timeout as a
    safety net behind the DAG's own terminate."""
    emr = config.emr
    instances: dict = {"InstanceFleets": emr.instance_fleets, "KeepJobFlowAliveWhenNoSteps": True,
                       "TerminationProtected": False}
    if emr.subnet_ids:
        instances["Ec2SubnetIds"] = list(emr.subnet_ids)
    request = {
        "Name": f"{emr.cluster_name}-{run_date}",
        "ReleaseLabel": emr.release_label,
        "Applications": [{"Name": "Spark"}, {"Name": "Hadoop"}],
        "Instances": instances,
        "BootstrapActions": [{
            "Name": "install fashion-pipeline",
            "ScriptBootstrapAction": {
                "Path": release.uri(BOOTSTRAP),
                "Args": [release.uri(WHEEL), release.uri(CONSTRAINTS)],
            },
        }],
        "Configurations": emr.configurations,
        "ServiceRole": emr.service_role,
        "JobFlowRole": emr.instance_profile,
        "AutoTerminationPolicy": {"IdleTimeout": emr.idle_timeout_s},
        "StepConcurrencyLevel": 1,
        "VisibleToAllUsers": True,
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(
            {**emr.tags, "fashion-release": release.version, "fashion-run-date": str(run_date)}.items())],
    }
    if config.paths.logs_root:
        request["LogUri"] = config.paths.logs_root.rstrip("/") + "/"
    return request


def _bucket_of(uri: str) -> str | None:
    if not is_remote(uri):
        return None
    return urlparse(uri).netloc or None


def step_log_uri(config: Config, cluster_id: str, step_id: str) -> str | None:
    """Where EMR puts a step's controller log, stdout and stderr (under the cluster's LogUri, which
    run_job_flow_request sets from paths.logs_root); None when no logs root is configured."""
    if not config.paths.logs_root:
        return None
    return join_uri(config.paths.logs_root, cluster_id, "steps", step_id) + "/"
