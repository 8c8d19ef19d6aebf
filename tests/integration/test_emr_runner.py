"""`fashion emr run` and `fashion emr status` against moto's EMR, in this process so the test can
move steps along (moto never does): ScriptedEmr plays each job's planned states, one per poll,
and its clock advances with the runner's sleeps, so durations are exact."""
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.cli import build_parser, main
from fashion_pipeline.landing import land_directory
from fashion_pipeline.orchestration.commands import cmd_emr_run
from fashion_pipeline.orchestration.emr_runner import TERMINAL_STEP_STATES, cluster_status_lines
from fashion_pipeline.orchestration.release import Release, release_manifest_uri
from fashion_pipeline.orchestration.steps import NIGHTLY_JOB_NAMES, emr_step, nightly_job, run_job_flow_request
from fashion_pipeline.services import free_port
from fashion_pipeline.storage import storage_for
from tests.handmade import transaction_line, write_hm_files

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "fashion-emr-tests"
POLL_S = 60
RUN_DATE = "2020-09-22"
RELEASE = Release(version="0.1.0+feedface0001", created_at="2020-09-22T00:00:00+00:00", artifacts={
    "wheel": f"s3://{BUCKET}/deploy/artifacts/aa/fashion_pipeline-0.1.0-py3-none-any.whl",
    "constraints": f"s3://{BUCKET}/deploy/artifacts/bb/constraints.txt",
    "bootstrap": f"s3://{BUCKET}/deploy/artifacts/cc/install_fashion_pipeline.sh",
    "jdbc_jar": f"s3://{BUCKET}/deploy/artifacts/dd/postgresql.jar",
    **{f"jobs/{p.name}": f"s3://{BUCKET}/deploy/artifacts/{i:02d}/{p.name}"
       for i, p in enumerate(sorted((ROOT / "jobs").glob("*.py")))},
})


def _emr_backend(config):
    from moto.backends import get_backend

    return get_backend("emr")["123456789012"][config.aws.region]


class ScriptedEmr:
    """What EMR would do between two polls: each unfinished step takes its job's next planned state."""

    def __init__(self, config, plans=None, reasons=None, interrupt_on_sleep: int | None = None,
                 cluster_fails_with: str | None = None):
        self.backend = _emr_backend(config)
        # A bootstrap failure: EMR terminates the cluster and cancels its steps.
        self.cluster_fails_with = cluster_fails_with
        self.plans = {job: list(states) for job, states in (plans or {}).items()}
        self.reasons = reasons or {}
        self.interrupt_on_sleep = interrupt_on_sleep
        self.now = 0.0
        self.sleeps = 0
        self.most_unfinished_steps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps == self.interrupt_on_sleep:
            raise KeyboardInterrupt
        self.now += seconds
        for cluster in self.backend.clusters.values():
            unfinished = [step for step in cluster.steps if step.state not in TERMINAL_STEP_STATES]
            self.most_unfinished_steps = max(self.most_unfinished_steps, len(unfinished))
            for step in unfinished:
                plan = self.plans.setdefault(step.name, ["RUNNING", "RUNNING", "COMPLETED"])
                step.state = plan.pop(0)
                if step.state == "FAILED":
                    step.last_state_change_reason = self.reasons.get(step.name, "")
                if step.state == "CANCELLED" and self.cluster_fails_with:
                    cluster.state, cluster.last_state_change_reason = "TERMINATED_WITH_ERRORS", self.cluster_fails_with

    def steps(self):
        (cluster,) = self.backend.clusters.values()
        return cluster.steps

    def cluster_state(self) -> str:
        (cluster,) = self.backend.clusters.values()
        return cluster.state


@pytest.fixture
def emr_config(config):
    """A moto server in this process (its EMR backend is ours to edit) holding a deployed release."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    emr_config = config.with_overrides({
        "aws.endpoint_url": f"http://127.0.0.1:{port}", "services.moto_port": port,
        "paths.deploy_root": f"s3://{BUCKET}/deploy", "paths.logs_root": f"s3://{BUCKET}/emr-logs",
    })
    aws_client("s3", emr_config).create_bucket(Bucket=BUCKET)
    storage_for(emr_config).write_text(release_manifest_uri(emr_config), RELEASE.to_json())
    yield emr_config
    from moto.backends import get_backend

    for backend in (get_backend("emr"), get_backend("s3")):
        backend.reset()
    server.stop()


def _run(config, scripted: ScriptedEmr, *options) -> int:
    args = build_parser().parse_args([
        "emr", "run", "--run-date", RUN_DATE, "--env", "local", "--poll-seconds", str(POLL_S),
        "--raw-root", config.paths.raw_root, "--lake-root", config.paths.lake_root,
        *(f"--set={key}={value}" for key, value in (
            ("aws.endpoint_url", config.aws.endpoint_url), ("paths.deploy_root", config.paths.deploy_root),
            ("paths.logs_root", config.paths.logs_root))),
        *options,
    ])
    return cmd_emr_run(args, sleep=scripted.sleep, clock=scripted.clock)


def test_created_cluster_runs_every_job_in_order_then_terminates(emr_config, capsys):
    scripted = ScriptedEmr(emr_config)
    assert _run(emr_config, scripted, "--create") == 0
    out = capsys.readouterr().out.splitlines()

    # Nothing landed in this test's raw zone: partition_raw is not needed tonight.
    expected_jobs = [job for job in NIGHTLY_JOB_NAMES if job != "partition_raw"]
    assert [step.name for step in scripted.steps()] == expected_jobs
    assert scripted.most_unfinished_steps == 1  # each step submitted after the one before ended
    assert all(step.state == "COMPLETED" for step in scripted.steps())
    train = next(step for step in scripted.steps() if step.name == "train_als")
    assert RELEASE.job_uri("train_als") in train.args and train.args[-2:] == ["--run-date", RUN_DATE]
    (cluster,) = scripted.backend.clusters.values()
    assert cluster.state == "TERMINATED"
    assert cluster.bootstrap_actions[0].args == [RELEASE.uri("wheel"), RELEASE.uri("constraints")]

    assert out[0] == (f"created cluster {cluster.id} (fashion-nightly-{RUN_DATE}, emr-spark-8.0.0) "
                      f"for release {RELEASE.version}")
    # moto starts a fresh cluster's first step at once; later steps wait their turn.
    extract = out[out.index(f"extract_rds submitted as step {scripted.steps()[0].id}") + 1:][:2]
    assert extract == ["extract_rds RUNNING", "extract_rds COMPLETED in 3m00s"]
    assert "partition_raw NOT_NEEDED: no raw files landed since its last run" in out
    daily = out[out.index(f"daily_aggregates submitted as step {scripted.steps()[1].id}") + 1:][:3]
    assert daily == ["daily_aggregates PENDING", "daily_aggregates RUNNING", "daily_aggregates COMPLETED in 2m00s"]
    assert out[-2:] == [f"terminating cluster {cluster.id}",
                        f"nightly run {RUN_DATE} on {cluster.id}: every job completed"]


def test_failed_step_stops_its_dependants_only_and_the_created_cluster_is_terminated(emr_config, capsys):
    scripted = ScriptedEmr(emr_config, plans={"extract_rds": ["RUNNING", "FAILED"]},
                           reasons={"extract_rds": "Step failed with exitCode 1"})
    assert _run(emr_config, scripted, "--create", "--with-partition-raw") == 1
    out = capsys.readouterr().out.splitlines()

    # daily_aggregates and data_quality read extract_rds' tables; the recommender does not.
    assert [step.name for step in scripted.steps()] == ["extract_rds", "partition_raw", "train_als",
                                                         "load_recommendations"]
    assert scripted.cluster_state() == "TERMINATED"
    cluster_id, failed = next(iter(scripted.backend.clusters)), scripted.steps()[0]
    assert (f"extract_rds FAILED in 2m00s: Step failed with exitCode 1; "
            f"logs: s3://{BUCKET}/emr-logs/{cluster_id}/steps/{failed.id}/") in out
    assert "daily_aggregates SKIPPED: extract_rds did not complete" in out
    assert "data_quality SKIPPED: extract_rds, daily_aggregates did not complete" in out
    assert out[-1] == f"nightly run {RUN_DATE} on {cluster_id}: did not complete: extract_rds, daily_aggregates, data_quality"


def test_partition_raw_runs_when_raw_files_are_pending_unless_told_not_to(emr_config, tmp_path, capsys):
    land_directory(write_hm_files(tmp_path / "landed", [transaction_line()]), emr_config.paths.raw_root,
                   date(2020, 9, 22), storage_for(emr_config))
    scripted = ScriptedEmr(emr_config)
    assert _run(emr_config, scripted, "--create", "--without-partition-raw") == 0
    assert "partition_raw NOT_NEEDED: --without-partition-raw" in capsys.readouterr().out
    assert "partition_raw" not in [step.name for step in scripted.steps()]

    _emr_backend(emr_config).reset()
    scripted = ScriptedEmr(emr_config)
    assert _run(emr_config, scripted, "--create") == 0
    assert [step.name for step in scripted.steps()] == list(NIGHTLY_JOB_NAMES)


def test_a_cluster_that_dies_gets_no_more_steps(emr_config, capsys):
    failure = "On the master instance (i-0abc), bootstrap action 1 returned a non-zero return code"
    scripted = ScriptedEmr(emr_config, plans={"extract_rds": ["CANCELLED"]}, cluster_fails_with=failure)
    assert _run(emr_config, scripted, "--create") == 1
    out = capsys.readouterr().out.splitlines()
    cluster_id = next(iter(scripted.backend.clusters))
    assert [step.name for step in scripted.steps()] == ["extract_rds"]
    assert f"cluster {cluster_id} is TERMINATED_WITH_ERRORS: {failure}" in out
    assert f"train_als SKIPPED: cluster {cluster_id} is TERMINATED_WITH_ERRORS: {failure}" in out


def test_ctrl_c_terminates_a_created_cluster(emr_config, capsys):
    scripted = ScriptedEmr(emr_config, interrupt_on_sleep=2)
    assert _run(emr_config, scripted, "--create") == 130
    assert scripted.cluster_state() == "TERMINATED"
    assert capsys.readouterr().out.splitlines()[-2:] == [
        f"terminating cluster {next(iter(scripted.backend.clusters))}", "interrupted"]


def test_ctrl_c_leaves_a_given_cluster_running_and_says_how_to_cancel_the_step(emr_config, capsys):
    emr = aws_client("emr", emr_config)
    cluster_id = emr.run_job_flow(**run_job_flow_request(emr_config, RELEASE, RUN_DATE))["JobFlowId"]
    scripted = ScriptedEmr(emr_config, interrupt_on_sleep=1)
    assert _run(emr_config, scripted, "--cluster-id", cluster_id) == 130
    assert scripted.cluster_state() != "TERMINATED"
    step_id = scripted.steps()[0].id
    assert (f"interrupted: step {step_id} (extract_rds) is still running on {cluster_id}; cancel it with "
            f"`aws emr cancel-steps --cluster-id {cluster_id} --step-ids {step_id}`") in capsys.readouterr().out


def test_a_terminated_cluster_is_refused_in_one_line(emr_config, capsys):
    emr = aws_client("emr", emr_config)
    cluster_id = emr.run_job_flow(**run_job_flow_request(emr_config, RELEASE, RUN_DATE))["JobFlowId"]
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
    code = main(["emr", "run", "--run-date", RUN_DATE, "--cluster-id", cluster_id, "--env", "local",
                 "--set", f"aws.endpoint_url={emr_config.aws.endpoint_url}",
                 "--set", f"paths.deploy_root={emr_config.paths.deploy_root}"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        f"fashion emr run: cluster {cluster_id} is TERMINATED: pass a running cluster's id, or --create")


def test_status_shows_the_cluster_and_each_step(emr_config, capsys):
    emr = aws_client("emr", emr_config)
    cluster_id = emr.run_job_flow(**run_job_flow_request(emr_config, RELEASE, RUN_DATE))["JobFlowId"]
    steps = [emr_step(nightly_job(job), emr_config, RELEASE, RUN_DATE) for job in ("extract_rds", "daily_aggregates", "train_als")]
    emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=steps)
    extract, daily, train = _emr_backend(emr_config).clusters[cluster_id].steps
    start = datetime(2020, 9, 23, 1, 0, 0)
    extract.state, extract.start_date_time, extract.end_date_time = "COMPLETED", start, start + timedelta(seconds=192)
    daily.state, daily.start_date_time, daily.end_date_time = "FAILED", start + timedelta(minutes=4), start + timedelta(minutes=5, seconds=5)
    daily.last_state_change_reason = "Step failed with exitCode 1"
    train.state, train.start_date_time = "RUNNING", start + timedelta(minutes=6)

    # moto keeps naive UTC times, as its own utcnow() does.
    lines = cluster_status_lines(emr, emr_config, cluster_id, now=datetime(2020, 9, 23, 1, 8, 0, tzinfo=timezone.utc))
    assert lines[0] == (f"cluster {cluster_id} fashion-nightly-{RUN_DATE}: RUNNING; "
                        f"release {RELEASE.version}, run date {RUN_DATE}")
    assert [line.split()[:3] for line in lines[1:]] == [
        ["extract_rds", "COMPLETED", "3m12s"], ["daily_aggregates", "FAILED", "1m05s"], ["train_als", "RUNNING", "2m00s"]]
    assert lines[2].endswith(f"Step failed with exitCode 1; logs: s3://{BUCKET}/emr-logs/{cluster_id}/steps/{daily.id}/")
    assert lines[3].split()[3:5] == ["so", "far"]

    # Without an id: the newest nightly cluster.
    code = main(["emr", "status", "--env", "local", "--set", f"aws.endpoint_url={emr_config.aws.endpoint_url}"])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(f"cluster {cluster_id} fashion-nightly-{RUN_DATE}: RUNNING")


def test_status_of_an_unknown_cluster_is_one_line(emr_config, capsys):
    code = main(["emr", "status", "--cluster-id", "j-NOSUCHCLUSTER", "--env", "local",
                 "--set", f"aws.endpoint_url={emr_config.aws.endpoint_url}"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "fashion emr status: no cluster j-NOSUCHCLUSTER: check the id (`fashion emr status` finds the night's cluster)")
