"""format("kinesis"): a Kinesis Data Streams source for Spark 4.0 Structured Streaming, written
with the Python Data Source API, for where EMR's `aws-kinesis` connector is not available
(locally, in tests). Same columns as the connector, same option names where it has them.

    register_kinesis_source(spark)
    spark.readStream.format("kinesis")
        .option("kinesis.streamName", "fashion-clickstream")
        .option("kinesis.endpointUrl", "http://127.0.0.1:5055")
        .option("kinesis.region", "us-east-1")
        .option("kinesis.metadataPath", f"{checkpoint}/sources/kinesis-fashion-clickstream")
        .load()

Options (case-insensitive):

| option | default | meaning |
|---|---|---|
| kinesis.streamName | required | the stream |
| kinesis.endpointUrl | AWS's | Kinesis endpoint (moto's address locally) |
| kinesis.region | from the endpoint's host | AWS region |
| kinesis.startingPosition | LATEST | where a new query starts: LATEST, TRIM_HORIZON (EARLIEST), AT_TIMESTAMP; the connector's `AT_TIMESTAMP <ISO-8601>` form works too |
| kinesis.startingTimestamp | - | ours: ISO-8601 instant for AT_TIMESTAMP (when not given inline) |
| kinesis.maxFetchRecordsPerShard | 100000 | at most this many records per shard per micro-batch |
| kinesis.getRecords.numberOfRecordsPerFetch | 10000 | GetRecords `Limit` (AWS's maximum is 10000) |
| kinesis.metadataPath | required | ours: where per-batch plans and ends are kept; put it inside the query's checkpoint location (`read_kinesis` does), an s3:// URI on a cluster |
| kinesis.metadataEndpointUrl | AWS's | ours: S3 endpoint for an s3:// metadataPath (moto's address locally) |
| kinesis.describeShardInterval | 1s | at most one ListShards per interval (new shards after a split are seen within it) |
| kinesis.idleProbeInterval | 1s | ours: with every shard read to its end, ask Kinesis at most this often whether records arrived; 0 in tests that use processAllAvailable() |
| kinesis.clientNumRetries | 5 | attempts per Kinesis call on throttling, 5xx answers and dropped connections |
| kinesis.clientRetryIntervalsMs | 1000 | first wait between attempts (doubles each time) |
| kinesis.clientMaxRetryIntervalMs | 10000 | longest wait between attempts |
| kinesis.minBatchesToRetain | 100 | batches of metadata kept (older ones are deleted on commit) |
| kinesis.consumerType | GetRecords | only GetRecords (moto has no SubscribeToShard) |

Columns: data (binary), streamName, partitionKey, sequenceNumber (strings),
approximateArrivalTimestamp (timestamp). Each shard with something to read is one partition of
a batch; a closed shard is drained before its children are read. See batch_planner.py for how
a restarted query resumes exactly where it stood.
"""
from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator, Mapping
from urllib.parse import urlparse

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition

from fashion_pipeline.schemas import KINESIS_RECORD_SCHEMA
from fashion_pipeline.streaming.batch_metadata import LocalBatchMetadata, S3BatchMetadata, is_s3_uri
from fashion_pipeline.streaming.batch_planner import BatchPlanner, PlannerSettings, ShardTask
from fashion_pipeline.streaming.errors import BatchOutcomeConflictError, KinesisSourceOptionError
from fashion_pipeline.streaming.kinesis_fetch import (
    RetryPolicy,
    ShardRead,
    StreamAddress,
    has_records_after,
    install_raw_pages,
    kinesis_arrow_schema,
    list_shards,
)
from fashion_pipeline.streaming.shard_plan import (
    AT_TIMESTAMP,
    LATEST,
    TRIM_HORIZON,
    BatchPlan,
    ShardInfo,
    ShardOutcome,
)

SOURCE_NAME = "kinesis"

OPT_STREAM = "kinesis.streamName"
OPT_ENDPOINT = "kinesis.endpointUrl"
OPT_REGION = "kinesis.region"
OPT_STARTING_POSITION = "kinesis.startingPosition"
OPT_STARTING_TIMESTAMP = "kinesis.startingTimestamp"
OPT_MAX_RECORDS_PER_SHARD = "kinesis.maxFetchRecordsPerShard"
OPT_RECORDS_PER_FETCH = "kinesis.getRecords.numberOfRecordsPerFetch"
OPT_METADATA_PATH = "kinesis.metadataPath"
OPT_METADATA_ENDPOINT = "kinesis.metadataEndpointUrl"
OPT_DESCRIBE_SHARD_INTERVAL = "kinesis.describeShardInterval"
OPT_IDLE_PROBE_INTERVAL = "kinesis.idleProbeInterval"
OPT_NUM_RETRIES = "kinesis.clientNumRetries"
OPT_RETRY_INTERVAL_MS = "kinesis.clientRetryIntervalsMs"
OPT_MAX_RETRY_INTERVAL_MS = "kinesis.clientMaxRetryIntervalMs"
OPT_MIN_BATCHES_TO_RETAIN = "kinesis.minBatchesToRetain"
OPT_CONSUMER_TYPE = "kinesis.consumerType"
KNOWN_OPTIONS = (
    OPT_STREAM, OPT_ENDPOINT, OPT_REGION, OPT_STARTING_POSITION, OPT_STARTING_TIMESTAMP, OPT_MAX_RECORDS_PER_SHARD,
    OPT_RECORDS_PER_FETCH, OPT_METADATA_PATH, OPT_METADATA_ENDPOINT, OPT_DESCRIBE_SHARD_INTERVAL,
    OPT_IDLE_PROBE_INTERVAL, OPT_NUM_RETRIES, OPT_RETRY_INTERVAL_MS, OPT_MAX_RETRY_INTERVAL_MS,
    OPT_MIN_BATCHES_TO_RETAIN, OPT_CONSUMER_TYPE,
)
_AWS_KINESIS_HOST = re.compile(r"^kinesis(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")
_INTERVAL = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|sec|second|seconds|min|minute|minutes)?\s*$")


@dataclass(frozen=True)
class KinesisSourceOptions:
    """The options of one format("kinesis") read, parsed and checked; plain values only, since
    the reader that carries them is pickled to the executors."""

    stream: str
    region: str
    endpoint_url: str | None
    metadata_path: str
    metadata_endpoint_url: str | None = None
    starting_position: str = LATEST
    starting_timestamp: datetime | None = None
    max_records_per_shard: int = 100_000
    records_per_fetch: int = 10_000
    describe_shard_interval_s: float = 1.0
    idle_probe_interval_s: float = 1.0
    retry: RetryPolicy = RetryPolicy()
    batches_to_retain: int = 100

    @property
    def address(self) -> StreamAddress:
        return StreamAddress(self.stream, self.region, self.endpoint_url)

    def planner_settings(self) -> PlannerSettings:
        return PlannerSettings(
            stream=self.stream,
            max_records_per_shard=self.max_records_per_shard,
            starting_position=self.starting_position,
            starting_timestamp=self.starting_timestamp,
            probe_interval_s=self.idle_probe_interval_s,
            list_shards_interval_s=self.describe_shard_interval_s,
            batches_to_retain=self.batches_to_retain,
            metadata_path=self.metadata_path,
        )


def parse_options(options: Mapping[str, str]) -> KinesisSourceOptions:
    given = {str(key).lower(): str(value) for key, value in options.items() if value is not None}
    known = {name.lower(): name for name in KNOWN_OPTIONS}
    unknown = sorted(key for key in given if key.startswith("kinesis.") and key not in known)
    if unknown:
        raise KinesisSourceOptionError(
            f"format('kinesis') does not know option(s) {unknown}; it knows {', '.join(KNOWN_OPTIONS)}"
        )

    def get(name: str, default: str | None = None) -> str | None:
        value = given.get(name.lower(), default)
        return value.strip() if isinstance(value, str) and value.strip() else default

    stream = get(OPT_STREAM)
    if not stream:
        raise KinesisSourceOptionError(f"format('kinesis') needs option {OPT_STREAM}")
    metadata_path = get(OPT_METADATA_PATH)
    if not metadata_path:
        raise KinesisSourceOptionError(
            f"format('kinesis') needs option {OPT_METADATA_PATH}: a folder inside the query's checkpoint location, "
            f"e.g. <checkpoint>/sources/kinesis-{stream} (fashion_pipeline.streaming.read_kinesis sets it)"
        )
    endpoint_url = get(OPT_ENDPOINT)
    region = get(OPT_REGION) or _region_of(endpoint_url)
    if not region:
        raise KinesisSourceOptionError(f"format('kinesis') needs option {OPT_REGION} (none can be read from the endpoint)")
    consumer_type = get(OPT_CONSUMER_TYPE, "GetRecords")
    if consumer_type.lower() != "getrecords":
        raise KinesisSourceOptionError(
            f"format('kinesis') reads with GetRecords only, not {OPT_CONSUMER_TYPE}={consumer_type!r}"
        )
    starting_position, starting_timestamp = _starting_position(get(OPT_STARTING_POSITION, LATEST),
                                                               get(OPT_STARTING_TIMESTAMP))
    return KinesisSourceOptions(
        stream=stream,
        region=region,
        endpoint_url=endpoint_url,
        metadata_path=metadata_path.rstrip("/"),
        metadata_endpoint_url=get(OPT_METADATA_ENDPOINT),
        starting_position=starting_position,
        starting_timestamp=starting_timestamp,
        max_records_per_shard=_positive_int(OPT_MAX_RECORDS_PER_SHARD, get(OPT_MAX_RECORDS_PER_SHARD, "100000")),
        records_per_fetch=_positive_int(OPT_RECORDS_PER_FETCH, get(OPT_RECORDS_PER_FETCH, "10000")),
        describe_shard_interval_s=_interval_s(OPT_DESCRIBE_SHARD_INTERVAL, get(OPT_DESCRIBE_SHARD_INTERVAL, "1s")),
        idle_probe_interval_s=_interval_s(OPT_IDLE_PROBE_INTERVAL, get(OPT_IDLE_PROBE_INTERVAL, "1s")),
        retry=RetryPolicy(
            attempts=_positive_int(OPT_NUM_RETRIES, get(OPT_NUM_RETRIES, "5")),
            base_delay_s=_positive_int(OPT_RETRY_INTERVAL_MS, get(OPT_RETRY_INTERVAL_MS, "1000")) / 1000,
            max_delay_s=_positive_int(OPT_MAX_RETRY_INTERVAL_MS, get(OPT_MAX_RETRY_INTERVAL_MS, "10000")) / 1000,
        ),
        batches_to_retain=_positive_int(OPT_MIN_BATCHES_TO_RETAIN, get(OPT_MIN_BATCHES_TO_RETAIN, "100")),
    )


def _region_of(endpoint_url: str | None) -> str | None:
    if not endpoint_url:
        return None
    match = _AWS_KINESIS_HOST.match(urlparse(endpoint_url).hostname or "")
    return match["region"] if match else None


def _starting_position(value: str, timestamp_option: str | None) -> tuple[str, datetime | None]:
    word, _, inline_timestamp = value.strip().partition(" ")
    word = word.upper()
    if word == "EARLIEST":
        word = TRIM_HORIZON
    if word not in (LATEST, TRIM_HORIZON, AT_TIMESTAMP):
        raise KinesisSourceOptionError(
            f"{OPT_STARTING_POSITION}={value!r}: expected LATEST, TRIM_HORIZON or AT_TIMESTAMP"
        )
    if word != AT_TIMESTAMP:
        return word, None
    text = inline_timestamp.strip() or (timestamp_option or "")
    if not text:
        raise KinesisSourceOptionError(
            f"{OPT_STARTING_POSITION}=AT_TIMESTAMP needs an instant: {OPT_STARTING_TIMESTAMP} or 'AT_TIMESTAMP <ISO-8601>'"
        )
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KinesisSourceOptionError(f"AT_TIMESTAMP instant {text!r} is not ISO-8601 (e.g. 2026-11-30T18:00:00Z)") from None
    return AT_TIMESTAMP, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise KinesisSourceOptionError(f"{name}={text!r} is not a whole number") from None
    if value <= 0:
        raise KinesisSourceOptionError(f"{name}={text!r} must be above 0")
    return value


def _interval_s(name: str, text: str) -> float:
    match = _INTERVAL.match(text)
    if not match:
        raise KinesisSourceOptionError(f"{name}={text!r}: expected a duration such as 500ms, 1s or 2min")
    number = float(match["number"])
    unit = (match["unit"] or "ms").lower()
    return number / 1000 if unit == "ms" else number * 60 if unit.startswith("min") else number


# --- clients (built where they are used: readers are pickled) ---------------------------------

def _kinesis_client(options: KinesisSourceOptions):
    return _cached_kinesis_client(options.region, options.endpoint_url)


@functools.lru_cache(maxsize=8)
def _cached_kinesis_client(region: str, endpoint_url: str | None):
    """One client per worker process and endpoint: Spark reuses Python workers across tasks, and
    a new boto3 session reloads the service model each time (boto3 clients are thread-safe)."""
    from fashion_pipeline.aws import aws_client_from_settings

    # One attempt per boto3 call: our RetryPolicy does the retrying, with a sleep tests can replace.
    return install_raw_pages(aws_client_from_settings("kinesis", region, endpoint_url, 1))


def metadata_store(options: KinesisSourceOptions):
    if is_s3_uri(options.metadata_path):
        from fashion_pipeline.aws import aws_client_from_settings

        client = aws_client_from_settings("s3", options.region, options.metadata_endpoint_url, options.retry.attempts)
        return S3BatchMetadata(options.metadata_path, client)
    return LocalBatchMetadata(options.metadata_path)


class BotoShardSource:
    """The planner's view of Kinesis, through one lazily built boto3 client."""

    def __init__(self, options: KinesisSourceOptions, sleep=time.sleep, client=None):
        self._options = options
        self._sleep = sleep
        self._client = client

    def _kinesis(self):
        if self._client is None:
            self._client = _kinesis_client(self._options)
        return self._client

    def list_shards(self) -> list[ShardInfo]:
        shards = list_shards(self._kinesis(), self._options.address, self._options.retry, self._sleep)
        return [ShardInfo.from_list_shards(shard) for shard in shards]

    def has_records_after(self, shard_id: str, position: str) -> bool:
        return has_records_after(self._kinesis(), self._options.address, shard_id, position, self._options.retry, self._sleep)

    def read_to_end(self, plan: BatchPlan, shard_id: str) -> ShardOutcome:
        run = ShardRead(self._kinesis(), self._options.address, shard_id, plan.state.positions[shard_id],
                        limit=plan.limit, ending=plan.ending.get(shard_id),
                        records_per_call=self._options.records_per_fetch, policy=self._options.retry, sleep=self._sleep)
        for _ in run.batches():
            pass
        return run.outcome


# --- Spark's classes ---------------------------------------------------------------------------

class ShardSlice(InputPartition):
    """One shard's share of one batch; pickled to the executor that reads it."""

    def __init__(self, task: ShardTask):
        super().__init__(task.shard_id)
        self.task = task


def read_shard_slice(options: KinesisSourceOptions, task: ShardTask, client=None, store=None,
                     sleep=time.sleep) -> Iterator:
    """Arrow record batches of one shard's share of one batch.

    The first read to reach its end records where it ended; any later read of the same batch
    (a replay after a crash, a task retry, a second action on the batch) reads exactly that far,
    so every read of one batch sees the same records. A read that Spark abandons early (a limit)
    records nothing.
    """
    client = client if client is not None else _kinesis_client(options)
    store = store if store is not None else metadata_store(options)
    decided = store.outcome(task.batch, task.shard_id)
    run = ShardRead(client, options.address, task.shard_id, task.position, limit=task.limit, ending=task.ending,
                    follow=decided, records_per_call=options.records_per_fetch, policy=options.retry, sleep=sleep,
                    arrow_schema=kinesis_arrow_schema())
    yield from run.batches()
    if decided is None:
        winner = store.record_outcome(task.batch, task.shard_id, run.outcome)
        if winner != run.outcome:
            raise BatchOutcomeConflictError(
                f"batch {task.batch}, {task.shard_id}: this read ended at {run.outcome.last} "
                f"({run.outcome.count} records), a concurrent read recorded {winner.last} ({winner.count}); "
                f"retrying the task follows the recorded end (turn speculative execution off)"
            )


class KinesisStreamReader(DataSourceStreamReader):
    def __init__(self, options: KinesisSourceOptions):
        self._options = options
        self._planner: BatchPlanner | None = None

    def __getstate__(self):
        # Executors get the options only; the planner (and its boto3 client) stays on the driver.
        return {"_options": self._options, "_planner": None}

    def _plans(self) -> BatchPlanner:
        if self._planner is None:
            self._planner = BatchPlanner(self._options.planner_settings(), BotoShardSource(self._options),
                                         metadata_store(self._options))
        return self._planner

    def initialOffset(self) -> dict:
        return self._plans().initial_offset()

    def latestOffset(self) -> dict:
        return self._plans().latest_offset()

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        return [ShardSlice(task) for task in self._plans().partitions(start, end)]

    def read(self, partition: InputPartition) -> Iterator:
        yield from read_shard_slice(self._options, partition.task)

    def commit(self, end: dict) -> None:
        self._plans().commit(end)


class KinesisDataSource(DataSource):
    """format("kinesis"): see the module docstring for options and guarantees."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self):
        return KINESIS_RECORD_SCHEMA

    def streamReader(self, schema) -> DataSourceStreamReader:
        return KinesisStreamReader(parse_options(self.options))


def register_kinesis_source(spark) -> None:
    """Make format("kinesis") available in this session (harmless to call again)."""
    spark.dataSource.register(KinesisDataSource)
