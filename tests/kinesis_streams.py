"""Helpers for the Kinesis source's integration tests: streams and events on moto, and a
foreachBatch sink that writes one file per batch id (a replayed batch overwrites its file), so a
test can count every record by shard and sequence number."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from fashion_pipeline.aws import aws_client


@dataclass(frozen=True)
class PutEvent:
    event_id: str
    key: str
    n: int  # position of the event among its key's events, in put order
    shard: str
    sequence: str


def kinesis(config):
    return aws_client("kinesis", config)


def create_stream(config, stream: str, shards: int) -> None:
    client = kinesis(config)
    client.create_stream(StreamName=stream, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def put_events(config, stream: str, count: int, keys: int = 20, prefix: str = "e", counters: dict | None = None,
               pad: int = 0) -> list[PutEvent]:
    """`count` JSON events over `keys` partition keys; `counters` carries each key's running
    count across calls so that per-key order can be checked."""
    client = kinesis(config)
    counters = counters if counters is not None else {}
    events, batch = [], []

    def flush():
        response = client.put_records(StreamName=stream, Records=[r for r, _ in batch])
        assert response.get("FailedRecordCount", 0) == 0, response
        for (_, meta), result in zip(batch, response["Records"]):
            events.append(PutEvent(meta[0], meta[1], meta[2], result["ShardId"], result["SequenceNumber"]))
        batch.clear()

    for i in range(count):
        key = f"user-{i % keys}"
        n = counters.get(key, 0)
        counters[key] = n + 1
        event_id = f"{prefix}-{i:06d}"
        body = {"id": event_id, "key": key, "n": n}
        if pad:
            body["pad"] = "x" * pad
        batch.append(({"Data": json.dumps(body).encode(), "PartitionKey": key}, (event_id, key, n)))
        if len(batch) == 500:
            flush()
    if batch:
        flush()
    return events


class BatchFileSink:
    """foreachBatch sink: batch-<id>.json holds the batch's records; a replay overwrites it."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)

    def rows(self, batch_df) -> list[dict]:
        return [
            {**json.loads(row.data), "sequence": row.sequenceNumber, "partitionKey": row.partitionKey,
             "stream": row.streamName, "arrived": row.approximateArrivalTimestamp.isoformat()}
            for row in batch_df.collect()
        ]

    def write(self, batch_id: int, rows: list[dict]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target = self.out_dir / f"batch-{batch_id:05d}.json"
        partial = self.out_dir / f".{target.name}.partial"
        partial.write_text(json.dumps(rows), encoding="utf-8")
        os.replace(partial, target)

    def __call__(self, batch_df, batch_id: int) -> None:
        self.write(batch_id, self.rows(batch_df))


def read_batches(out_dir: str | Path) -> dict[int, list[dict]]:
    batches = {}
    for path in sorted(Path(out_dir).glob("batch-*.json")):
        batches[int(path.stem.split("-")[1])] = json.loads(path.read_text(encoding="utf-8"))
    return batches
