"""The clickstream as a streaming DataFrame of raw Kinesis records, whichever source reads it.

`read_kinesis(spark, config, checkpoint_location)` is all a streaming job calls: the format comes
from `streaming.source_format` (`kinesis`, ours, locally; `aws-kinesis`, EMR's connector, on the
cluster), the options from the configuration, and the columns are the same either way.
"""
from __future__ import annotations

from datetime import timezone

from fashion_pipeline.config import Config, join_uri
from fashion_pipeline.schemas import KINESIS_RECORD_COLUMNS
from fashion_pipeline.streaming.kinesis_fetch import RetryPolicy, StreamAddress, describe_stream
from fashion_pipeline.streaming.kinesis_source import (
    OPT_CONSUMER_TYPE,
    OPT_DESCRIBE_SHARD_INTERVAL,
    OPT_ENDPOINT,
    OPT_IDLE_PROBE_INTERVAL,
    OPT_MAX_RECORDS_PER_SHARD,
    OPT_METADATA_ENDPOINT,
    OPT_METADATA_PATH,
    OPT_NUM_RETRIES,
    OPT_RECORDS_PER_FETCH,
    OPT_REGION,
    OPT_STARTING_POSITION,
    OPT_STARTING_TIMESTAMP,
    OPT_STREAM,
    SOURCE_NAME,
    register_kinesis_source,
)

EMR_CONNECTOR_FORMAT = "aws-kinesis"


def kinesis_endpoint(config: Config) -> str:
    """The connector requires an endpoint; on AWS it is the region's public one."""
    return config.aws.endpoint_url or f"https://kinesis.{config.aws.region}.amazonaws.com"


def source_metadata_path(checkpoint_location: str, stream: str) -> str:
    """Our source's per-batch metadata lives inside the checkpoint, so the two go together."""
    return join_uri(checkpoint_location, "sources", f"kinesis-{stream}")


def kinesis_reader_options(config: Config, checkpoint_location: str) -> tuple[str, dict[str, str]]:
    """(format, options) for the configured source."""
    streaming = config.streaming
    stream = config.names.clickstream_stream
    starting = streaming.starting_position
    moment = None
    if starting == "AT_TIMESTAMP":
        moment = streaming.starting_timestamp
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        # The connector takes the instant inline, to the second (its documented form); ours
        # reads that form too, and gets the exact instant from kinesis.startingTimestamp below.
        starting = f"AT_TIMESTAMP {moment.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    options = {
        OPT_STREAM: stream,
        OPT_ENDPOINT: kinesis_endpoint(config),
        OPT_REGION: config.aws.region,
        OPT_CONSUMER_TYPE: "GetRecords",
        OPT_STARTING_POSITION: starting,
        OPT_MAX_RECORDS_PER_SHARD: str(streaming.max_records_per_shard),
        OPT_RECORDS_PER_FETCH: str(streaming.records_per_fetch),
        OPT_DESCRIBE_SHARD_INTERVAL: f"{streaming.describe_shard_interval_ms}ms",
    }
    if streaming.source_format == SOURCE_NAME:
        options[OPT_METADATA_PATH] = source_metadata_path(checkpoint_location, stream)
        options[OPT_IDLE_PROBE_INTERVAL] = f"{streaming.idle_probe_interval_ms}ms"
        options[OPT_NUM_RETRIES] = str(config.aws.max_attempts)
        if moment is not None:
            options[OPT_STARTING_POSITION] = "AT_TIMESTAMP"
            options[OPT_STARTING_TIMESTAMP] = moment.isoformat()
        if config.aws.endpoint_url:
            options[OPT_METADATA_ENDPOINT] = config.aws.endpoint_url
    return streaming.source_format, options


def ensure_stream_exists(config: Config, sleep=None) -> dict:
    """DescribeStreamSummary of the clickstream, or a one-line error naming the stream, the endpoint
    and the fix (KinesisStreamNotFoundError, KinesisUnavailableError)."""
    import time

    from fashion_pipeline.aws import aws_client_from_settings

    address = StreamAddress(config.names.clickstream_stream, config.aws.region, config.aws.endpoint_url)
    client = aws_client_from_settings("kinesis", config.aws.region, config.aws.endpoint_url, 1)
    policy = RetryPolicy(attempts=config.aws.max_attempts)
    return describe_stream(client, address, policy, sleep or time.sleep)


def read_kinesis(spark, config: Config, checkpoint_location: str):
    """The clickstream's raw records (data, streamName, partitionKey, sequenceNumber,
    approximateArrivalTimestamp) as a streaming DataFrame. Pass the query's own checkpoint
    location: our source keeps its per-batch metadata inside it."""
    ensure_stream_exists(config)
    source_format, options = kinesis_reader_options(config, checkpoint_location)
    if source_format == SOURCE_NAME:
        register_kinesis_source(spark)
    raw_df = spark.readStream.format(source_format).options(**options).load()
    return raw_df.select(*KINESIS_RECORD_COLUMNS)


def shard_lag_reader(config: Config, checkpoint_location: str):
    """A function from a query's progress to each shard's MillisBehindLatest where that batch's
    read of it ended (`ShardOutcome.millis_behind_latest`, recorded by our source's executors).
    EMR's connector keeps no such record per batch: with it the function returns {}."""
    import json

    from fashion_pipeline.streaming.batch_metadata import LocalBatchMetadata, S3BatchMetadata, is_s3_uri
    from fashion_pipeline.streaming.shard_plan import BatchPlan

    if config.streaming.source_format != SOURCE_NAME:
        return lambda progress: {}
    root = source_metadata_path(checkpoint_location, config.names.clickstream_stream)
    if is_s3_uri(root):
        from fashion_pipeline.aws import aws_client

        store = S3BatchMetadata(root, aws_client("s3", config))
    else:
        store = LocalBatchMetadata(root)

    def lag(progress) -> dict[str, int]:
        lags = {}
        for source in progress.sources:
            end = source.endOffset
            plan = BatchPlan.from_offset(json.loads(end) if isinstance(end, str) else end)
            for shard_id in plan.read:
                outcome = store.outcome(plan.batch, shard_id)
                if outcome is not None and outcome.millis_behind_latest is not None:
                    lags[shard_id] = outcome.millis_behind_latest
        return lags

    return lag
