"""EMR steps run our jobs as our jobs expect to be run: one name for the job file, the step and the
pipeline module, arguments the job's own parser accepts, and on the cluster what the job needs
that YARN does not hand it (the bucket variable, the JDBC driver)."""
from datetime import date
from pathlib import Path

import pytest

from fashion_pipeline.config import load_config
from fashion_pipeline.jobs import job_parser, pipeline_module
from fashion_pipeline.orchestration.release import Release
from fashion_pipeline.orchestration.steps import (
    NIGHTLY_JOB_NAMES,
    NIGHTLY_JOBS,
    emr_step,
    local_submit_command,
    nightly_job,
    run_job_flow_request,
)

ROOT = Path(__file__).resolve().parents[2]
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.py"))
RELEASE = Release(version="0.1.0+abc", artifacts={
    "wheel": "s3://b/deploy/artifacts/1/fashion_pipeline.whl",
    "constraints": "s3://b/deploy/artifacts/2/constraints.txt",
    "bootstrap": "s3://b/deploy/artifacts/3/install_fashion_pipeline.sh",
    "jdbc_jar": "s3://b/deploy/artifacts/4/postgresql.jar",
    **{f"jobs/{job}.py": f"s3://b/deploy/artifacts/j{i}/{job}.py" for i, job in enumerate(JOBS)},
})


def _takes_run_date(job: str) -> bool:
    return any(action.dest == "run_date" for action in job_parser(job)._actions)


@pytest.fixture
def emr_config():
    return load_config("emr", environ={"FASHION_BUCKET": "store-lake"})


def test_every_job_file_has_its_pipeline_module_and_every_nightly_job_a_file():
    assert set(NIGHTLY_JOB_NAMES) <= set(JOBS)
    for job in JOBS:
        assert callable(getattr(pipeline_module(job), f"run_{job}")), job


def test_nightly_jobs_come_after_what_they_read():
    seen = set()
    for job in NIGHTLY_JOBS:
        assert set(job.upstream) <= seen, job.name
        assert job.takes_run_date == _takes_run_date(job.name), job.name
        seen.add(job.name)
    with pytest.raises(KeyError, match="nightly jobs: extract_rds"):
        nightly_job("evaluate_recs")


@pytest.mark.parametrize("job", NIGHTLY_JOB_NAMES)
def test_step_arguments_parse_with_the_jobs_own_parser(job, emr_config):
    step = emr_step(nightly_job(job), emr_config, RELEASE, "2020-09-22")
    assert step["Name"] == job and step["ActionOnFailure"] == "CONTINUE"
    args = step["HadoopJarStep"]["Args"]
    script = args.index(RELEASE.job_uri(job))
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    # A cluster-mode driver and the executors get the bucket conf/emr.yaml needs.
    for variable in ("FASHION_BUCKET=store-lake", "FASHION_ENV=emr"):
        assert f"spark.yarn.appMasterEnv.{variable}" in args[:script]
        assert f"spark.executorEnv.{variable}" in args[:script]
    assert ("--jars" in args[:script]) == nightly_job(job).reads_store
    if nightly_job(job).reads_store:
        assert args[args.index("--jars") + 1] == RELEASE.uri("jdbc_jar")
    parsed = job_parser(job).parse_args(args[script + 1:])
    assert parsed.env == "emr"
    if _takes_run_date(job):
        assert parsed.run_date == date(2020, 9, 22)


def test_airflow_template_passes_through_to_the_run_date(emr_config):
    args = emr_step(nightly_job("train_als"), emr_config, RELEASE, "{{ ds }}")["HadoopJarStep"]["Args"]
    assert args[-2:] == ["--run-date", "{{ ds }}"]


@pytest.mark.parametrize("job", NIGHTLY_JOB_NAMES)
def test_local_command_is_the_same_job_for_the_venvs_spark_submit(job):
    config = load_config("local", environ={})
    command = local_submit_command(nightly_job(job), config, date(2020, 9, 22))
    assert Path(command[0]).name == "spark-submit" and Path(command[0]).is_file()
    script = command.index(str(ROOT / "jobs" / f"{job}.py"))
    parsed = job_parser(job).parse_args(command[script + 1:])
    assert parsed.env == "local"


def test_cluster_request_runs_the_release_on_emr_spark_8(emr_config):
    request = run_job_flow_request(emr_config, RELEASE, "2020-09-22")
    assert request["ReleaseLabel"] == "emr-spark-8.0.0"
    assert request["LogUri"] == "s3://store-lake/emr-logs/"
    bootstrap = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    assert bootstrap == {"Path": RELEASE.uri("bootstrap"), "Args": [RELEASE.uri("wheel"), RELEASE.uri("constraints")]}
    assert request["AutoTerminationPolicy"] == {"IdleTimeout": 3600}
    assert {fleet["InstanceFleetType"] for fleet in request["Instances"]["InstanceFleets"]} == {"MASTER", "CORE"}
    assert {"Key": "fashion-release", "Value": "0.1.0+abc"} in request["Tags"]
    assert request["ServiceRole"] == "fashion-emr-service" and request["JobFlowRole"] == "fashion-emr-instance"


def test_the_tracking_server_reaches_the_cluster_and_mwaa_but_never_a_password():
    from fashion_pipeline.orchestration.mwaa import startup_environment
    from fashion_pipeline.orchestration.steps import cluster_environment

    environ = {"FASHION_BUCKET": "store-lake"}
    unset = load_config("emr", environ=environ)
    assert "FASHION_TRACKING_URI" not in cluster_environment(unset)
    assert "FASHION_TRACKING_URI" not in startup_environment(unset, "store-lake")
    config = load_config("emr", environ={**environ, "FASHION_TRACKING_URI": "https://mlflow.internal"})
    args = emr_step(nightly_job("train_als"), config, RELEASE, "2020-09-22")["HadoopJarStep"]["Args"]
    assert "spark.yarn.appMasterEnv.FASHION_TRACKING_URI=https://mlflow.internal" in args
    assert startup_environment(config, "store-lake")["FASHION_TRACKING_URI"] == "https://mlflow.internal"
    secret = load_config("emr", environ={**environ, "FASHION_TRACKING_URI": "https://u:pw@mlflow.internal"})
    assert "FASHION_TRACKING_URI" not in cluster_environment(secret)
