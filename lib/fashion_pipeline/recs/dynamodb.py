"""Writing the DynamoDB serving tables from Spark's executors, and creating them.

Tables (names from `config.names`), all keyed by one string attribute, on-demand capacity:
- recommendations_table (user_id): the nightly batch, written here only;
- realtime_recommendations_table (user_id): written by the real-time paths only, so neither
  overwrites the other (the website merges the two, see recs/reader.py);
- item_neighbors_table (article_id): the neighbours of an article.

Each Spark partition builds its own boto3 client from plain values (`DynamoSettings`) and writes
with BatchWriteItem, 25 puts per call. Throttling and server errors are retried by botocore's
adaptive retry mode (configured on every client, see aws.py); what remains here is the part of
the protocol botocore does not do: re-sending the `UnprocessedItems` a successful call hands
back, with exponential backoff and full jitter. A batch that still has unprocessed items after
`write_max_attempts` fails the task (Spark retries it), so nothing is lost silently. A put replaces
the whole item under its key, so loading one model version twice leaves the same items.

Recency guard: BatchWriteItem has no conditions, so an older day loaded after a newer one would
replace the newer lists. Each nightly table holds one marker item (key `LOAD_MARKER_KEY`) with
the run date, model version and generated_at it serves. A load claims the marker with one
conditional UpdateItem before writing (`run_date <= the load's`), so checking and advancing are
one atomic step and a load that fails half-way still marks the table as (partly) the newer day;
after the writes it marks the claim `loaded`. The order is the run date, not generated_at: a
backfill trains an older day later, so its generated_at is newer. `allow_older` claims without
the condition: a deliberate rollback. One marker write per load keeps BatchWriteItem's
throughput; a per-item conditional PutItem would be exact per item but costs 25 calls where one
does today.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, Row

from fashion_pipeline.aws import aws_client, aws_client_from_settings, create_missing_dynamodb_tables
from fashion_pipeline.config import Config
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.recs.items import ARTICLE_KEY, LOAD_MARKER_KEY, USER_KEY

BATCH_WRITE_LIMIT = 25
LOADING, LOADED = "loading", "loaded"


class UnprocessedItemsError(PipelineError):
    """A batch still had unprocessed items after every retry."""


@dataclass(frozen=True)
class DynamoSettings:
    """Plain, picklable values an executor needs to build its client and retry policy."""

    region: str
    endpoint_url: str | None
    client_max_attempts: int
    table: str
    write_max_attempts: int
    base_delay_s: float
    max_delay_s: float

    @classmethod
    def from_config(cls, config: Config, table: str) -> "DynamoSettings":
        return cls(
            region=config.aws.region, endpoint_url=config.aws.endpoint_url,
            client_max_attempts=config.aws.max_attempts, table=table,
            write_max_attempts=config.recs.write_max_attempts,
            base_delay_s=config.recs.write_base_delay_s, max_delay_s=config.recs.write_max_delay_s,
        )

    def client(self):
        return aws_client_from_settings("dynamodb", self.region, self.endpoint_url, self.client_max_attempts)


def ensure_serving_tables(config: Config, client=None) -> list[str]:
    """Create the serving tables if missing (on-demand); returns the names created."""
    client = client or aws_client("dynamodb", config)
    wanted = {
        config.names.recommendations_table: USER_KEY,
        config.names.realtime_recommendations_table: USER_KEY,
        config.names.item_neighbors_table: ARTICLE_KEY,
    }
    return create_missing_dynamodb_tables(client, wanted)


class OlderLoadError(PipelineError):
    """The table already serves a newer run date than the one being loaded."""


class OverlappingLoadError(PipelineError):
    """Another load claimed the table while this one was writing."""


@dataclass(frozen=True)
class LoadStamp:
    """What a nightly table serves: the run date of the train_als output, its model and time."""

    run_date: str
    model_version: str
    generated_at: str

    def describe(self) -> str:
        return f"run_date {self.run_date} (model {self.model_version}, generated {self.generated_at})"


def _marker_key(key_attribute: str) -> dict:
    return {key_attribute: {"S": LOAD_MARKER_KEY}}


def read_load_marker(client, table: str, key_attribute: str) -> tuple[LoadStamp, str] | None:
    """The stamp the table serves and the marker's state (`loading`, `loaded`), or None."""
    item = client.get_item(TableName=table, Key=_marker_key(key_attribute), ConsistentRead=True).get("Item")
    if not item:
        return None
    stamp = LoadStamp(item["run_date"]["S"], item["model_version"]["S"], item["generated_at"]["S"])
    return stamp, item.get("load_state", {}).get("S", "")


def older_load_message(table: str, loading: LoadStamp, served: LoadStamp, state: str) -> str:
    partly = " (a load of it started and did not finish)" if state == LOADING else ""
    return (
        f"refusing to load {table} with {loading.describe()}: it already serves the newer "
        f"{served.describe()}{partly}; an older day never replaces a newer one, unless on purpose: "
        f"to roll back, re-run with --allow-older"
    )


def claim_load(client, table: str, key_attribute: str, stamp: LoadStamp, allow_older: bool = False) -> None:
    """Mark the table as serving `stamp` (state `loading`) unless it serves a newer run date."""
    values = {":run_date": {"S": stamp.run_date}, ":version": {"S": stamp.model_version},
              ":generated_at": {"S": stamp.generated_at}, ":state": {"S": LOADING}}
    condition = {} if allow_older else {
        "ConditionExpression": "attribute_not_exists(#run_date) OR #run_date <= :run_date"}
    try:
        client.update_item(
            TableName=table, Key=_marker_key(key_attribute),
            UpdateExpression="SET #run_date = :run_date, model_version = :version, "
                             "generated_at = :generated_at, load_state = :state",
            ExpressionAttributeNames={"#run_date": "run_date"}, ExpressionAttributeValues=values, **condition,
        )
    except client.exceptions.ConditionalCheckFailedException:
        served = read_load_marker(client, table, key_attribute)
        if served is None:  # deleted in between: nothing newer is served any more
            return claim_load(client, table, key_attribute, stamp, allow_older)
        raise OlderLoadError(older_load_message(table, stamp, *served)) from None


def complete_load(client, table: str, key_attribute: str, stamp: LoadStamp) -> None:
    """Mark this load's claim `loaded`; fails if another load claimed the table meanwhile."""
    try:
        client.update_item(
            TableName=table, Key=_marker_key(key_attribute), UpdateExpression="SET load_state = :loaded",
            ConditionExpression="#run_date = :run_date AND model_version = :version AND generated_at = :generated_at",
            ExpressionAttributeNames={"#run_date": "run_date"},
            ExpressionAttributeValues={":run_date": {"S": stamp.run_date}, ":version": {"S": stamp.model_version},
                                       ":generated_at": {"S": stamp.generated_at}, ":loaded": {"S": LOADED}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        served = read_load_marker(client, table, key_attribute)
        other = served[0].describe() if served else "nothing (the marker was deleted)"
        raise OverlappingLoadError(
            f"{table}: while this load of {stamp.describe()} was writing, another load claimed the table "
            f"({other}), so its items may mix both; run one load at a time and re-run the newest day's load"
        ) from None


@dataclass
class WriteStats:
    items: int = 0
    calls: int = 0
    unprocessed_retries: int = 0

    def add(self, other: "WriteStats") -> "WriteStats":
        return WriteStats(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))


class BatchWriter:
    """BatchWriteItem in chunks of 25, re-sending unprocessed items; `sleep` and `jitter` are
    injectable for tests."""

    def __init__(
        self, client, table: str, max_attempts: int, base_delay_s: float, max_delay_s: float,
        sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random,
    ):
        self._client, self._table = client, table
        self._max_attempts, self._base, self._cap = max_attempts, base_delay_s, max_delay_s
        self._sleep, self._jitter = sleep, jitter
        self.stats = WriteStats()

    def write_all(self, items: Iterable[dict]) -> WriteStats:
        chunk: list[dict] = []
        for item in items:
            chunk.append({"PutRequest": {"Item": item}})
            if len(chunk) == BATCH_WRITE_LIMIT:
                self._write_chunk(chunk)
                chunk = []
        if chunk:
            self._write_chunk(chunk)
        return self.stats

    def backoff_delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return self._jitter() * min(self._cap, self._base * (2 ** attempt))

    def _write_chunk(self, requests: list[dict]) -> None:
        pending = requests
        for attempt in range(self._max_attempts):
            self.stats.calls += 1
            response = self._client.batch_write_item(RequestItems={self._table: pending})
            unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
            self.stats.items += len(pending) - len(unprocessed)
            if not unprocessed:
                return
            pending = unprocessed
            self.stats.unprocessed_retries += 1
            self._sleep(self.backoff_delay(attempt))
        raise UnprocessedItemsError(
            f"{len(pending)} items still unprocessed in {self._table} after {self._max_attempts} attempts"
        )


def write_partitions(df: DataFrame, settings: DynamoSettings, to_item: Callable[[Row], dict], partitions: int) -> WriteStats:
    """Write every row of `df` as an item from the executors; returns the summed statistics."""
    spark = df.sparkSession
    counters = {name: spark.sparkContext.accumulator(0) for name in asdict(WriteStats())}

    def write_partition(rows: Iterator[Row]) -> None:
        writer = BatchWriter(
            settings.client(), settings.table, settings.write_max_attempts, settings.base_delay_s, settings.max_delay_s
        )
        stats = writer.write_all(to_item(row) for row in rows)
        for name, value in asdict(stats).items():
            counters[name].add(value)

    df.repartition(partitions).foreachPartition(write_partition)
    return WriteStats(**{name: counter.value for name, counter in counters.items()})
