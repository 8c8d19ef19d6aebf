"""The driver side of the Kinesis source under Spark 4.0's calling sequences, without Spark:
a fake Kinesis client, the real metadata store on local disk, a manual clock. `run_batch` plays
the executors (read_shard_slice for every partition)."""
from __future__ import annotations

import json

import pytest

from fashion_pipeline.streaming.batch_metadata import LocalBatchMetadata
from fashion_pipeline.streaming.batch_planner import BatchPlanner
from fashion_pipeline.streaming.errors import KinesisSourceOptionError
from fashion_pipeline.streaming.kinesis_source import BotoShardSource, parse_options, read_shard_slice
from fashion_pipeline.streaming.shard_plan import ShardOutcome
from tests.kinesis_fakes import FakeKinesis, ManualClock, SleepRecorder

S0, S1, S2 = "shardId-000000000000", "shardId-000000000001", "shardId-000000000002"


class Harness:
    """One stream, one metadata folder; planners come and go like readers across restarts."""

    def __init__(self, tmp_path, client: FakeKinesis, cap: int = 10, probe_interval: str = "1s",
                 starting_position: str = "TRIM_HORIZON", stream: str = "clicks"):
        self.client = client
        self.metadata = str(tmp_path / "meta")
        self.options = parse_options({
            "kinesis.streamName": stream, "kinesis.region": "us-east-1", "kinesis.metadataPath": self.metadata,
            "kinesis.maxFetchRecordsPerShard": str(cap), "kinesis.startingPosition": starting_position,
            "kinesis.idleProbeInterval": probe_interval, "kinesis.describeShardInterval": "0",
        })
        self.store = LocalBatchMetadata(self.metadata)
        self.clock = ManualClock()
        self.delivered: list[tuple[str, str]] = []
        self.batches: list[dict[str, list[str]]] = []

    def planner(self, options=None) -> BatchPlanner:
        options = options or self.options
        source = BotoShardSource(options, sleep=SleepRecorder(), client=self.client)
        return BatchPlanner(options.planner_settings(), source, self.store, monotonic=self.clock,
                            wall_clock=lambda: 1_764_504_000.0)

    def run_batch(self, planner: BatchPlanner, start: dict, end: dict, only: set[str] | None = None) -> dict:
        """Spark running a batch: plan its partitions, read each (or only some) to the end."""
        per_shard: dict[str, list[str]] = {}
        for task in planner.partitions(start, end):
            if only is not None and task.shard_id not in only:
                continue
            rows = []
            for batch in read_shard_slice(self.options, task, client=self.client, store=self.store,
                                          sleep=SleepRecorder()):
                rows.extend(batch.column("sequenceNumber").to_pylist())
            per_shard[task.shard_id] = rows
            self.delivered.extend((task.shard_id, seq) for seq in rows)
        self.batches.append(per_shard)
        return per_shard

    def drive(self, planner: BatchPlanner, logged: dict | None) -> dict | None:
        """One trigger: latestOffset, and a batch when the offset moved. Returns the logged offset."""
        offset = planner.latest_offset()
        if logged is not None and json.dumps(offset) == json.dumps(logged):
            return logged
        start = logged if logged is not None else planner.initial_offset()
        self.run_batch(planner, start, offset)
        return offset


def _all(client: FakeKinesis, shard: str) -> list[tuple[str, str]]:
    return [(shard, r["SequenceNumber"]) for r in client.records[shard]]


def test_batches_follow_recorded_ends_respect_the_cap_and_stop_when_nothing_is_new(tmp_path):
    client = FakeKinesis({S0: 25, S1: 0})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    planner = harness.planner()
    logged = None
    for _ in range(6):
        logged = harness.drive(planner, logged)
    assert [sorted(b) for b in harness.batches] == [[S0], [S0], [S0]]
    assert [len(b[S0]) for b in harness.batches] == [10, 10, 5]
    assert harness.delivered == _all(client, S0)
    # Idle: the same offset text again and again, so Spark runs no batch.
    assert json.dumps(planner.latest_offset()) == json.dumps(logged)

    client.put(S1, 3)
    client.put(S0, 2)
    logged = harness.drive(planner, logged)
    assert harness.batches[-1] == {S0: ["26", "27"], S1: ["1", "2", "3"]}
    assert sorted(harness.delivered) == sorted(_all(client, S0) + _all(client, S1))


def test_capped_shards_are_read_again_without_a_probe(tmp_path):
    client = FakeKinesis({S0: 30})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    planner = harness.planner()
    logged = harness.drive(planner, None)
    client.calls.clear()
    harness.drive(planner, logged)
    # planning the second batch asked Kinesis nothing but ListShards: the first read hit its cap
    assert [name for name, _ in client.calls][:1] == ["ListShards"]
    assert client.calls[1][0] == "GetShardIterator" and client.calls[1][1]["StartingSequenceNumber"] == "10"
    assert client.count("GetRecords") == 1  # the batch's own read, in one page


def test_idle_probes_are_rate_limited_by_the_clock(tmp_path):
    client = FakeKinesis({S0: 2})
    harness = Harness(tmp_path, client, probe_interval="1s")
    planner = harness.planner()
    logged = harness.drive(planner, None)
    planner.latest_offset()  # probes: nothing new
    client.calls.clear()
    client.put(S0, 1)
    assert json.dumps(planner.latest_offset()) == json.dumps(logged)
    assert client.count("GetRecords") == 0 and client.count("GetShardIterator") == 0
    harness.clock.advance(1.0)
    assert planner.latest_offset()["batch"] == 1
    assert client.count("GetRecords") == 1


def test_restart_resumes_from_recorded_ends_when_latest_offset_comes_first(tmp_path):
    client = FakeKinesis({S0: 25, S1: 4})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    first = harness.planner()
    logged = harness.drive(first, None)
    logged = harness.drive(first, logged)
    # The process stops; a new reader is asked latestOffset() before anything else.
    second = harness.planner()
    logged = harness.drive(second, logged)
    harness.drive(second, logged)
    assert sorted(harness.delivered) == sorted(_all(client, S0) + _all(client, S1))
    assert len(set(harness.delivered)) == len(harness.delivered)


def test_a_plan_spark_never_logged_is_offered_again_after_a_restart(tmp_path):
    client = FakeKinesis({S0: 25})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    first = harness.planner()
    logged = harness.drive(first, None)
    unlogged = first.latest_offset()  # saved by us, then the driver died before Spark logged it
    assert unlogged["batch"] == 1

    second = harness.planner()
    offered = second.latest_offset()
    assert json.dumps(offered) == json.dumps(unlogged)
    harness.run_batch(second, logged, offered)
    logged = offered
    while True:
        moved = harness.drive(second, logged)
        if moved is logged:
            break
        logged = moved
    assert harness.delivered == _all(client, S0)


def test_a_partition_spark_never_read_to_the_end_is_decided_by_the_driver_once(tmp_path):
    client = FakeKinesis({S0: 15, S1: 15})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    planner = harness.planner()
    offset = planner.latest_offset()
    # The batch's sink only ever touched S0 (say, a foreachBatch that returned early).
    harness.run_batch(planner, planner.initial_offset(), offset, only={S0})
    assert harness.store.outcome(0, S1) is None
    follow_up = planner.latest_offset()
    assert harness.store.outcome(0, S1) == ShardOutcome(10, "10", more=True)
    assert follow_up["positions"] == {S0: "10", S1: "10"}
    assert follow_up["read"] == [S0, S1]


def test_spark_announcing_its_last_offset_wins_over_a_newer_plan_it_never_logged(tmp_path):
    client = FakeKinesis({S0: 25})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    first = harness.planner()
    logged = harness.drive(first, None)
    first.latest_offset()  # plan 1, never logged
    # A stale outcome under batch 1 (as if from that unlogged plan) must not be believed.
    harness.store.record_outcome(1, S0, ShardOutcome(99, "99"))

    second = harness.planner()
    assert second.partitions(logged, logged) == []  # Spark 4.0's restart announcement
    replanned = second.latest_offset()
    assert replanned["batch"] == 1 and replanned["positions"] == {S0: "10"}
    assert harness.store.outcome(1, S0) is None
    harness.run_batch(second, logged, replanned)
    assert harness.batches[-1] == {S0: [str(i) for i in range(11, 21)]}


def test_a_replayed_batch_reads_the_same_records_after_new_puts(tmp_path):
    client = FakeKinesis({S0: 4})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    planner = harness.planner()
    offset = planner.latest_offset()
    start = planner.initial_offset()
    first = harness.run_batch(planner, start, offset)
    client.put(S0, 5)
    again = harness.run_batch(harness.planner(), start, offset)
    assert again == first == {S0: ["1", "2", "3", "4"]}


def test_split_parent_is_drained_before_its_children_are_read(tmp_path):
    client = FakeKinesis({S0: 12})
    harness = Harness(tmp_path, client, cap=5, probe_interval="0")
    planner = harness.planner()
    logged = harness.drive(planner, None)  # parent 1..5
    client.close(S0)
    client.add_shard(S1, parents=(S0,))
    client.add_shard(S2, parents=(S0,))
    client.put(S1, 3, key="a")
    client.put(S2, 2, key="b")
    while True:
        moved = harness.drive(planner, logged)
        if moved is logged:
            break
        logged = moved
    shards_per_batch = [sorted(b) for b in harness.batches]
    # parent 6..10, parent 11..12 then drained, children together afterwards
    assert shards_per_batch == [[S0], [S0], [S0], [S1, S2]]
    assert harness.batches[2] == {S0: ["11", "12"]}
    assert sorted(harness.delivered) == sorted(_all(client, S0) + _all(client, S1) + _all(client, S2))
    assert logged["drained"] == {S0: "12"}


def test_merge_child_waits_for_both_parents(tmp_path):
    client = FakeKinesis({S0: 2, S1: 30})
    harness = Harness(tmp_path, client, cap=10, probe_interval="0")
    planner = harness.planner()
    client.close(S0)
    client.close(S1)
    client.add_shard(S2, parents=(S0, S1))
    client.put(S2, 1)
    logged = None
    while True:
        moved = harness.drive(planner, logged)
        if moved is logged:
            break
        logged = moved
    child_batch = next(i for i, b in enumerate(harness.batches) if S2 in b)
    last_parent_batch = max(i for i, b in enumerate(harness.batches) if S1 in b or S0 in b)
    assert child_batch > last_parent_batch
    assert len(harness.delivered) == 33 == len(set(harness.delivered))


def test_metadata_of_another_stream_is_refused(tmp_path):
    client = FakeKinesis({S0: 1})
    harness = Harness(tmp_path, client)
    harness.drive(harness.planner(), None)
    other = parse_options({"kinesis.streamName": "orders", "kinesis.region": "us-east-1",
                           "kinesis.metadataPath": harness.metadata})
    with pytest.raises(KinesisSourceOptionError, match="belongs to stream 'clicks', not 'orders'"):
        harness.planner(other).latest_offset()


def test_commit_only_purges_metadata_older_than_the_retained_batches(tmp_path):
    client = FakeKinesis({S0: 50})
    harness = Harness(tmp_path, client, cap=5, probe_interval="0")
    options = parse_options({**{"kinesis.streamName": "clicks", "kinesis.region": "us-east-1",
                                "kinesis.metadataPath": harness.metadata, "kinesis.maxFetchRecordsPerShard": "5",
                                "kinesis.idleProbeInterval": "0", "kinesis.minBatchesToRetain": "3"}})
    planner = harness.planner(options)
    logged = None
    for _ in range(6):
        logged = harness.drive(planner, logged)
    planner.commit(logged)
    plans = sorted(p.name for p in (tmp_path / "meta" / "plans").iterdir())
    outcomes = sorted(p.name for p in (tmp_path / "meta" / "outcomes").iterdir())
    assert plans == [f"{b:012d}.json" for b in (2, 3, 4, 5)]
    assert outcomes == [f"{b:012d}" for b in (2, 3, 4, 5)]


def test_a_read_that_loses_the_race_to_record_its_end_fails_its_task(tmp_path):
    from fashion_pipeline.streaming.batch_planner import ShardTask
    from fashion_pipeline.streaming.errors import BatchOutcomeConflictError

    client = FakeKinesis({S0: 8})
    harness = Harness(tmp_path, client, cap=10)

    class RacedStore(LocalBatchMetadata):
        """Another read of the same batch recorded its (shorter) end while this one was reading."""

        def outcome(self, batch, shard_id):
            return None

        def record_outcome(self, batch, shard_id, outcome):
            return ShardOutcome(5, "5")

    task = ShardTask(0, S0, "TRIM_HORIZON", 10, None)
    with pytest.raises(BatchOutcomeConflictError, match="a concurrent read recorded 5"):
        list(read_shard_slice(harness.options, task, client=client, store=RacedStore(harness.metadata),
                              sleep=SleepRecorder()))
