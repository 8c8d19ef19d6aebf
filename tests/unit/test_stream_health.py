"""The clickstream_5min health check from hand-made progress reports and an injected clock."""
from __future__ import annotations

from datetime import datetime, timezone

from fashion_pipeline.orchestration.stream_health import RESTART_HINT, check_stream_health
from fashion_pipeline.storage import LocalStorage
from fashion_pipeline.streaming.progress import BatchProgress, progress_uri

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=timezone.utc)


def _report(config, batch_id: int, timestamp: str, lag_ms: dict[str, int] | None = None, rows: int = 1000) -> None:
    progress = BatchProgress(
        batch_id=batch_id, timestamp=timestamp, input_rows=rows, input_rows_per_s=3.3, processed_rows_per_s=50.0,
        duration_ms=20_000, watermark=None, duplicates_dropped=2, late_rows_dropped=0, curated=rows - 5,
        quarantined=5, shard_lag_ms=lag_ms or {},
    )
    LocalStorage().write_text(progress_uri(config, "stream_clickstream", batch_id), progress.line() + "\n")


def _three_batches(config, last_at: str, last_lag_ms: dict[str, int]) -> None:
    _report(config, 40, "2026-11-30T17:45:00.000Z", {"shardId-000000000000": 900})
    _report(config, 41, "2026-11-30T17:50:00.000Z", {"shardId-000000000000": 1200}, rows=1200)
    _report(config, 42, last_at, last_lag_ms, rows=800)


def test_recent_batches_with_small_lag_are_healthy(config):
    _report(config, 39, "2026-11-30T17:40:00.000Z")  # older than the three that are shown
    _three_batches(config, "2026-11-30T17:55:00.000Z", {"shardId-000000000000": 1500, "shardId-000000000001": 4000})
    health = check_stream_health(config, LocalStorage(), now=NOW)
    assert health.healthy
    assert health.batch_age_s == 300 and health.max_lag_s == 4.0
    assert health.lines == [
        "clickstream stream job healthy",
        "last batch 42 at 2026-11-30 17:55:00 UTC, 300 s ago, took 20.0 s",
        "max shard lag (MillisBehindLatest) 4,000 ms",
        "last batches (rows in / curated / quarantined): #40 1,000/995/5, #41 1,200/1,195/5, #42 800/795/5",
    ]


def test_a_last_batch_older_than_the_limit_says_the_job_may_be_down_and_how_to_restart(config):
    _three_batches(config, "2026-11-30T17:40:00.000Z", {"shardId-000000000000": 100})
    health = check_stream_health(config, LocalStorage(), now=NOW)
    assert not health.healthy
    assert health.lines[0] == "clickstream stream job UNHEALTHY: last batch 1,200 s old (limit 900 s): is the job down?"
    assert health.lines[-1] == RESTART_HINT and "fashion clicks stream" in RESTART_HINT
    assert health.alert_text().startswith(":rotating_light: clickstream stream job UNHEALTHY")


def test_a_shard_lag_past_the_limit_is_unhealthy_even_with_a_fresh_batch(config):
    _three_batches(config, "2026-11-30T17:59:00.000Z", {"shardId-000000000000": 1_000, "shardId-000000000001": 901_000})
    health = check_stream_health(config, LocalStorage(), now=NOW)
    assert not health.healthy
    assert health.lines[0] == "clickstream stream job UNHEALTHY: the job reads 901 s behind the stream (limit 900 s)"
    assert "max shard lag (MillisBehindLatest) 901,000 ms" in health.lines


def test_thresholds_come_from_the_configuration(config):
    _three_batches(config, "2026-11-30T17:55:00.000Z", {"shardId-000000000000": 1500})
    strict = config.with_overrides({"orchestration.stream_max_batch_age_s": 120})
    assert check_stream_health(config, LocalStorage(), now=NOW).healthy
    assert not check_stream_health(strict, LocalStorage(), now=NOW).healthy


def test_no_report_at_all_is_unhealthy(config):
    health = check_stream_health(config, LocalStorage(), now=NOW)
    assert not health.healthy and health.last_batch_at is None
    assert health.lines == ["clickstream stream job UNHEALTHY: stream_clickstream has reported no micro-batch "
                            "(stream fashion-clickstream)", RESTART_HINT]


class _CloudWatch:
    """get_metric_statistics as boto3 answers it, with the request kept."""

    def __init__(self, maxima: list[float]):
        self.maxima, self.requests = maxima, []

    def get_metric_statistics(self, **request):
        self.requests.append(request)
        return {"Datapoints": [{"Maximum": m, "Unit": "Milliseconds"} for m in self.maxima]}


def test_kinesis_iterator_age_from_cloudwatch_counts_as_lag(config):
    _three_batches(config, "2026-11-30T17:55:00.000Z", {"shardId-000000000000": 1500})
    cloudwatch = _CloudWatch([30_000.0, 1_250_000.0])
    health = check_stream_health(config, LocalStorage(), now=NOW, cloudwatch=cloudwatch)
    assert not health.healthy and health.max_lag_s == 1250.0
    assert health.lines[0] == "clickstream stream job UNHEALTHY: Kinesis iterator age 1,250 s (limit 900 s)"
    request = cloudwatch.requests[0]
    assert request["Namespace"] == "AWS/Kinesis" and request["MetricName"] == "GetRecords.IteratorAgeMilliseconds"
    assert request["Dimensions"] == [{"Name": "StreamName", "Value": "fashion-clickstream"}]
    assert request["EndTime"] == NOW and request["Statistics"] == ["Maximum"]
    assert check_stream_health(config, LocalStorage(), now=NOW, cloudwatch=_CloudWatch([])).healthy


def test_iterator_age_read_back_from_cloudwatch_as_moto_stores_it(aws_config):
    from datetime import timedelta

    from fashion_pipeline.aws import aws_client

    _three_batches(aws_config, "2026-11-30T17:55:00.000Z", {"shardId-000000000000": 1500})
    cloudwatch = aws_client("cloudwatch", aws_config)
    for minutes_ago, age_ms in ((10, 2_000.0), (3, 950_000.0)):
        cloudwatch.put_metric_data(Namespace="AWS/Kinesis", MetricData=[{
            "MetricName": "GetRecords.IteratorAgeMilliseconds", "Timestamp": NOW - timedelta(minutes=minutes_ago),
            "Dimensions": [{"Name": "StreamName", "Value": "fashion-clickstream"}], "Value": age_ms, "Unit": "Milliseconds"}])
    health = check_stream_health(aws_config, LocalStorage(), now=NOW, cloudwatch=cloudwatch)
    assert not health.healthy and health.max_lag_s == 950.0
    assert "Kinesis iterator age 950,000 ms" in health.lines[2]
