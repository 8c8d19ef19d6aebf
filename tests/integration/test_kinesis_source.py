"""format("kinesis") end to end: Spark 4.0 Structured Streaming reading moto's Kinesis.

Every test writes batches through a foreachBatch sink that keeps one file per batch id (a
replayed batch overwrites its own file) and counts records by shard and sequence number.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException

from fashion_pipeline.config import PROJECT_ROOT
from fashion_pipeline.schemas import KINESIS_RECORD_SCHEMA
from fashion_pipeline.services import free_port
from fashion_pipeline.streaming import KinesisStreamNotFoundError, read_kinesis, register_kinesis_source
from tests.kinesis_streams import BatchFileSink, create_stream, kinesis, put_events, read_batches

STREAM = "clicks-test"
KILL_TEST_TIMEOUT_S = 300


def _config(aws_config, **streaming):
    settings = {"names.clickstream_stream": STREAM, "streaming.idle_probe_interval_ms": 0,
                "streaming.describe_shard_interval_ms": 0}
    settings.update({f"streaming.{key}": value for key, value in streaming.items()})
    return aws_config.with_overrides(settings)


def _run(spark, config, checkpoint: Path, out: Path, puts=()):
    """Start a query on the clickstream, run it until nothing is left, stop it. `puts` are
    callables run while it is running, each followed by processAllAvailable()."""
    sink = BatchFileSink(out)
    raw_df = read_kinesis(spark, config, str(checkpoint))
    query = raw_df.writeStream.foreachBatch(sink).option("checkpointLocation", str(checkpoint)).start()
    try:
        query.processAllAvailable()
        for put in puts:
            put()
            query.processAllAvailable()
    finally:
        query.stop()
    return query


def _by_record(batches: dict[int, list[dict]], events) -> Counter:
    """How often each put record came out, keyed by (shard, sequence number)."""
    shard_of = {e.event_id: e.shard for e in events}
    return Counter((shard_of[row["id"]], row["sequence"]) for rows in batches.values() for row in rows)


def _expected(events) -> Counter:
    return Counter((e.shard, e.sequence) for e in events)


def test_every_record_once_over_capped_batches(spark, aws_config, tmp_path):
    config = _config(aws_config, max_records_per_shard=25)
    create_stream(config, STREAM, shards=3)
    events = put_events(config, STREAM, 300)
    _run(spark, config, tmp_path / "checkpoint", tmp_path / "out")

    batches = read_batches(tmp_path / "out")
    assert _by_record(batches, events) == _expected(events)
    shard_of = {e.event_id: e.shard for e in events}
    per_batch_and_shard = Counter((batch_id, shard_of[row["id"]]) for batch_id, rows in batches.items() for row in rows)
    assert max(per_batch_and_shard.values()) == 25  # the cap, reached and never passed
    assert len(batches) >= 300 // (3 * 25)
    sample = next(iter(batches.values()))[0]
    assert sample["stream"] == STREAM and sample["partitionKey"] == sample["key"]


def test_read_kinesis_gives_the_connector_columns(spark, aws_config, tmp_path):
    config = _config(aws_config)
    create_stream(config, STREAM, shards=1)
    raw_df = read_kinesis(spark, config, str(tmp_path / "checkpoint"))
    assert raw_df.isStreaming
    assert raw_df.schema == KINESIS_RECORD_SCHEMA


def test_starting_positions(spark, aws_config, tmp_path):
    config = _config(aws_config)
    create_stream(config, STREAM, shards=2)
    before = put_events(config, STREAM, 10, prefix="before")
    time.sleep(0.05)
    instant = datetime.now(timezone.utc)
    time.sleep(0.05)
    after = put_events(config, STREAM, 10, prefix="after")

    def ids(name: str) -> set[str]:
        return {row["id"] for rows in read_batches(tmp_path / name).values() for row in rows}

    _run(spark, _config(aws_config, starting_position="TRIM_HORIZON"), tmp_path / "c-trim", tmp_path / "trim")
    _run(spark, _config(aws_config, starting_position="AT_TIMESTAMP", starting_timestamp=instant.isoformat()),
         tmp_path / "c-at", tmp_path / "at")
    later = []
    _run(spark, _config(aws_config, starting_position="LATEST"), tmp_path / "c-latest", tmp_path / "latest",
         puts=[lambda: later.extend(put_events(config, STREAM, 10, prefix="later"))])

    assert ids("trim") == {e.event_id for e in before + after}
    assert ids("at") == {e.event_id for e in after}
    assert ids("latest") == {e.event_id for e in later}


def test_restart_from_the_checkpoint_neither_loses_nor_repeats(spark, aws_config, tmp_path):
    config = _config(aws_config, max_records_per_shard=40)
    create_stream(config, STREAM, shards=2)
    first = put_events(config, STREAM, 150, prefix="first")
    _run(spark, config, tmp_path / "checkpoint", tmp_path / "out")
    batches_before = set(read_batches(tmp_path / "out"))
    second = put_events(config, STREAM, 150, prefix="second")
    _run(spark, config, tmp_path / "checkpoint", tmp_path / "out")

    batches = read_batches(tmp_path / "out")
    assert _by_record(batches, first + second) == _expected(first + second)
    new_batches = set(batches) - batches_before
    assert new_batches and min(new_batches) > max(batches_before)
    assert {row["id"][:6] for b in new_batches for row in batches[b]} == {"second"}


def test_kill_minus_nine_mid_batch_then_restart(spark, aws_config, tmp_path):
    # 100 events over 20 keys land 50 and 50 on the two shards: batch 0 takes 40 + 40 (the cap),
    # batch 1 the last 10 + 10, reaching the tip. The query process is killed in batch 1 with its
    # offsets logged, its records read and half of them written. More records arrive while it is
    # down: the replay must still give batch 1 exactly the records its first read had (a fresh
    # read would take up to 40 + 40), and the next batches the rest.
    config = _config(aws_config, max_records_per_shard=40)
    create_stream(config, STREAM, shards=2)
    events = put_events(config, STREAM, 100, prefix="early")
    assert Counter(e.shard for e in events) == {"shardId-000000000000": 50, "shardId-000000000001": 50}
    checkpoint, out, marker = tmp_path / "checkpoint", tmp_path / "out", tmp_path / "paused"
    log_path = tmp_path / "query-process.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.kinesis_query_process", "--endpoint", config.aws.endpoint_url,
             "--stream", STREAM, "--checkpoint", str(checkpoint), "--out", str(out), "--cap", "40",
             "--pause-at-batch", "1", "--marker", str(marker), "--state-dir", str(tmp_path / "state")],
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + KILL_TEST_TIMEOUT_S
            while not marker.exists():
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "the query process never reached batch 1"
                time.sleep(0.2)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # driver, JVM and Python workers at once
            process.wait()

    assert int(marker.read_text()) == 20
    assert len(read_batches(out)[1]) == 10  # half written when it died
    assert (checkpoint / "offsets" / "1").exists() and not (checkpoint / "commits" / "1").exists()

    events += put_events(config, STREAM, 100, prefix="while-down")
    _run(spark, config, checkpoint, out)

    batches = read_batches(out)
    assert _by_record(batches, events) == _expected(events)
    assert sorted(r["id"] for r in batches[1]) == sorted(e.event_id for e in events[80:100])
    shard_of = {e.event_id: e.shard for e in events}
    assert max(Counter((b, shard_of[r["id"]]) for b, rows in batches.items() for r in rows).values()) == 40


def test_missing_stream_is_one_clear_line(spark, aws_config, tmp_path):
    config = _config(aws_config)
    with pytest.raises(KinesisStreamNotFoundError) as caught:
        read_kinesis(spark, config, str(tmp_path / "checkpoint"))
    assert str(caught.value) == (
        f"Kinesis stream '{STREAM}' does not exist at {config.aws.endpoint_url} (region {config.aws.region}): "
        "run `fashion services up` (it creates the stream) or `fashion clicks create-stream`"
    )

    # Straight through format("kinesis") (no check first) the query fails with the same line.
    register_kinesis_source(spark)
    raw_df = (spark.readStream.format("kinesis").option("kinesis.streamName", STREAM)
              .option("kinesis.endpointUrl", config.aws.endpoint_url).option("kinesis.region", config.aws.region)
              .option("kinesis.metadataPath", str(tmp_path / "checkpoint" / "meta")).load())
    query = raw_df.writeStream.format("noop").option("checkpointLocation", str(tmp_path / "checkpoint")).start()
    with pytest.raises(StreamingQueryException, match=f"KinesisStreamNotFoundError: Kinesis stream '{STREAM}' does not exist"):
        query.awaitTermination(120)


def test_metadata_on_s3(spark, aws_config, tmp_path):
    config = _config(aws_config, max_records_per_shard=20)
    create_stream(config, STREAM, shards=2)
    from fashion_pipeline.aws import aws_client

    s3 = aws_client("s3", config)
    s3.create_bucket(Bucket="fashion-checkpoints")
    events = put_events(config, STREAM, 90)
    register_kinesis_source(spark)
    raw_df = (spark.readStream.format("kinesis").option("kinesis.streamName", STREAM)
              .option("kinesis.endpointUrl", config.aws.endpoint_url).option("kinesis.region", config.aws.region)
              .option("kinesis.startingPosition", "TRIM_HORIZON").option("kinesis.maxFetchRecordsPerShard", "20")
              .option("kinesis.idleProbeInterval", "0")
              .option("kinesis.metadataPath", "s3://fashion-checkpoints/clicks/sources/kinesis")
              .option("kinesis.metadataEndpointUrl", config.aws.endpoint_url).load())
    query = (raw_df.writeStream.foreachBatch(BatchFileSink(tmp_path / "out"))
             .option("checkpointLocation", str(tmp_path / "checkpoint")).start())
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert _by_record(read_batches(tmp_path / "out"), events) == _expected(events)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="fashion-checkpoints")["Contents"]]
    assert "clicks/sources/kinesis/plans/000000000000.json" in keys
    assert "clicks/sources/kinesis/outcomes/000000000000/shardId-000000000000.json" in keys


# --- resharding --------------------------------------------------------------------------------

def _aws_like_split(stream, shard_to_split: str, new_starting_hash_key: str) -> None:
    """SplitShard as AWS does it: the parent keeps its records and is closed; new records go to
    the children. (moto 5.2 re-puts the parent's records and keeps routing new puts to the
    closed parent, so a split there never reaches the children.)"""
    from moto.kinesis.models import Shard

    parent = stream.shards[shard_to_split]
    split_at = int(new_starting_hash_key)
    last_id = max(shard._shard_id for shard in stream.shards.values())
    for offset, (low, high) in enumerate(((parent.starting_hash, split_at - 1), (split_at, parent.ending_hash)), 1):
        child = Shard(last_id + offset, starting_hash=low, ending_hash=high, parent=parent.shard_id)
        stream.shards[child.shard_id] = child
    parent.is_open = False


def _aws_like_shard_for_key(stream, partition_key: str, explicit_hash_key: str | None):
    key = int(explicit_hash_key) if explicit_hash_key else int(hashlib.md5(partition_key.encode()).hexdigest(), 16)
    return next(s for s in stream.shards.values() if s.is_open and s.starting_hash <= key <= s.ending_hash)


@pytest.fixture
def aws_like_moto(config, monkeypatch):
    """A moto server of this test's own, in this process, with SplitShard behaving as on AWS."""
    from moto.kinesis.models import Stream
    from moto.server import ThreadedMotoServer

    monkeypatch.setattr(Stream, "split_shard", _aws_like_split)
    monkeypatch.setattr(Stream, "get_shard_for_key", _aws_like_shard_for_key)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield config.with_overrides({"aws.endpoint_url": f"http://127.0.0.1:{port}", "services.moto_port": port})
    server.stop()


def test_split_shard_while_streaming(spark, aws_like_moto, tmp_path):
    config = _config(aws_like_moto, max_records_per_shard=30)
    create_stream(config, STREAM, shards=1)
    counters: dict[str, int] = {}
    events = put_events(config, STREAM, 60, prefix="a", counters=counters)
    client = kinesis(config)

    def split_with_records_waiting():
        events.extend(put_events(config, STREAM, 45, prefix="b", counters=counters))  # unread in the parent
        client.split_shard(StreamName=STREAM, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2 ** 127))
        events.extend(put_events(config, STREAM, 80, prefix="c", counters=counters))  # into the children

    _run(spark, config, tmp_path / "checkpoint", tmp_path / "out", puts=[split_with_records_waiting])

    batches = read_batches(tmp_path / "out")
    assert _by_record(batches, events) == _expected(events)
    shard_of = {e.event_id: e.shard for e in events}
    children = {shard_of[e.event_id] for e in events if e.event_id.startswith("c")}
    assert len(children) == 2 and "shardId-000000000000" not in children
    parent_batches = {b for b, rows in batches.items() for r in rows if shard_of[r["id"]] == "shardId-000000000000"}
    child_batches = {b for b, rows in batches.items() for r in rows if shard_of[r["id"]] in children}
    assert max(parent_batches) < min(child_batches)  # the parent is drained first
    seen: dict[str, list[int]] = defaultdict(list)
    for batch_id in sorted(batches):
        for row in sorted(batches[batch_id], key=lambda r: int(r["sequence"])):
            seen[row["key"]].append(row["n"])
    assert all(ns == sorted(ns) and len(ns) == counters[key] for key, ns in seen.items())
