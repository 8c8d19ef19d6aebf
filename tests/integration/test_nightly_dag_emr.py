"""The DAGs' EMR target (nightly_batch, and clickstream_5min at the end), run by Airflow's dag.test() against moto: the cluster from
the deployed release, one step per job in dependency order, a sensor per step, Athena's checks
read by execution id, terminate whatever happens, and a failed step ends the run failed with a
Slack message (moto's steps never finish: this test moves them)."""
from __future__ import annotations

import threading
from datetime import date

import pytest
import requests

from fashion_pipeline.aws import aws_client
from fashion_pipeline.config import load_config
from fashion_pipeline.orchestration.local_airflow import AirflowRunFailed, LocalAirflow
from fashion_pipeline.orchestration.release import Release, release_manifest_uri
from fashion_pipeline.orchestration.steps import NIGHTLY_JOB_NAMES, NIGHTLY_JOBS
from fashion_pipeline.quality.checks import load_sql_checks
from fashion_pipeline.services import free_port
from fashion_pipeline.storage import storage_for

RUN_DATE = date(2020, 9, 24)
BUCKET = "night-lake"
ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def moto_in_process():
    """A moto server in this process, so the test can move EMR steps through moto's backend."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto's backends are this process's globals: another test's clusters would still be there.
    requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=10).raise_for_status()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class StepMover:
    """Plays EMR: each step that moto leaves PENDING is completed, or failed for `fail_job`."""

    def __init__(self, fail_job: str | None = None):
        self.fail_job, self.seen = fail_job, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        from moto.emr.models import emr_backends

        while not self._stop.wait(0.2):
            for cluster in list(emr_backends[ACCOUNT][REGION].clusters.values()):
                for step in cluster.steps:
                    if step.state in ("PENDING", "RUNNING"):
                        step.state = "FAILED" if step.name == self.fail_job else "COMPLETED"
                        self.seen.append((step.name, step.state))


@pytest.fixture
def emr_night(tmp_path, moto_in_process, slack_webhook, monkeypatch):
    monkeypatch.setenv("FASHION_BUCKET", BUCKET)
    config = load_config("emr", overrides={
        "aws.endpoint_url": moto_in_process, "aws.region": REGION,
        "paths.state_dir": str(tmp_path / "state"),
        "orchestration.step_poke_interval_s": 0.5,
        "orchestration.retry_delay_s": 1, "orchestration.max_retry_delay_s": 1,
    })
    s3 = aws_client("s3", config)
    s3.create_bucket(Bucket=BUCKET)
    # What the infrastructure stack creates (infra/): the Athena workgroup the checks run in.
    aws_client("athena", config).create_work_group(
        Name=config.orchestration.athena_workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": config.paths.athena_results_root}})
    release = Release(version="0.1.0+test", artifacts={
        "wheel": f"s3://{BUCKET}/deploy/artifacts/1/fashion_pipeline-0.1.0-py3-none-any.whl",
        "constraints": f"s3://{BUCKET}/deploy/artifacts/2/constraints.txt",
        "bootstrap": f"s3://{BUCKET}/deploy/artifacts/3/install_fashion_pipeline.sh",
        "jdbc_jar": f"s3://{BUCKET}/deploy/artifacts/4/postgresql.jar",
        **{f"jobs/{job}.py": f"s3://{BUCKET}/deploy/artifacts/j/{job}.py"
           for job in (*NIGHTLY_JOB_NAMES, "compact_clickstream")},
    })
    storage_for(config).write_text(release_manifest_uri(config), release.to_json())
    airflow = LocalAirflow.for_config(config, extra_connections={"slack_alerts": slack_webhook.connection})
    return config, airflow


def _seed_athena_answers(endpoint: str, failed_rows: dict[str, int]) -> None:
    """moto answers every Athena query with the next seeded result, in order of execution; the
    checks all return one (check_name, checked_rows, failed_rows) row, so order does not matter
    except for which check fails, which the verdict reads by name from the row itself."""
    results = []
    for check in load_sql_checks():
        header = ["check_name", "checked_rows", "failed_rows"]
        row = [check.name, "10", str(failed_rows.get(check.name, 0))]
        results.append({"rows": [{"Data": [{"VarCharValue": v} for v in values]} for values in (header, row)],
                        "column_info": [{"Name": name, "Type": "varchar"} for name in header]})
    reply = requests.post(f"{endpoint}/moto-api/static/athena/query-results",
                          json={"account_id": ACCOUNT, "region": REGION, "results": results}, timeout=10)
    reply.raise_for_status()


def _clusters(config):
    emr = aws_client("emr", config)
    return [emr.describe_cluster(ClusterId=c["Id"])["Cluster"] for c in emr.list_clusters()["Clusters"]]


def test_a_night_on_emr_runs_every_step_in_order_and_terminates(emr_night, moto_in_process, slack_webhook):
    config, airflow = emr_night
    _seed_athena_answers(moto_in_process, {})
    with StepMover() as emr:
        assert airflow.test_dag("nightly_batch", RUN_DATE, timeout_s=300) == "success"

    # No raw files landed: partition_raw is skipped, the rest ran once each, after what they read.
    ran = [name for name, _ in emr.seen]
    assert sorted(ran) == sorted(set(NIGHTLY_JOB_NAMES) - {"partition_raw"})
    for job in NIGHTLY_JOBS:
        for upstream in set(job.upstream) & set(ran):
            assert ran.index(upstream) < ran.index(job.name), (upstream, job.name)
    (cluster,) = _clusters(config)
    assert cluster["Status"]["State"] in ("TERMINATED", "TERMINATING")
    assert cluster["ReleaseLabel"] == "emr-spark-8.0.0"
    tags = {t["Key"]: t["Value"] for t in cluster["Tags"]}
    assert tags["fashion-release"] == "0.1.0+test" and tags["fashion-run-date"] == str(RUN_DATE)
    steps = aws_client("emr", config).list_steps(ClusterId=cluster["Id"])["Steps"]
    extract = next(s for s in steps if s["Name"] == "extract_rds")["Config"]["Args"]
    assert extract[-2:] == ["--run-date", str(RUN_DATE)]
    assert f"spark.yarn.appMasterEnv.FASHION_BUCKET={BUCKET}" in extract
    assert "--jars" in extract
    # The daily summary went to Slack, and no alert.
    assert len(slack_webhook.received) == 1
    assert slack_webhook.received[0]["text"].startswith(f"fashion-pipeline night of {RUN_DATE}")


def test_a_failed_step_fails_the_run_stops_its_dependants_and_alerts(emr_night, moto_in_process, slack_webhook):
    config, airflow = emr_night
    _seed_athena_answers(moto_in_process, {})
    with StepMover(fail_job="train_als") as emr, pytest.raises(AirflowRunFailed, match="ended failed"):
        airflow.test_dag("nightly_batch", RUN_DATE, timeout_s=300)

    ran = [name for name, _ in emr.seen]
    assert ("train_als", "FAILED") in emr.seen
    assert "load_recommendations" not in ran          # depends on train_als
    assert "data_quality" in ran                      # does not
    (cluster,) = _clusters(config)
    assert cluster["Status"]["State"] in ("TERMINATED", "TERMINATING")  # torn down all the same
    (alert,) = slack_webhook.received
    assert alert["text"].startswith(":rotating_light: nightly_batch") and "train_als" in alert["text"]
    assert "load_recommendations" in alert["text"]    # could not run: upstream failed


def test_a_blocking_athena_check_fails_the_night(emr_night, moto_in_process, slack_webhook):
    config, airflow = emr_night
    _seed_athena_answers(moto_in_process, {"orders_pk_unique": 2})
    with StepMover(), pytest.raises(AirflowRunFailed):
        airflow.test_dag("nightly_batch", RUN_DATE, timeout_s=300)
    (alert,) = slack_webhook.received
    assert "athena_checks" in alert["text"]


def test_clickstream_5min_alerts_on_a_silent_stream_and_compacts_on_the_streaming_cluster(
        emr_night, slack_webhook):
    config, airflow = emr_night
    emr = aws_client("emr", config)
    streaming = emr.run_job_flow(
        Name=config.emr.streaming_cluster_name, ReleaseLabel=config.emr.release_label,
        Instances={"InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True, "MasterInstanceType": "m7g.xlarge"},
        JobFlowRole=config.emr.instance_profile, ServiceRole=config.emr.service_role)["JobFlowId"]
    # No streaming job has reported a batch: the health check must alert and fail its task.
    with StepMover() as steps, pytest.raises(AirflowRunFailed):
        airflow.test_dag("clickstream_5min", RUN_DATE, timeout_s=300)

    assert steps.seen == [("compact_clickstream", "COMPLETED")]
    (step,) = emr.list_steps(ClusterId=streaming)["Steps"]
    assert step["Config"]["Args"][-3:] == [f"s3://{BUCKET}/deploy/artifacts/j/compact_clickstream.py", "--env", "emr"]
    (alert,) = slack_webhook.received
    assert "fashion clicks stream" in alert["text"] or "EMR" in alert["text"]
