"""`fashion emr run` and `fashion emr status`: the nightly jobs on EMR without Airflow, from the
same release and the same step definitions the DAG uses (steps.py).

Steps are submitted one at a time, each after the one before it ended. Our steps are CONTINUE
(the cluster outlives a failed step), so a failure does not stop what was queued behind it; adding
all steps up front would mean cancelling dependants after a failure, and CancelSteps is
asynchronous, best effort and races the step starting. Submitting one at a time costs at most one
poll interval of idle cluster per step, and a failed step simply leaves its dependants unsubmitted,
while jobs that do not depend on it still run (as the DAG's trigger rules do).

Time passes through `sleep` and `clock`, injected by tests so that waiting is exact.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable

from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.orchestration.release import Release
from fashion_pipeline.orchestration.steps import (
    NIGHTLY_JOBS,
    emr_step,
    run_job_flow_request,
    step_log_uri,
)

COMPLETED = "COMPLETED"
TERMINAL_STEP_STATES = frozenset({COMPLETED, "CANCELLED", "FAILED", "INTERRUPTED"})
ACTIVE_CLUSTER_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
# Our own outcomes for jobs that got no step.
NOT_NEEDED = "NOT_NEEDED"
SKIPPED = "SKIPPED"
NO_RAW_PENDING = "no raw files landed since its last run"

Output = Callable[[str], None]


class EmrRunError(PipelineError):
    """The cluster cannot be used, or cannot be found."""


@dataclass(frozen=True)
class JobOutcome:
    job: str
    state: str  # an EMR step state, NOT_NEEDED or SKIPPED
    step_id: str | None = None
    seconds: float | None = None
    reason: str = ""

    @property
    def lets_dependants_run(self) -> bool:
        return self.state in (COMPLETED, NOT_NEEDED)


@dataclass
class NightlyRunResult:
    cluster_id: str
    outcomes: list[JobOutcome] = field(default_factory=list)
    # A cluster this run created and could not terminate keeps costing money: a failure too.
    left_running: bool = False

    @property
    def succeeded(self) -> bool:
        return not self.left_running and all(outcome.lets_dependants_run for outcome in self.outcomes)


def format_duration(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def step_failure_reason(status: dict) -> str:
    """EMR's FailureDetails when it has them (reason, message), else the state change reason."""
    details = status.get("FailureDetails") or {}
    parts = [details.get("Reason"), details.get("Message")]
    if not any(parts):
        parts = [(status.get("StateChangeReason") or {}).get("Message")]
    return "; ".join(part for part in parts if part)


def timeline_seconds(timeline: dict, now: datetime | None = None) -> float | None:
    """How long the step ran by EMR's own timeline (until `now` while it runs); None if it has not
    started or EMR does not say."""
    started, ended = timeline.get("StartDateTime"), timeline.get("EndDateTime") or now
    if not started or not ended:
        return None
    return max(0.0, (ended - started).total_seconds())


def wait_for_step(emr, config: Config, cluster_id: str, step_id: str, job: str, *, poll_s: float,
                  sleep: Callable[[float], None], clock: Callable[[], float], out: Output) -> JobOutcome:
    """Poll the step until it ends, printing each state it enters; its outcome."""
    submitted_at = clock()
    running_since: float | None = None
    last_state = None
    while True:
        status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
        state = status["State"]
        if state == "RUNNING" and running_since is None:
            running_since = clock()
        if state in TERMINAL_STEP_STATES:
            seconds = timeline_seconds(status.get("Timeline") or {})
            if seconds is None:
                seconds = clock() - (submitted_at if running_since is None else running_since)
            outcome = JobOutcome(job, state, step_id, seconds, step_failure_reason(status))
            out(_ended_line(config, cluster_id, outcome))
            return outcome
        if state != last_state:
            out(f"{job} {state}")
            last_state = state
        sleep(poll_s)


def run_nightly(emr, config: Config, release: Release, run_date: date | str, *, cluster_id: str | None,
                run_partition_raw: bool, poll_s: float, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic, out: Output = print,
                why_no_partition_raw: str = NO_RAW_PENDING) -> NightlyRunResult:
    """Submit the nightly jobs to `cluster_id`, or to a cluster created for this run (None) and
    terminated when the run ends, however it ends (a failure, an error, Ctrl-C)."""
    created = cluster_id is None
    if created:
        request = run_job_flow_request(config, release, run_date)
        cluster_id = emr.run_job_flow(**request)["JobFlowId"]
        out(f"created cluster {cluster_id} ({request['Name']}, {config.emr.release_label}) for release {release.version}")
    else:
        state = _cluster_state(emr, cluster_id)
        if state not in ACTIVE_CLUSTER_STATES:
            raise EmrRunError(f"cluster {cluster_id} is {state}: pass a running cluster's id, or --create")
        out(f"submitting release {release.version} to cluster {cluster_id} ({state})")

    result = NightlyRunResult(cluster_id)
    try:
        _run_jobs(emr, config, release, run_date, result, run_partition_raw=run_partition_raw,
                  why_no_partition_raw=why_no_partition_raw, created=created, poll_s=poll_s, sleep=sleep,
                  clock=clock, out=out)
    finally:
        if created:
            result.left_running = not _terminate(emr, cluster_id, out)
    return result


def _run_jobs(emr, config: Config, release: Release, run_date, result: NightlyRunResult, *, run_partition_raw: bool,
              why_no_partition_raw: str, created: bool, poll_s: float, sleep, clock, out: Output) -> None:
    by_job: dict[str, JobOutcome] = {}
    cluster_gone = ""
    for job in NIGHTLY_JOBS:
        blocked = [name for name in job.upstream if not by_job[name].lets_dependants_run]
        if job.only_when_raw_landed and not run_partition_raw:
            outcome = JobOutcome(job.name, NOT_NEEDED, reason=why_no_partition_raw)
        elif cluster_gone:
            outcome = JobOutcome(job.name, SKIPPED, reason=cluster_gone)
        elif blocked:
            outcome = JobOutcome(job.name, SKIPPED, reason=f"{', '.join(blocked)} did not complete")
        else:
            step = emr_step(job, config, release, run_date)
            step_id = emr.add_job_flow_steps(JobFlowId=result.cluster_id, Steps=[step])["StepIds"][0]
            out(f"{job.name} submitted as step {step_id}")
            try:
                outcome = wait_for_step(emr, config, result.cluster_id, step_id, job.name, poll_s=poll_s,
                                        sleep=sleep, clock=clock, out=out)
            except KeyboardInterrupt:
                if not created:
                    out(f"interrupted: step {step_id} ({job.name}) is still running on {result.cluster_id}; "
                        f"cancel it with `aws emr cancel-steps --cluster-id {result.cluster_id} --step-ids {step_id}`")
                raise
            if outcome.state != COMPLETED:
                cluster_gone = _cluster_gone(emr, result.cluster_id)
                if cluster_gone:
                    out(cluster_gone)
        if outcome.step_id is None:
            out(f"{job.name} {outcome.state}: {outcome.reason}")
        by_job[job.name] = outcome
        result.outcomes.append(outcome)


def _ended_line(config: Config, cluster_id: str, outcome: JobOutcome) -> str:
    line = f"{outcome.job} {outcome.state} in {format_duration(outcome.seconds or 0)}"
    if outcome.state == COMPLETED:
        return line
    logs = step_log_uri(config, cluster_id, outcome.step_id or "")
    return (f"{line}: {outcome.reason or 'EMR gave no reason'}; "
            f"logs: {logs or 'none (paths.logs_root is not set, the cluster has no LogUri)'}")


def _cluster_state(emr, cluster_id: str) -> str:
    from botocore.exceptions import ClientError

    try:
        return emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("InvalidRequestException", "NoSuchCluster", "ValidationException"):
            raise EmrRunError(f"no cluster {cluster_id}: check the id (`fashion emr status` finds the night's cluster)") from None
        raise


def _cluster_gone(emr, cluster_id: str) -> str:
    """Why the cluster can take no more steps (it terminated under us), or '' if it can."""
    status = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    if status["State"] in ACTIVE_CLUSTER_STATES:
        return ""
    reason = (status.get("StateChangeReason") or {}).get("Message") or "no reason given"
    return f"cluster {cluster_id} is {status['State']}: {reason}"


def _terminate(emr, cluster_id: str, out: Output) -> bool:
    try:
        emr.terminate_job_flows(JobFlowIds=[cluster_id])
    except Exception as error:  # noqa: BLE001 - reported, and the run fails; the idle timeout is the backstop
        out(f"could not terminate cluster {cluster_id} ({error}): terminate it with "
            f"`aws emr terminate-clusters --cluster-ids {cluster_id}`")
        return False
    out(f"terminating cluster {cluster_id}")
    return True


def find_nightly_cluster(emr, config: Config) -> str:
    """The newest cluster named like the nightly one, preferring one still active."""
    prefix = f"{config.emr.cluster_name}-"
    for states in (list(ACTIVE_CLUSTER_STATES), None):
        arguments = {"ClusterStates": states} if states else {}
        clusters = [cluster for page in emr.get_paginator("list_clusters").paginate(**arguments)
                    for cluster in page.get("Clusters", []) if cluster.get("Name", "").startswith(prefix)]
        if clusters:
            return max(clusters, key=lambda c: c["Status"]["Timeline"]["CreationDateTime"])["Id"]
    raise EmrRunError(f"no {config.emr.cluster_name} cluster found in the last two months: pass --cluster-id")


def cluster_status_lines(emr, config: Config, cluster_id: str, now: datetime | None = None) -> list[str]:
    """The cluster's state, then each step in the order submitted: state, duration, why it failed."""
    now = now or datetime.now(timezone.utc)
    _cluster_state(emr, cluster_id)  # a one-line error for an unknown id
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    status = cluster["Status"]
    tags = {tag["Key"]: tag["Value"] for tag in cluster.get("Tags", [])}
    line = f"cluster {cluster_id} {cluster.get('Name', '')}: {status['State']}"
    reason = (status.get("StateChangeReason") or {}).get("Message")
    if reason:
        line += f" ({reason})"
    if "fashion-release" in tags:
        line += f"; release {tags['fashion-release']}, run date {tags.get('fashion-run-date', '?')}"
    lines = [line]
    steps = [step for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id)
             for step in page.get("Steps", [])]
    if not steps:
        lines.append("  no steps")
    # EMR lists the newest step first.
    for step in reversed(steps):
        step_status = step["Status"]
        state = step_status["State"]
        running = state not in TERMINAL_STEP_STATES
        seconds = timeline_seconds(step_status.get("Timeline") or {}, now=now if running else None)
        duration = "-" if seconds is None else format_duration(seconds) + (" so far" if running else "")
        line = f"  {step['Name']:<22} {state:<11} {duration:<12} {step['Id']}"
        if state in TERMINAL_STEP_STATES and state != COMPLETED:
            logs = step_log_uri(config, cluster_id, step["Id"])
            line += f"  {step_failure_reason(step_status) or 'EMR gave no reason'}" + (f"; logs: {logs}" if logs else "")
        lines.append(line.rstrip())
    return lines
