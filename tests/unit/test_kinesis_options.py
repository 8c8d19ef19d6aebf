"""Options of format("kinesis"), the metadata store on disk, and read_kinesis's choice of source."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.config import ConfigError
from fashion_pipeline.streaming import KinesisSourceOptionError, kinesis_reader_options
from fashion_pipeline.streaming.batch_metadata import LocalBatchMetadata, S3BatchMetadata
from fashion_pipeline.streaming.kinesis_fetch import RetryPolicy
from fashion_pipeline.streaming.kinesis_source import KinesisSourceOptions, parse_options
from fashion_pipeline.streaming.shard_plan import BatchPlan, ShardOutcome, ShardState

BASE = {"kinesis.streamName": "clicks", "kinesis.region": "us-east-1", "kinesis.metadataPath": "/tmp/ck/sources/k"}


def test_defaults_follow_the_emr_connector():
    options = parse_options(BASE)
    assert options == KinesisSourceOptions(
        stream="clicks", region="us-east-1", endpoint_url=None, metadata_path="/tmp/ck/sources/k",
        starting_position="LATEST", max_records_per_shard=100_000, records_per_fetch=10_000,
        describe_shard_interval_s=1.0, idle_probe_interval_s=1.0, retry=RetryPolicy(5, 1.0, 10.0),
        batches_to_retain=100,
    )


def test_option_names_are_case_insensitive_and_values_parsed():
    options = parse_options({
        "KINESIS.STREAMNAME": "clicks", "kinesis.endpointurl": "https://kinesis.eu-west-1.amazonaws.com",
        "kinesis.metadataPath": "s3://bucket/ck/sources/k/", "kinesis.startingposition": "earliest",
        "kinesis.maxFetchRecordsPerShard": "500", "kinesis.describeShardInterval": "2min",
        "kinesis.idleProbeInterval": "250ms", "kinesis.clientRetryIntervalsMs": "200",
    })
    assert options.region == "eu-west-1"  # read from the endpoint, as the connector does
    assert options.metadata_path == "s3://bucket/ck/sources/k"
    assert options.starting_position == "TRIM_HORIZON"
    assert (options.max_records_per_shard, options.describe_shard_interval_s, options.idle_probe_interval_s) == (500, 120.0, 0.25)
    assert options.retry.base_delay_s == 0.2


@pytest.mark.parametrize("given", [
    {"kinesis.startingPosition": "AT_TIMESTAMP 2026-11-30T18:00:05Z"},
    {"kinesis.startingPosition": "AT_TIMESTAMP", "kinesis.startingTimestamp": "2026-11-30T18:00:05+00:00"},
])
def test_at_timestamp_inline_like_the_connector_or_as_our_option(given):
    options = parse_options({**BASE, **given})
    assert (options.starting_position, options.starting_timestamp) == (
        "AT_TIMESTAMP", datetime(2026, 11, 30, 18, 0, 5, tzinfo=timezone.utc))


@pytest.mark.parametrize("given, message", [
    ({"kinesis.streamName": ""}, "needs option kinesis.streamName"),
    ({"kinesis.metadataPath": None}, "needs option kinesis.metadataPath: a folder inside the query's checkpoint"),
    ({"kinesis.region": None}, "needs option kinesis.region"),
    ({"kinesis.startingPosition": "NEWEST"}, "expected LATEST, TRIM_HORIZON or AT_TIMESTAMP"),
    ({"kinesis.startingPosition": "AT_TIMESTAMP"}, "needs an instant"),
    ({"kinesis.startingPosition": "AT_TIMESTAMP yesterday"}, "is not ISO-8601"),
    ({"kinesis.maxFetchRecordsPerShard": "0"}, "must be above 0"),
    ({"kinesis.maxFetchRecordsPerShard": "lots"}, "is not a whole number"),
    ({"kinesis.idleProbeInterval": "soon"}, "expected a duration"),
    ({"kinesis.consumerType": "SubscribeToShard"}, "GetRecords only"),
    ({"kinesis.maxRecordsPerShard": "5"}, "does not know option(s) ['kinesis.maxrecordspershard']"),
])
def test_bad_options_are_one_line_errors(given, message):
    options = {**BASE, **given}
    with pytest.raises(KinesisSourceOptionError) as caught:
        parse_options({k: v for k, v in options.items() if v is not None})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def _plan(batch: int) -> BatchPlan:
    return BatchPlan(batch, "clicks", 10, ShardState({"s-0": str(batch * 10)}), ("s-0",))


def test_local_metadata_keeps_the_first_outcome_and_the_latest_plan(tmp_path):
    store = LocalBatchMetadata(f"file://{tmp_path}/meta")
    assert store.latest_plan() is None and store.outcome(0, "s-0") is None
    for batch in (0, 1, 12):
        store.save_plan(_plan(batch))
    assert store.latest_plan() == _plan(12)  # numeric order, not text order of "1", "12"
    first = ShardOutcome(10, "10", more=True)
    assert store.record_outcome(1, "s-0", first) == first
    assert store.record_outcome(1, "s-0", ShardOutcome(3, "3")) == first  # the loser learns the winner
    assert store.outcome(1, "s-0") == first
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "meta").rglob("*"))
    store.discard_outcomes(1)
    assert store.outcome(1, "s-0") is None
    store.purge_before(12)
    assert store.latest_plan() == _plan(12) and sorted(p.name for p in (tmp_path / "meta" / "plans").iterdir()) == [
        "000000000012.json"]


def test_read_kinesis_options_choose_the_source_by_configuration(config):
    source_format, options = kinesis_reader_options(config, "/chk/clicks-to-lake")
    assert source_format == "kinesis"
    assert options["kinesis.metadataPath"] == "/chk/clicks-to-lake/sources/kinesis-fashion-clickstream"
    assert options["kinesis.endpointUrl"] == config.aws.endpoint_url
    assert options["kinesis.startingPosition"] == "TRIM_HORIZON"
    assert options["kinesis.maxFetchRecordsPerShard"] == str(config.streaming.max_records_per_shard)
    parse_options(options)  # everything we pass, our source accepts

    on_emr = config.with_overrides({
        "streaming.source_format": "aws-kinesis", "aws.endpoint_url": None, "aws.region": "eu-west-1",
        "streaming.starting_position": "AT_TIMESTAMP", "streaming.starting_timestamp": "2026-11-30T18:00:05+01:00",
    })
    source_format, options = kinesis_reader_options(on_emr, "s3://bucket/chk/clicks-to-lake")
    assert source_format == "aws-kinesis"
    assert options == {
        "kinesis.streamName": "fashion-clickstream",
        "kinesis.endpointUrl": "https://kinesis.eu-west-1.amazonaws.com",
        "kinesis.region": "eu-west-1",
        "kinesis.consumerType": "GetRecords",
        "kinesis.startingPosition": "AT_TIMESTAMP 2026-11-30T17:00:05Z",
        "kinesis.maxFetchRecordsPerShard": str(on_emr.streaming.max_records_per_shard),
        "kinesis.getRecords.numberOfRecordsPerFetch": "10000",
        "kinesis.describeShardInterval": "1000ms",
    }
    # Ours takes the same instant to the microsecond, not just to the second.
    ours = on_emr.with_overrides({"streaming.source_format": "kinesis",
                                  "streaming.starting_timestamp": "2026-11-30T18:00:05.250+01:00"})
    _, options = kinesis_reader_options(ours, "s3://bucket/chk/clicks-to-lake")
    parsed = parse_options(options)
    assert (parsed.starting_position, parsed.starting_timestamp) == (
        "AT_TIMESTAMP", datetime(2026, 11, 30, 17, 0, 5, 250_000, tzinfo=timezone.utc))
    assert parsed.metadata_path == "s3://bucket/chk/clicks-to-lake/sources/kinesis-fashion-clickstream"


def test_streaming_config_is_checked(config):
    with pytest.raises(ConfigError, match="starting_timestamp"):
        config.with_overrides({"streaming.starting_position": "AT_TIMESTAMP"})
    with pytest.raises(ConfigError, match="source_format"):
        config.with_overrides({"streaming.source_format": "kafka"})
    with pytest.raises(ConfigError, match="records_per_fetch"):
        config.with_overrides({"streaming.records_per_fetch": 20_000})


def test_s3_metadata_keeps_the_first_outcome(aws_config):
    s3 = aws_client("s3", aws_config)
    s3.create_bucket(Bucket="stream-metadata")
    store = S3BatchMetadata("s3://stream-metadata/meta", s3)
    first = ShardOutcome(10, "10", more=True)
    assert store.record_outcome(1, "s-0", first) == first
    assert store.record_outcome(1, "s-0", ShardOutcome(3, "3")) == first  # the loser learns the winner
    assert store.outcome(1, "s-0") == first
