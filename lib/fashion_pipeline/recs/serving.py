"""DynamoDB serving tables: what the website reads, written from the lake by the executors.

Tables (names from `config.names`), all keyed by one string attribute, on-demand capacity:
- recommendations_table (user_id): the nightly batch, written here only;
- realtime_recommendations_table (user_id): written by the real-time path only, so neither
  overwrites the other; `read_recommendations` merges the two as the website must;
- item_neighbors_table (article_id): the neighbours of an article.

The item format is the contract with the website, documented in README.md ("Serving contract").

Loading: each Spark partition builds its own boto3 client from plain values (`DynamoSettings`)
and writes with BatchWriteItem, 25 puts per call. Unprocessed items and throttling errors are
retried with exponential backoff and full jitter; a batch that still fails after
`write_max_attempts` fails the task (Spark retries it), so nothing is lost silently. A put
replaces the whole item under its key, so loading one model version twice leaves the same items.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone

from botocore.exceptions import ClientError
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from fashion_pipeline.aws import aws_client, aws_client_from_settings
from fashion_pipeline.config import Config
from fashion_pipeline.lake import read_table

BATCH_WRITE_LIMIT = 25
USER_KEY, ARTICLE_KEY = "user_id", "article_id"
SOURCE_BATCH, SOURCE_REALTIME = "batch", "realtime"
RETRYABLE_ERRORS = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable",
}


class UnprocessedItemsError(RuntimeError):
    """A batch still had unprocessed items after every retry."""


class LoadReconciliationError(RuntimeError):
    """Rows read from the lake do not equal items written to DynamoDB."""


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
    """Create the three serving tables if missing (on-demand); returns the names created."""
    client = client or aws_client("dynamodb", config)
    wanted = {
        config.names.recommendations_table: USER_KEY,
        config.names.realtime_recommendations_table: USER_KEY,
        config.names.item_neighbors_table: ARTICLE_KEY,
    }
    existing = set(client.get_paginator("list_tables").paginate().build_full_result().get("TableNames", []))
    created = []
    for table, key in wanted.items():
        if table in existing:
            continue
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table)
        created.append(table)
    return created


# ------------------------------------------------------------------------------- item format
def _number(value: float) -> dict:
    # DynamoDB numbers are decimals; six significant digits keep items small and re-runs equal.
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"score {value!r} cannot be stored as a DynamoDB number")
    return {"N": f"{number:.6g}"}


def recommendation_item(customer_id: str, items: list, model_version: str, generated_at: str) -> dict:
    """The DynamoDB item (AttributeValue form) of one user's batch recommendations."""
    return {
        USER_KEY: {"S": customer_id},
        "items": {"L": [
            {"M": {
                "article_id": {"S": item["article_id"]},
                "score": _number(item["score"]),
                "reason": {"S": item["reason"]},
                "rank": {"N": str(rank)},
            }}
            for rank, item in enumerate(items, start=1)
        ]},
        "model_version": {"S": model_version},
        "generated_at": {"S": generated_at},
        "source": {"S": SOURCE_BATCH},
    }


def neighbor_item(article_id: str, neighbors: list, model_version: str, generated_at: str) -> dict:
    return {
        ARTICLE_KEY: {"S": article_id},
        "neighbors": {"L": [
            {"M": {"article_id": {"S": n["article_id"]}, "score": _number(n["score"])}} for n in neighbors
        ]},
        "model_version": {"S": model_version},
        "generated_at": {"S": generated_at},
    }


# ------------------------------------------------------------------------------- writing
@dataclass
class WriteStats:
    items: int = 0
    calls: int = 0
    unprocessed_retries: int = 0
    throttled_retries: int = 0

    def add(self, other: "WriteStats") -> "WriteStats":
        return WriteStats(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))


class BatchWriter:
    """BatchWriteItem in chunks of 25 with retries; `sleep` and `jitter` are injectable for tests."""

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
            try:
                self.stats.calls += 1
                response = self._client.batch_write_item(RequestItems={self._table: pending})
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in RETRYABLE_ERRORS:
                    raise
                self.stats.throttled_retries += 1
                self._sleep(self.backoff_delay(attempt))
                continue
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


@dataclass
class LoadReport:
    run_date: str
    tables: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        return "\n".join(
            f"{table}: {t['rows']:,} rows -> {t['items']:,} items in {t['calls']:,} BatchWriteItem calls "
            f"({t['unprocessed_retries']} unprocessed retries, {t['throttled_retries']} throttling retries)"
            for table, t in self.tables.items()
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


def _recommendation_row_item(row: Row) -> dict:
    return recommendation_item(row["customer_id"], row["items"], row["model_version"], row["generated_at"])


def _neighbor_row_item(row: Row) -> dict:
    return neighbor_item(row["article_id"], row["neighbors"], row["model_version"], row["generated_at"])


def run_load_recommendations(spark: SparkSession, config: Config, storage, run_date: date) -> LoadReport:
    """Load one run date's recommendations and item neighbours into the serving tables."""
    from fashion_pipeline.recs.pipeline import recs_uri

    ensure_serving_tables(config)
    report = LoadReport(run_date=run_date.isoformat())
    for name, table, to_item in (
        ("recommendations", config.names.recommendations_table, _recommendation_row_item),
        ("item_neighbors", config.names.item_neighbors_table, _neighbor_row_item),
    ):
        rows_df = read_table(spark, recs_uri(config, name)).filter(F.col("run_date") == F.lit(run_date))
        rows = rows_df.count()
        if rows == 0:
            raise ValueError(f"no {name} for run_date {run_date} in the lake: run train_als first")
        stats = write_partitions(rows_df, DynamoSettings.from_config(config, table), to_item, config.recs.load_partitions)
        report.tables[table] = {"rows": rows, **asdict(stats)}
        if stats.items != rows:
            raise LoadReconciliationError(f"{table}: {rows} rows read but {stats.items} items written")
    return report


# ------------------------------------------------------------------------------- reading
@dataclass
class ServedItem:
    article_id: str
    score: float
    reason: str
    source: str


@dataclass
class ServedRecommendations:
    user_id: str
    items: list[ServedItem]
    model_version: str | None
    generated_at: str | None
    realtime_generated_at: str | None = None


def _plain_items(attribute: dict | None) -> list[dict]:
    if not attribute:
        return []
    return [
        {"article_id": e["M"]["article_id"]["S"], "score": float(e["M"]["score"]["N"]), "reason": e["M"]["reason"]["S"]}
        for e in attribute.get("L", [])
    ]


def merge_recommendations(batch: dict | None, realtime: dict | None, k: int, now: datetime | None = None) -> list[ServedItem]:
    """Real-time items first (they know today's session), then batch items not shown yet, k in all.

    A real-time item whose `expires_at` (epoch seconds, the table's TTL attribute) has passed is
    ignored even before DynamoDB's TTL sweep deletes it."""
    now = now or datetime.now(timezone.utc)
    served, seen = [], set()
    if realtime and ("expires_at" not in realtime or float(realtime["expires_at"]["N"]) > now.timestamp()):
        for item in _plain_items(realtime.get("items")):
            if item["article_id"] not in seen:
                served.append(ServedItem(**item, source=SOURCE_REALTIME))
                seen.add(item["article_id"])
    for item in _plain_items((batch or {}).get("items")):
        if item["article_id"] not in seen:
            served.append(ServedItem(**item, source=SOURCE_BATCH))
            seen.add(item["article_id"])
    return served[:k]


def read_recommendations(config: Config, user_id: str, client=None) -> ServedRecommendations:
    """What the website shows a user: both tables read in one BatchGetItem, then merged."""
    client = client or aws_client("dynamodb", config)
    batch_table, realtime_table = config.names.recommendations_table, config.names.realtime_recommendations_table
    key = {USER_KEY: {"S": user_id}}
    response = client.batch_get_item(RequestItems={batch_table: {"Keys": [key]}, realtime_table: {"Keys": [key]}})
    found = response.get("Responses", {})
    batch = next(iter(found.get(batch_table, [])), None)
    realtime = next(iter(found.get(realtime_table, [])), None)
    return ServedRecommendations(
        user_id=user_id,
        items=merge_recommendations(batch, realtime, config.recs.top_k),
        model_version=batch["model_version"]["S"] if batch else None,
        generated_at=batch["generated_at"]["S"] if batch else None,
        realtime_generated_at=realtime["generated_at"]["S"] if realtime and "generated_at" in realtime else None,
    )
