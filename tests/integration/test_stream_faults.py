"""The streaming job under faults: killed (SIGKILL) in the middle of micro-batches while a producer
runs, and a shard split while it streams. The lake must end up with every valid event exactly once
and every malformed record in the quarantine."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fashion_pipeline.aws import aws_client
from fashion_pipeline.clickstream.faults import EVENT, MALFORMED, FaultShares
from fashion_pipeline.clickstream.producer import ensure_clickstream_stream, produce_clicks
from fashion_pipeline.generate import write_curated_catalogue
from fashion_pipeline.lake import read_table
from fashion_pipeline.pipelines.stream_clickstream import (
    JOB,
    ClickBatchPublisher,
    checkpoint_uri,
    run_stream_clickstream,
    start_clickstream_query,
)
from fashion_pipeline.storage import storage_for
from fashion_pipeline.streaming import read_kinesis
from fashion_pipeline.tables import ARTICLES_TABLE, CLICKSTREAM_QUARANTINE_TABLE, CLICKSTREAM_TABLE

REPO = Path(__file__).resolve().parents[2]
KILLS = 3


@pytest.fixture
def stream_config(aws_config):
    config = aws_config.with_overrides({
        "clickstream.scale": "tiny", "clickstream.shard_count": 2,
        "streaming.max_records_per_shard": 100, "streaming.idle_probe_interval_ms": 0,
    })
    ensure_clickstream_stream(config)
    # The catalogue the clicks are drawn from, as partition_raw would have curated it.
    write_curated_catalogue("tiny", config.clickstream.model_seed, ARTICLES_TABLE.uri(config))
    return config


def _assert_exactly_once(spark, config, ledger: list[dict]) -> None:
    curated = read_table(spark, CLICKSTREAM_TABLE.uri(config), CLICKSTREAM_TABLE.schema)
    ids = [r.event_id for r in curated.select("event_id").collect()]
    valid = {e["event_id"] for e in ledger if e["kind"] == EVENT}
    assert len(ids) == len(set(ids)), "an event landed twice"
    assert set(ids) == valid, f"{len(valid - set(ids))} events missing, {len(set(ids) - valid)} unexpected"
    malformed = {e["sha256"] for e in ledger if e["kind"] == MALFORMED}
    if malformed:
        quarantine = read_table(spark, CLICKSTREAM_QUARANTINE_TABLE.uri(config), CLICKSTREAM_QUARANTINE_TABLE.schema)
        digests = [hashlib.sha256(bytes(r.payload)).hexdigest() for r in quarantine.select("payload").collect()]
        assert len(digests) == len(set(digests)) and set(digests) == malformed


def _batch_in_flight(checkpoint: Path) -> bool:
    """A batch is planned (offsets/N) and not committed (commits/N): the job is inside it."""
    def numbers(folder: str) -> set[int]:
        path = checkpoint / folder
        return {int(p.name) for p in path.iterdir() if p.name.isdigit()} if path.is_dir() else set()
    return bool(numbers("offsets") - numbers("commits"))


def _streaming_process(config) -> subprocess.Popen:
    options = [
        "--lake-root", config.paths.lake_root, "--set", f"paths.state_dir={config.paths.state_dir}",
        "--set", f"aws.endpoint_url={config.aws.endpoint_url}", "--set", "clickstream.scale=tiny",
        "--set", "streaming.max_records_per_shard=100", "--set", "streaming.idle_probe_interval_ms=0",
        "--set", "spark.shuffle_partitions=2", "--set", "spark.driver_memory=1g",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    return subprocess.Popen([sys.executable, "-m", "fashion_pipeline.cli", "clicks", "stream", "--trigger-seconds", "0",
                             *options], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_killed_mid_batch_while_producing_loses_and_duplicates_nothing(spark, stream_config, tmp_path):
    config = stream_config
    ledger_path = tmp_path / "ledger.jsonl"
    faults = FaultShares(duplicate_share=0.05, late_share=0.05, late_minutes=20, malformed_share=0.05)
    producer = threading.Thread(target=produce_clicks, kwargs=dict(
        config=config, rate=120, duration_s=40, faults=faults, ledger_path=ledger_path), daemon=True)
    producer.start()
    checkpoint = Path(checkpoint_uri(config))
    killed_mid_batch, attempts = 0, 0
    while killed_mid_batch < KILLS and attempts < KILLS + 3:
        attempts += 1
        process = _streaming_process(config)
        deadline = time.monotonic() + 180
        # Wait for a batch the job has planned and is still working on, then kill it there.
        while time.monotonic() < deadline and process.poll() is None and not (
                (checkpoint / "commits").is_dir() and _batch_in_flight(checkpoint)):
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        killed_mid_batch += _batch_in_flight(checkpoint)  # exact now: nothing moves any more
    assert killed_mid_batch == KILLS
    producer.join(timeout=120)
    assert not producer.is_alive()

    run_stream_clickstream(spark, config, storage_for(config), until_idle=True, trigger_seconds=0)
    _assert_exactly_once(spark, config, [json.loads(line) for line in ledger_path.read_text().splitlines()])


def test_a_shard_split_while_streaming_loses_and_duplicates_nothing(spark, stream_config, tmp_path):
    config, storage = stream_config, storage_for(stream_config)
    kinesis = aws_client("kinesis", config)
    stream = config.names.clickstream_stream
    query = start_clickstream_query(config, ClickBatchPublisher(config, storage),
                                    read_kinesis(spark, config, checkpoint_uri(config)), trigger_seconds=0)
    try:
        produce_clicks(config, rate=0, events=300, ledger_path=tmp_path / "before.jsonl")
        query.processAllAvailable()
        shard = kinesis.list_shards(StreamName=stream)["Shards"][0]
        middle = (int(shard["HashKeyRange"]["StartingHashKey"]) + int(shard["HashKeyRange"]["EndingHashKey"])) // 2
        kinesis.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str(middle))
        produce_clicks(config, rate=0, events=300, seed=7, ledger_path=tmp_path / "after.jsonl")
        query.processAllAvailable()
    finally:
        query.stop()
    assert len(kinesis.list_shards(StreamName=stream)["Shards"]) == 4
    ledger = [json.loads(line) for name in ("before", "after")
              for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    _assert_exactly_once(spark, config, ledger)
    assert JOB in checkpoint_uri(config)
