"""Is the clickstream's streaming job alive and keeping up? For the `clickstream_5min` DAG, which
posts `lines` to Slack when `healthy` is False.

Read from what the job leaves behind, so the check needs no access to its cluster: the per-batch
progress reports under `_reports/stream_clickstream/progress/` (streaming/progress.py) give the
last batch's time, its rows and each shard's MillisBehindLatest; on AWS, Kinesis' own
`GetRecords.IteratorAgeMilliseconds` (CloudWatch, maximum over the last minutes) says how old the
oldest unread record is even when the job has stopped reporting. Unhealthy when the last batch is
older than `orchestration.stream_max_batch_age_s`, or when either lag passes
`orchestration.stream_max_lag_s`. A job that is down and an idle stream look alike here (no
batch runs without input); a live website never stops clicking, so age is the alarm.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from fashion_pipeline.config import Config
from fashion_pipeline.storage import Storage
from fashion_pipeline.streaming.progress_reports import BatchProgress, read_recent_progress

JOB = "stream_clickstream"  # pipelines/stream_clickstream.JOB, without importing pyspark here
RECENT_BATCHES = 3
KINESIS_NAMESPACE = "AWS/Kinesis"
ITERATOR_AGE_METRIC = "GetRecords.IteratorAgeMilliseconds"
ITERATOR_AGE_WINDOW = timedelta(minutes=15)
RESTART_HINT = ("to restart: the EMR step `spark-submit jobs/stream_clickstream.py --env emr` "
                "(locally `fashion clicks stream`); recent batches: `fashion clicks status`")


@dataclass(frozen=True)
class StreamHealth:
    healthy: bool
    lines: list[str] = field(default_factory=list)
    last_batch_at: datetime | None = None
    batch_age_s: float | None = None
    max_lag_s: float | None = None

    def alert_text(self) -> str:
        icon = ":white_check_mark:" if self.healthy else ":rotating_light:"
        return "\n".join([f"{icon} {self.lines[0]}", *self.lines[1:]]) if self.lines else icon


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def kinesis_iterator_age_ms(cloudwatch, stream_name: str, now: datetime) -> float | None:
    """The largest iterator age Kinesis reported over the window; None without data points."""
    response = cloudwatch.get_metric_statistics(
        Namespace=KINESIS_NAMESPACE, MetricName=ITERATOR_AGE_METRIC,
        Dimensions=[{"Name": "StreamName", "Value": stream_name}],
        StartTime=now - ITERATOR_AGE_WINDOW, EndTime=now, Period=60, Statistics=["Maximum"],
    )
    points = [p["Maximum"] for p in response.get("Datapoints", [])]
    return max(points) if points else None


def assess(config: Config, recent: list[BatchProgress], now: datetime,
           iterator_age_ms: float | None = None) -> StreamHealth:
    """The verdict and its lines from the job's latest progress reports (oldest first)."""
    limits = config.orchestration
    stream = config.names.clickstream_stream
    if not recent:
        problems = [f"stream_clickstream has reported no micro-batch (stream {stream})"]
        details = []
        if iterator_age_ms is not None:
            details.append(f"Kinesis iterator age {iterator_age_ms / 1000:,.0f} s (limit {limits.stream_max_lag_s:,} s)")
        return StreamHealth(False, [f"clickstream stream job UNHEALTHY: {problems[0]}", *details, RESTART_HINT])

    last = recent[-1]
    last_at = _parse_time(last.timestamp)
    age_s = (now - last_at).total_seconds()
    shard_lag_s = None if last.max_shard_lag_ms is None else last.max_shard_lag_ms / 1000
    lags = [lag for lag in (shard_lag_s, None if iterator_age_ms is None else iterator_age_ms / 1000) if lag is not None]
    max_lag_s = max(lags) if lags else None

    problems = []
    if age_s > limits.stream_max_batch_age_s:
        problems.append(f"last batch {age_s:,.0f} s old (limit {limits.stream_max_batch_age_s:,} s): is the job down?")
    if shard_lag_s is not None and shard_lag_s > limits.stream_max_lag_s:
        problems.append(f"the job reads {shard_lag_s:,.0f} s behind the stream (limit {limits.stream_max_lag_s:,} s)")
    if iterator_age_ms is not None and iterator_age_ms / 1000 > limits.stream_max_lag_s:
        problems.append(f"Kinesis iterator age {iterator_age_ms / 1000:,.0f} s (limit {limits.stream_max_lag_s:,} s)")

    verdict = "healthy" if not problems else "UNHEALTHY: " + "; ".join(problems)
    lines = [f"clickstream stream job {verdict}"]
    lines.append(f"last batch {last.batch_id} at {last_at:%Y-%m-%d %H:%M:%S} UTC, {age_s:,.0f} s ago, "
                 f"took {last.duration_ms / 1000:,.1f} s")
    lag_text = "unknown" if shard_lag_s is None else f"{last.max_shard_lag_ms:,} ms"
    kinesis_text = "" if iterator_age_ms is None else f"; Kinesis iterator age {iterator_age_ms:,.0f} ms"
    lines.append(f"max shard lag (MillisBehindLatest) {lag_text}{kinesis_text}")
    lines.append("last batches (rows in / curated / quarantined): " + ", ".join(
        f"#{p.batch_id} {p.input_rows:,}/{p.curated:,}/{p.quarantined:,}" for p in recent))
    if problems:
        lines.append(RESTART_HINT)
    return StreamHealth(not problems, lines, last_at, age_s, max_lag_s)


def check_stream_health(config: Config, storage: Storage, now: datetime | None = None,
                        cloudwatch=None) -> StreamHealth:
    """The streaming job's health now. `cloudwatch`: a boto3 CloudWatch client, to also read
    Kinesis' iterator age (on AWS; the DAG passes its hook's client); None skips it."""
    now = now or datetime.now(timezone.utc)
    recent = read_recent_progress(config, storage, JOB, RECENT_BATCHES)
    iterator_age_ms = None
    if cloudwatch is not None:
        iterator_age_ms = kinesis_iterator_age_ms(cloudwatch, config.names.clickstream_stream, now)
    return assess(config, recent, now, iterator_age_ms)
