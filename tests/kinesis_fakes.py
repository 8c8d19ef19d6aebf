"""An in-memory stand-in for boto3's Kinesis client, for unit tests of the source without moto:
shards of records, closed shards, and failures scripted per call."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError, EndpointConnectionError

EPOCH = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (scripted)"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def connection_error() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


class FakeKinesis:
    """Shards hold records with sequence numbers 1, 2, 3...; an iterator is "shard:index" of the
    next record. `fail[operation]` is a list of exceptions raised (in order) before calls succeed.
    `closed[shard]` makes a shard closed; `end_iterators` returns no NextShardIterator at the end of
    a closed shard (AWS), else the iterator never ends (moto)."""

    def __init__(self, shards: dict[str, int] | None = None, end_iterators: bool = False,
                 parents: dict[str, tuple[str, ...]] | None = None):
        self.records: dict[str, list[dict]] = {}
        self.closed: set[str] = set()
        self.parents = parents or {}
        self.end_iterators = end_iterators
        self.fail: dict[str, list[Exception]] = {}
        self.calls: list[tuple[str, dict]] = []
        self.behind_pages: dict[str, int] = {}
        for shard, count in (shards or {}).items():
            self.add_shard(shard)
            self.put(shard, count)

    def add_shard(self, shard: str, parents: tuple[str, ...] = ()) -> None:
        self.records.setdefault(shard, [])
        if parents:
            self.parents[shard] = parents

    def put(self, shard: str, count: int, key: str = "k") -> list[str]:
        records = self.records[shard]
        added = []
        for _ in range(count):
            sequence = str(len(records) + 1)
            records.append({
                "SequenceNumber": sequence,
                "Data": f"{shard}:{sequence}".encode(),
                "PartitionKey": key,
                "ApproximateArrivalTimestamp": EPOCH + timedelta(seconds=len(records)),
            })
            added.append(sequence)
        return added

    def close(self, shard: str) -> None:
        self.closed.add(shard)

    def _maybe_fail(self, operation: str) -> None:
        queue = self.fail.get(operation)
        if queue:
            raise queue.pop(0)

    def list_shards(self, **request) -> dict:
        self.calls.append(("ListShards", request))
        self._maybe_fail("ListShards")
        shards = []
        for shard, records in self.records.items():
            entry = {"ShardId": shard, "SequenceNumberRange": {"StartingSequenceNumber": "1"}}
            parents = self.parents.get(shard, ())
            if parents:
                entry["ParentShardId"] = parents[0]
            if len(parents) > 1:
                entry["AdjacentParentShardId"] = parents[1]
            if shard in self.closed:
                entry["SequenceNumberRange"]["EndingSequenceNumber"] = str(len(records))
            shards.append(entry)
        return {"Shards": shards}

    def describe_stream_summary(self, StreamName: str) -> dict:
        self.calls.append(("DescribeStreamSummary", {"StreamName": StreamName}))
        self._maybe_fail("DescribeStreamSummary")
        return {"StreamDescriptionSummary": {"StreamName": StreamName, "OpenShardCount": len(self.records)}}

    def get_shard_iterator(self, StreamName: str, ShardId: str, ShardIteratorType: str, **position) -> dict:
        self.calls.append(("GetShardIterator", {"ShardId": ShardId, "ShardIteratorType": ShardIteratorType, **position}))
        self._maybe_fail("GetShardIterator")
        records = self.records[ShardId]
        if ShardIteratorType == "TRIM_HORIZON":
            index = 0
        elif ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            index = int(position["StartingSequenceNumber"])
        elif ShardIteratorType == "AT_SEQUENCE_NUMBER":
            index = int(position["StartingSequenceNumber"]) - 1
        elif ShardIteratorType == "AT_TIMESTAMP":
            index = next((i for i, r in enumerate(records) if r["ApproximateArrivalTimestamp"] >= position["Timestamp"]),
                         len(records))
        elif ShardIteratorType == "LATEST":
            index = len(records)
        else:
            raise client_error("InvalidArgumentException", "GetShardIterator")
        return {"ShardIterator": f"{ShardId}:{index}"}

    def get_records(self, ShardIterator: str, Limit: int = 10_000) -> dict:
        self.calls.append(("GetRecords", {"ShardIterator": ShardIterator, "Limit": Limit}))
        self._maybe_fail("GetRecords")
        shard, _, index_text = ShardIterator.rpartition(":")
        index = int(index_text)
        if self.behind_pages.get(shard, 0) > 0:
            self.behind_pages[shard] -= 1
            return {"Records": [], "NextShardIterator": ShardIterator, "MillisBehindLatest": 5000}
        records = self.records[shard]
        page = records[index:index + Limit]
        next_index = index + len(page)
        response = {"Records": page, "MillisBehindLatest": 0 if next_index >= len(records) else 1000}
        if not (self.end_iterators and shard in self.closed and next_index >= len(records)):
            response["NextShardIterator"] = f"{shard}:{next_index}"
        return response

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)


class SleepRecorder:
    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class ManualClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
